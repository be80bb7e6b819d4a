//! Records the broker writes itself (dead letters, routed records, pipeline output, replayed
//! dead letters) land on whichever broker leads the target partition. A partition led here is
//! appended to in place; one led elsewhere is sent to its leader as a Produce (v9, acks=all),
//! the way any client would write it, and retried while leadership moves. Either way the
//! write counts once the partition's in-sync replicas have it.
//!
//! Forwarded records are delivered at least once: a Produce whose answer is lost is sent again.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::kafka::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use weir_protocol::kafka::protocol::StrBytes;

use crate::broker::Broker;
use crate::partition::PartitionRef;

const PRODUCE_VERSION: i16 = 9;
/// The first pause before a retry (doubling up to 1 s).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Records the broker wrote, or still has to write, to one partition.
pub(crate) enum Appended {
    /// Appended here as the partition's leader: replicated once its high watermark reaches
    /// `end` under leader epoch `epoch`.
    Local {
        partition: PartitionRef,
        end: i64,
        epoch: i32,
    },
    /// A record batch for a partition another broker leads, for [`deliver`] to send there.
    Forward {
        topic: String,
        partition: i32,
        batch: Bytes,
    },
}

/// Makes everything in `written` durable within `timeout`: waits for the in-sync replicas of
/// partitions led here (in a cluster) and forwards the rest to their leaders.
pub(crate) async fn deliver(
    broker: &Broker,
    written: Vec<Appended>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    for w in written {
        match w {
            Appended::Local {
                partition,
                end,
                epoch,
            } => {
                if broker.config.quorum.is_none() {
                    continue;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                broker
                    .await_high_watermark(&partition, end, epoch, left)
                    .await
                    .map_err(|code| {
                        format!(
                            "the records written to {}-{} were not replicated (error {code})",
                            partition.topic, partition.index
                        )
                    })?;
            }
            Appended::Forward {
                topic,
                partition,
                batch,
            } => forward(broker, &topic, partition, batch, deadline).await?,
        }
    }
    Ok(())
}

/// [`deliver`] from blocking code running on a worker of the broker's multi-thread runtime
/// (the produce path's plugin chain).
pub(crate) fn deliver_blocking(
    broker: &Broker,
    written: Vec<Appended>,
    timeout: Duration,
) -> Result<(), String> {
    // A lone node has nothing to wait for or forward: its own writes are in place.
    if written.is_empty() || broker.config.quorum.is_none() {
        return Ok(());
    }
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(deliver(broker, written, timeout)))
        }
        Ok(_) => Err("forwarding records needs the multi-thread runtime".into()),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(deliver(broker, written, timeout)),
    }
}

/// Sends `batch` to the leader of `topic`/`partition` until it is acknowledged, retrying
/// while leadership moves, until `deadline`.
async fn forward(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: Bytes,
    deadline: Instant,
) -> Result<(), String> {
    let mut pause = RETRY_PAUSE;
    loop {
        let err = match produce_once(broker, topic, partition, batch.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !err.retriable || Instant::now() + pause >= deadline {
            return Err(format!(
                "writing to {topic}-{partition} at its leader failed: {}",
                err.message
            ));
        }
        tracing::debug!(%topic, partition, error = %err.message, "forwarding records: trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

struct Failed {
    message: String,
    retriable: bool,
}

impl Failed {
    fn code(code: i16) -> Failed {
        use ResponseError as E;
        let retriable = [
            E::NotLeaderOrFollower,
            E::LeaderNotAvailable,
            E::UnknownTopicOrPartition,
            E::NotEnoughReplicas,
            E::NotEnoughReplicasAfterAppend,
            E::RequestTimedOut,
        ]
        .iter()
        .any(|e| e.code() == code);
        Failed {
            message: format!("error {code}"),
            retriable,
        }
    }
}

async fn produce_once(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: Bytes,
) -> Result<(), Failed> {
    let leader = broker
        .leader_of(topic, partition)
        .filter(|l| *l >= 0)
        .ok_or_else(|| Failed::code(ResponseError::LeaderNotAvailable.code()))?;
    if leader == broker.config.node_id {
        // Leadership moved here meanwhile.
        return match broker
            .append_to(topic, partition, batch)
            .map_err(|e| Failed::code(e.kafka_code()))?
        {
            Appended::Local {
                partition: part,
                end,
                epoch,
            } => {
                broker.notify_append();
                broker
                    .await_high_watermark(&part, end, epoch, Duration::from_secs(5))
                    .await
                    .map_err(Failed::code)
            }
            // Not led here after all (yet, or any more).
            Appended::Forward { .. } => {
                Err(Failed::code(ResponseError::NotLeaderOrFollower.code()))
            }
        };
    }
    let (host, port) = broker
        .active_broker_address(leader)
        .ok_or_else(|| Failed::code(ResponseError::LeaderNotAvailable.code()))?;
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let resp: ProduceResponse = crate::coordinator_client::call(
        &broker.config.security,
        &host,
        port,
        ApiKey::Produce,
        PRODUCE_VERSION,
        &req,
    )
    .await
    .map_err(|message| Failed {
        message,
        retriable: true,
    })?;
    let p = resp
        .responses
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == partition)
        .ok_or_else(|| Failed {
            message: "the produce response leaves the partition out".into(),
            retriable: false,
        })?;
    if p.error_code == 0 {
        return Ok(());
    }
    let mut failed = Failed::code(p.error_code);
    if let Some(m) = &p.error_message {
        failed.message = format!("{} ({m})", failed.message);
    }
    Err(failed)
}
