//! Partition data replication across three `weir serve` processes (each broker and controller):
//! acks=all writes survive SIGKILLed leaders, a follower that stops fetching leaves the ISR and
//! comes back, acks=all is refused below min.insync.replicas, and a consumer group keeps its
//! progress through a broker failure.
//!
//! Leader, leader epoch, replicas and ISR are read from Metadata asked of one named, running
//! broker (never of a broker a client happens to pick, which could be the dead one). Tests assert
//! behaviour only, never how long something took. The controller quorum's own failover (metadata
//! changes keep working after the controller leader dies) is covered in `cluster.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Weir, bootstrap, consume, node, node_mut, raw_batch_at, raw_connect, raw_metadata,
    raw_produce_request, raw_roundtrip, running, runtime, three_brokers, wait_for,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, ProduceResponse,
};
use kafka_protocol::protocol::Decodable;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
const REQUEST_TIMED_OUT: i16 = 7;

/// One partition as a broker's Metadata shows it.
#[derive(Debug, Clone)]
struct PartitionState {
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    /// Sorted.
    isr: Vec<i32>,
}

/// The partitions of `topic`, by index, as broker `w` sees them; `None` when `w` does not
/// answer or does not know the topic.
fn partitions(w: &Weir, topic: &str) -> Option<Vec<PartitionState>> {
    let md = raw_metadata(w, Some(&[topic]))?;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))?;
    if t.error_code != 0 {
        return None;
    }
    let mut ps: Vec<_> = t.partitions.iter().collect();
    ps.sort_by_key(|p| p.partition_index);
    Some(
        ps.into_iter()
            .map(|p| {
                let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
                isr.sort_unstable();
                PartitionState {
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr,
                }
            })
            .collect(),
    )
}

/// Partition `p` of `topic` as broker `w` sees it.
fn partition(w: &Weir, topic: &str, p: i32) -> Option<PartitionState> {
    partitions(w, topic)?.into_iter().nth(p as usize)
}

/// The leader of `topic`/`p` as broker `w` sees it, if it names one.
fn leader(w: &Weir, topic: &str, p: i32) -> Option<i32> {
    partition(w, topic, p).map(|s| s.leader).filter(|l| *l >= 0)
}

/// The (sorted) ISR of `topic`/`p` as broker `w` sees it; empty when `w` does not answer.
fn isr(w: &Weir, topic: &str, p: i32) -> Vec<i32> {
    partition(w, topic, p).map(|s| s.isr).unwrap_or_default()
}

/// Creates `topic` with three replicas per partition and `min.insync.replicas`, then waits until
/// every member shows every partition led and with all three replicas in sync.
fn create_replicated_topic(nodes: &[Weir], topic: &str, num_partitions: i32, min_isr: &str) {
    let admin = nodes[0].admin();
    let res = runtime()
        .block_on(
            admin.create_topics(
                [
                    &NewTopic::new(topic, num_partitions, TopicReplication::Fixed(3))
                        .set("min.insync.replicas", min_isr),
                ],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            ),
        )
        .expect("create topics");
    for r in res {
        r.expect("topic created with replication factor 3");
    }
    wait_all_in_sync(nodes, topic);
    let ps = partitions(&nodes[0], topic).expect("metadata");
    assert_eq!(ps.len(), num_partitions as usize, "{ps:?}");
    for p in &ps {
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, [1, 2, 3], "three replicas, one per broker: {p:?}");
    }
}

/// Waits until every running member shows every partition of `topic` with a leader and all
/// three replicas in its ISR.
fn wait_all_in_sync(nodes: &[Weir], topic: &str) {
    for n in running(nodes) {
        wait_for(
            &format!("ISR [1, 2, 3] on every partition of {topic}"),
            || {
                partitions(n, topic).is_some_and(|ps| {
                    !ps.is_empty() && ps.iter().all(|p| p.leader >= 0 && p.isr == [1, 2, 3])
                })
            },
        );
    }
}

/// `(error_code, base_offset)` of a one-record produce with `acks` sent to broker `w` itself;
/// `None` when `w` does not answer within 15 s.
fn raw_produce(
    w: &Weir,
    topic: &str,
    partition: i32,
    acks: i16,
    value: &str,
) -> Option<(i16, i64)> {
    let req = raw_produce_request(
        topic,
        partition,
        acks,
        raw_batch_at(value, -1, -1, -1, now_ms()),
    );
    let mut s = raw_connect(&w.kafka, Duration::from_secs(15))?;
    let mut b = raw_roundtrip(&mut s, ApiKey::Produce, 9, &req)?;
    let resp = ProduceResponse::decode(&mut b, 9).ok()?;
    let p = resp.responses.first()?.partition_responses.first()?;
    Some((p.error_code, p.base_offset))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// The group coordinator broker `w` names for `group` (FindCoordinator v3).
fn coordinator(w: &Weir, group: &str) -> Option<i32> {
    let req = FindCoordinatorRequest::default()
        .with_key(group.to_string().into())
        .with_key_type(0);
    let mut s = raw_connect(&w.kafka, Duration::from_secs(5))?;
    let mut b = raw_roundtrip(&mut s, ApiKey::FindCoordinator, 3, &req)?;
    let resp = FindCoordinatorResponse::decode(&mut b, 3).ok()?;
    (resp.error_code == 0).then_some(resp.node_id.0)
}

/// Reads every record of `topic`/`p` from the log start to the high watermark, through all
/// running members: `offset -> value`.
/// The high watermark of `topic`/`p` as its leader reports it now.
fn high_watermark(nodes: &[Weir], topic: &str, p: i32) -> Option<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(nodes))
        .set("group.id", "unused-manual-assignment")
        .create()
        .ok()?;
    c.fetch_watermarks(topic, p, Duration::from_secs(5))
        .ok()
        .map(|(_, high)| high)
}

fn read_partition(nodes: &[Weir], topic: &str, p: i32) -> BTreeMap<i64, String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(nodes))
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    // Right after a leader is killed, the client's metadata may still name it: the query is
    // answered NOT_LEADER_OR_FOLLOWER, and, as any client does, it asks again.
    let mut marks = None;
    wait_for("the partition's watermarks", || {
        marks = c.fetch_watermarks(topic, p, Duration::from_secs(10)).ok();
        marks.is_some()
    });
    let (low, high) = marks.expect("watermarks");
    consume(&c, topic, p, low, (high - low) as usize)
        .iter()
        .map(|m| {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            (m.offset(), v)
        })
        .collect()
}

/// One acknowledged record of the producer in
/// [`acks_all_producer_loses_nothing_while_leaders_are_killed`]: `id-<n>` at `offset`.
#[derive(Debug, Clone, Copy)]
struct Ack {
    partition: i32,
    offset: i64,
    n: u64,
}

/// Delivery reports, shared between the producer's callback thread and the test.
#[derive(Clone, Default)]
struct Deliveries {
    acked: Arc<Mutex<Vec<Ack>>>,
    failed: Arc<AtomicUsize>,
}

impl Deliveries {
    fn acked(&self) -> Vec<Ack> {
        self.acked.lock().expect("lock").clone()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let n = m
                    .payload()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.strip_prefix("id-"))
                    .and_then(|n| n.parse().ok())
                    .expect("an id-<n> payload");
                self.acked.lock().expect("lock").push(Ack {
                    partition: m.partition(),
                    offset: m.offset(),
                    n,
                });
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Tells the producer thread to stop (and flush) when dropped, also when the test panics.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn acks_all_producer_loses_nothing_while_leaders_are_killed() {
    const TOPIC: &str = "acks-all";
    let mut nodes = three_brokers(&[]);
    create_replicated_topic(&nodes, TOPIC, 3, "2");

    // Idempotent acks=all producer writing id-<n> to partition n % 3 until told to stop.
    let deliveries = Deliveries::default();
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(&nodes))
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "5")
        .set("retry.backoff.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create_with_context(deliveries.clone())
        .expect("producer");
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, sent) = (Arc::clone(&stop.0), Arc::clone(&sent));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n = sent.load(Ordering::Relaxed);
                let id = format!("id-{n}");
                let record = BaseRecord::<(), _>::to(TOPIC)
                    .partition((n % 3) as i32)
                    .payload(&id);
                match producer.send(record) {
                    Ok(()) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
                    Err((e, _)) => panic!("send {id}: {e}"),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            producer
                .flush(Duration::from_secs(90))
                .expect("flush the producer");
            producer.client().fatal_error()
        })
    };
    let acked_on = |p: i32, from_n: u64| {
        deliveries
            .acked()
            .iter()
            .any(|a| a.partition == p && a.n >= from_n)
    };
    wait_for("the first acknowledged writes on every partition", || {
        (0..3).all(|p| acked_on(p, 0))
    });

    for round in 0..4 {
        let p = round % 3;
        let before = partition(&nodes[0], TOPIC, p).expect("metadata");
        let victim = before.leader;
        eprintln!("round {round}: killing node {victim}, leader of partition {p}: {before:?}");
        node_mut(&mut nodes, victim).kill9();

        // A survivor names another leader, taken from the ISR, in a newer epoch.
        let survivor = running(&nodes).next().expect("a survivor");
        let mut after = None;
        wait_for(&format!("a new leader of partition {p}"), || {
            after = partition(survivor, TOPIC, p).filter(|s| s.leader >= 0 && s.leader != victim);
            after.is_some()
        });
        let after = after.expect("new leader");
        assert!(
            before.isr.contains(&after.leader),
            "the new leader {} comes from the ISR {:?}",
            after.leader,
            before.isr
        );
        assert!(
            after.leader_epoch > before.leader_epoch,
            "the leader epoch moves on: {before:?} -> {after:?}"
        );
        wait_for(
            &format!("node {victim} fenced out of the ISR of partition {p}"),
            || {
                let isr = isr(survivor, TOPIC, p);
                !isr.is_empty() && !isr.contains(&victim)
            },
        );

        // The new leader takes acks=all writes (two replicas in sync, min.insync.replicas=2):
        // a record sent after the failover is acknowledged.
        let first_after = sent.load(Ordering::Relaxed);
        wait_for(
            &format!("acknowledged writes on partition {p} after failover"),
            || acked_on(p, first_after),
        );

        // The killed broker returns as a follower, catches up and rejoins every ISR.
        node_mut(&mut nodes, victim).restart();
        wait_all_in_sync(&nodes, TOPIC);
    }

    drop(stop);
    let fatal = writer.join().expect("producer thread");
    assert_eq!(fatal, None, "the idempotent producer hit a fatal error");
    let sent = sent.load(Ordering::Relaxed);
    let acked = deliveries.acked();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    assert!(!acked.is_empty(), "nothing acknowledged");

    // A leader elected at the very end (preferred-leader moves continue) starts from its own
    // high watermark, which can trail until its followers fetch again: read once every
    // partition's high watermark covers its last acknowledged offset. A partition that lost
    // acknowledged records never gets there.
    for p in 0..3 {
        let Some(last) = acked
            .iter()
            .filter(|a| a.partition == p)
            .map(|a| a.offset)
            .max()
        else {
            continue;
        };
        wait_for(
            &format!("partition {p}'s high watermark past its last acknowledged offset {last}"),
            || high_watermark(&nodes, TOPIC, p).is_some_and(|h| h > last),
        );
    }
    let logs: Vec<BTreeMap<i64, String>> =
        (0..3).map(|p| read_partition(&nodes, TOPIC, p)).collect();
    let consumed: usize = logs.iter().map(BTreeMap::len).sum();
    eprintln!(
        "sent {sent}, acknowledged {}, failed {failed}, consumed {consumed}",
        acked.len()
    );

    let acked_ids: BTreeSet<String> = acked.iter().map(|a| format!("id-{}", a.n)).collect();
    for a in &acked {
        let at = logs[a.partition as usize].get(&a.offset);
        assert_eq!(
            at.map(String::as_str),
            Some(format!("id-{}", a.n).as_str()),
            "acknowledged id-{} at partition {} offset {}",
            a.n,
            a.partition,
            a.offset
        );
    }
    for (p, log) in logs.iter().enumerate() {
        // Acknowledged ids in offset order are in send order, and each is written once.
        let in_log: Vec<&String> = log.values().filter(|v| acked_ids.contains(*v)).collect();
        let ns: Vec<u64> = in_log
            .iter()
            .map(|v| v["id-".len()..].parse().expect("id"))
            .collect();
        if let Some(w) = ns.windows(2).find(|w| w[0] >= w[1]) {
            panic!("partition {p}: acknowledged id-{} before id-{}", w[0], w[1]);
        }
        let distinct: BTreeSet<&String> = in_log.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            in_log.len(),
            "partition {p}: an acknowledged id is written twice"
        );
        for v in log.values() {
            if let Some(n) = v.strip_prefix("id-").and_then(|n| n.parse::<u64>().ok()) {
                assert_eq!(n % 3, p as u64, "id-{n} on partition {p}");
            }
        }
    }
}

#[test]
fn paused_follower_leaves_the_isr_and_two_down_refuse_acks_all() {
    const TOPIC: &str = "min-isr";
    let mut nodes = three_brokers(&[]);
    create_replicated_topic(&nodes, TOPIC, 1, "2");
    let start = partition(&nodes[0], TOPIC, 0).expect("metadata");
    let l = start.leader;
    let followers: Vec<i32> = start.replicas.iter().copied().filter(|r| *r != l).collect();
    let [f1, f2] = followers[..] else {
        panic!("two followers: {start:?}")
    };
    eprintln!("leader {l}, followers {f1} and {f2}");
    let mut acked: Vec<(i64, String)> = Vec::new();
    let mut produce_ok = |w: &Weir, value: &str| {
        let (code, offset) = raw_produce(w, TOPIC, 0, -1, value).expect("a produce answer");
        assert_eq!(code, 0, "acks=all produce of {value:?}");
        acked.push((offset, value.to_string()));
    };
    produce_ok(node(&nodes, l), "all three in sync");

    // A frozen follower stops fetching: the leader drops it from the ISR (or the controller
    // fences it; either way it leaves), and acks=all goes on with two of three.
    node(&nodes, f1).pause();
    let mut without_f1 = vec![l, f2];
    without_f1.sort_unstable();
    wait_for(
        &format!("node {f1} out of the ISR as the leader sees it"),
        || isr(node(&nodes, l), TOPIC, 0) == without_f1,
    );
    assert_eq!(
        leader(node(&nodes, l), TOPIC, 0),
        Some(l),
        "the leader stays"
    );
    produce_ok(node(&nodes, l), "while a follower is paused");

    // Resumed, it catches up (it missed a record) and rejoins.
    node(&nodes, f1).resume();
    wait_for(&format!("node {f1} back in the ISR"), || {
        isr(node(&nodes, l), TOPIC, 0) == [1, 2, 3]
    });
    produce_ok(node(&nodes, l), "after the follower rejoined");

    // Both followers die (and the controller quorum with them): the leader, alone in sync by
    // replica.lag.time.max.ms, refuses acks=all with NOT_ENOUGH_REPLICAS. Until it notices,
    // an attempt may time out or fail after the append; none may be acknowledged.
    let state = partition(node(&nodes, l), TOPIC, 0).expect("metadata");
    assert_eq!(state.leader, l, "the leader stays: {state:?}");
    node_mut(&mut nodes, f1).kill9();
    node_mut(&mut nodes, f2).kill9();
    let mut codes = Vec::new();
    wait_for("acks=all refused with NOT_ENOUGH_REPLICAS", || {
        let Some((code, _)) = raw_produce(node(&nodes, l), TOPIC, 0, -1, "must fail") else {
            return false;
        };
        codes.push(code);
        assert!(
            [
                NOT_ENOUGH_REPLICAS,
                NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                REQUEST_TIMED_OUT
            ]
            .contains(&code),
            "acks=all with both followers down answered {codes:?}"
        );
        code == NOT_ENOUGH_REPLICAS
    });
    eprintln!("acks=all answers with both followers down: {codes:?}");
    assert_eq!(
        raw_produce(node(&nodes, l), TOPIC, 0, -1, "must fail").map(|r| r.0),
        Some(NOT_ENOUGH_REPLICAS),
        "acks=all stays refused"
    );

    // Both return, catch up, rejoin; acks=all is accepted again (by whoever leads).
    node_mut(&mut nodes, f1).restart();
    node_mut(&mut nodes, f2).restart();
    wait_for("acks=all accepted again", || {
        let Some(now) = leader(node(&nodes, l), TOPIC, 0) else {
            return false;
        };
        match raw_produce(node(&nodes, now), TOPIC, 0, -1, "both back") {
            Some((0, offset)) => {
                acked.push((offset, "both back".to_string()));
                true
            }
            _ => false,
        }
    });
    wait_all_in_sync(&nodes, TOPIC);

    let log = read_partition(&nodes, TOPIC, 0);
    for (offset, value) in &acked {
        assert_eq!(
            log.get(offset),
            Some(value),
            "acknowledged {value:?} at offset {offset}"
        );
    }
}

#[test]
fn consumer_group_keeps_progress_through_a_broker_failure() {
    use rdkafka::producer::FutureRecord;

    const TOPIC: &str = "group-progress";
    const GROUP: &str = "progress";
    const TOTAL: usize = 300;
    /// Records per partition the first member processes and commits.
    const HALF: i64 = 50;
    let mut nodes = three_brokers(&["--group-initial-rebalance-delay-ms", "0"]);
    create_replicated_topic(&nodes, TOPIC, 3, "2");

    let producer = nodes[0].producer(&[
        ("bootstrap.servers", &bootstrap(&nodes)),
        ("acks", "all"),
        ("topic.metadata.refresh.interval.ms", "1000"),
    ]);
    runtime().block_on(async {
        let values: Vec<String> = (0..TOTAL).map(|i| format!("r-{i}")).collect();
        let fs: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                producer.send(
                    FutureRecord::<(), _>::to(TOPIC)
                        .partition((i % 3) as i32)
                        .payload(v),
                    Duration::from_secs(30),
                )
            })
            .collect();
        for f in fs {
            f.await.expect("acks=all write");
        }
    });

    let member = |bootstrap: &str| -> BaseConsumer {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .expect("consumer");
        c.subscribe(&[TOPIC]).expect("subscribe");
        c
    };

    // The first member processes the first half of every partition, committing synchronously
    // after every batch; what it reads beyond that is neither processed nor committed.
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    {
        let a = member(&bootstrap(&nodes));
        let deadline = Instant::now() + Duration::from_secs(60);
        while (0..3).any(|p| committed.get(&p) != Some(&HALF)) {
            assert!(
                Instant::now() < deadline,
                "first member committed {committed:?}"
            );
            let mut batch = BTreeMap::new();
            for _ in 0..10 {
                match a.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) if m.offset() < HALF => {
                        seen.insert((m.partition(), m.offset()));
                        batch.insert(m.partition(), m.offset() + 1);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("consume: {e}"),
                    None => break,
                }
            }
            if batch.is_empty() {
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            for (p, next) in &batch {
                tpl.add_partition_offset(TOPIC, *p, Offset::Offset(*next))
                    .expect("tpl");
            }
            a.commit(&tpl, CommitMode::Sync).expect("commit");
            committed.extend(batch);
        }
        // Dropped here: the member leaves the group.
    }
    eprintln!(
        "first member read {} and committed {committed:?}",
        seen.len()
    );

    // The group's coordinator holds its committed offsets: kill it, so the group (and the
    // partitions it led) move to the survivors.
    let c = coordinator(&nodes[0], GROUP).expect("the group coordinator");
    eprintln!("killing node {c}, the coordinator of {GROUP}");
    node_mut(&mut nodes, c).kill9();

    // A new member, bootstrapped at the survivors, resumes at the committed offsets.
    let b = member(&bootstrap(&nodes));
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < TOTAL {
        assert!(
            Instant::now() < deadline,
            "the group read {} of {TOTAL}",
            seen.len()
        );
        match b.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let from = committed.get(&m.partition()).copied().unwrap_or(0);
                assert!(
                    m.offset() >= from,
                    "partition {} offset {} delivered again though {from} was committed",
                    m.partition(),
                    m.offset()
                );
                seen.insert((m.partition(), m.offset()));
            }
            // Errors while the coordinator and leaders move are retried by the client.
            Some(Err(e)) => eprintln!("consume: {e}"),
            None => {}
        }
    }
    eprintln!("the group read all {TOTAL} records");
}
