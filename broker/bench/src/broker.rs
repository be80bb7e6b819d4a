//! Starting a fresh broker (Weir or Apache Kafka in KRaft single-node mode) or a fresh
//! three-node cluster of either with equivalent settings, and reading process figures (RSS, CPU
//! time) from /proc.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Weir,
    Kafka,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Weir => "weir",
            Kind::Kafka => "kafka",
        }
    }
}

/// How to start each broker.
pub(crate) struct Setup {
    pub(crate) weir: PathBuf,
    /// Directory with `lib/` holding Kafka's jars.
    pub(crate) kafka_home: Option<PathBuf>,
    /// Core the broker is pinned to (taskset), if any.
    pub(crate) broker_cpu: Option<usize>,
}

impl Setup {
    /// `java -cp <kafka lib>/*` for Kafka's own tools.
    pub(crate) fn kafka_java(&self, heap: &str) -> anyhow::Result<Command> {
        let home = self.kafka_home.as_ref().context("no Kafka installation")?;
        let mut c = Command::new("java");
        c.arg(heap)
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .arg("-cp")
            .arg(format!("{}/lib/*", home.display()));
        Ok(c)
    }

    fn pinned(&self, program: &str) -> Command {
        match self.broker_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string(), program]);
                c
            }
            None => Command::new(program),
        }
    }
}

/// A running broker in its own fresh data directory; killed on drop.
pub(crate) struct Broker {
    pub(crate) child: Child,
    pub(crate) bootstrap: String,
    /// Weir's HTTP admin address (plugins), once it printed its ready line.
    http: mpsc::Receiver<String>,
    http_addr: Option<String>,
    /// When the broker process was spawned (cold start is measured from here).
    pub(crate) spawned: Instant,
    dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn new(
        child: Child,
        port: u16,
        http: mpsc::Receiver<String>,
        spawned: Instant,
        dir: tempfile::TempDir,
    ) -> Self {
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            http,
            http_addr: None,
            spawned,
            dir,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn http(&mut self) -> anyhow::Result<String> {
        if self.http_addr.is_none() {
            let a = self
                .http
                .recv_timeout(Duration::from_secs(30))
                .context("weir did not print its ready line")?;
            self.http_addr = Some(a);
        }
        self.http_addr.clone().context("no HTTP address")
    }

    pub(crate) fn rss_mib(&self) -> f64 {
        rss_mib(self.pid())
    }

    pub(crate) fn cpu_secs(&self) -> f64 {
        cpu_secs(self.pid())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a fresh broker of `kind`. Returns once the process is spawned (not ready): the
/// caller measures cold start by producing until the first acknowledgement.
pub(crate) fn start(setup: &Setup, kind: Kind) -> anyhow::Result<Broker> {
    match kind {
        Kind::Weir => start_weir(setup),
        Kind::Kafka => start_kafka(setup),
    }
}

fn start_weir(setup: &Setup) -> anyhow::Result<Broker> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let args = ["--num-partitions", "1"].map(String::from);
    let (child, rx, spawned) = spawn_weir(setup, dir.path(), port, &args, Stdio::inherit())?;
    Ok(Broker::new(child, port, rx, spawned, dir))
}

/// Spawns `weir serve` on `port` with its data in `dir`, `extra` arguments and its log
/// (warnings) to `stderr`; the receiver gets the HTTP address from its ready line.
fn spawn_weir(
    setup: &Setup,
    dir: &Path,
    port: u16,
    extra: &[String],
    stderr: Stdio,
) -> anyhow::Result<(Child, mpsc::Receiver<String>, Instant)> {
    let weir = setup.weir.to_string_lossy().into_owned();
    let mut cmd = setup.pinned(&weir);
    cmd.args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--group-initial-rebalance-delay-ms",
            "0",
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr);
    let spawned = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", setup.weir.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("weir ready:") {
                let http = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("http="))
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(http);
            }
        }
    });
    Ok((child, rx, spawned))
}

/// Kafka's log4j2 configuration: warnings only, like `--log warn` for Weir.
const KAFKA_LOG4J2: &str = "status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
";

fn start_kafka(setup: &Setup) -> anyhow::Result<Broker> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let controller = free_port()?;
    let node = KafkaNode {
        id: 1,
        port,
        controller,
        voters: format!("1@127.0.0.1:{controller}"),
        replication: 1,
    };
    let config = node.configure(dir.path())?;
    // Formatting the storage is an install step (as `kafka-storage.sh format`), not timed.
    kafka_format(setup, &config)?.wait()?;
    let (child, spawned) = spawn_kafka(setup, dir.path(), &config)?;
    let (_tx, rx) = mpsc::channel();
    Ok(Broker::new(child, port, rx, spawned, dir))
}

/// One KRaft combined-mode (broker and controller) Kafka node.
struct KafkaNode {
    id: usize,
    port: u16,
    controller: u16,
    /// controller.quorum.voters: `ID@HOST:PORT,...`.
    voters: String,
    /// default.replication.factor and that of the internal topics.
    replication: usize,
}

impl KafkaNode {
    /// Writes its server.properties and log4j2 configuration into `dir`; returns the former.
    /// Broker and controller in one process; the rest as Kafka's defaults (no fsync per
    /// message: log.flush.interval.messages is unset, like Weir's page-cache default).
    fn configure(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let KafkaNode {
            id,
            port,
            controller,
            voters,
            replication,
        } = self;
        // min.insync.replicas: 2 of 3 in a cluster (as the topics measured), 1 alone.
        let min_isr = (*replication).min(2);
        let props = format!(
            "process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={}
num.partitions=1
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
",
            dir.join("data").display()
        );
        let config = dir.join("server.properties");
        std::fs::write(&config, props)?;
        std::fs::write(dir.join("log4j2.properties"), KAFKA_LOG4J2)?;
        Ok(config)
    }
}

/// The same cluster id for every node of a cluster (and for the single node).
const KAFKA_CLUSTER_ID: &str = "q1Sh-9_ISia_zwGINzRvyQ";

/// `kafka-storage.sh format` of a node's log directory, started; wait on the result.
fn kafka_format(setup: &Setup, config: &Path) -> anyhow::Result<Formatting> {
    let child = setup
        .kafka_java("-Xmx512M")?
        .args([
            "kafka.tools.StorageTool",
            "format",
            "-t",
            KAFKA_CLUSTER_ID,
            "-c",
        ])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kafka.tools.StorageTool")?;
    Ok(Formatting(child))
}

/// A running `kafka-storage format`.
struct Formatting(Child);

impl Formatting {
    fn wait(self) -> anyhow::Result<()> {
        let out = self.0.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kafka-storage format failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

/// Starts a formatted Kafka node of `dir` with kafka-server-start.sh's JVM options.
fn spawn_kafka(setup: &Setup, dir: &Path, config: &Path) -> anyhow::Result<(Child, Instant)> {
    let home = setup.kafka_home.as_ref().context("no Kafka installation")?;
    let mut cmd = setup.pinned("java");
    // kafka-server-start.sh's defaults: 1 GiB heap, G1 with its tuning.
    cmd.args([
        "-Xmx1G",
        "-Xms1G",
        "-server",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:MaxInlineLevel=15",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
    ])
    .arg(format!(
        "-Dlog4j2.configurationFile={}",
        dir.join("log4j2.properties").display()
    ))
    .arg("-cp")
    .arg(format!("{}/lib/*", home.display()))
    .arg("kafka.Kafka")
    .arg(config)
    .stdout(Stdio::null())
    // Its warnings (slf4j-simple writes to stderr) go to a file beside the data.
    .stderr(std::fs::File::create(dir.join(NODE_LOG))?);
    let spawned = Instant::now();
    let child = cmd.spawn().context("starting Kafka (java)")?;
    Ok((child, spawned))
}

/// Where a cluster node's (or the single Kafka broker's) log goes, in its directory.
const NODE_LOG: &str = "broker.log";

/// A fresh cluster of `kind`: every node a broker and a controller voter, each in its own data
/// directory, all pinned like the single broker (so they share its core).
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Broker>,
    /// Every node's Kafka address, comma-separated.
    pub(crate) bootstrap: String,
}

impl Cluster {
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Broker::pid).collect()
    }

    /// CPU seconds of all the nodes together.
    pub(crate) fn cpu_secs(&self) -> f64 {
        self.nodes.iter().map(Broker::cpu_secs).sum()
    }

    /// The last lines of each node's log, for errors.
    pub(crate) fn log_tails(&self) -> String {
        let mut out = String::new();
        for (i, b) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(b.dir.path().join(NODE_LOG)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            if !tail.is_empty() {
                out.push_str(&format!("\nnode {}:\n{tail}", i + 1));
            }
        }
        out
    }
}

/// Starts an `n`-node cluster of `kind`. Weir: returns once every node printed its ready line
/// (a majority of the quorum is up). Kafka: returns once the processes are spawned; wait for
/// the brokers to register (`load::wait_for_brokers`).
pub(crate) fn start_cluster(setup: &Setup, kind: Kind, n: usize) -> anyhow::Result<Cluster> {
    let ports: Vec<(u16, u16)> = (0..n)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::new();
    match kind {
        Kind::Weir => {
            for (i, (port, _)) in ports.iter().enumerate() {
                let dir = tempfile::tempdir()?;
                let args = [
                    "--node-id",
                    &(i + 1).to_string(),
                    "--controller-voters",
                    &voters,
                    "--num-partitions",
                    "1",
                    "--default-replication-factor",
                    &n.to_string(),
                    "--min-insync-replicas",
                    &n.min(2).to_string(),
                ]
                .map(String::from);
                // The quorum's warnings as members come and go go to a file, like Kafka's.
                let log = std::fs::File::create(dir.path().join(NODE_LOG))?;
                let (child, rx, spawned) = spawn_weir(setup, dir.path(), *port, &args, log.into())?;
                nodes.push(Broker::new(child, *port, rx, spawned, dir));
            }
        }
        Kind::Kafka => {
            let mut prepared = Vec::new();
            for (i, (port, controller)) in ports.iter().enumerate() {
                let dir = tempfile::tempdir()?;
                let node = KafkaNode {
                    id: i + 1,
                    port: *port,
                    controller: *controller,
                    voters: voters.clone(),
                    replication: n,
                };
                let config = node.configure(dir.path())?;
                // All formats at once (each is a JVM start), then wait for them all.
                let formatting = kafka_format(setup, &config)?;
                prepared.push((dir, config, *port, formatting));
            }
            let mut formatted = Vec::new();
            for (dir, config, port, formatting) in prepared {
                formatting.wait()?;
                formatted.push((dir, config, port));
            }
            for (dir, config, port) in formatted {
                let (child, spawned) = spawn_kafka(setup, dir.path(), &config)?;
                let (_tx, rx) = mpsc::channel();
                nodes.push(Broker::new(child, port, rx, spawned, dir));
            }
        }
    }
    let bootstrap = nodes
        .iter()
        .map(|b| b.bootstrap.clone())
        .collect::<Vec<_>>()
        .join(",");
    let mut cluster = Cluster { nodes, bootstrap };
    if kind == Kind::Weir {
        for i in 0..cluster.nodes.len() {
            if let Err(e) = cluster.nodes[i].http() {
                bail!(
                    "node {}: {e}; the nodes' last log lines:{}",
                    i + 1,
                    cluster.log_tails()
                );
            }
        }
    }
    Ok(cluster)
}

pub(crate) fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// Samples the summed RSS of processes every 50 ms until stopped; returns the peak.
pub(crate) struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub(crate) fn start(pids: Vec<u32>) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let sum = || pids.iter().map(|p| rss_mib(*p)).sum::<f64>();
            let mut max = 0f64;
            while !s.load(Ordering::Acquire) {
                max = max.max(sum());
                std::thread::sleep(Duration::from_millis(50));
            }
            max.max(sum())
        });
        RssSampler { stop, handle }
    }

    pub(crate) fn finish(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.handle.join().unwrap_or(0.0)
    }
}
