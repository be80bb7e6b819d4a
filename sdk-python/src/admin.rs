//! `Admin`: `weir_sdk::Admin`. Structured results go to Python as JSON text (the SDK's serde
//! shapes), which `weir/admin.py` turns into dataclasses.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use weir_sdk::{Admin, AdminConfig, OffsetReset, PluginOptions, TopicSpec};

use crate::convert::{config_err, json, millis};
use crate::{errors, run};

#[pyclass(module = "weir._weir", name = "Admin", frozen)]
pub(crate) struct PyAdmin {
    inner: Admin,
}

#[pymethods]
impl PyAdmin {
    #[new]
    #[pyo3(signature = (brokers, admin_url=None, timeout_ms=30_000, client_id=None, extra=None))]
    fn new(
        py: Python<'_>,
        brokers: String,
        admin_url: Option<String>,
        timeout_ms: u64,
        client_id: Option<String>,
        extra: Option<Vec<(String, String)>>,
    ) -> PyResult<Self> {
        let mut cfg = AdminConfig::new(brokers);
        cfg.admin_url = admin_url;
        cfg.timeout = millis(timeout_ms);
        cfg.client_id = client_id;
        cfg.extra = extra.unwrap_or_default().into();
        let inner = Admin::new(cfg).map_err(|e| errors::to_py(py, e))?;
        Ok(PyAdmin { inner })
    }

    #[getter]
    fn admin_url(&self) -> String {
        self.inner.admin_url().to_string()
    }

    // ---- topics ----

    #[pyo3(signature = (name, partitions=1, replication_factor=-1, configs=None))]
    fn create_topic(
        &self,
        py: Python<'_>,
        name: String,
        partitions: i32,
        replication_factor: i32,
        configs: Option<BTreeMap<String, String>>,
    ) -> PyResult<()> {
        let mut spec = TopicSpec::new(name, partitions);
        spec.replication_factor = replication_factor;
        spec.configs = configs.unwrap_or_default();
        let a = self.inner.clone();
        run(py, async move { a.create_topic(&spec).await })
    }

    fn delete_topic(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let a = self.inner.clone();
        run(py, async move { a.delete_topic(&name).await })
    }

    fn create_partitions(&self, py: Python<'_>, name: String, total: usize) -> PyResult<()> {
        let a = self.inner.clone();
        run(py, async move { a.create_partitions(&name, total).await })
    }

    fn list_topics(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let a = self.inner.clone();
        run(py, async move { a.list_topics().await })
    }

    /// JSON of `TopicInfo`.
    fn describe_topic(&self, py: Python<'_>, name: String) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.describe_topic(&name).await })?)
    }

    #[pyo3(signature = (name, set=None, delete=None))]
    fn alter_topic_configs(
        &self,
        py: Python<'_>,
        name: String,
        set: Option<BTreeMap<String, String>>,
        delete: Option<Vec<String>>,
    ) -> PyResult<()> {
        let a = self.inner.clone();
        let (set, delete) = (set.unwrap_or_default(), delete.unwrap_or_default());
        run(py, async move {
            a.alter_topic_configs(&name, &set, &delete).await
        })
    }

    // ---- groups ----

    /// JSON of a list of `GroupInfo`.
    fn list_groups(&self, py: Python<'_>) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.list_groups().await })?)
    }

    /// JSON of `GroupInfo`.
    fn describe_group(&self, py: Python<'_>, group: String) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.describe_group(&group).await })?)
    }

    /// JSON of a list of `PartitionLag`.
    fn group_lag(&self, py: Python<'_>, group: String) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.group_lag(&group).await })?)
    }

    /// `to` is "earliest", "latest", "offset" or "timestamp" (with `value`). Returns
    /// `(partition, new offset)` pairs.
    #[pyo3(signature = (group, topic, to, value=0))]
    fn reset_offsets(
        &self,
        py: Python<'_>,
        group: String,
        topic: String,
        to: &str,
        value: i64,
    ) -> PyResult<Vec<(i32, i64)>> {
        let to = match to {
            "earliest" => OffsetReset::Earliest,
            "latest" => OffsetReset::Latest,
            "offset" => OffsetReset::Offset(value),
            "timestamp" => OffsetReset::Timestamp(value),
            other => return Err(config_err(py, format!("unknown offset reset {other:?}"))),
        };
        let a = self.inner.clone();
        run(py, async move { a.reset_offsets(&group, &topic, to).await })
    }

    fn delete_group(&self, py: Python<'_>, group: String) -> PyResult<()> {
        let a = self.inner.clone();
        run(py, async move { a.delete_group(&group).await })
    }

    // ---- plugins ----

    /// JSON of `PluginInfo`.
    #[pyo3(signature = (name, wasm, version=None, memory_mb=None, timeout_ms=None, config=None))]
    #[allow(clippy::too_many_arguments)]
    fn deploy_plugin(
        &self,
        py: Python<'_>,
        name: String,
        wasm: Vec<u8>,
        version: Option<String>,
        memory_mb: Option<u64>,
        timeout_ms: Option<u64>,
        config: Option<BTreeMap<String, String>>,
    ) -> PyResult<String> {
        let opts = PluginOptions {
            version,
            memory_mb,
            timeout_ms,
            config: config.unwrap_or_default(),
        };
        let a = self.inner.clone();
        json(&run(py, async move {
            a.deploy_plugin(&name, wasm, &opts).await
        })?)
    }

    /// JSON of a list of `PluginInfo`.
    fn list_plugins(&self, py: Python<'_>) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.list_plugins().await })?)
    }

    /// JSON of `PluginInfo`.
    fn describe_plugin(&self, py: Python<'_>, name: String) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.describe_plugin(&name).await })?)
    }

    fn remove_plugin(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let a = self.inner.clone();
        run(py, async move { a.remove_plugin(&name).await })
    }

    /// JSON of a list of `PluginLogLine`.
    #[pyo3(signature = (name, limit=100))]
    fn plugin_logs(&self, py: Python<'_>, name: String, limit: usize) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move { a.plugin_logs(&name, limit).await })?)
    }

    fn set_topic_plugins(&self, py: Python<'_>, topic: String, names: Vec<String>) -> PyResult<()> {
        let a = self.inner.clone();
        run(py, async move {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            a.set_topic_plugins(&topic, &names).await
        })
    }

    // ---- dead letters ----

    /// JSON of a list of `DeadLetter`.
    #[pyo3(signature = (topic, offset=0, limit=100))]
    fn inspect_dead_letters(
        &self,
        py: Python<'_>,
        topic: String,
        offset: i64,
        limit: usize,
    ) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move {
            a.inspect_dead_letters(&topic, offset, limit).await
        })?)
    }

    /// JSON of `ReplayReport`.
    #[pyo3(signature = (topic, to=None, from_offset=None))]
    fn replay_dead_letters(
        &self,
        py: Python<'_>,
        topic: String,
        to: Option<String>,
        from_offset: Option<i64>,
    ) -> PyResult<String> {
        let a = self.inner.clone();
        json(&run(py, async move {
            a.replay_dead_letters(&topic, to.as_deref(), from_offset)
                .await
        })?)
    }
}
