//! A network partition: three brokers, each in its own network namespace on one bridge. The
//! leader of a RF=3, min.insync.replicas=2 partition is cut off from the other two brokers
//! (but not from the client) while an idempotent acks=all producer runs. The majority fences it
//! and elects a new leader; the isolated leader cannot get its writes replicated, so it never
//! acknowledges one that is later lost. After the partition heals it truncates its divergent
//! tail and follows. Needs `ip netns` (root); skipped with a message where it is not allowed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::runtime;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "split-brain";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ip_ok(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three namespaces `<tag>-n1..3` with addresses `<net>.1..3` on bridge `<tag>br`, reachable
/// from the root namespace at `<net>.254`. Removed on drop.
struct Net {
    tag: String,
    net: String,
}

impl Net {
    fn create() -> Option<Net> {
        let id = std::process::id() % 200 + 20;
        let tag = format!("wp{id}");
        let net = format!("10.{id}.77");
        let probe = format!("{tag}-probe");
        if !ip(&["netns", "add", &probe]) {
            return None;
        }
        ip(&["netns", "del", &probe]);
        let n = Net { tag, net };
        // Any step refused (no CAP_NET_ADMIN for bridges, say): skip; drop cleans up.
        let step = |args: &[&str]| ip(args).then_some(());
        let br = format!("{}br", n.tag);
        step(&["link", "add", &br, "type", "bridge"])?;
        step(&["addr", "add", &format!("{}.254/24", n.net), "dev", &br])?;
        step(&["link", "set", &br, "up"])?;
        for i in 1..=3 {
            let ns = n.ns(i);
            let veth = format!("{}v{i}", n.tag);
            step(&["netns", "add", &ns])?;
            step(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            step(&["link", "set", &veth, "master", &br, "up"])?;
            let addr = format!("{}/24", n.addr(i));
            step(&[
                "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", "eth0",
            ])?;
            step(&["netns", "exec", &ns, "ip", "link", "set", "eth0", "up"])?;
            step(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Some(n)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-n{i}", self.tag)
    }

    fn addr(&self, i: usize) -> String {
        format!("{}.{i}", self.net)
    }

    /// Cuts (or restores) traffic between node `i` and the other nodes, both ways, with
    /// blackhole routes; the client in the root namespace still reaches every node.
    fn isolate(&self, i: usize, cut: bool) {
        let verb = if cut { "add" } else { "del" };
        for j in (1..=3).filter(|&j| j != i) {
            let to_j = format!("{}/32", self.addr(j));
            let to_i = format!("{}/32", self.addr(i));
            ip_ok(&[
                "netns",
                "exec",
                &self.ns(i),
                "ip",
                "route",
                verb,
                "blackhole",
                &to_j,
            ]);
            ip_ok(&[
                "netns",
                "exec",
                &self.ns(j),
                "ip",
                "route",
                verb,
                "blackhole",
                &to_i,
            ]);
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 1..=3 {
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["link", "del", &format!("{}br", self.tag)]);
    }
}

/// `weir serve` inside a namespace; killed on drop.
struct Node {
    child: Child,
    kafka: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(net: &Net, i: usize, data: &Path) -> (Child, mpsc::Receiver<String>) {
    let voters: Vec<String> = (1..=3)
        .map(|j| format!("{j}@{}:9093", net.addr(j)))
        .collect();
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.ns(i),
            env!("CARGO_BIN_EXE_weir"),
            "serve",
        ])
        .args(["--node-id", &i.to_string()])
        .args(["--controller-voters", &voters.join(",")])
        .args(["--listen", &format!("{}:9092", net.addr(i))])
        .args(["--http-listen", &format!("{}:9644", net.addr(i))])
        .args(["--broker-session-timeout-ms", "2000"])
        .args(["--replica-lag-time-max-ms", "3000"])
        .arg("--data-dir")
        .arg(data)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weir in its namespace");
    let rx = common::ready_lines(&mut child);
    (child, rx)
}

fn leader_seen_by(bootstrap: &str) -> Option<(i32, i32)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let md = c.fetch_metadata(Some(TOPIC), Duration::from_secs(3)).ok()?;
    let t = md.topics().iter().find(|t| t.name() == TOPIC)?;
    let p = t.partitions().first()?;
    (p.leader() >= 0).then(|| (p.leader(), p.isr().len() as i32))
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_partitioned_leader_never_acknowledges_writes_that_are_lost() {
    let Some(net) = Net::create() else {
        eprintln!("skipped: network namespaces are not available here (needs root and ip netns)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let spawned: Vec<_> = (1..=3)
        .map(|i| start(&net, i, &tmp.path().join(format!("n{i}"))))
        .collect();
    let nodes: Vec<Node> = spawned
        .into_iter()
        .enumerate()
        .map(|(i, (child, rx))| {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("a member did not become ready");
            assert!(line.contains("kafka="), "{line}");
            Node {
                child,
                kafka: format!("{}:9092", net.addr(i + 1)),
            }
        })
        .collect();
    let all: String = nodes
        .iter()
        .map(|n| n.kafka.clone())
        .collect::<Vec<_>>()
        .join(",");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &all)
        .create()
        .expect("admin");
    let rt = runtime();
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    wait_for("the topic to be created", 60, || {
        rt.block_on(admin.create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .is_ok_and(|r| {
            r.iter().all(|x| {
                x.is_ok()
                    || matches!(
                        x,
                        Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
                    )
            })
        })
    });
    wait_for("a leader with all three in sync", 60, || {
        leader_seen_by(&all).is_some_and(|(_, isr)| isr == 3)
    });
    let (leader, _) = leader_seen_by(&all).expect("leader");
    let leader_idx = leader as usize;

    // An idempotent acks=all producer writes ids 0, 1, 2, ... and records what was acknowledged.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &all)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .set("request.timeout.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let acked: Arc<Mutex<BTreeMap<i64, u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = runtime();
            let mut n = 0u64;
            let mut failed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let values: Vec<(u64, String)> =
                    (n..n + 20).map(|id| (id, format!("id-{id}"))).collect();
                let batch: Vec<_> = values
                    .iter()
                    .map(|(id, v)| {
                        let f = producer.send_result(
                            FutureRecord::<str, str>::to(TOPIC).partition(0).payload(v),
                        );
                        (*id, f.map_err(|(e, _)| e))
                    })
                    .collect();
                n += 20;
                for (id, f) in batch {
                    match f {
                        Ok(f) => match rt.block_on(f) {
                            Ok(Ok(d)) => {
                                acked.lock().expect("lock").insert(d.offset, id);
                            }
                            _ => failed += 1,
                        },
                        Err(_) => failed += 1,
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("writer: sent {n}, failed {failed}");
        })
    };

    std::thread::sleep(Duration::from_secs(2));
    let before = acked.lock().expect("lock").len();
    assert!(before > 0, "writes are acknowledged before the partition");
    eprintln!("isolating broker {leader} ({before} records acknowledged so far)");
    net.isolate(leader_idx, true);

    // The majority side elects another leader.
    let others: Vec<String> = (1..=3)
        .filter(|&i| i != leader_idx)
        .map(|i| nodes[i - 1].kafka.clone())
        .collect();
    let majority = others.join(",");
    wait_for("a new leader on the majority side", 60, || {
        leader_seen_by(&majority).is_some_and(|(l, _)| l != leader)
    });
    std::thread::sleep(Duration::from_secs(4));
    net.isolate(leader_idx, false);
    eprintln!("healed");
    wait_for("the old leader back in sync", 60, || {
        leader_seen_by(&all).is_some_and(|(_, isr)| isr == 3)
    });
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");

    // Every acknowledged write is in the log, at its offset, once.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &all)
        .set("group.id", "partition-checker")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, rdkafka::Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut log: BTreeMap<i64, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.keys().next_back().is_none_or(|&o| o + 1 < high) {
        assert!(Instant::now() < deadline, "could not read up to {high}");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            log.insert(m.offset(), v);
        }
    }
    let acked = acked.lock().expect("lock").clone();
    eprintln!(
        "acknowledged {}, in the log {} (high watermark {high})",
        acked.len(),
        log.len()
    );
    assert!(acked.len() > before, "writes continued after the failover");
    for (offset, id) in &acked {
        assert_eq!(
            log.get(offset).map(String::as_str),
            Some(format!("id-{id}").as_str()),
            "acknowledged id {id} at offset {offset} is in the log"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for v in log.values() {
        assert!(seen.insert(v.clone()), "{v} written twice");
    }
    drop(nodes);
}
