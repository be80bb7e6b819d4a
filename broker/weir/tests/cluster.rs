//! Three `weir serve` processes forming one controller quorum: metadata changes made through
//! any broker reach all, the quorum survives a SIGKILLed controller leader, the dead broker is
//! fenced, and the node comes back, catches up and is unfenced.

mod common;

use std::time::{Duration, Instant};

use common::{Weir, cluster_view, consume, runtime, start_cluster};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;

fn create_topic(w: &Weir, name: &str) {
    let admin = w.admin();
    let rt = runtime();
    let res = rt
        .block_on(admin.create_topics(
            [&NewTopic::new(name, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create topics");
    for r in res {
        r.expect("topic created");
    }
}

fn has_topic(w: &Weir, name: &str) -> bool {
    let c = w.consumer();
    c.fetch_metadata(Some(name), Duration::from_secs(5))
        .map(|md| {
            md.topics()
                .iter()
                .any(|t| t.name() == name && t.error().is_none() && t.partitions().len() == 2)
        })
        .unwrap_or(false)
}

/// A member is ready once its own registration is committed; wait until every member has
/// applied everyone's.
fn all_registered(nodes: &[Weir]) {
    for n in nodes {
        wait_for("every broker registered on every member", || {
            cluster_view(n)["brokers"].as_array().map(Vec::len) == Some(nodes.len())
        });
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metadata_is_replicated_and_survives_the_controller_leader() {
    let mut nodes = start_cluster(3, &["--broker-session-timeout-ms", "1500"]);

    all_registered(&nodes);
    let views: Vec<_> = nodes.iter().map(cluster_view).collect();
    let cluster_id = views[0]["cluster_id"].clone();
    for v in &views {
        assert_eq!(v["cluster_id"], cluster_id, "one cluster id");
        assert_eq!(v["controller"]["mode"], "quorum");
    }
    wait_for("one agreed leader", || {
        let leaders: Vec<_> = nodes
            .iter()
            .map(|n| cluster_view(n)["controller"]["leader"].clone())
            .collect();
        !leaders[0].is_null() && leaders.iter().all(|l| *l == leaders[0])
    });

    // Created through broker 2, seen through every broker's Metadata.
    create_topic(&nodes[1], "replicated-1");
    for n in &nodes {
        wait_for("the topic on every broker", || has_topic(n, "replicated-1"));
    }

    // SIGKILL the controller leader; the others elect a new one and keep taking changes.
    let leader = cluster_view(&nodes[0])["controller"]["leader"]
        .as_u64()
        .expect("leader id") as usize;
    nodes[leader - 1].kill9();
    let survivors: Vec<usize> = (1..=3).filter(|id| *id != leader).collect();
    create_topic(&nodes[survivors[0] - 1], "after-failover");
    for id in &survivors {
        let n = &nodes[id - 1];
        wait_for("the second topic on the survivors", || {
            has_topic(n, "after-failover")
        });
        wait_for("a new leader", || {
            let l = cluster_view(n)["controller"]["leader"].as_u64();
            l.is_some() && l != Some(leader as u64)
        });
        // The silent broker is fenced: out of Metadata, marked in /v1/cluster.
        wait_for("the dead broker fenced", || {
            let v = cluster_view(n);
            let fenced = v["brokers"].as_array().is_some_and(|bs| {
                bs.iter()
                    .any(|b| b["node_id"] == leader as u64 && b["fenced"] == true)
            });
            let listed = n
                .consumer()
                .fetch_metadata(None, Duration::from_secs(5))
                .map(|md| md.brokers().len())
                .unwrap_or(0);
            fenced && listed == 2
        });
    }

    // The killed node restarts from its data dir and catches up.
    nodes[leader - 1].restart();
    let back = &nodes[leader - 1];
    wait_for("the restarted node to catch up", || {
        has_topic(back, "after-failover") && has_topic(back, "replicated-1")
    });
    wait_for("the returned broker unfenced", || {
        let v = cluster_view(back);
        v["brokers"]
            .as_array()
            .is_some_and(|bs| bs.iter().all(|b| b["fenced"] == false) && bs.len() == 3)
    });
    create_topic(back, "from-the-returned");
    for n in &nodes {
        wait_for("the third topic everywhere", || {
            has_topic(n, "from-the-returned")
        });
    }
}

#[test]
fn partitions_spread_over_brokers_serve_clients_through_any_bootstrap() {
    use rdkafka::Message as _;
    use rdkafka::producer::FutureRecord;

    let nodes = start_cluster(3, &["--group-initial-rebalance-delay-ms", "0"]);
    all_registered(&nodes);
    // Created through broker 1 with three partitions, one replica each.
    let admin = nodes[0].admin();
    let rt = runtime();
    let res = rt
        .block_on(admin.create_topics(
            [&NewTopic::new("spread", 3, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create");
    for r in res {
        r.expect("created");
    }
    let md = nodes[2]
        .consumer()
        .fetch_metadata(Some("spread"), Duration::from_secs(5))
        .expect("metadata");
    let leaders: std::collections::BTreeSet<i32> = md.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    assert_eq!(
        leaders.len(),
        3,
        "one partition led by each broker: {leaders:?}"
    );

    // A producer bootstrapped at broker 1 writes to every partition (librdkafka goes to each
    // leader); a consumer bootstrapped at broker 3 reads them all back.
    let producer = nodes[0].producer(&[]);
    for p in 0..3 {
        for i in 0..5 {
            let v = format!("p{p}-{i}");
            rt.block_on(producer.send(
                FutureRecord::<(), _>::to("spread").partition(p).payload(&v),
                Duration::from_secs(10),
            ))
            .expect("produce to the partition's leader");
        }
    }
    for p in 0..3 {
        let got = consume(&nodes[2].consumer(), "spread", p, 0, 5);
        let values: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            .collect();
        assert_eq!(
            values,
            (0..5).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>()
        );
    }

    // One group, members bootstrapped at different brokers: every broker names the same
    // coordinator, so the members split the partitions between them (with a coordinator per
    // broker each would be given all three). Records read before the split may be read again
    // after it (at-least-once, as in Kafka), so only coverage is asserted for records.
    use rdkafka::ClientConfig;
    use rdkafka::consumer::BaseConsumer;
    let member = |w: &Weir| -> BaseConsumer {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &w.kafka)
            .set("group.id", "spread-readers")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer");
        c.subscribe(&["spread"]).expect("subscribe");
        c
    };
    let a = member(&nodes[0]);
    let b = member(&nodes[1]);
    let mut seen = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 15
        || a.assignment().map(|t| t.count()).unwrap_or(0) == 0
        || b.assignment().map(|t| t.count()).unwrap_or(0) == 0
    {
        assert!(Instant::now() < deadline, "group read {} of 15", seen.len());
        for c in [&a, &b] {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                *seen.entry((m.partition(), m.offset())).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(seen.len(), 15, "every record read");
    let parts = |c: &BaseConsumer| -> std::collections::BTreeSet<i32> {
        c.assignment()
            .map(|t| t.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (pa, pb) = (parts(&a), parts(&b));
        let all: std::collections::BTreeSet<i32> = pa.union(&pb).copied().collect();
        if pa.is_disjoint(&pb) && all.len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "assignments {pa:?} / {pb:?}");
        for c in [&a, &b] {
            let _ = c.poll(Duration::from_millis(100));
        }
    }
}

/// `(leader, voters with their log ends, node ids listed)`.
type QuorumView = (i32, Vec<(i32, i64)>, Vec<i32>);

/// DescribeQuorum v2 asked of `w`.
fn describe_quorum(w: &Weir) -> Option<QuorumView> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{
        ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};
    let mut s = common::raw_connect(&w.kafka, Duration::from_secs(5))?;
    let req = DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    let mut b = common::raw_roundtrip(&mut s, ApiKey::DescribeQuorum, 2, &req)?;
    let r = DescribeQuorumResponse::decode(&mut b, 2).ok()?;
    let p = &r.topics.first()?.partitions.first()?;
    assert_eq!(p.error_code, 0);
    let voters = p
        .current_voters
        .iter()
        .map(|v| (v.replica_id.0, v.log_end_offset))
        .collect();
    let nodes = r.nodes.iter().map(|n| n.node_id.0).collect();
    Some((p.leader_id.0, voters, nodes))
}

/// `kafka-metadata-quorum describe --status/--replication` as Weir answers it: every member
/// names the same Raft leader, the three voters and their controller endpoints, and how far
/// each voter's metadata log reaches (which the leader knows and followers ask it).
#[test]
fn describe_quorum_names_the_raft_leader_its_voters_and_their_log_ends() {
    let nodes = start_cluster(3, &[]);
    all_registered(&nodes);
    let mut leader = -1;
    wait_for("every member to name the same leader", || {
        let views: Vec<_> = nodes.iter().filter_map(describe_quorum).collect();
        leader = views.first().map_or(-1, |v| v.0);
        views.len() == 3 && leader > 0 && views.iter().all(|v| v.0 == leader)
    });
    for n in &nodes {
        let (_, voters, listed) = describe_quorum(n).expect("an answer");
        assert_eq!(voters.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(listed, [1, 2, 3], "every voter's endpoint is listed");
    }
    // Followers ask the leader, which knows how far each voter's metadata log reaches.
    for n in &nodes {
        wait_for("every member to report every voter's log end", || {
            describe_quorum(n).is_some_and(|(_, voters, _)| voters.iter().all(|v| v.1 > 0))
        });
    }
}
