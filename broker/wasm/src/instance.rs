//! One sandboxed plugin instance: its store, memory cap and time budget.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::Plugin;
use crate::bindings::weir::plugin::{host, types};
use crate::engine::{EPOCH_TICK, Module};
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

impl types::Host for State {}

impl host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        // A plugin cannot flood the broker's log with one giant line.
        let message = match message.char_indices().nth(4096) {
            Some((at, _)) => &message[..at],
            None => &message,
        };
        (self.log)(level, message);
    }
}

/// A live plugin instance. Not shared: each caller takes one from a pool. After any error the
/// instance must be dropped (a trapped component cannot be entered again).
pub struct Instance {
    store: Store<State>,
    plugin: Plugin,
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
        let plugin = match self.inner.pre.instantiate(&mut store) {
            Ok(p) => p,
            Err(e) => return Err(classify(&store, &limits, e)),
        };
        store.set_epoch_deadline(ticks(limits.timeout));
        match plugin.call_init(&mut store, config) {
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
    /// Runs one batch through the plugin: exactly one outcome per record, in order.
    pub fn process(&mut self, records: &[KafkaRecord]) -> Result<Vec<Outcome>> {
        self.store.set_epoch_deadline(ticks(self.limits.timeout));
        let outcomes = match self.plugin.call_process(&mut self.store, records) {
            Ok(Ok(o)) => o,
            Ok(Err(msg)) => return Err(Error::Plugin(msg)),
            Err(e) => return Err(classify(&self.store, &self.limits, e)),
        };
        if outcomes.len() != records.len() {
            return Err(Error::Garbage(format!(
                "returned {} outcomes for {} records",
                outcomes.len(),
                records.len()
            )));
        }
        Ok(outcomes)
    }

    /// Linear memory the instance holds now, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.used
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
