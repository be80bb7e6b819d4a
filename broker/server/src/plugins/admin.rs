//! Deploying, removing and describing plugins and pipelines.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use weir_metadata::{Command, PipelineMeta, PluginMeta, validate_plugin_name};

use super::pipeline::{PartitionStatus, group_of};
use super::{LogLine, MAX_PLUGIN_BYTES, PluginHealth};
use crate::broker::{Broker, now_ms};
use crate::{Error, Result};

/// Default memory cap of a plugin instance.
pub(crate) const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
/// Default time budget of one plugin call.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// A deployed plugin as the HTTP API and CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    #[serde(flatten)]
    pub meta: PluginMeta,
    /// The plugin ABI the component implements (`0.2.0` or `0.1.0`); absent if it cannot be
    /// compiled here.
    pub abi: Option<&'static str>,
    pub health: PluginHealth,
    /// Topics whose `weir.plugins` names it.
    pub topics: Vec<String>,
    pub pipelines: Vec<String>,
}

/// A pipeline with its per-partition progress.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineView {
    #[serde(flatten)]
    pub meta: PipelineMeta,
    pub partitions: Vec<PartitionStatus>,
}

impl Broker {
    /// Compiles `wasm`, refuses it unless it implements the plugin world, stores it durably and
    /// makes it the deployed version of `name`. Batches already running finish on the old
    /// version; the next ones use the new one. Blocking.
    pub fn deploy_plugin(
        &self,
        name: &str,
        version: &str,
        wasm: &[u8],
        config: BTreeMap<String, String>,
        memory_bytes: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Result<PluginMeta> {
        validate_plugin_name(name)?;
        if wasm.len() > MAX_PLUGIN_BYTES {
            return Err(Error::Plugin(format!(
                "plugin binary is {} bytes; the limit is {MAX_PLUGIN_BYTES}",
                wasm.len()
            )));
        }
        if memory_bytes.is_some_and(|m| m < (1 << 20)) || timeout_ms == Some(0) {
            return Err(Error::Plugin(
                "memory must be at least 1 MiB and the timeout at least 1 ms".into(),
            ));
        }
        let sha256 = self.plugins.store(wasm)?;
        let meta = PluginMeta {
            name: name.to_string(),
            version: version.to_string(),
            sha256,
            size: wasm.len() as u64,
            config,
            memory_bytes: memory_bytes.unwrap_or(DEFAULT_MEMORY_BYTES),
            timeout_ms: timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            deployed_at_ms: now_ms(),
        };
        let state = self.metadata.propose(Command::DeployPlugin(meta.clone()))?;
        self.plugins.retain(&state);
        tracing::info!(plugin = name, version, sha256 = %meta.sha256, "plugin deployed");
        Ok(meta)
    }

    pub fn remove_plugin(&self, name: &str) -> Result<()> {
        let state = self.metadata.propose(Command::RemovePlugin {
            name: name.to_string(),
        })?;
        self.plugins.retain(&state);
        tracing::info!(plugin = name, "plugin removed");
        Ok(())
    }

    pub fn plugin_views(&self) -> Vec<PluginView> {
        let state = self.metadata.snapshot();
        state
            .plugins
            .values()
            .map(|p| PluginView {
                meta: p.clone(),
                abi: self.plugins.abi_version(&p.sha256),
                health: self.plugins.health(&p.name),
                topics: state
                    .topics
                    .values()
                    .filter(|t| t.plugin_chain().contains(&p.name))
                    .map(|t| t.name.clone())
                    .collect(),
                pipelines: state
                    .pipelines
                    .values()
                    .filter(|x| x.plugins.contains(&p.name))
                    .map(|x| x.name.clone())
                    .collect(),
            })
            .collect()
    }

    pub fn plugin_logs(&self, name: &str, limit: usize) -> Vec<LogLine> {
        self.plugins.logs(name, limit)
    }

    /// The stored binary of the deployed version of `name`.
    pub fn plugin_binary(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(sha) = self
            .metadata
            .read(|s| s.plugins.get(name).map(|p| p.sha256.clone()))
        else {
            return Ok(None);
        };
        self.plugins.binary(&sha)
    }

    pub fn create_pipeline(&self, mut meta: PipelineMeta) -> Result<PipelineMeta> {
        meta.created_at_ms = now_ms();
        self.metadata
            .propose(Command::CreatePipeline(meta.clone()))?;
        tracing::info!(pipeline = %meta.name, input = %meta.input, "pipeline created");
        Ok(meta)
    }

    /// Deletes a pipeline and its committed positions.
    pub fn delete_pipeline(&self, name: &str) -> Result<()> {
        self.metadata.propose(Command::DeletePipeline {
            name: name.to_string(),
        })?;
        self.pipelines.stop(name);
        self.groups.delete_group(&group_of(name));
        Ok(())
    }

    /// Pauses or resumes a pipeline; its position is kept either way.
    pub fn set_pipeline_paused(&self, name: &str, paused: bool) -> Result<()> {
        self.metadata.propose(Command::SetPipelinePaused {
            name: name.to_string(),
            paused,
        })?;
        if paused {
            self.pipelines.stop(name);
        }
        Ok(())
    }

    pub fn pipeline_views(&self) -> Vec<PipelineView> {
        let pipelines: Vec<PipelineMeta> = self
            .metadata
            .read(|s| s.pipelines.values().cloned().collect());
        pipelines
            .into_iter()
            .map(|meta| PipelineView {
                partitions: self.pipelines.status(self, &meta.name),
                meta,
            })
            .collect()
    }

    /// Starts and stops pipeline tasks to match the metadata.
    pub fn reconcile_pipelines(self: &Arc<Self>) {
        self.pipelines.reconcile(self);
    }

    /// Compiles every deployed plugin ahead of the first batch. Blocking.
    pub fn warm_plugins(&self) {
        let state = self.metadata.snapshot();
        self.plugins.warm(&state);
    }
}
