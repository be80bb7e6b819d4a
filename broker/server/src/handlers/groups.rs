//! Consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.

use std::time::Duration;

use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::delete_groups_response::DeletableGroupResult;
use weir_protocol::kafka::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use weir_protocol::kafka::messages::find_coordinator_response::Coordinator;
use weir_protocol::kafka::messages::join_group_response::JoinGroupResponseMember;
use weir_protocol::kafka::messages::leave_group_response::MemberResponse;
use weir_protocol::kafka::messages::list_groups_response::ListedGroup;
use weir_protocol::kafka::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use weir_protocol::kafka::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use weir_protocol::kafka::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use weir_protocol::kafka::messages::*;
use weir_protocol::kafka::protocol::StrBytes;

use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::group::{
    Committed, ConsumerHeartbeat, HEARTBEAT_INTERVAL_MS, JoinOutcome, JoinRequest, Parts, Pending,
    SyncOutcome, TopicCatalog, partition_code,
};

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

fn opt(s: Option<String>) -> Option<StrBytes> {
    s.map(str_bytes)
}

pub(crate) fn find_coordinator(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
    listener: &str,
) -> FindCoordinatorResponse {
    // The coordinator's address on the listener the client came in on (none: not available
    // to this client, as in Kafka).
    let locate = |key: &str| {
        let (node, _, _) = broker.coordinator_for(key)?;
        let (host, port) = broker.client_endpoint(node, listener)?;
        Some((node, host, port))
    };
    let unsupported = req.key_type != GROUP_KEY && req.key_type != TRANSACTION_KEY;
    let message = || {
        Some(str_bytes(
            "only group and transaction coordinators are served",
        ))
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let target = locate(key.as_str());
                let c = Coordinator::default().with_key(key);
                if unsupported {
                    c.with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(message())
                } else if let Some((node, host, port)) = target {
                    c.with_node_id(BrokerId(node))
                        .with_host(str_bytes(host))
                        .with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if unsupported {
        let r = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(ResponseError::InvalidRequest.code());
        return if version >= 1 {
            r.with_error_message(message())
        } else {
            r
        };
    }
    let Some((node, host, port)) = locate(req.key.as_str()) else {
        return FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(ResponseError::CoordinatorNotAvailable.code());
    };
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(node))
        .with_host(str_bytes(host))
        .with_port(port)
}

async fn wait<T>(broker: &Broker, pending: Pending<T>, on_timeout: T, on_shutdown: T) -> T {
    match pending {
        Pending::Ready(v) => v,
        Pending::Wait(rx, limit) => {
            let mut stop = broker.shutdown_signal();
            tokio::select! {
                r = rx => r.unwrap_or(on_timeout),
                _ = tokio::time::sleep(limit) => on_timeout,
                _ = stop.wait_for(|s| *s) => on_shutdown,
            }
        }
    }
}

pub(crate) async fn join_group(
    broker: &Broker,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    let member_id = req.member_id.to_string();
    let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
    // v0 has no rebalance timeout: it is the session timeout.
    let rebalance = if version == 0 {
        session
    } else {
        Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64)
    };
    let pending = broker.groups.join(JoinRequest {
        group_id: req.group_id.to_string(),
        member_id: member_id.clone(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    });
    let out = wait(
        broker,
        pending,
        JoinOutcome {
            error: ResponseError::RebalanceInProgress.code(),
            generation: -1,
            member_id: member_id.clone(),
            ..JoinOutcome::default()
        },
        JoinOutcome {
            error: ResponseError::CoordinatorNotAvailable.code(),
            generation: -1,
            member_id: member_id.clone(),
            ..JoinOutcome::default()
        },
    )
    .await;
    let resp = JoinGroupResponse::default()
        .with_error_code(out.error)
        .with_generation_id(out.generation)
        .with_protocol_name(if version >= 7 {
            opt(out.protocol_name)
        } else {
            Some(str_bytes(out.protocol_name.unwrap_or_default()))
        })
        .with_leader(str_bytes(out.leader))
        .with_member_id(str_bytes(out.member_id))
        .with_skip_assignment(version >= 9 && out.skip_assignment)
        .with_members(
            // A static leader rejoining a stable group keeps the assignment (KIP-814). Before v9
            // it cannot be told to skip assigning, so, as Kafka does, it gets no members to
            // assign to; SyncGroup then hands back the assignment the group already has.
            if out.skip_assignment && version < 9 {
                Vec::new()
            } else {
                out.members
            }
            .into_iter()
            .map(|(id, instance, meta)| {
                let m = JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(id))
                    .with_metadata(meta);
                if version >= 5 {
                    m.with_group_instance_id(opt(instance))
                } else {
                    m
                }
            })
            .collect(),
        );
    if version >= 7 {
        resp.with_protocol_type(opt(out.protocol_type))
    } else {
        resp
    }
}

pub(crate) async fn sync_group(
    broker: &Broker,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    let pending = broker.groups.sync(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        req.assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    );
    let out = wait(
        broker,
        pending,
        SyncOutcome {
            error: ResponseError::RebalanceInProgress.code(),
            ..SyncOutcome::default()
        },
        SyncOutcome {
            error: ResponseError::CoordinatorNotAvailable.code(),
            ..SyncOutcome::default()
        },
    )
    .await;
    let resp = SyncGroupResponse::default()
        .with_error_code(out.error)
        .with_assignment(out.assignment);
    if version >= 5 {
        resp.with_protocol_type(opt(out.protocol_type))
            .with_protocol_name(opt(out.protocol_name))
    } else {
        resp
    }
}

pub(crate) fn heartbeat(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(broker.groups.heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    ))
}

/// `parts` as each topic's partitions, topics in name order: the shape both KIP-848 responses
/// carry an assignment in.
fn by_topic(parts: Parts) -> std::collections::BTreeMap<String, Vec<i32>> {
    let mut out: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
    for (t, p) in parts {
        out.entry(t).or_default().push(p);
    }
    out
}

/// ConsumerGroupHeartbeat (KIP-848, `group.protocol=consumer`): join, stay, reconcile, leave.
pub(crate) fn consumer_group_heartbeat(
    broker: &Broker,
    req: ConsumerGroupHeartbeatRequest,
    client_id: &str,
    client_host: &str,
) -> ConsumerGroupHeartbeatResponse {
    use weir_protocol::kafka::messages::consumer_group_heartbeat_response::{
        Assignment, TopicPartitions,
    };
    let catalog: TopicCatalog = broker.metadata.read(|s| {
        s.topics
            .values()
            .map(|t| (t.name.clone(), (t.topic_id, t.partitions.len() as i32)))
            .collect()
    });
    let by_id: std::collections::HashMap<_, _> = catalog
        .iter()
        .map(|(name, (id, _))| (*id, name.clone()))
        .collect();
    // Partitions of topics that no longer exist are no longer owned.
    let owned = req.topic_partitions.map(|tps| {
        tps.iter()
            .filter_map(|tp| by_id.get(&tp.topic_id).map(|name| (name, &tp.partitions)))
            .flat_map(|(name, ps)| ps.iter().map(move |p| (name.clone(), *p)))
            .collect::<Parts>()
    });
    let out = broker.groups.consumer_heartbeat(
        req.group_id.as_str(),
        ConsumerHeartbeat {
            member_id: req.member_id.to_string(),
            member_epoch: req.member_epoch,
            instance_id: req.instance_id.map(|s| s.to_string()),
            rack_id: req.rack_id.map(|s| s.to_string()),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            subscribed_topic_names: req
                .subscribed_topic_names
                .map(|ts| ts.into_iter().map(|t| t.to_string()).collect()),
            subscribed_topic_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
            server_assignor: req.server_assignor.map(|s| s.to_string()),
            owned,
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
        },
        &catalog,
    );
    let assignment = out.assignment.map(|parts| {
        Assignment::default().with_topic_partitions(
            by_topic(parts)
                .into_iter()
                .filter_map(|(t, ps)| {
                    catalog.get(&t).map(|(id, _)| {
                        TopicPartitions::default()
                            .with_topic_id(*id)
                            .with_partitions(ps)
                    })
                })
                .collect(),
        )
    });
    let r = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(out.error)
        .with_error_message(out.message.map(str_bytes))
        .with_member_epoch(out.member_epoch)
        .with_heartbeat_interval_ms(HEARTBEAT_INTERVAL_MS)
        .with_assignment(assignment);
    if out.member_id.is_empty() {
        r
    } else {
        r.with_member_id(Some(str_bytes(out.member_id)))
    }
}

/// ConsumerGroupDescribe (KIP-848): epochs, assignor, and each member's subscription,
/// assignment and target assignment, as `kafka-consumer-groups --describe --members` and
/// `Admin.describeConsumerGroups` show them.
pub(crate) fn consumer_group_describe(
    broker: &Broker,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    use weir_protocol::kafka::messages::consumer_group_describe_response::{
        Assignment, DescribedGroup, Member, TopicPartitions,
    };
    let ids: std::collections::HashMap<String, _> = broker.metadata.read(|s| {
        s.topics
            .values()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect()
    });
    let assignment = |parts: Parts| {
        Assignment::default().with_topic_partitions(
            by_topic(parts)
                .into_iter()
                .filter_map(|(t, ps)| {
                    let id = *ids.get(&t)?;
                    Some(
                        TopicPartitions::default()
                            .with_topic_id(id)
                            .with_topic_name(TopicName(str_bytes(t)))
                            .with_partitions(ps),
                    )
                })
                .collect(),
        )
    };
    let coordinator = broker.groups.is_coordinator();
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let g = DescribedGroup::default().with_group_id(id.clone());
            if !coordinator {
                return g.with_error_code(ResponseError::NotCoordinator.code());
            }
            let d = match broker.groups.describe_consumer(id.as_str()) {
                Ok(d) => d,
                Err((e, message)) => {
                    return g
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(message)));
                }
            };
            g.with_group_state(str_bytes(d.state.name()))
                .with_group_epoch(d.group_epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(str_bytes(d.assignor))
                .with_authorized_operations(if req.include_authorized_operations {
                    GROUP_OPERATIONS
                } else {
                    i32::MIN
                })
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            Member::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_instance_id(m.instance_id.map(str_bytes))
                                .with_rack_id(m.rack_id.map(str_bytes))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed_topic_names
                                        .into_iter()
                                        .map(|t| TopicName(str_bytes(t)))
                                        .collect(),
                                )
                                .with_subscribed_topic_regex(
                                    m.subscribed_topic_regex.map(str_bytes),
                                )
                                .with_assignment(assignment(m.assignment))
                                .with_target_assignment(assignment(m.target_assignment))
                                // 1: a member of the consumer protocol (0 would be classic).
                                .with_member_type(1)
                        })
                        .collect(),
                )
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

pub(crate) fn leave_group(
    broker: &Broker,
    req: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    match broker.groups.leave(req.group_id.as_str(), members.clone()) {
        Err(code) => LeaveGroupResponse::default().with_error_code(code),
        Ok(codes) if version >= 3 => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(codes)
                .map(|((id, instance), code)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(id))
                        .with_group_instance_id(opt(instance))
                        .with_error_code(code)
                })
                .collect(),
        ),
        Ok(codes) => {
            LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0))
        }
    }
}

/// How long an offset commit waits for the replicas of the offsets partition (Kafka's
/// `offsets.commit.timeout.ms`).
const OFFSETS_COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// OffsetCommit. In a cluster the answer waits until the offsets partition's in-sync replicas
/// have the commit, so a coordinator failover never loses acknowledged progress.
pub(crate) async fn offset_commit(
    broker: &Broker,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let now = now_ms();
    let mut entries = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            entries.push((
                (t.name.to_string(), p.partition_index),
                Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    commit_ms: now,
                },
            ));
        }
    }
    // The coordinator need not host the partitions: it checks them against metadata.
    let exists = |topic: &str, partition: i32| {
        broker.metadata.read(|s| {
            s.topic(topic)
                .is_some_and(|t| t.partitions.iter().any(|p| p.partition == partition))
        })
    };
    let committed = broker.groups.commit(
        req.group_id.as_str(),
        req.generation_id_or_member_epoch,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        entries,
        exists,
    );
    let result = match committed {
        Ok((results, None)) => Ok(results),
        Ok((results, Some(d))) => {
            match broker
                .await_high_watermark(&d.partition, d.end, d.epoch, OFFSETS_COMMIT_TIMEOUT)
                .await
            {
                Ok(()) => Ok(results),
                Err(code) if code == ResponseError::NotLeaderOrFollower.code() => {
                    Err(ResponseError::NotCoordinator.code())
                }
                Err(code) => Err(code),
            }
        }
        Err(code) => Err(code),
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(partition_code(
                                    &result,
                                    t.name.as_str(),
                                    p.partition_index,
                                ))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One partition's committed position as OffsetFetch reports it (-1 when none).
struct Position {
    error: i16,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
}

type TopicPositions = Vec<(String, Vec<Position>)>;

/// Committed offsets for one group, shaped for both the single-group (v0-7) and the batched
/// (v8+) response.
fn committed(
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> TopicPositions {
    // KIP-447: a partition with offsets in an open transaction is unstable until it ends.
    let pending = if require_stable {
        broker.txns.pending_offsets_of(group)
    } else {
        Default::default()
    };
    let wanted = topics.map(|ts| {
        ts.into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .collect::<Vec<_>>()
    });
    let mut out: TopicPositions = Vec::new();
    for ((topic, partition), c) in broker.groups.fetch_offsets(group, wanted) {
        let entry = match c {
            _ if pending.contains(&(topic.clone(), partition)) => Position {
                error: ResponseError::UnstableOffsetCommit.code(),
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: Some(String::new()),
            },
            Some(c) => Position {
                error: 0,
                partition,
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: c.metadata,
            },
            None => Position {
                error: 0,
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: Some(String::new()),
            },
        };
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, v)) => v.push(entry),
            None => out.push((topic, vec![entry])),
        }
    }
    out
}

pub(crate) fn offset_fetch(
    broker: &Broker,
    req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if !broker.groups.is_coordinator() {
        let not = ResponseError::NotCoordinator.code();
        return if version >= 8 {
            OffsetFetchResponse::default().with_groups(
                req.groups
                    .into_iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id)
                            .with_error_code(not)
                    })
                    .collect(),
            )
        } else {
            OffsetFetchResponse::default().with_error_code(not)
        };
    }
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let list = committed(broker, g.group_id.as_str(), topics, req.require_stable);
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(
                        list.into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(t)))
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|p| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_error_code(p.error)
                                                    .with_partition_index(p.partition)
                                                    .with_committed_offset(p.offset)
                                                    .with_committed_leader_epoch(p.leader_epoch)
                                                    .with_metadata(opt(p.metadata))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let list = committed(
        broker,
        req.group_id.as_str(),
        topics,
        version >= 7 && req.require_stable,
    );
    OffsetFetchResponse::default().with_topics(
        list.into_iter()
            .map(|(t, ps)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(t)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|p| {
                                let r = OffsetFetchResponsePartition::default()
                                    .with_error_code(p.error)
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset)
                                    .with_metadata(opt(p.metadata));
                                if version >= 5 {
                                    r.with_committed_leader_epoch(p.leader_epoch)
                                } else {
                                    r
                                }
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub(crate) fn list_groups(
    broker: &Broker,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state, _)| {
            states.is_empty() || states.contains(&state.name().to_lowercase())
        })
        .filter(|(_, _, _, kind)| {
            version < 5
                || req.types_filter.is_empty()
                || req
                    .types_filter
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(kind))
        })
        .map(|(id, pt, state, kind)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(id)))
                .with_protocol_type(str_bytes(pt));
            let g = if version >= 4 {
                g.with_group_state(str_bytes(state.name()))
            } else {
                g
            };
            if version >= 5 {
                g.with_group_type(str_bytes(kind))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub(crate) fn describe_groups(
    broker: &Broker,
    req: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let coordinator = broker.groups.is_coordinator();
    let groups = req
        .groups
        .into_iter()
        .map(|id| match broker.groups.describe(id.as_str()) {
            // Clients ask the coordinator FindCoordinator named; another broker knows no group.
            None if !coordinator => DescribedGroup::default()
                .with_group_id(id)
                .with_error_code(ResponseError::NotCoordinator.code()),
            // Since v6 (KIP-1043) a group that does not exist is an error, as in Kafka 4;
            // before, it is described as Dead with no members.
            None if version >= 6 => {
                let message = format!("Group {} not found.", id.as_str());
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(str_bytes("Dead"))
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(message)))
            }
            None => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes("Dead")),
            Some(v) => {
                let d = DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(str_bytes(v.state.name()))
                    .with_protocol_type(str_bytes(v.protocol_type))
                    .with_protocol_data(str_bytes(v.protocol))
                    .with_members(
                        v.members
                            .into_iter()
                            .map(|(mid, instance, client, host, meta, assignment)| {
                                let m = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(mid))
                                    .with_client_id(str_bytes(client))
                                    .with_client_host(str_bytes(host))
                                    .with_member_metadata(meta)
                                    .with_member_assignment(assignment);
                                if version >= 4 {
                                    m.with_group_instance_id(opt(instance))
                                } else {
                                    m
                                }
                            })
                            .collect(),
                    );
                if version >= 3 {
                    d.with_authorized_operations(if req.include_authorized_operations {
                        GROUP_OPERATIONS
                    } else {
                        i32::MIN
                    })
                } else {
                    d
                }
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// READ, DELETE, DESCRIBE on a group (AclOperation codes 3, 6, 8): everything, without an
/// authorizer.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) fn delete_groups(broker: &Broker, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .map(|g| {
                let code = broker.groups.delete_group(g.as_str());
                DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(code)
            })
            .collect(),
    )
}

pub(crate) fn offset_delete(broker: &Broker, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let outcome = broker
        .groups
        .delete_offsets(req.group_id.as_str(), partitions);
    if let Err(code) = outcome {
        return OffsetDeleteResponse::default().with_error_code(code);
    }
    OffsetDeleteResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                let name = t.name.to_string();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .into_iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(partition_code(
                                        &outcome,
                                        &name,
                                        p.partition_index,
                                    ))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
