//! `NativeAdmin`: `weir_sdk::Admin` for JavaScript. Structured answers (topic, group, plugin,
//! dead-letter descriptions) cross as JSON text with the SDK's field names; `index.js` parses
//! them and renames fields to camelCase.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde::Serialize;
use weir_sdk::{Admin, AdminConfig, OffsetReset, PluginOptions, TopicSpec};

use crate::error::{IntoJs, Result, config, to_js};

#[napi(object)]
pub struct AdminOptions {
    pub brokers: String,
    /// Weir's HTTP admin API; defaults to the first broker's host on port 9644.
    pub admin_url: Option<String>,
    pub timeout_ms: Option<u32>,
    pub client_id: Option<String>,
    pub extra: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct JsTopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: Option<i32>,
    pub configs: Option<HashMap<String, String>>,
}

#[napi(object)]
pub struct JsPluginOptions {
    pub version: Option<String>,
    pub memory_mb: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub config: Option<HashMap<String, String>>,
}

/// Where `resetOffsets` moves a group: `kind` is `earliest`, `latest`, `offset` or
/// `timestamp` (ms since the epoch in `value`).
#[napi(object)]
pub struct JsOffsetReset {
    pub kind: String,
    pub value: Option<i64>,
}

#[napi]
pub struct NativeAdmin {
    admin: Admin,
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| to_js(weir_sdk::Error::Payload(e.to_string())))
}

#[napi]
impl NativeAdmin {
    #[napi(constructor)]
    pub fn new(options: AdminOptions) -> Result<Self> {
        let mut c = AdminConfig::new(options.brokers);
        c.admin_url = options.admin_url;
        if let Some(ms) = options.timeout_ms {
            c.timeout = Duration::from_millis(ms.into());
        }
        c.client_id = options.client_id;
        c.extra = options.extra.unwrap_or_default().into_iter().collect();
        Ok(NativeAdmin {
            admin: Admin::new(c).js()?,
        })
    }

    #[napi(getter)]
    pub fn admin_url(&self) -> String {
        self.admin.admin_url().to_string()
    }

    // ---- topics

    #[napi]
    pub async fn create_topic(&self, spec: JsTopicSpec) -> Result<()> {
        let mut s = TopicSpec::new(spec.name, spec.partitions);
        s.replication_factor = spec.replication_factor.unwrap_or(-1);
        s.configs = spec.configs.unwrap_or_default().into_iter().collect();
        self.admin.create_topic(&s).await.js()
    }

    #[napi]
    pub async fn delete_topic(&self, name: String) -> Result<()> {
        self.admin.delete_topic(&name).await.js()
    }

    /// Grows `name` to `total` partitions.
    #[napi]
    pub async fn create_partitions(&self, name: String, total: u32) -> Result<()> {
        self.admin
            .create_partitions(&name, total as usize)
            .await
            .js()
    }

    #[napi]
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        self.admin.list_topics().await.js()
    }

    /// JSON of `TopicInfo`.
    #[napi]
    pub async fn describe_topic(&self, name: String) -> Result<String> {
        to_json(&self.admin.describe_topic(&name).await.js()?)
    }

    #[napi]
    pub async fn alter_topic_configs(
        &self,
        name: String,
        set: HashMap<String, String>,
        delete: Vec<String>,
    ) -> Result<()> {
        let set: BTreeMap<String, String> = set.into_iter().collect();
        self.admin
            .alter_topic_configs(&name, &set, &delete)
            .await
            .js()
    }

    // ---- groups

    /// JSON of `GroupInfo[]`.
    #[napi]
    pub async fn list_groups(&self) -> Result<String> {
        to_json(&self.admin.list_groups().await.js()?)
    }

    /// JSON of `GroupInfo`.
    #[napi]
    pub async fn describe_group(&self, group: String) -> Result<String> {
        to_json(&self.admin.describe_group(&group).await.js()?)
    }

    /// JSON of `PartitionLag[]`.
    #[napi]
    pub async fn group_lag(&self, group: String) -> Result<String> {
        to_json(&self.admin.group_lag(&group).await.js()?)
    }

    /// JSON of `[partition, offset][]`.
    #[napi]
    pub async fn reset_offsets(
        &self,
        group: String,
        topic: String,
        to: JsOffsetReset,
    ) -> Result<String> {
        let need = |what: &str| {
            to.value
                .ok_or_else(|| config(format!("resetOffsets to '{what}' needs a value")))
        };
        let to = match to.kind.as_str() {
            "earliest" => OffsetReset::Earliest,
            "latest" => OffsetReset::Latest,
            "offset" => OffsetReset::Offset(need("offset")?),
            "timestamp" => OffsetReset::Timestamp(need("timestamp")?),
            other => {
                return Err(config(format!(
                    "resetOffsets to '{other}': use earliest, latest, offset or timestamp"
                )));
            }
        };
        to_json(&self.admin.reset_offsets(&group, &topic, to).await.js()?)
    }

    #[napi]
    pub async fn delete_group(&self, group: String) -> Result<()> {
        self.admin.delete_group(&group).await.js()
    }

    // ---- plugins (Weir)

    /// JSON of `PluginInfo`.
    #[napi]
    pub async fn deploy_plugin(
        &self,
        name: String,
        wasm: Buffer,
        options: Option<JsPluginOptions>,
    ) -> Result<String> {
        let o = options.unwrap_or(JsPluginOptions {
            version: None,
            memory_mb: None,
            timeout_ms: None,
            config: None,
        });
        let opts = PluginOptions {
            version: o.version,
            memory_mb: o.memory_mb.map(u64::from),
            timeout_ms: o.timeout_ms.map(u64::from),
            config: o.config.unwrap_or_default().into_iter().collect(),
        };
        let info = self
            .admin
            .deploy_plugin(&name, wasm.to_vec(), &opts)
            .await
            .js()?;
        to_json(&info)
    }

    /// JSON of `PluginInfo[]`.
    #[napi]
    pub async fn list_plugins(&self) -> Result<String> {
        to_json(&self.admin.list_plugins().await.js()?)
    }

    /// JSON of `PluginInfo`.
    #[napi]
    pub async fn describe_plugin(&self, name: String) -> Result<String> {
        to_json(&self.admin.describe_plugin(&name).await.js()?)
    }

    #[napi]
    pub async fn remove_plugin(&self, name: String) -> Result<()> {
        self.admin.remove_plugin(&name).await.js()
    }

    /// JSON of `PluginLogLine[]`.
    #[napi]
    pub async fn plugin_logs(&self, name: String, limit: u32) -> Result<String> {
        to_json(&self.admin.plugin_logs(&name, limit as usize).await.js()?)
    }

    #[napi]
    pub async fn set_topic_plugins(&self, topic: String, plugins: Vec<String>) -> Result<()> {
        let names: Vec<&str> = plugins.iter().map(String::as_str).collect();
        self.admin.set_topic_plugins(&topic, &names).await.js()
    }

    // ---- dead letters (Weir)

    /// JSON of `DeadLetter[]`.
    #[napi]
    pub async fn inspect_dead_letters(
        &self,
        dlq_topic: String,
        offset: i64,
        limit: u32,
    ) -> Result<String> {
        let dl = self
            .admin
            .inspect_dead_letters(&dlq_topic, offset, limit as usize)
            .await
            .js()?;
        to_json(&dl)
    }

    /// JSON of `ReplayReport`.
    #[napi]
    pub async fn replay_dead_letters(
        &self,
        dlq_topic: String,
        to: Option<String>,
        from: Option<i64>,
    ) -> Result<String> {
        let r = self
            .admin
            .replay_dead_letters(&dlq_topic, to.as_deref(), from)
            .await
            .js()?;
        to_json(&r)
    }
}
