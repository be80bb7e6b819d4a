//! Cluster membership: a broker outside the voter list joins as a non-voting member and takes
//! partitions; a dedicated controller votes but hosts none; a stopped broker is removed with
//! `weir cluster remove-broker` once it holds no replicas.

mod common;

use std::time::Duration;

use common::{Weir, cluster_view, free_port, runtime, start_cluster_each, wait_for, weir_cli};
use rdkafka::Message as _;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;

fn broker_ids(w: &Weir) -> Vec<i64> {
    cluster_view(w)["brokers"]
        .as_array()
        .map(|bs| bs.iter().filter_map(|b| b["node_id"].as_i64()).collect())
        .unwrap_or_default()
}

#[test]
fn a_broker_joins_as_non_voter_and_leaves_with_remove_broker() {
    // Node 3 is a dedicated controller: it votes, but is no broker.
    let nodes = start_cluster_each(3, &["--broker-session-timeout-ms", "1500"], |id| {
        if id == 3 {
            vec!["--process-roles".into(), "controller".into()]
        } else {
            Vec::new()
        }
    });
    let voters = nodes[0].flag("--controller-voters").expect("voters");
    // Every member (the dedicated controller included) applies both registrations, and none
    // lists node 3: a third id would never match.
    wait_for(
        "brokers 1 and 2 registered, and not the dedicated controller",
        || nodes.iter().all(|n| broker_ids(n) == [1, 2]),
    );

    // The group offsets partition exists before node 4 joins (a consumer's first
    // FindCoordinator creates it), so that node 4 holds no replica of it.
    {
        let c = nodes[0].consumer();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition("warm-up", 0);
        let _ = c.committed_offsets(tpl, Duration::from_secs(10));
        wait_for("the offsets topic", || {
            c.fetch_metadata(Some("__consumer_offsets"), Duration::from_secs(5))
                .is_ok_and(|md| md.topics().iter().any(|t| t.partitions().len() == 1))
        });
    }

    // Node 4 is not in the voter list: it joins as a non-voting member and registers.
    let controller = format!("127.0.0.1:{}", free_port());
    let mut joiner = Weir::start(&[
        "--node-id",
        "4",
        "--controller-voters",
        &voters,
        "--controller-listen",
        &controller,
        "--broker-session-timeout-ms",
        "1500",
    ]);
    wait_for("broker 4 registered everywhere", || {
        nodes.iter().all(|n| broker_ids(n) == [1, 2, 4])
    });
    let view = cluster_view(&nodes[0]);
    assert_eq!(
        view["controller"]["learners"],
        serde_json::json!([4]),
        "{view}"
    );

    // Partitions are placed on the new broker too, and it serves them.
    let admin = nodes[0].admin();
    let rt = runtime();
    for r in rt
        .block_on(admin.create_topics(
            [&NewTopic::new("spread", 3, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create")
    {
        r.expect("created");
    }
    // The joiner learns of the topic when it applies the controller's record, which may be a
    // moment after CreateTopics answered (as with Kafka's brokers): clients retry, so does this.
    let leaders: Vec<i32> = {
        let c = joiner.consumer();
        let mut leaders = Vec::new();
        wait_for("the joiner knows the three partitions", || {
            leaders = c
                .fetch_metadata(Some("spread"), Duration::from_secs(10))
                .map(|md| {
                    md.topics()
                        .first()
                        .map(|t| t.partitions().iter().map(|p| p.leader()).collect())
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            leaders.len() == 3
        });
        leaders
    };
    assert!(
        leaders.contains(&4),
        "a partition leads on broker 4: {leaders:?}"
    );
    assert!(
        !leaders.contains(&3),
        "none on the dedicated controller: {leaders:?}"
    );
    let p4 = leaders.iter().position(|&l| l == 4).expect("p4") as i32;
    let producer = nodes[0].producer(&[("acks", "all")]);
    rt.block_on(
        producer.send(
            FutureRecord::to("spread")
                .partition(p4)
                .payload("on four")
                .key("k"),
            Duration::from_secs(10),
        ),
    )
    .expect("produce to the joiner's partition");
    let consumer = joiner.consumer();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("spread", p4, rdkafka::Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut got = None;
    wait_for("the record on broker 4", || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            got = m.payload().map(|p| String::from_utf8_lossy(p).to_string());
        }
        got.is_some()
    });
    assert_eq!(got.as_deref(), Some("on four"));
    drop(consumer);

    // Removal: refused while the broker runs or holds replicas, then done.
    let admin_url = format!("http://{}", nodes[0].http);
    let (ok, out) = weir_cli(&["cluster", "remove-broker", "4", "--admin", &admin_url]);
    assert!(!ok, "a running broker is not removed: {out}");
    joiner.stop();
    wait_for("broker 4 fenced", || {
        cluster_view(&nodes[0])["brokers"]
            .as_array()
            .is_some_and(|bs| bs.iter().any(|b| b["node_id"] == 4 && b["fenced"] == true))
    });
    // Metadata lists the stopped broker's replica as offline (RF 1: the partition has no
    // leader until it returns).
    let md = common::raw_metadata(&nodes[0], Some(&["spread"])).expect("metadata");
    let part = md.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == p4)
        .expect("the partition broker 4 led");
    assert_eq!(
        part.offline_replicas
            .iter()
            .map(|b| b.0)
            .collect::<Vec<_>>(),
        [4],
        "{part:?}"
    );
    assert_eq!(part.leader_id.0, -1, "{part:?}");
    let (ok, out) = weir_cli(&["cluster", "remove-broker", "4", "--admin", &admin_url]);
    assert!(!ok, "a broker holding replicas is not removed: {out}");
    assert!(out.contains("spread"), "the refusal names the topic: {out}");
    for r in rt
        .block_on(admin.delete_topics(&["spread"], &AdminOptions::new()))
        .expect("delete")
    {
        r.expect("deleted");
    }
    let (ok, out) = weir_cli(&["cluster", "remove-broker", "4", "--admin", &admin_url]);
    assert!(ok, "removed: {out}");
    wait_for("broker 4 gone everywhere", || {
        nodes.iter().all(|n| broker_ids(n) == [1, 2])
    });
    wait_for("no learner left", || {
        cluster_view(&nodes[0])["controller"]["learners"] == serde_json::json!([])
    });
}
