use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::describe_cluster_response::DescribeClusterBroker;
use weir_protocol::kafka::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::Broker;

const ENDPOINT_BROKERS: i8 = 1;

pub(crate) fn describe_cluster(
    broker: &Broker,
    req: DescribeClusterRequest,
    listener: &str,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_id(str_bytes(broker.metadata.cluster_id()))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            super::metadata::CLUSTER_OPERATIONS
        } else {
            i32::MIN
        });
    if req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("only broker endpoints are served")));
    }
    let brokers = broker.metadata.read(|s| {
        s.active_brokers()
            .filter_map(|b| {
                let (host, port) = b.endpoint(listener)?;
                Some(
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(b.node_id))
                        .with_host(str_bytes(host))
                        .with_port(port)
                        .with_rack(b.rack.clone().map(str_bytes)),
                )
            })
            .collect()
    });
    resp.with_brokers(brokers)
}

/// The metadata partition as Kafka names it in DescribeQuorum.
const METADATA_PARTITION: (&str, i32) = ("__cluster_metadata", 0);

/// DescribeQuorum (`kafka-metadata-quorum describe --status/--replication`,
/// `Admin.describeMetadataQuorum`): the controller quorum as this node sees it. In a cluster:
/// the Raft leader and term, the committed end of the metadata log, each voter and each
/// non-voting member (brokers that joined) with the log end the leader knows for it (-1 when
/// this node does not lead). A lone node is its own quorum of one.
pub(crate) async fn describe_quorum(
    broker: &Broker,
    req: weir_protocol::kafka::messages::DescribeQuorumRequest,
    version: i16,
) -> weir_protocol::kafka::messages::DescribeQuorumResponse {
    // Only the Raft leader knows how far the others are: a follower asks it, as a Kafka broker
    // forwards DescribeQuorum to the active controller, and answers itself if that fails.
    if let Some(q) = broker.metadata.quorum_status()
        && let Some(leader) = q.leader.filter(|&l| l != q.node_id)
        && let Some((host, port)) = broker.metadata.read(|s| {
            s.brokers
                .get(&(leader as i32))
                .map(|b| (b.host.clone(), u16::try_from(b.port).unwrap_or(0)))
        })
    {
        let asked = crate::coordinator_client::call(
            &broker.config.security,
            &host,
            port,
            weir_protocol::kafka::messages::ApiKey::DescribeQuorum,
            version,
            &req,
        )
        .await;
        match asked {
            Ok(resp) => return resp,
            Err(e) => {
                tracing::debug!(leader, error = %e, "DescribeQuorum: the leader did not answer; answering with this node's view")
            }
        }
    }
    local_quorum_view(broker, req, version)
}

/// DescribeQuorum answered from this node's own view of the quorum.
fn local_quorum_view(
    broker: &Broker,
    req: weir_protocol::kafka::messages::DescribeQuorumRequest,
    version: i16,
) -> weir_protocol::kafka::messages::DescribeQuorumResponse {
    use weir_protocol::kafka::messages::DescribeQuorumResponse;
    use weir_protocol::kafka::messages::describe_quorum_response::{
        Listener, Node, PartitionData, ReplicaState, TopicData,
    };

    let now = crate::broker::now_ms();
    let me = broker.config.node_id;
    // The timestamps exist from v1, the nodes from v2; the codec refuses them before.
    let stamp = |known: bool| if known && version >= 1 { now } else { -1 };
    let replica = |id: i32, end: i64, caught_up: bool| {
        ReplicaState::default()
            .with_replica_id(BrokerId(id))
            .with_log_end_offset(end)
            .with_last_fetch_timestamp(stamp(end >= 0))
            .with_last_caught_up_timestamp(stamp(caught_up))
    };
    let node = |id: i32, name: &str, host: &str, port: u16| {
        Node::default()
            .with_node_id(BrokerId(id))
            .with_listeners(vec![
                Listener::default()
                    .with_name(str_bytes(name))
                    .with_host(str_bytes(host))
                    .with_port(port),
            ])
    };
    let (partition, nodes) = match broker.metadata.quorum_status() {
        Some(q) => {
            // Raft log indexes count from 0; a Kafka log end is one past the last offset.
            let end_of = |index: Option<u64>| index.map_or(-1, |i| i as i64 + 1);
            let own_end = end_of(q.last_log_index);
            let leads = q.leader == Some(q.node_id);
            let end_for = |id: u64| {
                if id == q.node_id {
                    own_end
                } else {
                    q.matched.get(&id).map_or(-1, |m| end_of(*m))
                }
            };
            let voters = q
                .voters
                .keys()
                .map(|&id| {
                    let end = end_for(id);
                    replica(id as i32, end, leads && end == own_end)
                })
                .collect();
            let observers = broker
                .metadata
                .learners()
                .into_iter()
                .map(|id| {
                    let end = end_for(id);
                    replica(id as i32, end, leads && end == own_end)
                })
                .collect();
            let nodes = q
                .voters
                .iter()
                .filter_map(|(&id, addr)| {
                    let hostport = addr.rsplit("//").next().unwrap_or(addr);
                    let (host, port) = hostport.rsplit_once(':')?;
                    let port = port.trim_end_matches('/').parse().ok()?;
                    Some(node(id as i32, "CONTROLLER", host, port))
                })
                .collect();
            let partition = PartitionData::default()
                .with_leader_id(BrokerId(q.leader.map_or(-1, |l| l as i32)))
                .with_leader_epoch(i32::try_from(q.term).unwrap_or(i32::MAX))
                .with_high_watermark(end_of(q.last_applied))
                .with_current_voters(voters)
                .with_observers(observers);
            (partition, nodes)
        }
        None => {
            let end = broker.metadata.local_log_end().unwrap_or(0);
            let partition = PartitionData::default()
                .with_leader_id(BrokerId(me))
                .with_leader_epoch(1)
                .with_high_watermark(end)
                .with_current_voters(vec![replica(me, end, true)]);
            let (host, port) = &broker.advertised;
            let name = broker.config.listener_name.as_str();
            (partition, vec![node(me, name, host, *port)])
        }
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    if (t.topic_name.as_str(), p.partition_index) == METADATA_PARTITION {
                        partition.clone()
                    } else {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_id(BrokerId(-1))
                            .with_leader_epoch(-1)
                            .with_high_watermark(-1)
                    }
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeQuorumResponse::default()
        .with_topics(topics)
        .with_nodes(if version >= 2 { nodes } else { Vec::new() })
}
