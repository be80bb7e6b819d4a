//! `Reader`: `weir_sdk::Reader` with keyword options. Calls share the reader through an `Arc`;
//! `close` cancels calls in flight, waits for them to let go, then closes the SDK reader.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use weir_sdk::{Context, Error, Message, Reader, ReaderConfig};

use crate::convert::{self, config_err, message_out, millis};
use crate::{PyContext, call_context, run};

#[pyclass(module = "weir._weir", name = "Reader", frozen)]
pub(crate) struct PyReader {
    inner: Mutex<Option<Arc<Reader>>>,
    /// Cancelled by `close`, so blocked reads return at once.
    closing: Context,
}

/// `(topic, partition, position, high_watermark, lag)`.
type LagTuple = (String, i32, i64, i64, i64);

impl PyReader {
    fn reader(&self) -> weir_sdk::Result<Arc<Reader>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Closed)
    }

    /// `read_message` (marks the offset) or `fetch_message`.
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        ctx: Option<PyRef<'_, PyContext>>,
        mark: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let ctx = call_context(ctx.as_deref(), timeout)?;
        let m = self.call(py, "read", move |r| async move {
            if mark {
                r.read_message(&ctx).await
            } else {
                r.fetch_message(&ctx).await
            }
        })?;
        message_out(py, m)
    }

    /// Runs an operation on the reader; a call cut short by `close` raises `ClosedError`.
    fn call<T, F>(
        &self,
        py: Python<'_>,
        what: &'static str,
        op: impl FnOnce(Arc<Reader>) -> F + Send,
    ) -> PyResult<T>
    where
        T: Send,
        F: Future<Output = weir_sdk::Result<T>> + Send,
    {
        let r = self.reader();
        let closing = self.closing.clone();
        run(py, async move {
            let r = r?;
            match closing.run(what, op(r)).await {
                Err(Error::Cancelled) if closing.is_cancelled() => Err(Error::Closed),
                other => other,
            }
        })
    }
}

/// A reader dropped without `close` (garbage collected) leaves its group with the GIL released:
/// librdkafka's consumer close waits on the network.
impl Drop for PyReader {
    fn drop(&mut self) {
        crate::drop_detached(&mut self.inner);
    }
}

#[pymethods]
impl PyReader {
    #[new]
    #[pyo3(signature = (brokers, topics, group_id=None, partition=None, start_offset="earliest",
        commit_interval_ms=1000, max_wait_ms=500, min_bytes=1, max_bytes=1_048_576,
        session_timeout_ms=45_000, read_committed=true, client_id=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        brokers: String,
        topics: Vec<String>,
        group_id: Option<String>,
        partition: Option<i32>,
        start_offset: &str,
        commit_interval_ms: u64,
        max_wait_ms: u64,
        min_bytes: usize,
        max_bytes: usize,
        session_timeout_ms: u64,
        read_committed: bool,
        client_id: Option<String>,
        extra: Option<Vec<(String, String)>>,
    ) -> PyResult<Self> {
        if group_id.is_some() && partition.is_some() {
            return Err(config_err(
                py,
                "partition is for readers without a group_id; a group assigns partitions".into(),
            ));
        }
        let mut cfg = ReaderConfig::new(brokers, String::new());
        cfg.topics = topics;
        cfg.group_id = group_id;
        cfg.partition = partition;
        cfg.start_offset = convert::start_offset(py, start_offset)?;
        cfg.commit_interval = millis(commit_interval_ms);
        cfg.max_wait = millis(max_wait_ms);
        cfg.min_bytes = min_bytes;
        cfg.max_bytes = max_bytes;
        cfg.session_timeout = millis(session_timeout_ms);
        cfg.read_committed = read_committed;
        cfg.client_id = client_id;
        cfg.extra = extra.unwrap_or_default().into();
        let reader = run(py, Reader::new(cfg))?;
        Ok(PyReader {
            inner: Mutex::new(Some(Arc::new(reader))),
            closing: Context::background(),
        })
    }

    /// The next message as a tuple; in a group its offset is committed within
    /// `commit_interval_ms`.
    #[pyo3(signature = (timeout=None, ctx=None))]
    fn read_message<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        ctx: Option<PyRef<'_, PyContext>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.next(py, timeout, ctx, true)
    }

    /// The next message as a tuple, not marked consumed (see `commit_messages`).
    #[pyo3(signature = (timeout=None, ctx=None))]
    fn fetch_message<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        ctx: Option<PyRef<'_, PyContext>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.next(py, timeout, ctx, false)
    }

    /// Commits the offset after each `(topic, partition, offset)`'s highest offset.
    fn commit_messages(&self, py: Python<'_>, msgs: Vec<(String, i32, i64)>) -> PyResult<()> {
        let msgs: Vec<Message> = msgs
            .into_iter()
            .map(|(topic, partition, offset)| Message {
                topic,
                partition: Some(partition),
                offset,
                ..Default::default()
            })
            .collect();
        self.call(py, "commit_messages", move |r| async move {
            r.commit_messages(&msgs).await
        })
    }

    fn seek(&self, py: Python<'_>, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        self.call(py, "seek", move |r| async move {
            r.seek(&topic, partition, offset).await
        })
    }

    fn set_offset(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        self.call(py, "set_offset", move |r| async move {
            r.set_offset(offset).await
        })
    }

    fn assignment(&self, py: Python<'_>) -> PyResult<Vec<(String, i32)>> {
        let r = self.reader().map_err(|e| crate::errors::to_py(py, e))?;
        Ok(r.assignment())
    }

    fn lag(&self, py: Python<'_>) -> PyResult<Vec<LagTuple>> {
        let lags = self.call(py, "lag", move |r| async move { r.lag().await })?;
        Ok(lags
            .into_iter()
            .map(|l| (l.topic, l.partition, l.position, l.high_watermark, l.lag))
            .collect())
    }

    fn pause(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        let r = self.reader().map_err(|e| crate::errors::to_py(py, e))?;
        r.pause(&partitions)
            .map_err(|e| crate::errors::to_py(py, e))
    }

    fn resume(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        let r = self.reader().map_err(|e| crate::errors::to_py(py, e))?;
        r.resume(&partitions)
            .map_err(|e| crate::errors::to_py(py, e))
    }

    /// Commits what `read_message` marked and leaves the group. Calls in flight raise
    /// `ClosedError`. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(mut shared) = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        self.closing.cancel();
        let deadline = Instant::now() + Duration::from_secs(30);
        let reader = loop {
            match Arc::try_unwrap(shared) {
                Ok(r) => break r,
                Err(again) if Instant::now() < deadline => {
                    shared = again;
                    py.detach(|| std::thread::sleep(Duration::from_millis(5)));
                }
                Err(_) => {
                    return Err(crate::errors::to_py(
                        py,
                        Error::Timeout("close: a call on this reader did not return".into()),
                    ));
                }
            }
        };
        run(py, reader.close())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    #[getter]
    fn group_id(&self) -> Option<String> {
        self.reader().ok().and_then(|r| r.config().group_id.clone())
    }

    #[getter]
    fn topics(&self) -> Vec<String> {
        self.reader()
            .map(|r| r.config().topics.clone())
            .unwrap_or_default()
    }

    #[getter]
    fn partition(&self) -> Option<i32> {
        self.reader().ok().and_then(|r| r.config().partition)
    }
}
