//! Asynchronous pipelines: a task per input partition reads the input log, runs the pipeline's
//! plugins, writes the results to the output topic (and routed and dead-lettered records where
//! the plugins send them), then commits its position. A restart resumes from the committed
//! position, so every input record is processed at least once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use weir_metadata::{PipelineMeta, StartPosition};

use super::chain::Policy;
use super::dlq::Appended;
use super::records::decode_log_chunk;
use super::{FailurePolicy, Step, dlq_topic_for};
use crate::broker::Broker;
use crate::coordinator_client;
use crate::partition::Partition;

/// The consumer group holding a pipeline's positions: `__weir-pipeline-<name>`.
pub(crate) fn group_of(pipeline: &str) -> String {
    format!("__weir-pipeline-{pipeline}")
}

/// Records read per step.
const READ_BYTES: usize = 1 << 20;
/// How long a step waits for its output to be replicated before it retries.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Task {
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<PartitionStatus>>,
    processed: Arc<AtomicU64>,
}

/// How one input partition of a pipeline is doing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The next input offset to process (committed).
    pub position: i64,
    pub lag: i64,
    /// Input records processed since this broker started the partition's task: a pause, a
    /// restart or a leadership move starts a new task, and the count from 0 (the position is
    /// what persists).
    pub processed: u64,
    /// `running`, `paused` or `retrying`.
    pub state: &'static str,
    pub last_error: Option<String>,
}

/// The pipelines this broker runs.
#[derive(Default)]
pub(crate) struct Pipelines {
    tasks: Mutex<HashMap<(String, i32), Task>>,
}

impl Pipelines {
    /// Starts tasks for running pipelines' partitions and stops those of paused or deleted ones.
    /// A pipeline partition runs where its input partition's leader is, and moves with it.
    pub(crate) fn reconcile(&self, broker: &Arc<Broker>) {
        let me = broker.config.node_id;
        let wanted: BTreeMap<(String, i32), PipelineMeta> = broker.metadata.read(|s| {
            s.pipelines
                .values()
                .filter(|p| !p.paused)
                .flat_map(|p| {
                    let led: Vec<i32> = s.topic(&p.input).map_or_else(Vec::new, |t| {
                        t.partitions
                            .iter()
                            .filter(|a| a.leader == me)
                            .map(|a| a.partition)
                            .collect()
                    });
                    led.into_iter()
                        .map(move |i| ((p.name.clone(), i), p.clone()))
                })
                .collect()
        });
        let mut tasks = self.tasks.lock();
        tasks.retain(|key, task| {
            let keep = wanted.contains_key(key);
            if !keep {
                task.stop.store(true, Ordering::Relaxed);
            }
            keep
        });
        for (key, meta) in wanted {
            if tasks.contains_key(&key) || broker.partition(&meta.input, key.1).is_none() {
                continue;
            }
            let task = Task::default();
            task.status.lock().partition = key.1;
            let (stop, status, processed) = (
                task.stop.clone(),
                task.status.clone(),
                task.processed.clone(),
            );
            let b = broker.clone();
            let partition = key.1;
            tokio::spawn(async move {
                run_partition(b, meta, partition, stop, status, processed).await;
            });
            tasks.insert(key, task);
        }
    }

    /// Per-partition status of `pipeline` (empty when paused).
    pub(crate) fn status(&self, broker: &Broker, pipeline: &str) -> Vec<PartitionStatus> {
        let tasks = self.tasks.lock();
        let mut v: Vec<PartitionStatus> = tasks
            .iter()
            .filter(|((name, _), _)| name == pipeline)
            .map(|(_, t)| {
                let mut s = t.status.lock().clone();
                s.processed = t.processed.load(Ordering::Relaxed);
                s
            })
            .collect();
        drop(tasks);
        // Paused pipelines have no tasks: report their committed positions.
        if v.is_empty() {
            let group = group_of(pipeline);
            v = broker
                .groups
                .fetch_offsets(&group, None)
                .into_iter()
                .filter_map(|((_, p), c)| {
                    c.map(|c| PartitionStatus {
                        partition: p,
                        position: c.offset,
                        state: "paused",
                        ..PartitionStatus::default()
                    })
                })
                .collect();
        }
        let input = broker
            .metadata
            .read(|st| st.pipelines.get(pipeline).map(|p| p.input.clone()));
        for s in &mut v {
            if let Some(part) = input
                .as_ref()
                .and_then(|t| broker.partition(t, s.partition))
            {
                s.lag = (part.log.high_watermark() - s.position).max(0);
            }
        }
        v.sort_by_key(|s| s.partition);
        v
    }

    /// Stops the tasks of one pipeline (paused or deleted).
    pub(crate) fn stop(&self, pipeline: &str) {
        self.tasks.lock().retain(|(name, _), task| {
            if name == pipeline {
                task.stop.store(true, Ordering::Relaxed);
                false
            } else {
                true
            }
        });
    }

    pub(crate) fn stop_all(&self) {
        for t in self.tasks.lock().values() {
            t.stop.store(true, Ordering::Relaxed);
        }
    }
}

async fn run_partition(
    broker: Arc<Broker>,
    meta: PipelineMeta,
    partition: i32,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<PartitionStatus>>,
    processed: Arc<AtomicU64>,
) {
    let group = group_of(&meta.name);
    let mut appended = broker.subscribe_appends();
    let mut shutdown = broker.shutdown_signal();
    let mut backoff = Duration::from_millis(200);
    // The committed position as of the last step; asked of the coordinator again after errors.
    let mut known = None;
    tracing::info!(pipeline = %meta.name, input = %meta.input, partition, "pipeline task started");
    while !stop.load(Ordering::Relaxed) && !*shutdown.borrow() {
        match step(&broker, &meta, &group, partition, &status, &mut known).await {
            Ok(0) => {
                backoff = Duration::from_millis(200);
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown.wait_for(|s| *s) => {}
                }
            }
            Ok(n) => {
                backoff = Duration::from_millis(200);
                processed.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                known = None;
                {
                    let mut s = status.lock();
                    s.state = "retrying";
                    s.last_error = Some(e.clone());
                }
                tracing::warn!(pipeline = %meta.name, partition, error = %e, "pipeline step failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    tracing::info!(pipeline = %meta.name, partition, "pipeline task stopped");
}

/// Processes one chunk of the input. Returns the number of input records processed (0 when
/// there was nothing new). The position is read from and committed to the group coordinator,
/// wherever it is; the chunk itself is processed on a blocking thread.
async fn step(
    broker: &Arc<Broker>,
    meta: &PipelineMeta,
    group: &str,
    partition: i32,
    status: &Mutex<PartitionStatus>,
    known: &mut Option<i64>,
) -> Result<u64, String> {
    let input = broker
        .partition(&meta.input, partition)
        .ok_or_else(|| format!("input topic '{}' has no partition {partition}", meta.input))?;
    // Nothing new past the position: no need to ask the coordinator.
    if known.is_some_and(|p| p >= input.log.high_watermark()) {
        return Ok(0);
    }
    let position =
        match coordinator_client::committed(broker, group, &meta.input, partition).await? {
            Some(p) => p,
            None => {
                let (part, start) = (input.clone(), meta.start);
                let start = blocking(move || start_offset(&part, start)).await?;
                // Remember the start so that a restart does not move it.
                coordinator_client::commit(broker, group, &meta.input, partition, start).await?;
                start
            }
        };
    let position = position.max(input.log.log_start_offset());
    *known = Some(position);
    {
        let mut s = status.lock();
        s.position = position;
        s.state = "running";
    }
    if position >= input.log.high_watermark() {
        return Ok(0);
    }
    let (b, m) = (broker.clone(), meta.clone());
    let Processed {
        next,
        records: n,
        written,
    } = blocking(move || process(&b, &m, &input, position)).await?;
    crate::forward::deliver(broker, written, REPLICATION_TIMEOUT).await?;
    coordinator_client::commit(broker, group, &meta.input, partition, next).await?;
    *known = Some(next);
    let mut s = status.lock();
    s.position = next;
    s.last_error = None;
    Ok(n)
}

/// Runs `f` on a blocking thread; a panic is an error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("pipeline step panicked: {e}"))?
}

/// Where a pipeline without a committed position starts. Blocking.
fn start_offset(input: &Partition, start: StartPosition) -> Result<i64, String> {
    Ok(match start {
        StartPosition::Earliest => input.log.log_start_offset(),
        StartPosition::Latest => input.log.high_watermark(),
        StartPosition::Offset(o) => {
            o.clamp(input.log.log_start_offset(), input.log.high_watermark())
        }
        StartPosition::Timestamp(ts) => input
            .log
            .offset_for_timestamp(ts)
            .map_err(|e| e.to_string())?
            .map_or(input.log.high_watermark(), |(o, _)| o),
    })
}

/// Processes the input from `position` (one chunk, below the high watermark): runs the
/// plugins and writes the results. Control records (transaction markers) are skipped.
/// Blocking.
fn process(
    broker: &Broker,
    meta: &PipelineMeta,
    input: &Partition,
    position: i64,
) -> Result<Processed, String> {
    let partition = input.index;
    let hwm = input.log.high_watermark();
    let chunk = input
        .log
        .read(position, READ_BYTES, true)
        .map_err(|e| e.to_string())?;
    let records: Vec<_> = decode_log_chunk(chunk.records, &meta.input, partition)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.offset >= position && r.offset < hwm)
        .collect();
    let Some(last) = records.last().map(|r| r.offset) else {
        // Only control records (transaction markers) in range: skip them.
        return Ok(Processed {
            next: position + 1,
            records: 0,
            written: Vec::new(),
        });
    };
    let n = records.len() as u64;
    let (steps, dlq_topic) = broker.metadata.read(|s| {
        let steps: Vec<Step> = meta
            .plugins
            .iter()
            .filter_map(|p| s.plugins.get(p))
            .map(|p| Step::resolve(p, s.topic(&meta.input)))
            .collect();
        let dlq = s
            .topic(&meta.input)
            .map_or_else(|| format!("{}.dlq", meta.input), dlq_topic_for);
        (steps, dlq)
    });
    let policy = Policy {
        reject_to_dlq: true,
        // A failing plugin stops the pipeline (it retries) rather than losing or skipping records.
        failure: FailurePolicy::Fail,
    };
    let mut out = broker
        .plugins
        .run_chain(&meta.input, &steps, policy, records);
    if let Some((_, msg)) = out.rejected.first() {
        return Err(msg.clone());
    }
    let mut written = broker
        .write_side_outputs(&mut out, &dlq_topic)
        .map_err(|e| e.to_string())?;
    if let Some(output) = &meta.output {
        let kept = std::mem::take(&mut out.kept);
        written.extend(
            broker
                .append_records(output, kept, true)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Processed {
        next: last + 1,
        records: n,
        written,
    })
}

/// What [`process`] did with one chunk.
struct Processed {
    /// The input position after the chunk.
    next: i64,
    /// Input records processed (0 for a chunk of control records only).
    records: u64,
    /// The output, routed records and dead letters written.
    written: Vec<Appended>,
}
