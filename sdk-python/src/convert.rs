//! Plain values across the boundary: messages as tuples, durations, option strings.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use weir_sdk::{Acks, Balancer, Compression, Delivery, Error, Header, Message, StartOffset};

/// A message from Python: `(topic, partition, key, value, headers, timestamp_ms)` where key and
/// value are `bytes | None` and headers a list of `(str, bytes | None)`.
pub(crate) fn message_in(t: &Bound<'_, PyTuple>) -> PyResult<Message> {
    let (topic, partition, key, value, headers, timestamp_ms): MessageTuple = t.extract()?;
    Ok(Message {
        topic: topic.unwrap_or_default(),
        partition,
        offset: -1,
        key: key.map(|b| b.as_bytes().to_vec()),
        value: value.map(|b| b.as_bytes().to_vec()),
        headers: headers
            .into_iter()
            .map(|(key, v)| Header {
                key,
                value: v.map(|b| b.as_bytes().to_vec()),
            })
            .collect(),
        timestamp_ms,
    })
}

type MessageTuple<'py> = (
    Option<String>,
    Option<i32>,
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Vec<(String, Option<Bound<'py, PyBytes>>)>,
    Option<i64>,
);

/// A message to Python: `(topic, partition, offset, key, value, headers, timestamp_ms)`.
pub(crate) fn message_out<'py>(py: Python<'py>, m: Message) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = |b: Option<Vec<u8>>| b.map(|b| PyBytes::new(py, &b));
    let headers: Vec<_> = m
        .headers
        .into_iter()
        .map(|h| (h.key, bytes(h.value)))
        .collect();
    (
        m.topic,
        m.partition.unwrap_or(-1),
        m.offset,
        bytes(m.key),
        bytes(m.value),
        headers,
        m.timestamp_ms,
    )
        .into_pyobject(py)
}

pub(crate) fn delivery_out(d: Delivery) -> (String, i32, i64) {
    (d.topic, d.partition, d.offset)
}

/// Seconds (a Python float) to a duration; negative or NaN is a configuration error.
pub(crate) fn seconds(s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        Python::attach(|py| {
            crate::errors::to_py(
                py,
                Error::Config(format!(
                    "timeout must be a non-negative number of seconds, got {s}"
                )),
            )
        })
    })
}

pub(crate) fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(crate) fn config_err(py: Python<'_>, msg: String) -> PyErr {
    crate::errors::to_py(py, Error::Config(msg))
}

pub(crate) fn balancer(py: Python<'_>, s: &str) -> PyResult<Balancer> {
    match s {
        "hash" => Ok(Balancer::Hash),
        "round_robin" => Ok(Balancer::RoundRobin),
        _ => Err(config_err(
            py,
            format!("balancer must be \"hash\" or \"round_robin\", got {s:?}"),
        )),
    }
}

pub(crate) fn acks(py: Python<'_>, s: &str) -> PyResult<Acks> {
    match s {
        "all" => Ok(Acks::All),
        "leader" => Ok(Acks::Leader),
        "none" => Ok(Acks::None),
        _ => Err(config_err(
            py,
            format!("required_acks must be \"all\", \"leader\" or \"none\", got {s:?}"),
        )),
    }
}

pub(crate) fn compression(py: Python<'_>, s: &str) -> PyResult<Compression> {
    match s {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err(config_err(
            py,
            format!("compression must be one of none, gzip, snappy, lz4, zstd; got {s:?}"),
        )),
    }
}

pub(crate) fn start_offset(py: Python<'_>, s: &str) -> PyResult<StartOffset> {
    match s {
        "earliest" => Ok(StartOffset::Earliest),
        "latest" => Ok(StartOffset::Latest),
        _ => Err(config_err(
            py,
            format!("start_offset must be \"earliest\" or \"latest\", got {s:?}"),
        )),
    }
}

/// A serde value as JSON text, parsed into dicts and lists by the Python layer.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("encoding a result: {e}")))
}
