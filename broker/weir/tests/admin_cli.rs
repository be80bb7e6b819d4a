//! `weir topic` and `weir group` against a running broker: topics created, altered, applied
//! from a YAML file and deleted, and a consumer group's offsets reset and the group deleted,
//! each checked with librdkafka (rdkafka) as the client a user would run.

mod common;

use std::time::Duration;

use common::{Weir, runtime, wait_for, weir_cli};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureRecord;

const T: Duration = Duration::from_secs(15);

fn cli(weir: &Weir, args: &[&str]) -> (bool, String) {
    let admin = format!("http://{}", weir.http);
    let mut all = args.to_vec();
    all.extend(["--admin", &admin]);
    weir_cli(&all)
}

fn ok(weir: &Weir, args: &[&str]) -> String {
    let (ok, out) = cli(weir, args);
    assert!(ok, "weir {args:?} failed: {out}");
    out
}

fn refused(weir: &Weir, args: &[&str]) -> String {
    let (ok, out) = cli(weir, args);
    assert!(!ok, "weir {args:?} should fail: {out}");
    out
}

/// Partition count librdkafka sees for `topic` (0: no such topic).
fn partitions(weir: &Weir, topic: &str) -> usize {
    let md = weir
        .consumer()
        .fetch_metadata(Some(topic), T)
        .expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len())
}

fn topic_config(weir: &Weir, topic: &str, key: &str) -> Option<String> {
    let out = ok(weir, &["topic", "describe", topic, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["configs"][key].as_str().map(str::to_string)
}

#[test]
fn topics_are_created_altered_applied_from_yaml_and_deleted() {
    let weir = Weir::start(&[]);
    let out = ok(
        &weir,
        &[
            "topic",
            "create",
            "orders",
            "-p",
            "3",
            "-c",
            "retention.ms=3600000",
        ],
    );
    assert!(out.contains("created orders (3 partitions"), "{out}");
    assert_eq!(partitions(&weir, "orders"), 3);
    let out = refused(&weir, &["topic", "create", "orders"]);
    assert!(out.contains("already exists"), "{out}");
    let out = refused(&weir, &["topic", "create", "bad/name"]);
    assert!(out.contains("bad/name"), "{out}");
    assert!(ok(&weir, &["topic", "list"]).contains("orders"));

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("topics.yaml");
    std::fs::write(
        &file,
        "topics:\n\
         - name: orders\n  partitions: 6\n  configs:\n    retention.ms: 7200000\n\
         - name: payments\n  partitions: 2\n  replication_factor: 1\n  configs:\n    cleanup.policy: compact\n",
    )
    .expect("yaml");
    let path = file.to_str().expect("path");
    let plan = ok(&weir, &["topic", "apply", "-f", path, "--dry-run"]);
    for line in [
        "~ orders: partitions 3 -> 6",
        "~ orders: retention.ms 3600000 -> 7200000",
        "+ create payments (partitions 2, replication factor 1, cleanup.policy=compact)",
        "dry run: 2 change(s) planned and checked by the broker, none made",
    ] {
        assert!(plan.contains(line), "{line}: {plan}");
    }
    assert_eq!(partitions(&weir, "orders"), 3, "a dry run changes nothing");
    assert_eq!(partitions(&weir, "payments"), 0);

    let out = ok(&weir, &["topic", "apply", "-f", path]);
    assert!(out.contains("applied 2 change(s)"), "{out}");
    wait_for("the new partitions", || partitions(&weir, "orders") == 6);
    assert_eq!(partitions(&weir, "payments"), 2);
    assert_eq!(
        topic_config(&weir, "orders", "retention.ms").as_deref(),
        Some("7200000")
    );
    assert_eq!(
        topic_config(&weir, "payments", "cleanup.policy").as_deref(),
        Some("compact")
    );
    let again = ok(&weir, &["topic", "apply", "-f", path]);
    assert!(
        again.contains("= orders unchanged") && again.contains("applied 0 change(s)"),
        "{again}"
    );

    // A file that asks for fewer partitions, or has a mistake, changes nothing.
    std::fs::write(
        &file,
        "topics:\n- name: fresh\n- name: orders\n  partitions: 2\n",
    )
    .expect("yaml");
    let out = refused(&weir, &["topic", "apply", "-f", path]);
    assert!(out.contains("cannot be removed"), "{out}");
    assert_eq!(partitions(&weir, "fresh"), 0);
    std::fs::write(&file, "topics:\n- name: x\n  partitons: 2\n").expect("yaml");
    let out = refused(&weir, &["topic", "apply", "-f", path]);
    assert!(out.contains("partitons"), "names the unknown field: {out}");
    // A value or a name the broker refuses is found before anything is made, dry run or not:
    // the first topic is not created, the second not grown.
    std::fs::write(
        &file,
        "topics:\n- name: fresh\n- name: orders\n  partitions: 7\n  configs:\n    retention.ms: abc\n",
    )
    .expect("yaml");
    for args in [
        &["topic", "apply", "-f", path, "--dry-run"][..],
        &["topic", "apply", "-f", path],
    ] {
        let out = refused(&weir, args);
        assert!(out.contains("retention.ms"), "{out}");
    }
    std::fs::write(&file, "topics:\n- name: fresh\n- name: bad name\n").expect("yaml");
    let out = refused(&weir, &["topic", "apply", "-f", path]);
    assert!(out.contains("bad name"), "{out}");
    assert_eq!(partitions(&weir, "fresh"), 0);
    assert_eq!(partitions(&weir, "orders"), 6);
    // An alter with a value the broker refuses does not grow the partitions either.
    let out = refused(
        &weir,
        &[
            "topic",
            "alter",
            "orders",
            "-p",
            "7",
            "-c",
            "retention.ms=abc",
        ],
    );
    assert!(out.contains("retention.ms"), "{out}");
    assert_eq!(partitions(&weir, "orders"), 6);

    // The new partition takes records, then alter and delete.
    let producer = weir.producer(&[]);
    runtime()
        .block_on(
            producer.send(
                FutureRecord::to("orders")
                    .partition(5)
                    .key("k")
                    .payload("v"),
                T,
            ),
        )
        .expect("produce to partition 5");
    ok(
        &weir,
        &[
            "topic",
            "alter",
            "orders",
            "-p",
            "8",
            "--delete-config",
            "retention.ms",
        ],
    );
    wait_for("8 partitions", || partitions(&weir, "orders") == 8);
    assert_eq!(topic_config(&weir, "orders", "retention.ms"), None);
    let out = refused(&weir, &["topic", "alter", "orders", "-p", "4"]);
    assert!(out.contains("partitions"), "{out}");
    ok(&weir, &["topic", "delete", "payments"]);
    wait_for("payments gone", || partitions(&weir, "payments") == 0);
    let out = refused(&weir, &["topic", "delete", "payments"]);
    assert!(out.contains("payments"), "{out}");
}

fn group_consumer(weir: &Weir, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", &weir.kafka)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

/// Subscribes as `group`, reads `n` records, commits and leaves; returns their offsets.
fn read_and_commit(weir: &Weir, group: &str, topic: &str, n: usize) -> Vec<(i32, i64)> {
    let c = group_consumer(weir, group);
    c.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    wait_for("records", || {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            got.push((m.partition(), m.offset()));
        }
        got.len() >= n
    });
    c.commit_consumer_state(CommitMode::Sync).expect("commit");
    c.unsubscribe();
    drop(c);
    got
}

/// `(partition, committed offset)` for each partition `group describe` lists, sorted (-1: none).
fn partition_offsets(weir: &Weir, group: &str) -> Vec<(i64, i64)> {
    let out = ok(weir, &["group", "describe", group, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let mut offsets: Vec<(i64, i64)> = v["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap_or(-1),
                p["committed_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    offsets.sort();
    offsets
}

fn committed(weir: &Weir, group: &str) -> Vec<i64> {
    partition_offsets(weir, group)
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

#[test]
fn group_lag_is_shown_and_offsets_are_reset_only_when_the_group_is_inactive() {
    let weir = Weir::start(&["--group-initial-rebalance-delay-ms", "0"]);
    ok(&weir, &["topic", "create", "clicks", "-p", "2"]);
    let producer = weir.producer(&[]);
    runtime().block_on(async {
        for i in 0..20 {
            producer
                .send(
                    FutureRecord::to("clicks")
                        .partition(i % 2)
                        .key("k")
                        .payload(&format!("v{i}")),
                    T,
                )
                .await
                .expect("produce");
        }
    });
    assert_eq!(read_and_commit(&weir, "readers", "clicks", 20).len(), 20);
    wait_for("the group empty", || {
        ok(&weir, &["group", "list"])
            .lines()
            .any(|l| l.starts_with("readers") && l.contains("Empty"))
    });
    assert_eq!(committed(&weir, "readers"), [10, 10]);

    // The plan alone changes nothing.
    let plan = ok(
        &weir,
        &["group", "reset-offsets", "readers", "--to-earliest"],
    );
    assert!(plan.contains("plan only"), "{plan}");
    assert_eq!(committed(&weir, "readers"), [10, 10]);

    ok(
        &weir,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks",
            "--to-earliest",
            "--execute",
        ],
    );
    assert_eq!(committed(&weir, "readers"), [0, 0]);
    let list = ok(&weir, &["group", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("readers") && l.trim_end().ends_with("20")),
        "lag 20: {list}"
    );
    ok(
        &weir,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--shift-by",
            "7",
            "--execute",
        ],
    );
    assert_eq!(committed(&weir, "readers"), [7, 7]);
    ok(
        &weir,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--to-datetime",
            "2999-01-01T00:00:00Z",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&weir, "readers"),
        [10, 10],
        "past the end: latest"
    );
    ok(
        &weir,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--to-offset",
            "3",
            "--execute",
        ],
    );
    // A consumer of the group goes on from the reset offsets: 7 records on each partition.
    let again = read_and_commit(&weir, "readers", "clicks", 14);
    assert_eq!(again.iter().map(|(_, o)| *o).min(), Some(3));

    // With a member in the group, the reset is refused.
    let member = group_consumer(&weir, "readers");
    member.subscribe(&["clicks"]).expect("subscribe");
    wait_for("an active member", || {
        let _ = member.poll(Duration::from_millis(100));
        !member
            .assignment()
            .expect("assignment")
            .elements()
            .is_empty()
    });
    let out = refused(
        &weir,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(out.contains("active member"), "{out}");
    let out = refused(&weir, &["group", "reset-offsets", "readers"]);
    assert!(out.contains("--to-earliest"), "says where to: {out}");

    // A group with a member is not deleted; once its consumer leaves, it is, with its offsets:
    // a consumer of the same group id starts again from the earliest record.
    let out = refused(&weir, &["group", "delete", "readers"]);
    assert!(out.contains("active members"), "{out}");
    member.unsubscribe();
    drop(member);
    wait_for("the group empty", || {
        ok(&weir, &["group", "list"])
            .lines()
            .any(|l| l.starts_with("readers") && l.contains("Empty"))
    });
    let out = ok(&weir, &["group", "delete", "readers"]);
    assert!(out.contains("deleted group readers"), "{out}");
    let list = ok(&weir, &["group", "list"]);
    assert!(!list.lines().any(|l| l.starts_with("readers")), "{list}");
    let out = refused(&weir, &["group", "delete", "readers"]);
    assert!(out.contains("does not exist"), "{out}");
    let fresh = read_and_commit(&weir, "readers", "clicks", 20);
    assert_eq!(fresh.iter().map(|(_, o)| *o).min(), Some(0), "{fresh:?}");
}

/// `(partition, committed offset)` of the partitions `group` has committed offsets for.
fn committed_partitions(weir: &Weir, group: &str) -> Vec<(i64, i64)> {
    partition_offsets(weir, group)
        .into_iter()
        .filter(|(_, o)| *o >= 0)
        .collect()
}

/// Without `--topic`, a reset touches the partitions the group has committed offsets for and no
/// others, as kafka-consumer-groups --all-topics; a target past the log end is moved to it, with
/// a warning.
#[test]
fn a_reset_without_topics_touches_only_committed_partitions() {
    let weir = Weir::start(&[]);
    ok(&weir, &["topic", "create", "pc", "-p", "2"]);
    let producer = weir.producer(&[]);
    runtime().block_on(async {
        for i in 0..10 {
            producer
                .send(
                    FutureRecord::to("pc")
                        .partition(i % 2)
                        .key("k")
                        .payload("v"),
                    T,
                )
                .await
                .expect("produce");
        }
    });
    // The group commits partition 0 only (a manually assigned consumer).
    let c = group_consumer(&weir, "ff");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("pc", 0, rdkafka::Offset::Offset(3))
        .expect("tpl");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
    drop(c);
    assert_eq!(committed_partitions(&weir, "ff"), [(0, 3)]);

    ok(
        &weir,
        &["group", "reset-offsets", "ff", "--to-earliest", "--execute"],
    );
    assert_eq!(
        committed_partitions(&weir, "ff"),
        [(0, 0)],
        "partition 1 untouched"
    );
    let out = ok(
        &weir,
        &[
            "group",
            "reset-offsets",
            "ff",
            "--to-offset",
            "999",
            "--execute",
        ],
    );
    assert!(out.contains("warning: 1 target offset"), "{out}");
    assert_eq!(
        committed_partitions(&weir, "ff"),
        [(0, 5)],
        "moved to the log end"
    );
}
