//! `weir._weir`: the native half of Weir's Python SDK, a thin pyo3 layer over `weir-sdk`.
//!
//! # Layout
//! - `lib.rs`: the module, the shared tokio runtime and [`run`], which releases the GIL and
//!   blocks on an SDK future (polling for Ctrl-C on the main thread).
//! - `errors.rs`: `weir_sdk::Error` → the exception classes of `weir/errors.py`.
//! - `convert.rs`: messages in and out as plain tuples, options parsing.
//! - `writer.rs`, `reader.rs`, `admin.rs`: one class per SDK type.
//!
//! The idiomatic API (`Message`, keyword options, iteration, context managers, asyncio) is in
//! the Python package `weir`; this module only moves bytes and tuples across.

use std::future::Future;
use std::sync::OnceLock;
use std::thread::ThreadId;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

mod admin;
mod convert;
mod errors;
mod reader;
mod writer;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
static MAIN_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// The runtime every SDK call runs on, started on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-sdk")
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `fut` to completion with the GIL released. On the main thread, pending signals are
/// checked every 100 ms so Ctrl-C interrupts a blocked call (the future is dropped).
fn run<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    T: Send,
    F: Future<Output = weir_sdk::Result<T>> + Send,
{
    let rt = runtime()?;
    let on_main = MAIN_THREAD.get() == Some(&std::thread::current().id());
    let r: PyResult<weir_sdk::Result<T>> = py.detach(|| {
        rt.block_on(async {
            if !on_main {
                return Ok(fut.await);
            }
            let mut fut = std::pin::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => return Ok(r),
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    });
    r?.map_err(|e| errors::to_py(py, e))
}

/// Go-style cancellation and deadline (`weir_sdk::Context`): pass one to a call and
/// `cancel()` it from another thread to make the call raise `CancelledError`.
#[pyclass(module = "weir._weir", name = "Context", frozen)]
struct PyContext {
    inner: weir_sdk::Context,
}

#[pymethods]
impl PyContext {
    #[new]
    #[pyo3(signature = (timeout=None))]
    fn new(timeout: Option<f64>) -> PyResult<Self> {
        let inner = weir_sdk::Context::background();
        Ok(PyContext {
            inner: match timeout {
                Some(t) => inner.with_timeout(convert::seconds(t)?),
                None => inner,
            },
        })
    }

    /// Cancels this context and every call waiting on it.
    fn cancel(&self) {
        self.inner.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Seconds left before the deadline, or None.
    #[getter]
    fn remaining(&self) -> Option<f64> {
        self.inner.remaining().map(|d| d.as_secs_f64())
    }
}

/// Drops what `slot` holds with the GIL released: closing a librdkafka client (a reader or a
/// writer garbage-collected without `close`) waits on the network.
fn drop_detached<T: Send>(slot: &mut std::sync::Mutex<Option<T>>) {
    let held = slot.get_mut().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(held) = held {
        Python::attach(|py| py.detach(move || drop(held)));
    }
}

/// The context of one call: `ctx` (or background), narrowed by `timeout` seconds.
fn call_context(ctx: Option<&PyContext>, timeout: Option<f64>) -> PyResult<weir_sdk::Context> {
    let base = ctx.map_or_else(weir_sdk::Context::background, |c| c.inner.clone());
    Ok(match timeout {
        Some(t) => base.with_timeout(convert::seconds(t)?),
        None => base,
    })
}

#[pymodule]
fn _weir(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = MAIN_THREAD.set(std::thread::current().id());
    m.add_class::<PyContext>()?;
    m.add_class::<writer::PyWriter>()?;
    m.add_class::<reader::PyReader>()?;
    m.add_class::<admin::PyAdmin>()?;
    m.add("FIRST_OFFSET", weir_sdk::FIRST_OFFSET)?;
    m.add("LAST_OFFSET", weir_sdk::LAST_OFFSET)?;
    m.add("DEFAULT_ADMIN_PORT", weir_sdk::DEFAULT_ADMIN_PORT)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
