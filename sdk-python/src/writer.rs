//! `Writer`: `weir_sdk::Writer` with keyword options.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use weir_sdk::{Error, Writer, WriterConfig};

use crate::convert::{self, delivery_out, message_in, millis};
use crate::{PyContext, call_context, run};

#[pyclass(module = "weir._weir", name = "Writer", frozen)]
pub(crate) struct PyWriter {
    inner: Mutex<Option<Writer>>,
}

impl PyWriter {
    fn writer(&self) -> weir_sdk::Result<Writer> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Closed)
    }
}

/// A writer dropped without `close` releases librdkafka's producer with the GIL released.
impl Drop for PyWriter {
    fn drop(&mut self) {
        crate::drop_detached(&mut self.inner);
    }
}

#[pymethods]
impl PyWriter {
    #[new]
    #[pyo3(signature = (brokers, topic=None, balancer="hash", required_acks="all",
        compression="none", batch_size=10_000, batch_bytes=1_048_576, batch_timeout_ms=5,
        idempotent=true, write_timeout_ms=30_000, client_id=None, admin_url=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        brokers: String,
        topic: Option<String>,
        balancer: &str,
        required_acks: &str,
        compression: &str,
        batch_size: usize,
        batch_bytes: usize,
        batch_timeout_ms: u64,
        idempotent: bool,
        write_timeout_ms: u64,
        client_id: Option<String>,
        admin_url: Option<String>,
        extra: Option<Vec<(String, String)>>,
    ) -> PyResult<Self> {
        let mut cfg = WriterConfig::new(brokers);
        cfg.topic = topic;
        cfg.balancer = convert::balancer(py, balancer)?;
        cfg.required_acks = convert::acks(py, required_acks)?;
        cfg.compression = convert::compression(py, compression)?;
        cfg.batch_size = batch_size;
        cfg.batch_bytes = batch_bytes;
        cfg.batch_timeout = millis(batch_timeout_ms);
        cfg.idempotent = idempotent;
        cfg.write_timeout = millis(write_timeout_ms);
        cfg.client_id = client_id;
        cfg.admin_url = admin_url;
        cfg.extra = extra.unwrap_or_default().into();
        let w = Writer::new(cfg).map_err(|e| crate::errors::to_py(py, e))?;
        Ok(PyWriter {
            inner: Mutex::new(Some(w)),
        })
    }

    /// Writes message tuples and waits for every acknowledgement; returns
    /// `(topic, partition, offset)` per message, in order.
    #[pyo3(signature = (msgs, timeout=None, ctx=None))]
    fn write_messages(
        &self,
        py: Python<'_>,
        msgs: Vec<Bound<'_, PyTuple>>,
        timeout: Option<f64>,
        ctx: Option<PyRef<'_, PyContext>>,
    ) -> PyResult<Vec<(String, i32, i64)>> {
        let msgs = msgs.iter().map(message_in).collect::<PyResult<Vec<_>>>()?;
        let ctx = call_context(ctx.as_deref(), timeout)?;
        let w = self.writer();
        let ds = run(py, async move { w?.write_messages(&ctx, msgs).await })?;
        Ok(ds.into_iter().map(delivery_out).collect())
    }

    /// Waits until everything queued is sent, up to `timeout` seconds.
    #[pyo3(signature = (timeout=30.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let t = convert::seconds(timeout)?;
        let w = self.writer();
        run(py, async move { w?.flush(t).await })
    }

    /// Flushes and releases the writer; later calls raise `ClosedError`. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let w = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        match w {
            Some(w) => run(py, w.close()),
            None => Ok(()),
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    #[getter]
    fn topic(&self) -> Option<String> {
        self.writer().ok().and_then(|w| w.config().topic.clone())
    }
}
