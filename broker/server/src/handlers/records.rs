use weir_protocol::kafka::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use weir_protocol::kafka::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use weir_protocol::kafka::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse,
    TopicName,
};

use super::str_bytes;
use crate::broker::Broker;

pub(crate) fn delete_records(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let deletable = broker.metadata.read(|s| {
                        s.topic(&name).is_none_or(|t| {
                            crate::partition::allows_record_deletion(&broker.config, &t.configs)
                        })
                    });
                    // Only the leader deletes; its followers follow its log start offset.
                    match broker.led_partition(&name, p.partition_index) {
                        Err(c) => r.with_error_code(c),
                        Ok(_) if !deletable => {
                            tracing::info!(
                                topic = %name,
                                partition = p.partition_index,
                                "DeleteRecords refused: cleanup.policy has no delete"
                            );
                            r.with_error_code(
                                weir_protocol::kafka::ResponseError::PolicyViolation.code(),
                            )
                        }
                        Ok(part) => match part.log.delete_records_before(p.offset) {
                            Ok(low) => r.with_low_watermark(low),
                            Err(e) => r.with_error_code(e.kafka_code()),
                        },
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

pub(crate) fn describe_log_dirs(
    broker: &Broker,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted = |topic: &str, p: i32| match &req.topics {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| t.topic.as_str() == topic && t.partitions.contains(&p)),
    };
    let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
    for part in broker.all_partitions() {
        if !wanted(&part.topic, part.index) {
            continue;
        }
        let entry = DescribeLogDirsPartition::default()
            .with_partition_index(part.index)
            .with_partition_size(part.log.size_bytes() as i64)
            .with_offset_lag(0);
        match topics.iter_mut().find(|t| t.name.as_str() == part.topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(str_bytes(part.topic.clone())))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let dir = std::fs::canonicalize(broker.logs.data_dir())
        .unwrap_or_else(|_| broker.logs.data_dir().to_path_buf());
    // The file system's size and the space left to an unprivileged writer, as Kafka reports
    // them (v4+); -1 when the file system cannot say.
    let (total, usable) = rustix::fs::statvfs(&dir).map_or((-1, -1), |fs| {
        let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(fs.f_frsize)).unwrap_or(-1);
        (bytes(fs.f_blocks), bytes(fs.f_bavail))
    });
    let result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    DescribeLogDirsResponse::default().with_results(vec![result])
}
