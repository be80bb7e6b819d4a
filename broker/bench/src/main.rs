//! Benchmark driver: starts a fresh Weir, measures cold start, RSS and client throughput with
//! librdkafka, and the machine's own ceilings in the same run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Benchmark a fresh Weir node with librdkafka")]
struct Args {
    /// Path to the weir binary.
    #[arg(long)]
    weir: PathBuf,
    /// Tiny inputs: proves the benchmark runs, measures nothing meaningful.
    #[arg(long)]
    smoke: bool,
    /// Bytes produced per workload (default 1 GiB; smoke 2 MiB).
    #[arg(long)]
    bytes: Option<u64>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// Directory of built plugin components (noop.wasm, json-schema.wasm) for the plugin
    /// workloads; skipped when absent. Default: ~/.cache/weir/plugins.
    #[arg(long)]
    plugins: Option<PathBuf>,
}

/// Sets a flag when a delivery succeeds.
struct AckFlag(Arc<AtomicBool>);
impl ClientContext for AckFlag {}
impl ProducerContext for AckFlag {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.0.store(true, Ordering::Release);
        }
    }
}

#[derive(Serialize)]
struct Row {
    workload: String,
    records_per_sec: f64,
    mib_per_sec: f64,
    fraction_of_ceiling: f64,
    rss_mib: f64,
}

#[derive(Serialize)]
struct Results {
    loopback_mib_per_sec: f64,
    page_cache_write_mib_per_sec: f64,
    cold_start_ms: f64,
    idle_rss_mib: f64,
    rows: Vec<Row>,
}

struct Node {
    child: Child,
    bootstrap: String,
    http: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(weir: &PathBuf) -> anyhow::Result<(Node, Instant)> {
    let dir = tempfile::tempdir()?;
    let t0 = Instant::now();
    let mut child = Command::new(weir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--num-partitions",
            "1",
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", weir.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("weir ready:") {
                let field = |k: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(k))
                        .unwrap_or_default()
                        .to_string()
                };
                let _ = tx.send((field("kafka="), field("http=")));
            }
        }
    });
    let (bootstrap, http) = rx
        .recv_timeout(Duration::from_secs(30))
        .context("weir did not start")?;
    Ok((
        Node {
            child,
            bootstrap,
            http,
            _dir: dir,
        },
        t0,
    ))
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn producer(bootstrap: &str) -> anyhow::Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", "none")
        .create()?)
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic_with(bootstrap, topic, partitions, &[])
}

fn create_topic_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    // Metadata-driven auto-creation uses the broker default (1 partition), so create explicitly
    // through the admin API with the partition count wanted.
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let mut t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let rt = futures_lite_block_on(admin.create_topics(&[t], &AdminOptions::new()))?;
    for r in rt {
        if let Err((t, e)) = r {
            bail!("creating {t}: {e}");
        }
    }
    Ok(())
}

/// Minimal executor for the admin future (rdkafka resolves it from its own thread).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context as TaskContext, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    size: usize,
    count: u64,
) -> anyhow::Result<Duration> {
    produce_payload(bootstrap, topic, partitions, &vec![b'w'; size], count)
}

fn produce_payload(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    payload: &[u8],
    count: u64,
) -> anyhow::Result<Duration> {
    let p = producer(bootstrap)?;
    let t0 = Instant::now();
    for i in 0..count {
        let mut rec = BaseRecord::<(), [u8]>::to(topic)
            .payload(payload)
            .partition((i % partitions as u64) as i32);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        bail!("produce failed: {e}");
                    }
                    rec = r;
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120))?;
    Ok(t0.elapsed())
}

fn consume(bootstrap: &str, topic: &str, partitions: i32, count: u64) -> anyhow::Result<Duration> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-manual")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let t0 = Instant::now();
    let mut n = 0u64;
    while n < count {
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("consumed only {n} of {count}");
        }
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            std::hint::black_box(m.payload());
            n += 1;
        }
    }
    Ok(t0.elapsed())
}

fn loopback_ceiling(bytes: u64) -> anyhow::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    let chunk = vec![7u8; 1 << 20];
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        s.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    drop(s);
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    Ok(got as f64 / (1 << 20) as f64 / t0.elapsed().as_secs_f64())
}

fn page_cache_ceiling(bytes: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut f = std::fs::File::create(dir.path().join("w"))?;
    let chunk = vec![7u8; 1 << 20];
    let t0 = Instant::now();
    let mut written = 0;
    while written < bytes {
        f.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    Ok(written as f64 / (1 << 20) as f64 / t0.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let total = args
        .bytes
        .unwrap_or(if args.smoke { 2 << 20 } else { 1 << 30 });
    let loopback = loopback_ceiling(total)?;
    let disk = page_cache_ceiling(total)?;
    let ceiling = loopback.min(disk);

    let (node, t0) = start(&args.weir)?;
    // Cold start: spawn until the first produce (to a topic that does not exist yet, so it
    // includes auto-creation) is acknowledged. Measured at the delivery callback with a 1 ms poll
    // loop: `flush` polls in 100 ms slices and would hide the broker's own time.
    let acked = Arc::new(AtomicBool::new(false));
    let p: BaseProducer<AckFlag> = ClientConfig::new()
        .set("bootstrap.servers", &node.bootstrap)
        .set("linger.ms", "0")
        .create_with_context(AckFlag(acked.clone()))?;
    p.send(BaseRecord::<(), str>::to("coldstart").payload("x"))
        .map_err(|(e, _)| e)?;
    while !acked.load(Ordering::Acquire) {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("the first produce was not acknowledged within 30 s");
        }
        p.poll(Duration::from_millis(1));
    }
    let cold_start_ms = t0.elapsed().as_secs_f64() * 1000.0;
    drop(p);
    std::thread::sleep(Duration::from_millis(if args.smoke { 100 } else { 2000 }));
    let idle_rss = rss_mib(node.child.id());

    let mut rows = Vec::new();
    for (size, partitions) in [(100usize, 1i32), (100, 8), (1024, 1), (1024, 8)] {
        let count = (total / size as u64).max(1);
        let topic = format!("bench-{size}b-{partitions}p");
        create_topic(&node.bootstrap, &topic, partitions)?;
        let pid = node.child.id();
        let sampler = std::thread::spawn(move || {
            let mut max = 0f64;
            let end = Instant::now() + Duration::from_secs(600);
            while Instant::now() < end {
                let r = rss_mib(pid);
                if r == 0.0 {
                    break;
                }
                max = max.max(r);
                std::thread::sleep(Duration::from_millis(50));
                if std::fs::metadata(format!("/tmp/weir-bench-stop-{pid}")).is_ok() {
                    break;
                }
            }
            max
        });
        let elapsed = produce(&node.bootstrap, &topic, partitions, size, count)?;
        let _ = std::fs::write(format!("/tmp/weir-bench-stop-{pid}"), b"");
        let rss = sampler.join().unwrap_or(0.0);
        let _ = std::fs::remove_file(format!("/tmp/weir-bench-stop-{pid}"));
        let mib = (count * size as u64) as f64 / (1 << 20) as f64;
        let secs = elapsed.as_secs_f64();
        rows.push(Row {
            workload: format!("produce {size} B x {partitions} partition(s)"),
            records_per_sec: count as f64 / secs,
            mib_per_sec: mib / secs,
            fraction_of_ceiling: mib / secs / ceiling,
            rss_mib: rss,
        });
        let elapsed = consume(&node.bootstrap, &topic, partitions, count)?;
        let secs = elapsed.as_secs_f64();
        rows.push(Row {
            workload: format!("consume {size} B x {partitions} partition(s)"),
            records_per_sec: count as f64 / secs,
            mib_per_sec: mib / secs,
            fraction_of_ceiling: mib / secs / loopback,
            rss_mib: rss_mib(node.child.id()),
        });
    }
    let plugins_dir = args
        .plugins
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir/plugins")));
    let mut plugin_ratio = None;
    match plugins_dir {
        Some(dir) if dir.join("noop.wasm").exists() && dir.join("json-schema.wasm").exists() => {
            let r = plugin_workloads(&node, &dir, total, ceiling)?;
            plugin_ratio = Some(r.1);
            rows.extend(r.0);
        }
        _ => println!("plugin workloads skipped: run scripts/build-plugins.sh first"),
    }
    let results = Results {
        loopback_mib_per_sec: loopback,
        page_cache_write_mib_per_sec: disk,
        cold_start_ms,
        idle_rss_mib: idle_rss,
        rows,
    };
    println!(
        "machine: loopback TCP {loopback:.0} MiB/s, sequential write of {} MiB to the data volume {disk:.0} MiB/s",
        total >> 20
    );
    println!(
        "ceiling: produce = min(loopback, write), consume = loopback (it reads the page cache)"
    );
    println!(
        "weir: cold start to first acknowledged produce {cold_start_ms:.0} ms, idle RSS {idle_rss:.1} MiB"
    );
    println!(
        "{:<34} {:>14} {:>10} {:>10} {:>9}",
        "workload", "records/s", "MiB/s", "x ceiling", "RSS MiB"
    );
    for r in &results.rows {
        println!(
            "{:<34} {:>14.0} {:>10.1} {:>10.3} {:>9.1}",
            r.workload, r.records_per_sec, r.mib_per_sec, r.fraction_of_ceiling, r.rss_mib
        );
    }
    if let Some(r) = plugin_ratio {
        println!("no-op plugin / no plugin, same JSON records: {r:.2}x (goal >= 0.9x)");
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    println!("results written to {}", args.out.display());
    Ok(())
}

/// A JSON record of about 200 bytes that the benchmark schema accepts.
const JSON_RECORD: &str = r#"{"id":123456,"customer":"c-0042","amount":1234.5,"currency":"EUR","items":["sku-1","sku-2","sku-3"],"note":"a benchmark order with a few fields and some text to reach two hundred bytes in total"}"#;

const JSON_SCHEMA: &str = r#"{"type":"object","required":["id","customer","amount","currency"],"properties":{"id":{"type":"integer","minimum":1},"customer":{"type":"string"},"amount":{"type":"number","minimum":0},"currency":{"enum":["EUR","USD","GBP"]},"items":{"type":"array","items":{"type":"string"}},"note":{"type":"string","maxLength":500}}}"#;

fn deploy(
    node: &Node,
    name: &str,
    wasm: &std::path::Path,
    config: &[(&str, &str)],
) -> anyhow::Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let mut req =
        ureq::put(&format!("http://{}/v1/plugins/{name}", node.http)).query("version", "bench");
    for (k, v) in config {
        req = req.query(&format!("config.{k}"), v);
    }
    req.send_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("deploying {name}: {e}"))?;
    Ok(())
}

/// Produce throughput of the same JSON records to a topic without plugins, with a no-op plugin
/// and with JSON Schema validation. Returns the rows and the no-op / none ratio.
fn plugin_workloads(
    node: &Node,
    dir: &std::path::Path,
    total: u64,
    ceiling: f64,
) -> anyhow::Result<(Vec<Row>, f64)> {
    deploy(node, "noop", &dir.join("noop.wasm"), &[])?;
    deploy(
        node,
        "json-schema",
        &dir.join("json-schema.wasm"),
        &[("schema", JSON_SCHEMA), ("on_invalid", "reject")],
    )?;
    let payload = JSON_RECORD.as_bytes();
    let count = (total / payload.len() as u64).max(1);
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (label, chain) in [
        ("no plugin", ""),
        ("no-op plugin", "noop"),
        ("json-schema plugin", "json-schema"),
    ] {
        let topic = format!(
            "bench-json-{}",
            if chain.is_empty() { "none" } else { chain }
        );
        let configs: Vec<(&str, &str)> = if chain.is_empty() {
            vec![]
        } else {
            vec![("weir.plugins", chain)]
        };
        create_topic_with(&node.bootstrap, &topic, 1, &configs)?;
        let elapsed = produce_payload(&node.bootstrap, &topic, 1, payload, count)?;
        let secs = elapsed.as_secs_f64();
        let mib = (count * payload.len() as u64) as f64 / (1 << 20) as f64;
        rates.push(count as f64 / secs);
        rows.push(Row {
            workload: format!("produce {} B JSON x 1, {label}", payload.len()),
            records_per_sec: count as f64 / secs,
            mib_per_sec: mib / secs,
            fraction_of_ceiling: mib / secs / ceiling,
            rss_mib: rss_mib(node.child.id()),
        });
    }
    Ok((rows, rates[1] / rates[0]))
}
