//! Groups the broker drives itself, in a three-broker cluster: a pipeline partition runs on its
//! input partition's leader, which is usually not the group coordinator, yet commits and reads
//! its position there; when an input leader is SIGKILLed the partition's new leader resumes at
//! the committed position (neither from the start nor skipping). Dead-letter replay on a
//! broker that is not the coordinator keeps its position the same way.
//!
//! Leaders are read from Metadata asked of one named, running broker. Tests assert behaviour
//! only, never how long something took.

mod common;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use common::{
    Weir, bootstrap, consume, node_mut, raw_metadata, running, runtime, three_brokers, wait_for,
};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Partitions of every topic here: with three brokers, each leads one.
const PARTITIONS: i32 = 3;

/// One cluster at a time: two would share the machine's two cores, and a starved broker is
/// fenced.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The leader and (sorted) ISR of `topic`/`p` as broker `w` alone sees it.
fn leader_and_isr(w: &Weir, topic: &str, p: i32) -> Option<(i32, Vec<i32>)> {
    let md = raw_metadata(w, Some(&[topic]))?;
    let part = md
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .flat_map(|t| &t.partitions)
        .find(|x| x.partition_index == p)?;
    let mut isr: Vec<i32> = part.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Some((part.leader_id.0, isr))
}

/// The leader of `topic`/`p` as the first running member sees it, if it names one.
fn leader(nodes: &[Weir], topic: &str, p: i32) -> Option<i32> {
    let (l, _) = leader_and_isr(running(nodes).next()?, topic, p)?;
    (l >= 0).then_some(l)
}

/// Creates `topic` with [`PARTITIONS`] partitions of three replicas, then waits until every
/// member shows each partition led and fully in sync.
fn create_topic(nodes: &[Weir], topic: &str) {
    create_topic_with(nodes, topic, PARTITIONS);
}

/// A topic of `partitions` partitions and replication factor 3, led and in sync everywhere.
fn create_topic_with(nodes: &[Weir], topic: &str, partitions: i32) {
    let res = runtime()
        .block_on(nodes[0].admin().create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(3),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create topics");
    for r in res {
        r.expect("topic created with replication factor 3");
    }
    for n in nodes {
        wait_for(&format!("{topic} led and in sync everywhere"), || {
            (0..partitions).all(|p| {
                leader_and_isr(n, topic, p).is_some_and(|(l, isr)| l >= 0 && isr == [1, 2, 3])
            })
        });
    }
}

/// Writes `values` with acks=all, value `i` to partition `i % PARTITIONS`, each with
/// `headers`; every write must be acknowledged.
fn produce(nodes: &[Weir], topic: &str, values: &[String], headers: &OwnedHeaders) {
    let producer = nodes[0].producer(&[
        ("bootstrap.servers", &bootstrap(nodes)),
        ("acks", "all"),
        ("topic.metadata.refresh.interval.ms", "1000"),
    ]);
    runtime().block_on(async {
        let fs: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                producer.send(
                    FutureRecord::<(), _>::to(topic)
                        .partition(i as i32 % PARTITIONS)
                        .payload(v)
                        .headers(headers.clone()),
                    Duration::from_secs(30),
                )
            })
            .collect();
        for f in fs {
            f.await.expect("acks=all write");
        }
    });
}

/// A client of the running members; with `group`, one that only reads that group's offsets.
fn client(nodes: &[Weir], group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap(nodes))
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer")
}

/// The high watermark of every partition of `topic`; `None` while one cannot be read.
fn ends(nodes: &[Weir], topic: &str) -> Option<Vec<i64>> {
    let c = client(nodes, "unused-manual-assignment");
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(5))
                .ok()
                .map(|(_, high)| high)
        })
        .collect()
}

/// Every value of `topic`, by partition.
fn values(nodes: &[Weir], topic: &str) -> Vec<Vec<String>> {
    let c = client(nodes, "unused-manual-assignment");
    (0..PARTITIONS)
        .map(|p| {
            let (low, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            consume(&c, topic, p, low, (high - low) as usize)
                .iter()
                .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
                .collect()
        })
        .collect()
}

/// The offsets `group` committed for the partitions of `topic`, as its coordinator answers
/// OffsetFetch (-1 where none); `None` while the coordinator does not answer.
fn committed(nodes: &[Weir], group: &str, topic: &str) -> Option<Vec<i64>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = client(nodes, group)
        .committed_offsets(tpl, Duration::from_secs(10))
        .ok()?;
    (0..PARTITIONS)
        .map(|p| match got.find_partition(topic, p)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => Some(-1),
        })
        .collect()
}

/// The pipeline's partitions as the running members report them (each runs the partitions
/// whose input it leads): `(partition, position)`, sorted.
fn pipeline_positions(nodes: &[Weir], pipeline: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for n in running(nodes) {
        let (code, body) = n.http_get(&format!("/v1/pipelines/{pipeline}"));
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        for p in v["partitions"].as_array().expect("partitions") {
            out.push((
                p["partition"].as_i64().expect("partition"),
                p["position"].as_i64().expect("position"),
            ));
        }
    }
    out.sort_unstable();
    out
}

/// Input records of one partition an at-least-once pipeline may write twice around a failure
/// (those in flight when it struck). Starting that partition over would repeat all of them.
const SLACK: usize = 10;

#[test]
fn pipelines_run_on_every_broker_and_resume_after_an_input_leader_dies() {
    const N: usize = 300;
    const GROUP: &str = "__weir-pipeline-mirror";
    let _serial = serial();
    let mut nodes = three_brokers(&[]);
    create_topic(&nodes, "in");
    create_topic(&nodes, "out");
    let leaders: Vec<i32> = (0..PARTITIONS)
        .map(|p| leader(&nodes, "in", p).expect("leader"))
        .collect();
    assert_eq!(
        leaders.iter().collect::<BTreeSet<_>>().len(),
        3,
        "each broker leads an input partition, so at least two pipeline partitions run away \
         from the group coordinator: {leaders:?}"
    );
    for p in 0..PARTITIONS {
        // Unkeyed records go to the output partition of their input partition's index, and a
        // broker writes only to partitions it leads.
        assert_eq!(leader(&nodes, "out", p), Some(leaders[p as usize]));
    }

    let first: Vec<String> = (0..N).map(|i| format!("v{i}")).collect();
    produce(&nodes, "in", &first, &OwnedHeaders::new());
    let (code, body) = nodes[0].http_request(
        "POST",
        "/v1/pipelines",
        Some(&serde_json::json!({
            "name": "mirror", "input": "in", "plugins": [], "output": "out", "start": "earliest",
        })),
    );
    assert_eq!(code, 201, "{body}");

    wait_for("the first records through the pipeline", || {
        ends(&nodes, "out").is_some_and(|e| e.iter().sum::<i64>() == N as i64)
    });
    let input_ends = ends(&nodes, "in").expect("input ends");
    wait_for("the pipeline's positions at the coordinator", || {
        committed(&nodes, GROUP, "in").as_ref() == Some(&input_ends)
    });
    let expected: Vec<(i64, i64)> = input_ends
        .iter()
        .enumerate()
        .map(|(p, e)| (p as i64, *e))
        .collect();
    wait_for(
        "every broker reports its pipeline partitions at the input end",
        || pipeline_positions(&nodes, "mirror") == expected,
    );

    // The leader of input partition 0 dies: its partition's task moves to the new leader.
    let victim = leaders[0];
    eprintln!("killing node {victim}, the leader of in-0");
    node_mut(&mut nodes, victim).kill9();
    wait_for("a new leader of in-0 and out-0", || {
        let (i, o) = (leader(&nodes, "in", 0), leader(&nodes, "out", 0));
        i.is_some_and(|l| l != victim) && i == o
    });

    let second: Vec<String> = (N..2 * N).map(|i| format!("v{i}")).collect();
    produce(&nodes, "in", &second, &OwnedHeaders::new());
    wait_for("the second records through the pipeline", || {
        ends(&nodes, "out").is_some_and(|e| e.iter().sum::<i64>() >= 2 * N as i64)
    });
    let input_ends = ends(&nodes, "in").expect("input ends");
    wait_for("the pipeline's positions at the input end again", || {
        committed(&nodes, GROUP, "in").as_ref() == Some(&input_ends)
    });

    let inputs = values(&nodes, "in");
    let outputs = values(&nodes, "out");
    for p in 0..PARTITIONS as usize {
        let written: BTreeSet<&String> = outputs[p].iter().collect();
        let missing: Vec<&String> = inputs[p].iter().filter(|v| !written.contains(v)).collect();
        assert!(missing.is_empty(), "partition {p} lost {missing:?}");
        assert!(
            outputs[p].len() <= inputs[p].len() + SLACK,
            "partition {p}: {} input records came out {} times: progress was lost",
            inputs[p].len(),
            outputs[p].len()
        );
    }
    let total: usize = outputs.iter().map(Vec::len).sum();
    eprintln!("{total} records out for {} in", 2 * N);
}

#[test]
fn dead_letter_replay_keeps_its_position_on_any_broker() {
    const LETTERS: usize = 6;
    const GROUP: &str = "__weir-dlq-replay";
    let _serial = serial();
    let nodes = three_brokers(&[]);
    create_topic(&nodes, "src");
    // Dead letters of src-p in their own topic, replayed by src-p's leader: every broker
    // replays, and at most one of them is the group coordinator.
    for p in 0..PARTITIONS {
        let dlq = format!("src.dlq{p}");
        create_topic(&nodes, &dlq);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "weir.dlq.source.topic",
                value: Some("src"),
            })
            .insert(Header {
                key: "weir.dlq.source.partition",
                value: Some(&p.to_string()),
            });
        let letters: Vec<String> = (0..LETTERS).map(|i| format!("letter-{p}-{i}")).collect();
        produce(&nodes, &dlq, &letters, &headers);
    }
    for p in 0..PARTITIONS {
        let dlq = format!("src.dlq{p}");
        let id = leader(&nodes, "src", p).expect("leader");
        let w = nodes
            .iter()
            .find(|n| n.node_id() == Some(id))
            .expect("leader node");
        // A replay stops at the end its broker's copy of the topic had: repeat until all
        // are through. The position kept between calls means none comes twice.
        let mut replayed = 0;
        wait_for(&format!("{dlq} replayed by node {id}"), || {
            let (code, body) = w.http_request(
                "POST",
                &format!("/v1/dlq/{dlq}/replay"),
                Some(&serde_json::json!({})),
            );
            assert_eq!(code, 200, "replay of {dlq} on node {id}: {body}");
            let report: serde_json::Value = serde_json::from_str(&body).expect("json");
            replayed += report["replayed"].as_u64().expect("replayed") as usize;
            replayed >= LETTERS
        });
        assert_eq!(replayed, LETTERS, "each dead letter replayed once");
        let (code, body) = w.http_request(
            "POST",
            &format!("/v1/dlq/{dlq}/replay"),
            Some(&serde_json::json!({})),
        );
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"replayed\":0"), "a second replay: {body}");
        let positions = committed(&nodes, GROUP, &dlq).expect("committed replay positions");
        assert_eq!(
            Some(positions),
            ends(&nodes, &dlq),
            "the replay positions of {dlq}"
        );
    }
    let src = values(&nodes, "src");
    for (p, vs) in src.iter().enumerate() {
        let mut got = vs.clone();
        got.sort();
        let mut want: Vec<String> = (0..LETTERS).map(|i| format!("letter-{p}-{i}")).collect();
        want.sort();
        assert_eq!(got, want, "src-{p} holds each of its dead letters once");
    }
}

#[test]
fn pipeline_output_reaches_a_partition_led_by_another_broker() {
    const N: usize = 90;
    let _serial = serial();
    let nodes = three_brokers(&[]);
    create_topic(&nodes, "spread-in");
    // One output partition: two of the three input leaders write to it through its leader.
    create_topic_with(&nodes, "fan-in", 1);
    let out_leader = leader(&nodes, "fan-in", 0).expect("leader");
    let in_leaders: BTreeSet<i32> = (0..PARTITIONS)
        .filter_map(|p| leader(&nodes, "spread-in", p))
        .collect();
    assert_eq!(in_leaders.len(), 3, "each broker leads an input partition");

    let sent: Vec<String> = (0..N).map(|i| format!("r{i}")).collect();
    produce(&nodes, "spread-in", &sent, &OwnedHeaders::new());
    let (code, body) = nodes[0].http_request(
        "POST",
        "/v1/pipelines",
        Some(&serde_json::json!({
            "name": "fan", "input": "spread-in", "plugins": [], "output": "fan-in",
            "start": "earliest",
        })),
    );
    assert_eq!(code, 201, "{body}");

    let c = client(&nodes, "unused-manual-assignment");
    wait_for("every record in the one output partition", || {
        c.fetch_watermarks("fan-in", 0, Duration::from_secs(5))
            .is_ok_and(|(_, high)| high >= N as i64)
    });
    let (low, high) = c
        .fetch_watermarks("fan-in", 0, Duration::from_secs(10))
        .expect("watermarks");
    let got: BTreeSet<String> = consume(&c, "fan-in", 0, low, (high - low) as usize)
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    let want: BTreeSet<String> = sent.into_iter().collect();
    assert_eq!(
        got, want,
        "the output (led by broker {out_leader}) has every input record"
    );
}
