//! Benchmark driver: starts fresh brokers (Weir, and Apache Kafka in KRaft single-node mode when
//! its jars are given) one after the other with equivalent settings, runs the same workloads
//! against each with a librdkafka load generator, with a wire client that leaves the broker the
//! bottleneck (`wire.rs`) and with Kafka's own perf tools, then the same
//! against a fresh three-node cluster of each (RF=3, acks=all), repeats, and reports medians
//! with min and max, Weir/Kafka ratios and the machine's own ceilings.

mod broker;
mod load;
mod perf;
mod recycle;
mod report;
mod wire;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use broker::{Broker, Cluster, Kind, RssSampler, Setup};
use report::{Report, Target};

#[derive(Parser)]
#[command(
    about = "Benchmark Weir beside Apache Kafka with librdkafka and Kafka's perf tools",
    args_override_self = true
)]
struct Args {
    /// Path to the weir binary.
    #[arg(long, required_unless_present_any = ["replot", "latency_against", "against"])]
    weir: Option<PathBuf>,
    /// Run only the end-to-end latency workload, once, against a broker already running at
    /// this bootstrap address (for profiling a broker under that load); prints its
    /// percentiles. The topic is `latency-<ms since the epoch>`; the rate is --latency-rate.
    #[arg(long, requires = "latency_rate")]
    latency_against: Option<String>,
    /// Run the --only produce workloads once against a broker already running at this
    /// bootstrap address, with their consume (for profiling one phase under `perf record`);
    /// prints each rate. The topics are named as in a full run; `--phase` picks the half.
    #[arg(long, requires = "only")]
    against: Option<String>,
    /// With --against: `produce` (creates the topics), `consume` (reads the topics a
    /// `produce` phase left, from the start), or `both`.
    #[arg(long, default_value = "both", value_parser = ["produce", "consume", "both"])]
    phase: String,
    /// Records per second of 1 KiB for --latency-against.
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Redraw the plot (--svg) from a results file of an earlier run; runs nothing.
    #[arg(long, requires = "svg")]
    replot: Option<PathBuf>,
    /// A Kafka installation (a directory with lib/*.jar); without it only Weir runs.
    #[arg(long)]
    kafka_home: Option<PathBuf>,
    /// Kafka's version, for the report.
    #[arg(long, default_value = "")]
    kafka_version: String,
    /// Run Weir alone even if --kafka-home is given.
    #[arg(long)]
    no_kafka: bool,
    /// Produce into whatever memory the kernel hands out, without feeding each workload page
    /// cache freed as the broker writes (see `recycle.rs`): on a VM that gives free memory back
    /// to its host, the produce rows then measure the host's page faults as much as the
    /// brokers.
    #[arg(long)]
    fresh_memory: bool,
    /// Tiny inputs and one run: proves the benchmark runs, measures nothing meaningful.
    #[arg(long)]
    smoke: bool,
    /// Bytes produced per workload (default 256 MiB; smoke 2 MiB).
    #[arg(long)]
    bytes: Option<u64>,
    /// Bytes of 1 KiB records produced and consumed to warm each fresh single broker up before
    /// its measured workloads (default 1 GiB; smoke 1 MiB).
    #[arg(long)]
    warmup_bytes: Option<u64>,
    /// Runs of every workload per broker, each on a fresh broker (default 3; smoke 1).
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds of the measured part of each latency run (default 10; smoke 1).
    #[arg(long)]
    latency_secs: Option<f64>,
    /// Write every record of each latency run to PREFIX.<broker>.<run>.txt (PREFIX.txt with
    /// --latency-against): a `# start_unix_ms N` line, then one line per record with its send
    /// time (ns from the run's start) and its latency (ns). For finding when the stalls behind
    /// a tail happened (BENCHMARKS.md, "Where Weir's p99.9 comes from").
    #[arg(long, value_name = "PREFIX")]
    latency_dump: Option<PathBuf>,
    /// The latency runs' rate as a fraction of the slower broker's max produce rate.
    #[arg(long, default_value_t = 0.5)]
    latency_fraction: f64,
    /// Core to pin the brokers to with taskset (the caller pins this process elsewhere).
    #[arg(long)]
    broker_cpu: Option<usize>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// A second place to keep the JSON results.
    #[arg(long)]
    copy: Option<PathBuf>,
    /// Where to write the SVG plot (none by default).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Only the produce/consume workloads whose key contains this (e.g. `100b-1p-acks1`, `wire`,
    /// or `cluster-3-node` for the three-node cluster alone), or the one workload it names
    /// exactly (`produce-100b-1p-acks1`, not its wire twin), without the perf-tool and plugin
    /// workloads: for profiling one workload.
    #[arg(long)]
    only: Option<String>,
    /// Directory of built plugin components (noop.wasm, json-schema.wasm) for the plugin
    /// workloads; skipped when absent. Default: ~/.cache/weir/plugins.
    #[arg(long)]
    plugins: Option<PathBuf>,
}

/// Record sizes, partition counts and acks of the produce workloads.
const PRODUCE: [(usize, i32, &str); 8] = [
    (1024, 1, "1"),
    (1024, 8, "1"),
    (100, 1, "1"),
    (100, 8, "1"),
    (1024, 1, "all"),
    (1024, 8, "all"),
    (100, 1, "all"),
    (100, 8, "all"),
];

/// The wire client's workloads (`wire.rs`): record size, partitions, acks. Each moves
/// [`WIRE_SCALE`] times the librdkafka rows' volume, as it runs several times faster.
const WIRE: [(usize, i32, i16); 5] = [
    (1024, 1, 1),
    (1024, 8, 1),
    (100, 1, 1),
    (100, 8, 1),
    (1024, 8, -1),
];
const WIRE_SCALE: u64 = 4;

fn wire_produce_key(size: usize, parts: i32, acks: i16) -> String {
    let acks = if acks == -1 {
        "all".into()
    } else {
        acks.to_string()
    };
    format!("wire-{}", produce_key(size, parts, &acks))
}

fn wire_consume_key(size: usize, parts: i32) -> String {
    format!("wire-{}", consume_key(size, parts))
}

struct Plan {
    total: u64,
    warmup: u64,
    only: Option<String>,
    smoke: bool,
    plugins: Option<PathBuf>,
    /// Whether produce workloads start on recycled memory (see [`Plan::recycle_memory`]).
    recycle: bool,
}

impl Plan {
    /// Before a produce workload whose records take `bytes`, by the processes `pids`: page
    /// cache for it, a quarter more (the records' and batches' framing, the indexes), given
    /// back as they write (see `recycle.rs`); drop the result after the workload. `None` with
    /// `--smoke` and `--fresh-memory`. With no `pids` it is all given back at once.
    fn recycle_memory(
        &self,
        bytes: u64,
        pids: Vec<u32>,
    ) -> anyhow::Result<Option<recycle::Recycled>> {
        if !self.recycle {
            return Ok(None);
        }
        recycle::hold(bytes + bytes / 4, pids).map(Some)
    }

    /// Writes every dirty page back (`sync`), untimed, after a produce workload and before
    /// what follows it: otherwise the writeback of one workload's records lands inside a later
    /// measured one (the kernel writes dirty pages back 30 s after they were written, and both
    /// brokers sync a segment when it rolls at 1 GiB, as the wire client's 1 KiB x1 produce
    /// makes them do), and this VM's disk interrupts are served on the load generator's core.
    /// Weir, one broker, 1 GiB produced and then consumed twice by the wire client: the first
    /// consume 2,611 and 2,701 MiB/s after a roll against 3,136 and 3,053 with no roll; the
    /// second ~3,000 either way. Not with `--smoke` (its inputs are tiny, and a sync there
    /// would write back whatever else the machine, e.g. a build, left dirty). Must not run
    /// while [`Plan::recycle_memory`]'s pages are held: it would write them back too.
    fn settle(&self) {
        if !self.smoke {
            rustix::fs::sync();
        }
    }

    /// Whether the workload `key` runs (every one unless `--only` says otherwise).
    fn wants(&self, key: &str) -> bool {
        self.only.as_ref().is_none_or(|o| selects(o, key))
    }

    /// Whether the single-broker session runs: some produce workload is wanted.
    fn single_node(&self) -> bool {
        self.wants(PLUGIN_KEY)
            || PRODUCE
                .iter()
                .any(|&(size, parts, acks)| self.wants(&produce_key(size, parts, acks)))
            || WIRE
                .iter()
                .any(|&(size, parts, acks)| self.wants(&wire_produce_key(size, parts, acks)))
    }
}

/// The three-node cluster's workload: the `1024b-8p` acks=all produce on RF=3 topics with
/// min.insync.replicas=2.
const CLUSTER_KEY: &str = "cluster-3-node";
/// The plugin workloads (`--only plugin` runs them alone).
const PLUGIN_KEY: &str = "plugin";
/// Back-to-back no plugin / no-op plugin pairs per run.
const PLUGIN_PAIRS: usize = 5;
const CLUSTER_NODES: usize = 3;
const CLUSTER_RECORD: usize = 1024;
const CLUSTER_PARTITIONS: i32 = 8;

fn size_label(size: usize) -> String {
    if size == 1024 {
        "1 KiB".into()
    } else {
        format!("{size} B")
    }
}

/// Whether `--only ONLY` picks the workload `key`: the one workload it names when it is a
/// produce workload's key (`produce-100b-1p-acks1` is not also `wire-produce-100b-1p-acks1`),
/// otherwise every workload whose key contains it (`wire`, `100b`, `acksall`, `plugin`).
fn selects(only: &str, key: &str) -> bool {
    let exact = PRODUCE
        .iter()
        .map(|&(size, parts, acks)| produce_key(size, parts, acks))
        .chain(
            WIRE.iter()
                .map(|&(size, parts, acks)| wire_produce_key(size, parts, acks)),
        )
        .any(|k| k == only);
    if exact {
        key == only
    } else {
        key.contains(only)
    }
}

fn produce_key(size: usize, parts: i32, acks: &str) -> String {
    format!("produce-{size}b-{parts}p-acks{acks}")
}

fn consume_key(size: usize, parts: i32) -> String {
    format!("consume-{size}b-{parts}p")
}

const MIB: f64 = (1 << 20) as f64;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let (Some(results), Some(svg)) = (&args.replot, &args.svg) {
        let text = std::fs::read_to_string(results)
            .with_context(|| format!("reading {}", results.display()))?;
        let results: serde_json::Value = serde_json::from_str(&text)?;
        return write_svg(&Report::from_json(&results["metrics"]), &results, svg);
    }
    if let (Some(bootstrap), Some(rate)) = (&args.latency_against, args.latency_rate) {
        return latency_against(
            bootstrap,
            rate,
            args.latency_secs.unwrap_or(10.0),
            args.latency_dump.as_deref(),
        );
    }
    if let Some(bootstrap) = &args.against {
        let total = args.bytes.unwrap_or(256 << 20);
        return throughput_against(
            bootstrap,
            args.only.as_deref().unwrap_or(""),
            &args.phase,
            total,
        );
    }
    let total = args
        .bytes
        .unwrap_or(if args.smoke { 2 << 20 } else { 256 << 20 });
    let runs = args.runs.unwrap_or(if args.smoke { 1 } else { 3 }).max(1);
    let setup = Setup {
        weir: args.weir.clone().unwrap_or_default(),
        kafka_home: if args.no_kafka {
            None
        } else {
            args.kafka_home.clone()
        },
        broker_cpu: args.broker_cpu,
    };
    let mut kinds = vec![Kind::Weir];
    if setup.kafka_home.is_some() {
        kinds.push(Kind::Kafka);
    }
    let plugins = args
        .plugins
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir/plugins")))
        .filter(|d| d.join("noop.wasm").exists() && d.join("json-schema.wasm").exists());
    if plugins.is_none() {
        println!("plugin workloads skipped: run scripts/build-plugins.sh first");
    }
    let plan = Plan {
        total,
        warmup: args
            .warmup_bytes
            .unwrap_or(if args.smoke { 1 << 20 } else { 1 << 30 })
            .max(1024),
        only: args.only.clone(),
        smoke: args.smoke,
        plugins,
        recycle: !args.smoke && !args.fresh_memory,
    };
    let machine = machine();
    let started = Instant::now();
    let mut report = Report::default();
    let mut loopback = Vec::new();
    let mut cross = Vec::new();
    let mut cross_fixed = Vec::new();
    let mut disk = Vec::new();
    let mut sustained = Vec::new();
    let mut recycled = Vec::new();
    for run in 0..runs {
        // The machine's ceilings in the same run: loopback TCP and sequential page-cache writes.
        let ceiling_bytes = if args.smoke {
            total
        } else {
            total.max(512 << 20)
        };
        // Loopback on the load generator's core alone (both ends), then across the two cores
        // as a fetch runs (sender on the broker's core), with the kernel's autotuned send
        // buffer and with Weir's default fixed one: the ceiling of the consume rows.
        let one_core = Loopback {
            sender_cpu: None,
            send_buffer: None,
        };
        loopback.push(loopback_ceiling(ceiling_bytes, one_core)?);
        let across = Loopback {
            sender_cpu: args.broker_cpu,
            send_buffer: None,
        };
        cross.push(loopback_ceiling(ceiling_bytes, across)?);
        let fixed = Loopback {
            send_buffer: Some(LOOPBACK_SEND_BUFFER),
            ..across
        };
        cross_fixed.push(loopback_ceiling(ceiling_bytes, fixed)?);
        disk.push(page_cache_ceiling(0, ceiling_bytes)?);
        if plan.recycle {
            // What the produce workloads meet: the same write into memory freed just before.
            plan.recycle_memory(ceiling_bytes, Vec::new())?;
            recycled.push(page_cache_ceiling(0, ceiling_bytes)?);
        }
        for kind in order(&kinds, run) {
            if plan.single_node() {
                progress(started, &format!("run {}/{runs}: {}", run + 1, kind.name()));
                session(&setup, kind, &plan, &mut report)
                    .with_context(|| format!("{} run {}", kind.name(), run + 1))?;
            }
            if plan.wants(CLUSTER_KEY) {
                let what = format!("run {}/{runs}: {} 3-node cluster", run + 1, kind.name());
                progress(started, &what);
                cluster_session(&setup, kind, &plan, &mut report)
                    .with_context(|| format!("{} 3-node cluster, run {}", kind.name(), run + 1))?;
            }
        }
        // After both brokers: the memory it frees goes to the next run's first broker, and that
        // is Weir and Kafka in turn.
        let (warm, timed) = if args.smoke {
            (total, total)
        } else {
            (SUSTAINED_WARM_BYTES, SUSTAINED_TIMED_BYTES)
        };
        sustained.push(page_cache_ceiling(warm, timed)?);
    }

    // End-to-end latency at a fixed rate: half the slower broker's max produce rate (1 KiB, one
    // partition, acks=1, medians of the runs above).
    let key = produce_key(1024, 1, "1") + ":rps";
    let max_rate = report
        .get(&key)
        .map(|m| {
            [m.weir_stat(), m.kafka_stat()]
                .into_iter()
                .flatten()
                .map(|s| s.median)
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|r| r.is_finite())
        // --only without the 1 KiB x1 workload: no latency runs.
        .unwrap_or(0.0);
    let rate = (max_rate * args.latency_fraction).max(1.0);
    let measure =
        Duration::from_secs_f64(
            args.latency_secs
                .unwrap_or(if args.smoke { 1.0 } else { 10.0 }),
        );
    let warmup = if args.smoke {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(3)
    };
    let rate_label = format!("{} rec/s of 1 KiB", report::num(rate));
    let latency_runs = if max_rate > 0.0 { runs } else { 0 };
    // Runs in which the load generator, one process on one core producing and consuming, fell
    // behind the rate: their percentiles measure the client (against Weir it sent 217,914 of
    // 250,000 records/s, p50 172 ms). Printed with the table.
    let mut behind = Vec::new();
    for run in 0..latency_runs {
        for kind in order(&kinds, run) {
            let what = format!(
                "latency run {}/{runs}: {} at {rate_label}",
                run + 1,
                kind.name()
            );
            progress(started, &what);
            let b = broker::start(&setup, kind)?;
            load::cold_start(&b.bootstrap, b.spawned)?;
            warm_up(&b, &plan)?;
            load::create_topic(&b.bootstrap, "latency", 1, 1, &[])?;
            let bytes = rate * (warmup + measure).as_secs_f64() * 1024.0;
            let held = plan.recycle_memory(bytes as u64, vec![b.pid()])?;
            let l = load::latency(&b.bootstrap, "latency", 1024, rate, warmup, measure)?;
            drop(held);
            let n = kind.name();
            if let Some(prefix) = &args.latency_dump {
                dump_latency(prefix, &format!(".{n}.{}", run + 1), &l)?;
            }
            if l.sent_rate < rate * LATENCY_RATE_SHORT || l.p50_ms > LATENCY_BEHIND_P50_MS {
                behind.push(format!(
                    "{n} run {}: {} rec/s sent, p50 {:.1} ms",
                    run + 1,
                    report::num(l.sent_rate),
                    l.p50_ms
                ));
            }
            let lbl = |q: &str| format!("end-to-end latency {q} at {rate_label}");
            report.add(n, "latency-p50", &lbl("p50"), "ms", false, l.p50_ms);
            report.add(n, "latency-p99", &lbl("p99"), "ms", false, l.p99_ms);
            report.add(n, "latency-p999", &lbl("p99.9"), "ms", false, l.p999_ms);
            report.add(
                n,
                "latency-rate:rps",
                "latency run: rate sent",
                "rec/s",
                true,
                l.sent_rate,
            );
            report.add(
                n,
                "latency-samples:n",
                "latency run: samples",
                "",
                true,
                l.samples as f64,
            );
        }
    }

    // Weir as a fraction of the machine's ceilings.
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(0.0)
    };
    let (lo, wr, sus) = (med(&loopback), med(&disk), med(&sustained));
    let (cr, crf) = (med(&cross), med(&cross_fixed));
    let rec = (!recycled.is_empty()).then(|| med(&recycled));
    let weir_median = |key: &str| {
        report
            .get(key)
            .and_then(|m| m.weir_stat())
            .map(|s| s.median)
    };
    let produce_fraction =
        weir_median(&produce_key(1024, 1, "1")).map(|v| v / lo.min(rec.unwrap_or(wr)));
    // The wire client's produce (the broker is the bottleneck) against the write ceiling that
    // its GiB meets: into recycled memory (the default), or into fresh memory past the first GiB.
    let wire_produce_fraction =
        weir_median(&wire_produce_key(1024, 8, 1)).map(|v| v / lo.min(rec.unwrap_or(sus)));
    let consume_fraction = weir_median(&consume_key(1024, 1)).map(|v| v / lo);
    // The wire client's consume, whose fetches cross the two cores, against the better of the
    // two loopbacks that do.
    let wire_consume_fraction = weir_median(&wire_consume_key(1024, 1)).map(|v| v / cr.max(crf));
    for (size, parts, acks) in PRODUCE {
        report.target(&produce_key(size, parts, acks), Target::RatioAtLeast(2.0));
        if acks == "1" {
            report.target(&consume_key(size, parts), Target::RatioAtLeast(2.0));
        }
    }
    for (size, parts, acks) in WIRE {
        report.target(
            &wire_produce_key(size, parts, acks),
            Target::RatioAtLeast(2.0),
        );
        if acks == 1 {
            report.target(&wire_consume_key(size, parts), Target::RatioAtLeast(2.0));
        }
    }
    report.target(CLUSTER_KEY, Target::RatioAtLeast(2.0));
    report.target("perf-produce-1k", Target::RatioAtLeast(2.0));
    report.target("perf-consume-1k", Target::RatioAtLeast(2.0));
    report.target("latency-p99", Target::RatioAtMost(0.5));
    report.target("idle-rss", Target::AtMost(30.0));
    report.target("cold-start", Target::AtMost(100.0));
    report.target("plugin-noop-ratio", Target::AtLeast(0.9));

    println!();
    println!(
        "machine: {} x {}, {:.1} GiB RAM, Linux {} (TCP congestion control {}, loopback \
         rps_cpus {}); {}",
        machine.nproc,
        machine.cpu,
        machine.ram_gib,
        machine.kernel,
        machine.tcp_congestion,
        machine.loopback_rps_cpus,
        args.broker_cpu.map_or("brokers and clients not pinned".to_string(), |c| format!(
            "broker pinned to core {c} (the 3 nodes of a cluster share it), clients on the others"
        ))
    );
    println!(
        "ceilings: loopback TCP {lo:.0} MiB/s on one core, {cr:.0} MiB/s across two \
         (autotuned send buffer), {crf:.0} MiB/s across two (send buffer {} KiB)",
        LOOPBACK_SEND_BUFFER >> 10
    );
    println!(
        "ceilings: sequential page-cache write {wr:.0} MiB/s, \
         sustained page-cache write (past the first GiB) {sus:.0} MiB/s{} (medians)",
        rec.map_or(String::new(), |r| format!(
            ", page-cache write into just-freed memory {r:.0} MiB/s"
        ))
    );
    println!(
        "{}",
        if plan.recycle {
            "produce workloads write into recycled memory: 1.25x the bytes of each one's records \
             are written to a file before it and given back 64 MiB ahead of the broker's writes \
             (--fresh-memory: not)"
        } else {
            "produce workloads write into fresh memory (--fresh-memory or --smoke)"
        }
    );
    if let (Some(p), Some(c)) = (produce_fraction, consume_fraction) {
        println!(
            "weir as a fraction of the ceiling: produce 1 KiB x1 {p:.2} of min(loopback, the write it meets), consume 1 KiB x1 {c:.2} of loopback"
        );
    }
    if let Some(w) = wire_consume_fraction {
        println!(
            "weir as a fraction of the ceiling: wire client consume 1 KiB x1 {w:.2} of loopback across two cores"
        );
    }
    if let Some(w) = wire_produce_fraction {
        println!(
            "weir as a fraction of the ceiling: wire client produce 1 KiB x8 {w:.2} of min(loopback, {})",
            if rec.is_some() {
                "write into just-freed memory"
            } else {
                "sustained write"
            }
        );
    }
    println!(
        "{runs} run(s) per broker, {} MiB per workload{}; Kafka {}",
        total >> 20,
        if args.smoke { " (smoke)" } else { "" },
        if setup.kafka_home.is_some() {
            args.kafka_version.as_str()
        } else {
            "not run"
        }
    );
    report.print();
    if !behind.is_empty() {
        println!(
            "warning: the load generator fell behind {rate_label} in these latency runs (its \
             percentiles measure the client; try --latency-fraction lower): {}",
            behind.join("; ")
        );
    }

    let results = serde_json::json!({
        "date": date(),
        "machine": {
            "nproc": machine.nproc,
            "cpu": machine.cpu,
            "ram_gib": machine.ram_gib,
            "kernel": machine.kernel,
            "load_average_at_start": machine.load,
            "tcp_congestion_control": machine.tcp_congestion,
            "loopback_rps_cpus": machine.loopback_rps_cpus,
        },
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "smoke": args.smoke,
        "runs": runs,
        "bytes_per_workload": total,
        "recycled_memory": plan.recycle,
        "kafka_version": setup.kafka_home.as_ref().map(|_| args.kafka_version.clone()),
        "broker_cpu": args.broker_cpu,
        "latency_rate_records_per_sec": rate,
        "ceilings": {
            "loopback_mib_per_sec": loopback,
            "loopback_two_cores_mib_per_sec": cross,
            "loopback_two_cores_fixed_send_buffer_mib_per_sec": cross_fixed,
            "loopback_fixed_send_buffer_bytes": LOOPBACK_SEND_BUFFER,
            "weir_wire_consume_1k_fraction": wire_consume_fraction,
            "weir_wire_consume_1k_fraction_of": "max(the two loopbacks across two cores)",
            "page_cache_write_mib_per_sec": disk,
            "page_cache_sustained_write_mib_per_sec": sustained,
            "page_cache_recycled_write_mib_per_sec": recycled,
            "weir_wire_produce_1k_8p_fraction": wire_produce_fraction,
            "weir_wire_produce_1k_8p_fraction_of": if rec.is_some() {
                "min(loopback, page-cache write into just-freed memory)"
            } else {
                "min(loopback, sustained page-cache write)"
            },
            "weir_produce_1k_fraction": produce_fraction,
            "weir_consume_1k_fraction": consume_fraction,
        },
        "metrics": report.json(),
        "elapsed_secs": started.elapsed().as_secs_f64(),
    });
    let text = serde_json::to_string_pretty(&results)?;
    std::fs::write(&args.out, &text)?;
    println!("results written to {}", args.out.display());
    if let Some(copy) = &args.copy {
        if let Some(dir) = copy.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(copy, &text)?;
        // The table in Markdown beside it, for BENCHMARKS.md.
        std::fs::write(copy.with_extension("md"), report.markdown())?;
    }
    if let Some(svg) = &args.svg {
        write_svg(&report, &results, svg)?;
    }
    Ok(())
}

/// The plot of a run's results (`results` is what was written to the JSON file).
fn write_svg(report: &Report, results: &serde_json::Value, path: &Path) -> anyhow::Result<()> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let title = format!(
        "Weir vs Apache Kafka {}, same machine and clients",
        text(&results["kafka_version"])
    );
    let m = &results["machine"];
    let subtitle = format!(
        "{} x {}, broker pinned to 1 core; {}; median of {} run(s), whiskers min-max; latency at {} rec/s of 1 KiB, acks=1",
        m["nproc"],
        text(&m["cpu"]),
        text(&results["date"]),
        results["runs"],
        report::num(
            results["latency_rate_records_per_sec"]
                .as_f64()
                .unwrap_or(0.0)
        ),
    );
    let plot = report.svg(
        &title,
        &subtitle,
        &[
            (&produce_key(1024, 1, "1"), "produce 1 KiB x1"),
            (&produce_key(1024, 8, "1"), "produce 1 KiB x8"),
            (&produce_key(100, 1, "1"), "produce 100 B x1"),
            (&produce_key(100, 8, "1"), "produce 100 B x8"),
            (&consume_key(1024, 1), "consume 1 KiB x1"),
            (&consume_key(100, 1), "consume 100 B x1"),
            (&wire_produce_key(1024, 1, 1), "wire produce 1 KiB x1"),
            (&wire_consume_key(1024, 8), "wire consume 1 KiB x8"),
            ("perf-produce-1k", "Kafka perf-test produce 1 KiB"),
            ("perf-consume-1k", "Kafka perf-test consume 1 KiB"),
            (CLUSTER_KEY, "3 nodes RF=3 1 KiB x8 acks=all"),
        ],
        &[
            ("latency-p50", "p50"),
            ("latency-p99", "p99"),
            ("latency-p999", "p99.9"),
        ],
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, plot)?;
    println!("plot written to {}", path.display());
    Ok(())
}

/// `--latency-against`: the latency workload alone, on a new topic of a running broker.
fn latency_against(
    bootstrap: &str,
    rate: f64,
    secs: f64,
    dump: Option<&Path>,
) -> anyhow::Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let topic = format!("latency-{stamp}");
    load::create_topic(bootstrap, &topic, 1, 1, &[])?;
    let measure = Duration::from_secs_f64(secs);
    let l = load::latency(
        bootstrap,
        &topic,
        1024,
        rate,
        Duration::from_secs(3),
        measure,
    )?;
    println!(
        "{topic}: {} rec/s sent, {} samples: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        report::num(l.sent_rate),
        l.samples,
        l.p50_ms,
        l.p99_ms,
        l.p999_ms
    );
    if let Some(prefix) = dump {
        dump_latency(prefix, "", &l)?;
    }
    Ok(())
}

/// Writes a latency run's records to `<prefix><suffix>.txt` (`--latency-dump`).
fn dump_latency(prefix: &Path, suffix: &str, l: &load::Latency) -> anyhow::Result<()> {
    let mut name = prefix.as_os_str().to_os_string();
    name.push(format!("{suffix}.txt"));
    let path = PathBuf::from(name);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    writeln!(out, "# start_unix_ms {}", l.start_unix_ms)?;
    for (sent, latency) in &l.records {
        writeln!(out, "{sent} {latency}")?;
    }
    out.flush()?;
    eprintln!("latency records written to {}", path.display());
    Ok(())
}

fn throughput_against(bootstrap: &str, only: &str, phase: &str, total: u64) -> anyhow::Result<()> {
    for (size, parts, acks) in PRODUCE {
        let key = produce_key(size, parts, acks);
        if !selects(only, &key) {
            continue;
        }
        let count = (total / size as u64).max(1);
        let mib = (count * size as u64) as f64 / MIB;
        let topic = format!("bench-{size}b-{parts}p-acks{acks}");
        if phase != "consume" {
            load::create_topic(bootstrap, &topic, parts, 1, &[])?;
            let secs = load::produce(bootstrap, &topic, parts, &vec![b'w'; size], count, acks)?;
            println!("{key}: {:.1} MiB/s", mib / secs.as_secs_f64());
        }
        if phase != "produce" {
            let secs = load::consume(bootstrap, &topic, parts, count)?;
            println!(
                "{}: {:.1} MiB/s",
                consume_key(size, parts),
                mib / secs.as_secs_f64()
            );
        }
    }
    for (size, parts, acks) in WIRE {
        let key = wire_produce_key(size, parts, acks);
        if !selects(only, &key) {
            continue;
        }
        let topic = format!("bench-{key}");
        let mut count = (total * WIRE_SCALE / size as u64).max(1);
        if phase != "consume" {
            load::create_topic(bootstrap, &topic, parts, 1, &[])?;
            let sent = wire::produce(bootstrap, &topic, parts, size, count, acks)?;
            let mib = (sent.records * size as u64) as f64 / MIB;
            println!("{key}: {:.1} MiB/s", mib / sent.elapsed.as_secs_f64());
            count = sent.records;
        }
        if phase != "produce" && acks == 1 {
            let got = wire::consume(bootstrap, &topic, parts, count)?;
            let mib = (got.records * size as u64) as f64 / MIB;
            println!(
                "{}: {:.1} MiB/s",
                wire_consume_key(size, parts),
                mib / got.elapsed.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The brokers in the order of a run: alternating which goes first, so that neither always
/// gets the warmer (or the busier) machine.
fn order(kinds: &[Kind], run: usize) -> Vec<Kind> {
    let mut o = kinds.to_vec();
    if run % 2 == 1 {
        o.reverse();
    }
    o
}

fn progress(started: Instant, what: &str) {
    eprintln!("[{:>4.0}s] {what}", started.elapsed().as_secs_f64());
}

/// Warm-up (the JVM's JIT, page cache, allocators), not measured: `--warmup-bytes` of 1 KiB
/// records produced and consumed. Kafka needs about a gigabyte: after the 64 MiB this used to
/// be, its first workload (1 KiB x1 acks=1) ran at half the rate it reached once warm.
fn warm_up(b: &Broker, plan: &Plan) -> anyhow::Result<()> {
    let count = plan.warmup / 1024;
    load::create_topic(&b.bootstrap, "warmup", 1, 1, &[])?;
    load::produce(&b.bootstrap, "warmup", 1, &[b'w'; 1024], count, "1")?;
    load::consume(&b.bootstrap, "warmup", 1, count)?;
    plan.settle();
    Ok(())
}

/// One fresh broker: cold start, idle RSS, warm-up, then every throughput workload, Kafka's
/// perf tools, and (Weir) the plugin workloads, with peak RSS and CPU time over all of them.
fn session(setup: &Setup, kind: Kind, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let n = kind.name();
    let mut b = broker::start(setup, kind)?;
    let cold = load::cold_start(&b.bootstrap, b.spawned)?;
    report.add(
        n,
        "cold-start",
        "cold start to first acked produce",
        "ms",
        false,
        cold,
    );
    std::thread::sleep(Duration::from_millis(if plan.smoke { 200 } else { 2000 }));
    report.add(n, "idle-rss", "idle RSS", "MiB", false, b.rss_mib());

    let sampler = RssSampler::start(vec![b.pid()]);
    warm_up(&b, plan)?;

    let mut cpu_total = 0.0;
    let mut bytes_total = 0u64;
    let (mut consume_cpu, mut consume_bytes) = (0.0, 0u64);
    for (size, parts, acks) in PRODUCE {
        if !plan.wants(&produce_key(size, parts, acks)) {
            continue;
        }
        let count = (plan.total / size as u64).max(1);
        let topic = format!("bench-{size}b-{parts}p-acks{acks}");
        load::create_topic(&b.bootstrap, &topic, parts, 1, &[])?;
        let payload = vec![b'w'; size];
        let held = plan.recycle_memory(count * size as u64, vec![b.pid()])?;
        let busy = Busy::start(&b);
        let secs = load::produce(&b.bootstrap, &topic, parts, &payload, count, acks)?.as_secs_f64();
        let [cpu, client] = busy.stop(&b);
        drop(held);
        plan.settle();
        cpu_total += cpu;
        bytes_total += count * size as u64;
        let key = produce_key(size, parts, acks);
        let label = format!("produce {} x{parts} acks={acks}", size_label(size));
        let mib = (count * size as u64) as f64 / MIB;
        report.add_throughput(n, &key, &label, mib / secs, count as f64 / secs);
        Busy::record(report, n, &key, &label, [cpu, client], secs);
        if acks == "1" {
            let busy = Busy::start(&b);
            let secs = load::consume(&b.bootstrap, &topic, parts, count)?.as_secs_f64();
            let cores = busy.stop(&b);
            consume_cpu += cores[0];
            consume_bytes += count * size as u64;
            let key = consume_key(size, parts);
            let label = format!("consume {} x{parts}", size_label(size));
            report.add_throughput(n, &key, &label, mib / secs, count as f64 / secs);
            Busy::record(report, n, &key, &label, cores, secs);
        }
    }
    if bytes_total > 0 {
        report.add(
            n,
            "cpu-per-gb",
            "broker CPU-seconds per GB produced",
            "s/GB",
            false,
            cpu_total / (bytes_total as f64 / 1e9),
        );
    }
    if consume_bytes > 0 {
        report.add(
            n,
            "cpu-per-gb-consumed",
            "broker CPU-seconds per GB consumed",
            "s/GB",
            false,
            consume_cpu / (consume_bytes as f64 / 1e9),
        );
    }

    wire_workloads(&b, n, plan, report)?;

    if setup.kafka_home.is_some() && plan.only.is_none() {
        let count = (plan.total / 1024).max(1);
        load::create_topic(&b.bootstrap, "perf-1k", 1, 1, &[])?;
        let held = plan.recycle_memory(count * 1024, vec![b.pid()])?;
        let p = perf::producer(setup, &b.bootstrap, "perf-1k", 1024, count)?;
        drop(held);
        plan.settle();
        let label = "kafka-producer-perf-test 1 KiB x1 acks=1";
        report.add_throughput(
            n,
            "perf-produce-1k",
            label,
            p.mib_per_sec,
            p.records_per_sec,
        );
        let p99 = format!("{label}: its p99 latency");
        report.add(n, "perf-produce-1k-p99", &p99, "ms", false, p.p99_ms);
        let (rps, mibs) = perf::consumer(setup, &b.bootstrap, "perf-1k", 1024, count)?;
        let label = "kafka-consumer-perf-test 1 KiB x1";
        report.add_throughput(n, "perf-consume-1k", label, mibs, rps);
    }

    if kind == Kind::Weir
        && plan.wants(PLUGIN_KEY)
        && let Some(dir) = &plan.plugins
    {
        plugin_workloads(&mut b, dir, plan, report)?;
    }
    let peak = sampler.finish();
    report.add(n, "peak-rss", "peak RSS under load", "MiB", false, peak);
    Ok(())
}

/// The wire client's workloads (see `wire.rs`): each produce, and the consume of each acks=1
/// topic, with the broker's and the client's CPU.
fn wire_workloads(b: &Broker, n: &str, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    for (size, parts, acks) in WIRE {
        let key = wire_produce_key(size, parts, acks);
        if !plan.wants(&key) {
            continue;
        }
        let count = (plan.total * WIRE_SCALE / size as u64).max(1);
        let topic = format!("bench-{key}");
        load::create_topic(&b.bootstrap, &topic, parts, 1, &[])?;
        let held = plan.recycle_memory(count * size as u64, vec![b.pid()])?;
        let busy = Busy::start(b);
        let sent = wire::produce(&b.bootstrap, &topic, parts, size, count, acks)
            .with_context(|| format!("{key} against {n}"))?;
        let cores = busy.stop(b);
        drop(held);
        plan.settle();
        let secs = sent.elapsed.as_secs_f64();
        let acks_label = if acks == -1 {
            "all".into()
        } else {
            acks.to_string()
        };
        let label = format!(
            "wire client: produce {} x{parts} acks={acks_label}",
            size_label(size)
        );
        let mib = (sent.records * size as u64) as f64 / MIB;
        report.add_throughput(n, &key, &label, mib / secs, sent.records as f64 / secs);
        Busy::record(report, n, &key, &label, cores, secs);
        if acks != 1 {
            continue;
        }
        let key = wire_consume_key(size, parts);
        let busy = Busy::start(b);
        let got = wire::consume(&b.bootstrap, &topic, parts, sent.records)
            .with_context(|| format!("{key} against {n}"))?;
        let cores = busy.stop(b);
        let secs = got.elapsed.as_secs_f64().max(1e-9);
        let label = format!("wire client: consume {} x{parts}", size_label(size));
        let mib = (got.records * size as u64) as f64 / MIB;
        report.add_throughput(n, &key, &label, mib / secs, got.records as f64 / secs);
        Busy::record(report, n, &key, &label, cores, secs);
    }
    Ok(())
}

/// A fresh three-node cluster of `kind` (pinned like the single broker, so the nodes share its
/// core): a warm-up of a quarter of the volume produced with acks=all and consumed, then the
/// `1024b-8p` acks=all workload on a topic with RF=3 and min.insync.replicas=2, with the
/// nodes' summed CPU time and peak summed RSS.
fn cluster_session(
    setup: &Setup,
    kind: Kind,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let c = broker::start_cluster(setup, kind, CLUSTER_NODES)?;
    // Three JVMs starting on one core take a while; Weir's nodes are up already.
    let logs = || format!("the nodes' last log lines:{}", c.log_tails());
    load::wait_for_brokers(&c.bootstrap, CLUSTER_NODES, Duration::from_secs(180))
        .with_context(logs)?;
    let sampler = RssSampler::start(c.pids());
    cluster_workload(&c, kind, plan, setup.broker_cpu.is_some(), report).with_context(logs)?;
    report.add(
        kind.name(),
        &format!("{CLUSTER_KEY}-rss"),
        "3 nodes: summed peak RSS under load",
        "MiB",
        false,
        sampler.finish(),
    );
    Ok(())
}

fn cluster_workload(
    c: &Cluster,
    kind: Kind,
    plan: &Plan,
    pinned: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rf = CLUSTER_NODES as i32;
    let configs = [("min.insync.replicas", "2")];
    let parts = CLUSTER_PARTITIONS;
    let payload = vec![b'w'; CLUSTER_RECORD];
    let warm = (plan.total / 4).max(1 << 20) / CLUSTER_RECORD as u64;
    load::create_topic(&c.bootstrap, "warmup", parts, rf, &configs)?;
    load::produce(&c.bootstrap, "warmup", parts, &payload, warm, "all")?;
    load::consume(&c.bootstrap, "warmup", parts, warm)?;
    plan.settle();

    let count = (plan.total / CLUSTER_RECORD as u64).max(1);
    let topic = "bench-cluster";
    load::create_topic(&c.bootstrap, topic, parts, rf, &configs)?;
    // Three replicas: three copies in the page cache.
    let held = plan.recycle_memory(count * CLUSTER_RECORD as u64 * rf as u64, c.pids())?;
    let cpu0 = c.cpu_secs();
    let secs = load::produce(&c.bootstrap, topic, parts, &payload, count, "all")?.as_secs_f64();
    let cpu = c.cpu_secs() - cpu0;
    drop(held);
    let label = format!(
        "3 nodes{}, RF=3: {} x{parts} acks=all",
        if pinned { " on 1 core" } else { "" },
        size_label(CLUSTER_RECORD)
    );
    let mib = (count * CLUSTER_RECORD as u64) as f64 / MIB;
    let n = kind.name();
    report.add_throughput(n, CLUSTER_KEY, &label, mib / secs, count as f64 / secs);
    let cpu_key = format!("{CLUSTER_KEY}:cpu");
    report.add(n, &cpu_key, &label, "cores", false, cpu / secs);
    Ok(())
}

/// A JSON record of about 200 bytes that the benchmark schema accepts.
const JSON_RECORD: &str = r#"{"id":123456,"customer":"c-0042","amount":1234.5,"currency":"EUR","items":["sku-1","sku-2","sku-3"],"note":"a benchmark order with a few fields and some text to reach two hundred bytes in total"}"#;

const JSON_SCHEMA: &str = r#"{"type":"object","required":["id","customer","amount","currency"],"properties":{"id":{"type":"integer","minimum":1},"customer":{"type":"string"},"amount":{"type":"number","minimum":0},"currency":{"enum":["EUR","USD","GBP"]},"items":{"type":"array","items":{"type":"string"}},"note":{"type":"string","maxLength":500}}}"#;

fn deploy(http: &str, name: &str, wasm: &Path, config: &[(&str, &str)]) -> anyhow::Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let mut req = ureq::put(&format!("http://{http}/v1/plugins/{name}")).query("version", "bench");
    for (k, v) in config {
        req = req.query(&format!("config.{k}"), v);
    }
    req.send_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("deploying {name}: {e}"))?;
    Ok(())
}

/// Produce throughput of the same JSON records (acks=1, one partition) to a topic without
/// plugins and with the no-op plugin (in back-to-back pairs), and with JSON Schema validation
/// (Weir only).
fn plugin_workloads(
    b: &mut Broker,
    dir: &Path,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let http = b.http()?;
    deploy(&http, "noop", &dir.join("noop.wasm"), &[])?;
    deploy(
        &http,
        "json-schema",
        &dir.join("json-schema.wasm"),
        &[("schema", JSON_SCHEMA), ("on_invalid", "reject")],
    )?;
    let payload = JSON_RECORD.as_bytes();
    let count = (plan.total / payload.len() as u64).max(1);
    // Each measurement writes to a topic of its own, deleted after it, and starts on recycled
    // memory (see `Plan::recycle_memory`): when every run took fresh memory, the broker's CPU
    // per record of the same workload varied 2.3x (283-661 ns), far more than the plugin's
    // cost. The first, unrecorded run settles the broker.
    let made = std::cell::Cell::new(0usize);
    // Records per second, and the broker's CPU seconds per record.
    let measure =
        |label: &str, chain: &str, report: Option<&mut Report>| -> anyhow::Result<(f64, f64)> {
            let topic = format!("bench-json-{chain}-{}", made.replace(made.get() + 1));
            let configs: Vec<(&str, &str)> = if chain == "none" {
                vec![]
            } else {
                vec![("weir.plugins", chain)]
            };
            load::create_topic(&b.bootstrap, &topic, 1, 1, &configs)?;
            let held = plan.recycle_memory(count * payload.len() as u64, vec![b.pid()])?;
            let busy = Busy::start(b);
            let secs = load::produce(&b.bootstrap, &topic, 1, payload, count, "1")?.as_secs_f64();
            let cores = busy.stop(b);
            drop(held);
            load::delete_topic(&b.bootstrap, &topic)?;
            let rps = count as f64 / secs;
            let cpu_per_record = cores[0] / count as f64;
            let Some(report) = report else {
                return Ok((rps, cpu_per_record));
            };
            let label = format!("produce {} B JSON x1, {label}", payload.len());
            report.add(
                "weir",
                &format!("plugin-{chain}:rps"),
                &label,
                "rec/s",
                true,
                rps,
            );
            Busy::record(
                report,
                "weir",
                &format!("plugin-{chain}"),
                &label,
                cores,
                secs,
            );
            Ok((rps, cpu_per_record))
        };
    measure("warm-up", "none", None)?;
    // The no-op plugin against no plugin, in back-to-back pairs (alternating which goes first),
    // each pair giving one ratio: on this shared VM the rate of the same workload drifts from
    // minute to minute by more than the plugin's cost.
    for pair in 0..PLUGIN_PAIRS {
        let mut runs = [(0.0, 0.0); 2];
        for i in if pair % 2 == 0 { [0, 1] } else { [1, 0] } {
            let (label, chain) = [("no plugin", "none"), ("no-op plugin", "noop")][i];
            runs[i] = measure(label, chain, Some(report))?;
        }
        report.add(
            "weir",
            "plugin-noop-ratio",
            "no-op plugin / no plugin (JSON records, back-to-back pairs)",
            "x",
            true,
            runs[1].0 / runs[0].0,
        );
        // What the plugin costs the broker, whichever side bounds the rate.
        report.add(
            "weir",
            "plugin-noop-cpu-ratio",
            "no-op plugin / no plugin: broker CPU per record",
            "x",
            false,
            runs[1].1 / runs[0].1,
        );
    }
    measure("json-schema plugin", "json-schema", Some(report))?;
    Ok(())
}

/// CPU seconds of the broker and of this process (the load generator and its librdkafka
/// threads) since the start of a workload.
struct Busy {
    broker: f64,
    client: f64,
}

impl Busy {
    fn start(b: &Broker) -> Busy {
        Busy {
            broker: b.cpu_secs(),
            client: client_cpu_secs(),
        }
    }

    /// `[broker, client]` CPU seconds since `start`.
    fn stop(self, b: &Broker) -> [f64; 2] {
        [b.cpu_secs() - self.broker, client_cpu_secs() - self.client]
    }

    /// How busy the broker and the load generator were during a workload of `secs`: `key:cpu`
    /// and `key:client-cpu`, in cores. Near 1.0 names the bottleneck.
    fn record(report: &mut Report, n: &str, key: &str, label: &str, cores: [f64; 2], secs: f64) {
        let [cpu, client] = cores;
        report.add(n, &format!("{key}:cpu"), label, "cores", false, cpu / secs);
        let label = format!("{label}: load generator");
        report.add(
            n,
            &format!("{key}:client-cpu"),
            &label,
            "cores",
            false,
            client / secs,
        );
    }
}

fn client_cpu_secs() -> f64 {
    broker::cpu_secs(std::process::id())
}

/// A latency run that sent less than this fraction of its rate fell behind it.
const LATENCY_RATE_SHORT: f64 = 0.97;

/// A latency run whose median is above this (10x librdkafka's linger.ms of 5) fell behind.
const LATENCY_BEHIND_P50_MS: f64 = 50.0;

/// The fixed send buffer of the second cross-core loopback: Weir's default
/// `socket.send.buffer.bytes`.
const LOOPBACK_SEND_BUFFER: usize = 262_144;

/// Where a loopback ceiling's two ends run, and the sender's socket buffer.
#[derive(Clone, Copy)]
struct Loopback {
    /// The core the sending thread is pinned to (the broker's); `None`: it stays with the
    /// receiver on this process's core, the ceiling of one core doing both ends.
    sender_cpu: Option<usize>,
    /// SO_SNDBUF of the sending socket; `None`: the kernel's autotuning.
    send_buffer: Option<usize>,
}

/// Loopback TCP throughput: `bytes` written in 1 MiB writes and read in 1 MiB reads.
fn loopback_ceiling(bytes: u64, how: Loopback) -> anyhow::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        if let Some(cpu) = how.sender_cpu {
            let mut set = rustix::thread::CpuSet::new();
            set.set(cpu);
            rustix::thread::sched_setaffinity(None, &set)?;
        }
        let mut s = TcpStream::connect(addr)?;
        if let Some(n) = how.send_buffer {
            rustix::net::sockopt::set_socket_send_buffer_size(&s, n)?;
        }
        write_chunks(&mut s, bytes)?;
        Ok(())
    });
    let (mut s, _) = l.accept()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut t0 = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        // Timed from the first bytes: the sender's start (and its move to the other core)
        // is not throughput.
        t0.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("loopback sender panicked"))??;
    let secs = t0.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(if secs > 0.0 {
        total as f64 / MIB / secs
    } else {
        0.0
    })
}

/// Writes at least `bytes` to `f` in 1 MiB writes; returns the bytes written.
fn write_chunks(f: &mut impl Write, bytes: u64) -> std::io::Result<u64> {
    let chunk = vec![7u8; 1 << 20];
    let mut written = 0;
    while written < bytes {
        f.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    Ok(written)
}

/// Bytes written before the sustained page-cache write is timed, and the bytes timed.
const SUSTAINED_WARM_BYTES: u64 = 1 << 30;
const SUSTAINED_TIMED_BYTES: u64 = 2 << 30;

/// Sequential writes into the page cache: `timed` bytes after `warm` untimed ones, in MiB/s.
/// With `warm` a GiB, the ceiling a broker meets when it writes GiBs of new data, once the
/// memory freed moments before is used up. On a VM whose balloon reports free memory to the
/// host (virtio-balloon free page reporting, as on the machine of BENCHMARKS.md), a page touched
/// for the first time since it was reported costs a page fault in the host: `dd` into the page
/// cache ran at 330-566 MB/s there, and at 2.1 GB/s into memory a deleted file had just freed.
/// The 512 MiB written without a warm-up before each run mostly meet the second kind, the
/// workloads of a run (without `recycle.rs`) mostly the first.
fn page_cache_ceiling(warm: u64, timed: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut f = std::fs::File::create(dir.path().join("w"))?;
    write_chunks(&mut f, warm)?;
    let t0 = Instant::now();
    let written = write_chunks(&mut f, timed)?;
    Ok(written as f64 / MIB / t0.elapsed().as_secs_f64())
}

struct Machine {
    nproc: usize,
    cpu: String,
    ram_gib: f64,
    kernel: String,
    load: String,
    /// `net.ipv4.tcp_congestion_control`: both brokers' connections use it. With `bbr` and no
    /// `fq` qdisc (loopback has none) TCP paces in the kernel with a timer per burst, which is
    /// what the broker's core spends itself on in the slow consume rounds (BENCHMARKS.md).
    tcp_congestion: String,
    /// `rps_cpus` of loopback's receive queue: empty or 0 means no packet steering, so the core
    /// that transmits a segment also runs the receiver's side of TCP for it.
    loopback_rps_cpus: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        nproc: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        cpu: cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU".into(), |(_, v)| v.trim().to_string()),
        ram_gib: meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / (1 << 20) as f64),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        load: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string(),
        tcp_congestion: read_trimmed("/proc/sys/net/ipv4/tcp_congestion_control"),
        loopback_rps_cpus: read_trimmed("/sys/class/net/lo/queues/rx-0/rps_cpus"),
    }
}

/// A one-line system setting, or "unknown" where it cannot be read.
fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
