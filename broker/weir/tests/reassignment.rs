//! Partition reassignment (KIP-455) across three `weir serve` processes: AlterPartitionReassignments
//! moves a partition's replicas, leader included, while an acks=all producer keeps writing;
//! ListPartitionReassignments shows the move under way; the broker that left deletes its copy;
//! a reassignment that cannot finish is cancelled back to the original replicas; refusals carry
//! Kafka's error codes.
//!
//! Partition state is read from Metadata asked of one named broker (never of one a client
//! happens to pick). Tests assert behaviour only, never how long something took.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PartitionView, Weir, raw_connect, raw_partition, raw_roundtrip};
use common::{node, runtime, three_brokers, wait_for};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::Decodable;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn sorted(v: &[i32]) -> Vec<i32> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// Creates `topic` with one partition on two replicas (`min.insync.replicas` 2) and waits
/// until every member shows it led with both replicas in sync; its state then.
fn create_topic(nodes: &[Weir], topic: &str) -> PartitionView {
    let admin = nodes[0].admin();
    let res = runtime()
        .block_on(
            admin.create_topics(
                [&NewTopic::new(topic, 1, TopicReplication::Fixed(2))
                    .set("min.insync.replicas", "2")],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            ),
        )
        .expect("create topics");
    for r in res {
        r.expect("topic created");
    }
    for n in nodes {
        wait_for(&format!("{topic} led with both replicas in sync"), || {
            raw_partition(n, topic, 0).is_some_and(|p| {
                p.leader >= 0 && p.replicas.len() == 2 && p.isr == sorted(&p.replicas)
            })
        });
    }
    raw_partition(&nodes[0], topic, 0).expect("metadata")
}

/// One partition's change in an AlterPartitionReassignments request: `None` cancels.
type Change<'a> = (&'a str, i32, Option<&'a [i32]>);

/// Sends AlterPartitionReassignments (v`version`) to `w`; the response.
fn alter(
    w: &Weir,
    version: i16,
    allow_rf_change: bool,
    changes: &[Change<'_>],
) -> AlterPartitionReassignmentsResponse {
    let topics = changes
        .iter()
        .map(|&(topic, partition, replicas)| {
            ReassignableTopic::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(partition)
                        .with_replicas(
                            replicas.map(|rs| rs.iter().copied().map(BrokerId).collect()),
                        ),
                ])
        })
        .collect();
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(topics);
    let mut s = raw_connect(&w.kafka, Duration::from_secs(70)).expect("connect");
    let mut b = raw_roundtrip(&mut s, ApiKey::AlterPartitionReassignments, version, &req)
        .expect("an AlterPartitionReassignments answer");
    AlterPartitionReassignmentsResponse::decode(&mut b, version).expect("decode")
}

/// The error code of each partition in the response, in request order.
fn codes(resp: &AlterPartitionReassignmentsResponse) -> Vec<i16> {
    assert_eq!(resp.error_code, 0, "top-level error: {resp:?}");
    resp.responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// One change's error code.
fn alter_one(w: &Weir, change: Change<'_>) -> i16 {
    codes(&alter(w, 0, true, &[change]))[0]
}

/// `(topic, partition, replicas, adding, removing)` of each reassignment under way that `w`
/// lists: all of them, or those of `topics`.
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

fn list(w: &Weir, topics: Option<&[(&str, &[i32])]>) -> Vec<Ongoing> {
    let req = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(TopicName(t.to_string().into()))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }));
    let mut s = raw_connect(&w.kafka, Duration::from_secs(10)).expect("connect");
    let mut b = raw_roundtrip(&mut s, ApiKey::ListPartitionReassignments, 0, &req)
        .expect("a ListPartitionReassignments answer");
    let resp = ListPartitionReassignmentsResponse::decode(&mut b, 0).expect("decode");
    assert_eq!(resp.error_code, 0, "{resp:?}");
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect()
}

#[test]
fn replicas_and_leader_move_while_an_acks_all_producer_writes() {
    const TOPIC: &str = "moving";
    let nodes = three_brokers(&[]);
    let start = create_topic(&nodes, TOPIC);
    let old_leader = start.leader;
    let stay = *start
        .replicas
        .iter()
        .find(|r| **r != old_leader)
        .expect("a follower");
    let new = (1..=3)
        .find(|id| !start.replicas.contains(id))
        .expect("a broker without the partition");
    // The target leaves the current leader out, so leadership has to move.
    let target = [new, stay];
    eprintln!("moving {start:?} to {target:?}");

    // An idempotent acks=all producer writes id-<n> one at a time, recording each acknowledged
    // offset, until `writing` is dropped (also when the test panics) or it fails fatally.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let failed = Arc::new(Mutex::new(0usize));
    let producer: FutureProducer = ClientConfig::new()
        .set(
            "bootstrap.servers",
            nodes
                .iter()
                .map(|n| n.kafka.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .set("retry.backoff.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("producer");
    let writing = Arc::new(());
    let writer = {
        let (writing, acked, failed) = (Arc::downgrade(&writing), acked.clone(), failed.clone());
        std::thread::spawn(move || {
            let rt = runtime();
            let mut n = 0u64;
            while writing.upgrade().is_some() {
                let id = format!("id-{n}");
                n += 1;
                let sent = rt.block_on(producer.send(
                    FutureRecord::<(), _>::to(TOPIC).partition(0).payload(&id),
                    Duration::from_secs(60),
                ));
                match sent {
                    Ok(d) => acked.lock().expect("lock").push((d.offset, id)),
                    Err((e, _)) => {
                        eprintln!("{id} not acknowledged: {e}");
                        *failed.lock().expect("lock") += 1;
                    }
                }
                if producer.client().fatal_error().is_some() {
                    break;
                }
            }
            producer.client().fatal_error()
        })
    };
    let acked_count = || acked.lock().expect("lock").len();
    wait_for("100 acknowledged writes before the move", || {
        assert!(!writer.is_finished(), "the producer failed fatally");
        acked_count() >= 100
    });

    // Start the move (v1, the replication factor stays 2).
    assert_eq!(
        codes(&alter(&nodes[0], 1, false, &[(TOPIC, 0, Some(&target))])),
        [0]
    );
    // Under way (adding the new broker, removing the old leader), or already done.
    let ongoing = list(&nodes[1], None);
    eprintln!("listed: {ongoing:?}");
    if let Some(o) = ongoing.first() {
        assert_eq!(
            o,
            &(
                TOPIC.to_string(),
                0,
                vec![new, stay, old_leader],
                vec![new],
                vec![old_leader]
            )
        );
    }

    // Every member sees the move completed: replicas as asked, in that order, the ISR within
    // them, led by one of them in a newer epoch.
    let mut done = None;
    for n in &nodes {
        wait_for("the reassignment to complete", || {
            done = raw_partition(n, TOPIC, 0).filter(|p| {
                p.replicas == target
                    && p.leader >= 0
                    && target.contains(&p.leader)
                    && !p.isr.is_empty()
                    && p.isr.iter().all(|r| target.contains(r))
            });
            done.is_some()
        });
    }
    let done = done.expect("completed");
    eprintln!("after the move: {done:?}");
    assert!(
        done.leader_epoch > start.leader_epoch,
        "{start:?} -> {done:?}"
    );
    assert_eq!(list(&nodes[2], None), Vec::<Ongoing>::new());
    assert_eq!(
        list(&nodes[2], Some(&[(TOPIC, &[0])])),
        Vec::<Ongoing>::new()
    );

    // The new leader takes acks=all writes, with both target replicas in sync.
    let before = acked_count();
    wait_for("acknowledged writes after the move", || {
        assert!(!writer.is_finished(), "the producer failed fatally");
        acked_count() >= before + 50
    });
    for n in &nodes {
        wait_for("both target replicas in sync", || {
            raw_partition(n, TOPIC, 0).is_some_and(|p| p.isr == sorted(&target))
        });
    }
    drop(writing);
    let fatal = writer.join().expect("producer thread");
    assert_eq!(fatal, None, "the idempotent producer hit a fatal error");

    // The broker that left deletes its copy; the new one has one.
    let dir = |id: i32| node(&nodes, id).data.join(format!("{TOPIC}-0"));
    wait_for(&format!("node {old_leader} to delete {TOPIC}-0"), || {
        !dir(old_leader).exists()
    });
    assert!(dir(new).exists(), "node {new} has {TOPIC}-0");

    // Every acknowledged record is there, at its offset, read from the new leader.
    let acked = acked.lock().expect("lock").clone();
    let failed = *failed.lock().expect("lock");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &node(&nodes, done.leader).kafka)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (low, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    let log: std::collections::BTreeMap<i64, String> =
        common::consume(&consumer, TOPIC, 0, low, (high - low) as usize)
            .iter()
            .map(|m| {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                (m.offset(), v)
            })
            .collect();
    eprintln!(
        "acknowledged {}, failed {failed}, log {low}..{high}",
        acked.len()
    );
    assert_eq!(failed, 0, "every write was acknowledged, through the move");
    assert_eq!(low, 0, "nothing was deleted");
    for (offset, id) in &acked {
        assert_eq!(
            log.get(offset),
            Some(id),
            "acknowledged {id} at offset {offset}"
        );
    }
    let distinct: std::collections::BTreeSet<&String> = log.values().collect();
    assert_eq!(distinct.len(), log.len(), "a record is written twice");
}

#[test]
fn refusals_carry_kafka_codes_and_a_stuck_reassignment_is_cancelled() {
    const TOPIC: &str = "stuck";
    let nodes = three_brokers(&[]);
    let start = create_topic(&nodes, TOPIC);
    let w = &nodes[0];
    let original = start.replicas.clone();

    assert_eq!(
        alter_one(w, ("nope", 0, Some(&[1, 2]))),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        alter_one(w, (TOPIC, 7, Some(&[1, 2]))),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        alter_one(w, (TOPIC, 0, Some(&[1, 99]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        alter_one(w, (TOPIC, 0, Some(&[2, 2]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        alter_one(w, (TOPIC, 0, Some(&[]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(alter_one(w, (TOPIC, 0, None)), NO_REASSIGNMENT_IN_PROGRESS);
    // v1 without allow_replication_factor_change refuses a change of the replica count, and
    // says which mode it used.
    let resp = alter(w, 1, false, &[(TOPIC, 0, Some(&[1, 2, 3]))]);
    assert_eq!(codes(&resp), [INVALID_REPLICATION_FACTOR]);
    assert!(!resp.allow_replication_factor_change);
    // One request, several partitions, each with its own answer.
    let resp = alter(
        w,
        0,
        true,
        &[
            ("nope", 0, None),
            (TOPIC, 0, None),
            (TOPIC, 0, Some(&[1, 99])),
        ],
    );
    assert_eq!(
        codes(&resp),
        [
            UNKNOWN_TOPIC_OR_PARTITION,
            NO_REASSIGNMENT_IN_PROGRESS,
            INVALID_REPLICA_ASSIGNMENT
        ]
    );
    assert_eq!(
        raw_partition(w, TOPIC, 0).expect("metadata").replicas,
        original
    );

    // A third replica on a frozen broker never catches up: the reassignment stays under way
    // until it is cancelled, back to the original replicas.
    let extra = (1..=3)
        .find(|id| !original.contains(id))
        .expect("a broker without the partition");
    let asked = nodes
        .iter()
        .find(|n| n.node_id() != Some(extra))
        .expect("a running member");
    node(&nodes, extra).pause();
    let mut target = original.clone();
    target.push(extra);
    assert_eq!(alter_one(asked, (TOPIC, 0, Some(&target))), 0);
    let expected = (TOPIC.to_string(), 0, target.clone(), vec![extra], vec![]);
    assert_eq!(list(asked, None), std::slice::from_ref(&expected));
    assert_eq!(
        list(asked, Some(&[(TOPIC, &[0]), ("nope", &[0])])),
        [expected]
    );
    assert_eq!(list(asked, Some(&[(TOPIC, &[1])])), Vec::<Ongoing>::new());
    let during = raw_partition(asked, TOPIC, 0).expect("metadata");
    assert_eq!(during.replicas, target, "Metadata lists the adding replica");
    assert_eq!(during.isr, sorted(&original));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(list(asked, None).len(), 1, "still under way");

    assert_eq!(alter_one(asked, (TOPIC, 0, None)), 0);
    assert_eq!(list(asked, None), Vec::<Ongoing>::new());
    let after = raw_partition(asked, TOPIC, 0).expect("metadata");
    assert_eq!(
        (after.replicas.clone(), after.isr.clone(), after.leader),
        (original.clone(), sorted(&original), start.leader),
        "{after:?}"
    );
    node(&nodes, extra).resume();
    wait_for("the resumed broker to list the cancelled state", || {
        raw_partition(node(&nodes, extra), TOPIC, 0).is_some_and(|p| p.replicas == original)
    });
    let dir = node(&nodes, extra).data.join(format!("{TOPIC}-0"));
    wait_for("the resumed broker to hold no copy", || !dir.exists());
}
