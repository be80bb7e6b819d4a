//! Three controller quorum members in one process, on real TCP ports and real data dirs: a
//! change proposed on any member is applied on all; losing the leader elects another and
//! changes keep working; a restarted member catches up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir_metadata::raft::QuorumConfig;
use weir_metadata::{Command, Error, MetadataStore, PartitionAssignment};

/// A free TCP port on 127.0.0.1 for a listener whose address must be known before it binds
/// (a controller voter). Taken from 20000-32767, below Linux's ephemeral range, so that the
/// `:0` binds of the other brokers under test cannot grab it in between.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let seed = RandomState::new().hash_one(std::process::id());
    for i in 0..1000u64 {
        let port = 20000 + ((seed.wrapping_add(i.wrapping_mul(7919))) % 12768) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-32767");
}

fn topic(name: &str) -> Command {
    Command::CreateTopic {
        name: name.into(),
        topic_id: uuid::Uuid::new_v4(),
        partitions: vec![PartitionAssignment {
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
        }],
        configs: BTreeMap::new(),
    }
}

struct Cluster {
    voters: BTreeMap<u64, String>,
    dirs: Vec<PathBuf>,
    auth: Option<String>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    fn new(n: u64) -> Cluster {
        let tmp = tempfile::tempdir().expect("tmp");
        let voters = (1..=n)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let dirs = (1..=n)
            .map(|id| tmp.path().join(format!("n{id}")))
            .collect();
        Cluster {
            voters,
            dirs,
            auth: None,
            _tmp: tmp,
        }
    }

    fn start(&self, id: u64) -> MetadataStore {
        let config = QuorumConfig {
            node_id: id,
            voters: self.voters.clone(),
            listen: None,
            propose_timeout: Duration::from_secs(20),
            broker_id: None,
            session_timeout: Duration::from_secs(9),
            auth: self.auth.clone(),
        };
        MetadataStore::open_quorum(&self.dirs[id as usize - 1], config, "test-cluster".into())
            .expect("open quorum")
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_members_agree_survive_the_leader_and_catch_up() {
    let c = Cluster::new(3);
    let mut nodes: BTreeMap<u64, MetadataStore> = (1..=3).map(|id| (id, c.start(id))).collect();

    // Proposed on every member in turn (followers forward to the leader).
    for id in 1..=3 {
        nodes[&id]
            .propose(topic(&format!("t{id}")))
            .expect("propose");
    }
    for (id, n) in &nodes {
        wait_for(&format!("node {id} to apply"), || {
            n.read(|s| ["t1", "t2", "t3"].iter().all(|t| s.topics.contains_key(*t)))
        });
        assert_eq!(n.cluster_id(), "test-cluster");
    }
    // The leader refuses an invalid change, and the proposer sees the same error as locally.
    match nodes[&2].propose(topic("t1")) {
        Err(e @ (Error::TopicExists(_) | Error::Refused { .. })) => {
            assert!(e.to_string().contains("already exists"), "{e}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }

    // Stop the leader: the other two elect a new one and keep accepting changes.
    let leader = nodes[&1]
        .quorum_status()
        .and_then(|s| s.leader)
        .expect("a leader");
    let dropped = nodes.remove(&leader).expect("leader node");
    drop(dropped);
    let survivor = *nodes.keys().next().expect("survivor");
    nodes[&survivor]
        .propose(topic("after-failover"))
        .expect("propose after failover");
    for n in nodes.values() {
        wait_for("the survivors to apply", || {
            n.read(|s| s.topics.contains_key("after-failover"))
        });
        let st = n.quorum_status().expect("status");
        assert_ne!(st.leader, Some(leader));
    }

    // The old leader comes back from its data dir and catches up.
    let back = c.start(leader);
    wait_for("the restarted node to catch up", || {
        back.read(|s| s.topics.contains_key("after-failover") && s.topics.len() == 4)
    });
    back.propose(topic("from-the-returned"))
        .expect("propose from returned node");
    for n in nodes.values() {
        wait_for("all to apply", || {
            n.read(|s| s.topics.contains_key("from-the-returned"))
        });
    }
}

#[test]
fn a_single_voter_restarts_with_its_state_and_leads_at_once() {
    let c = Cluster::new(1);
    {
        let n = c.start(1);
        n.propose(topic("kept")).expect("propose");
        n.propose(Command::AllocateProducerIds { count: 1000 })
            .expect("propose");
    }
    let started = Instant::now();
    let n = c.start(1);
    assert!(n.read(|s| s.topics.contains_key("kept")));
    n.propose(topic("second")).expect("propose after restart");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a lone voter should not wait for an election"
    );
    assert_eq!(n.read(|s| s.next_producer_id), 1000);
}

#[test]
fn a_quorum_with_credentials_refuses_requests_without_them() {
    let mut c = Cluster::new(3);
    c.auth = Some("Basic aW50ZXI6c2VjcmV0".into());
    let nodes: BTreeMap<u64, MetadataStore> = (1..=3).map(|id| (id, c.start(id))).collect();
    // The members reach each other (votes, appends, forwarded proposals) with the header.
    for id in 1..=3 {
        nodes[&id]
            .propose(topic(&format!("a{id}")))
            .expect("propose");
    }
    for n in nodes.values() {
        wait_for("every member to apply", || {
            n.read(|s| ["a1", "a2", "a3"].iter().all(|t| s.topics.contains_key(*t)))
        });
    }
    // Anyone else is refused: no header, or the wrong one, on any route.
    let agent = ureq::agent();
    for addr in c.voters.values() {
        let propose = format!("http://{addr}/raft/propose");
        for header in [None, Some("Basic d3Jvbmc6d3Jvbmc=")] {
            let mut req = agent.post(&propose);
            if let Some(h) = header {
                req = req.set("Authorization", h);
            }
            match req.send_json(serde_json::to_value(topic("forged")).expect("json")) {
                Err(ureq::Error::Status(401, _)) => {}
                other => panic!(
                    "expected 401 from {addr}, got {:?}",
                    other.map(|r| r.status())
                ),
            }
        }
        match agent.get(&format!("http://{addr}/raft/status")).call() {
            Err(ureq::Error::Status(401, _)) => {}
            other => panic!("expected 401, got {:?}", other.map(|r| r.status())),
        }
    }
    for n in nodes.values() {
        assert!(n.read(|s| !s.topics.contains_key("forged")));
    }
}

#[test]
fn voter_lists_are_parsed_like_kafka() {
    let v =
        QuorumConfig::parse_voters("1@127.0.0.1:9093, 2@host-b:9093,3@[::1]:9093").expect("parse");
    assert_eq!(v.len(), 3);
    assert_eq!(v[&3], "[::1]:9093");
    for bad in ["", "1@", "x@h:1", "1@h", "1@h:99999", "1@h:1,1@h:2"] {
        assert!(QuorumConfig::parse_voters(bad).is_err(), "{bad}");
    }
}
