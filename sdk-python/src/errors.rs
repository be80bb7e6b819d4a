//! `weir_sdk::Error` → instances of the exception classes in `weir/errors.py`, each built as
//! `Class(message, code=…, retriable=…, **fields)`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use weir_sdk::Error;

/// The Python exception for `e`.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match build(py, &e) {
        Ok(err) => err,
        Err(import_failed) => {
            PyRuntimeError::new_err(format!("{e} (and weir.errors failed: {import_failed})"))
        }
    }
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let kw = PyDict::new(py);
    kw.set_item(
        "code",
        e.kafka_code().map(|c| screaming_snake(&format!("{c:?}"))),
    )?;
    kw.set_item("retriable", e.is_retriable())?;
    let class = match e {
        Error::Config(_) => "ConfigError",
        Error::UnknownTopic(t) => {
            kw.set_item("topic", t)?;
            "UnknownTopicError"
        }
        Error::UnknownPartition { topic, partition } => {
            kw.set_item("topic", topic)?;
            kw.set_item("partition", partition)?;
            "UnknownPartitionError"
        }
        Error::NotAuthorized(_) => "NotAuthorizedError",
        Error::Rejected { topic, reason } => {
            kw.set_item("topic", topic)?;
            kw.set_item("reason", reason)?;
            "RejectedError"
        }
        Error::RecordTooLarge(t) => {
            kw.set_item("topic", t)?;
            "RecordTooLargeError"
        }
        Error::Unreachable(_) => "UnreachableError",
        Error::Timeout(_) => "TimeoutError",
        Error::Cancelled => "CancelledError",
        Error::GroupNotEmpty(g) => {
            kw.set_item("group", g)?;
            "GroupNotEmptyError"
        }
        Error::Write { total, failed } => {
            let items = failed
                .iter()
                .map(|(i, e)| Ok((*i, build(py, e)?.into_value(py))))
                .collect::<PyResult<Vec<_>>>()?;
            kw.set_item("total", total)?;
            kw.set_item("failed", items)?;
            "WriteError"
        }
        Error::Payload(_) => "PayloadError",
        Error::Api { status, message } => {
            kw.set_item("status", status)?;
            kw.set_item("detail", message)?;
            "ApiError"
        }
        Error::Closed => "ClosedError",
        Error::Kafka { .. } => "WeirError",
    };
    let cls = py.import("weir.errors")?.getattr(class)?;
    let exc = cls.call((e.to_string(),), Some(&kw))?;
    Ok(PyErr::from_value(exc))
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`, Kafka's spelling of error names.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
