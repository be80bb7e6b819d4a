//! Starting a fresh broker (Weir or Apache Kafka in KRaft single-node mode) with equivalent
//! settings, and reading its process figures (RSS, CPU time) from /proc.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
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
    _dir: tempfile::TempDir,
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
            _dir: dir,
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
    let weir = setup.weir.to_string_lossy().into_owned();
    let mut cmd = setup.pinned(&weir);
    cmd.args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--num-partitions",
            "1",
            "--group-initial-rebalance-delay-ms",
            "0",
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped());
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
    Ok(Broker::new(child, port, rx, spawned, dir))
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
    let data = dir.path().join("data");
    // Single node, broker and controller in one process; the rest as Kafka's defaults (no
    // fsync per message: log.flush.interval.messages is unset, like Weir's page-cache default).
    let props = format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
",
        data.display()
    );
    let config = dir.path().join("server.properties");
    std::fs::write(&config, props)?;
    let log4j = dir.path().join("log4j2.properties");
    std::fs::write(&log4j, KAFKA_LOG4J2)?;
    // Formatting the storage is an install step (as `kafka-storage.sh format`), not timed.
    let out = setup
        .kafka_java("-Xmx512M")?
        .args([
            "kafka.tools.StorageTool",
            "format",
            "-t",
            "q1Sh-9_ISia_zwGINzRvyQ",
            "-c",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .output()
        .context("running kafka.tools.StorageTool")?;
    if !out.status.success() {
        bail!(
            "kafka-storage format failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
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
    .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
    .arg("-cp")
    .arg(format!("{}/lib/*", home.display()))
    .arg("kafka.Kafka")
    .arg(&config)
    .stdout(Stdio::null())
    // Its warnings (slf4j-simple writes to stderr) go to a file beside the data.
    .stderr(std::fs::File::create(dir.path().join("kafka.log"))?);
    let spawned = Instant::now();
    let child = cmd.spawn().context("starting Kafka (java)")?;
    let (_tx, rx) = mpsc::channel();
    Ok(Broker::new(child, port, rx, spawned, dir))
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

/// Samples a process's RSS every 50 ms until stopped; returns the peak.
pub(crate) struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut max = 0f64;
            while !s.load(Ordering::Acquire) {
                max = max.max(rss_mib(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            max.max(rss_mib(pid))
        });
        RssSampler { stop, handle }
    }

    pub(crate) fn finish(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.handle.join().unwrap_or(0.0)
    }
}
