//! One sandboxed plugin instance: its store, memory cap and time budget.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{ComponentType, Func, Lower, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::batch;
use crate::bindings::{v1, v2};
use crate::engine::{EPOCH_TICK, Module, Pre};
use crate::{Error, KafkaRecord, Level, Outcome, Result};

/// Where a plugin's `log` calls go.
pub type LogSink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// The resources one instance may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Total linear memory, across the component's memories.
    pub memory_bytes: usize,
    /// Wall-clock budget for one call (`init` or one `process` batch).
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            timeout: Duration::from_millis(1000),
        }
    }
}

pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    log: LogSink,
}

struct MemoryCap {
    max: usize,
    used: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.max {
            self.exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded",
                self.max
            )));
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn log(&self, level: Level, message: &str) {
        // A plugin cannot flood the broker's log with one giant line.
        let message = match message.char_indices().nth(4096) {
            Some((at, _)) => &message[..at],
            None => message,
        };
        (self.log)(level, message);
    }
}

impl v1::weir::plugin::types::Host for State {}

impl v1::weir::plugin::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        State::log(self, level, &message);
    }
}

impl v2::weir::plugin::types::Host for State {}

impl v2::weir::plugin::host::Host for State {
    fn log(&mut self, level: v2::weir::plugin::types::Level, message: String) {
        State::log(self, batch::level(level), &message);
    }
}

/// What a plugin decided for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcomes {
    /// Every record passes on unchanged.
    KeepAll,
    /// One outcome per record, in order.
    Each(Vec<Outcome>),
}

/// A batch as ABI 0.2.0 passes it: the records region of a Kafka record batch (uncompressed),
/// handed to the plugin as it is, with nothing decoded or copied per record on the host.
///
/// This is the WIT `record-batch` itself, borrowed: it is lowered into the guest's memory
/// straight from the caller's buffers (the generated binding owns its bytes, which would cost one
/// more copy of every batch).
#[derive(Debug, Clone, Copy, ComponentType, Lower)]
#[component(record)]
pub struct RawBatch<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// -1 on the produce path.
    #[component(name = "base-offset")]
    pub base_offset: i64,
    #[component(name = "base-timestamp")]
    pub base_timestamp: i64,
    pub count: u32,
    /// `count` records in Kafka's record format, back to back, nothing after the last.
    pub records: &'a [u8],
}

/// The instance's exports, by ABI version.
enum Bound {
    V1(v1::Plugin),
    V2 {
        plugin: v2::Plugin,
        /// The `process-batch` export, called with a borrowed [`RawBatch`].
        process_batch: Func,
        /// Reused from batch to batch by `process`: the records' encoding, and scratch for one
        /// record.
        records: Vec<u8>,
        body: Vec<u8>,
    },
}

/// A live plugin instance. Not shared: each caller takes one from a pool. After any error the
/// instance must be dropped (a trapped component cannot be entered again).
pub struct Instance {
    store: Store<State>,
    plugin: Bound,
    limits: Limits,
}

fn ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() as u64)
        .div_ceil(EPOCH_TICK.as_millis() as u64)
        .max(1)
}

impl Module {
    /// Instantiates the plugin and calls its `init` with `config`.
    pub fn instantiate(
        &self,
        config: &[(String, String)],
        limits: Limits,
        log: LogSink,
    ) -> Result<Instance> {
        let engine = self.inner.runtime.engine();
        let wasi = WasiCtxBuilder::new().inherit_stderr().build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                max: limits.memory_bytes,
                used: 0,
                exceeded: false,
            },
            log,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(limits.timeout));
        let plugin = match &self.inner.pre {
            Pre::V1(pre) => pre.instantiate(&mut store).map(Bound::V1),
            Pre::V2(pre) => bind_v2(pre, &mut store),
        };
        let plugin = match plugin {
            Ok(p) => p,
            Err(e) => return Err(classify(&store, &limits, e)),
        };
        store.set_epoch_deadline(ticks(limits.timeout));
        let init = match &plugin {
            Bound::V1(p) => p.call_init(&mut store, config),
            Bound::V2 { plugin, .. } => plugin.call_init(&mut store, config),
        };
        match init {
            Ok(Ok(())) => Ok(Instance {
                store,
                plugin,
                limits,
            }),
            Ok(Err(msg)) => Err(Error::Config(msg)),
            Err(e) => Err(classify(&store, &limits, e)),
        }
    }
}

impl Instance {
    /// Runs one batch of one topic partition through the plugin: `KeepAll`, or exactly one
    /// outcome per record, in order.
    pub fn process(&mut self, records: &[KafkaRecord]) -> Result<Outcomes> {
        self.store.set_epoch_deadline(ticks(self.limits.timeout));
        let called = match &mut self.plugin {
            Bound::V1(p) => p
                .call_process(&mut self.store, records)
                .map(|r| r.map(Outcomes::Each)),
            Bound::V2 {
                process_batch,
                records: buf,
                body,
                ..
            } => {
                let raw = batch::fill(buf, body, records);
                call_batch(*process_batch, &mut self.store, &raw)
            }
        };
        checked(&self.store, &self.limits, called, records.len())
    }

    /// Runs a raw batch through a 0.2.0 plugin (see [`Module::abi_version`]); a 0.1.0 plugin
    /// cannot take one.
    pub fn process_raw(&mut self, raw: &RawBatch<'_>) -> Result<Outcomes> {
        let Bound::V2 { process_batch, .. } = &self.plugin else {
            return Err(Error::Invalid(
                "an ABI 0.1.0 plugin takes records, not a raw batch".into(),
            ));
        };
        self.store.set_epoch_deadline(ticks(self.limits.timeout));
        let called = call_batch(*process_batch, &mut self.store, raw);
        checked(&self.store, &self.limits, called, raw.count as usize)
    }

    /// Linear memory the instance holds now, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.used
    }
}

/// Instantiates a 0.2.0 plugin and finds its `process-batch` export.
fn bind_v2(pre: &v2::PluginPre<State>, store: &mut Store<State>) -> wasmtime::Result<Bound> {
    let instance = pre.instance_pre().instantiate(&mut *store)?;
    let plugin = v2::Plugin::new(&mut *store, &instance)?;
    let process_batch = instance
        .get_func(&mut *store, "process-batch")
        .ok_or_else(|| wasmtime::format_err!("the component exports no `process-batch`"))?;
    Ok(Bound::V2 {
        plugin,
        process_batch,
        records: Vec::new(),
        body: Vec::new(),
    })
}

/// A 0.2.0 plugin's `process-batch` on `raw`, its answer in the host's terms.
fn call_batch(
    process_batch: Func,
    store: &mut Store<State>,
    raw: &RawBatch<'_>,
) -> wasmtime::Result<std::result::Result<Outcomes, String>> {
    use v2::weir::plugin::types::BatchOutcome;
    // Checked on every call: the parameter borrows, so the typed handle cannot be kept.
    let typed = process_batch
        .typed::<(&RawBatch<'_>,), (std::result::Result<BatchOutcome, String>,)>(&*store)?;
    let (answer,) = typed.call(&mut *store, (raw,))?;
    Ok(answer.map(|o| match o {
        BatchOutcome::KeepAll => Outcomes::KeepAll,
        BatchOutcome::Each(each) => Outcomes::Each(each.into_iter().map(batch::outcome).collect()),
    }))
}

/// A plugin call's result as the host takes it: errors classified, and a per-record answer
/// refused unless it has one outcome for each of the `count` records.
fn checked(
    store: &Store<State>,
    limits: &Limits,
    called: wasmtime::Result<std::result::Result<Outcomes, String>>,
    count: usize,
) -> Result<Outcomes> {
    match called {
        Ok(Ok(Outcomes::Each(o))) if o.len() != count => Err(Error::Garbage(format!(
            "returned {} outcomes for {count} records",
            o.len()
        ))),
        Ok(Ok(outcomes)) => Ok(outcomes),
        Ok(Err(msg)) => Err(Error::Plugin(msg)),
        Err(e) => Err(classify(store, limits, e)),
    }
}

fn classify(store: &Store<State>, limits: &Limits, e: wasmtime::Error) -> Error {
    if store.data().memory.exceeded {
        return Error::Memory(limits.memory_bytes);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Error::Timeout(limits.timeout.as_millis() as u64),
        Some(trap) => Error::Trap(trap.to_string()),
        None => {
            let msg = format!("{e:#}");
            Error::Trap(msg.lines().next().unwrap_or("unknown error").to_string())
        }
    }
}
