//! # weir-server
//!
//! The broker process minus its command line. The request path, top to bottom:
//!
//! - `server.rs`: TCP accept loop, one task per connection, frames in and out, metrics.
//! - `handlers/`: one file per Kafka API behind `handlers::handle`.
//! - `broker.rs`: the shared state the handlers use: metadata store, hosted partitions,
//!   topic operations, shutdown and append signals.
//! - `partition.rs`: a hosted partition and how topic configs become log settings.
//! - `http.rs`: health, Prometheus metrics and a JSON topic view over axum.

pub mod auth;
mod broker;
mod config;
mod coordinator_client;
mod error;
mod forward;
mod group;
mod handlers;
mod http;
mod kvlog;
mod limits;
mod metrics;
mod partition;
mod plugins;
mod replication;
mod server;
mod txn;

pub use broker::{Broker, now_ms};
pub use config::{
    BROKER_SYNONYMS, BrokerConfig, DEFAULT_SOCKET_SEND_BUFFER_BYTES, ListenerConfig, QuorumSettings,
};
pub use error::{Error, Result};
pub use group::{GroupCoordinator, GroupState, GroupView};
pub use limits::{OpenFileLimit, raise_open_file_limit};
pub use partition::{Partition, PartitionRef};
pub use plugins::admin::{PipelineView, PluginView};
pub use plugins::dlq::{DeadLetterView, ReplayReport};
pub use plugins::pipeline::PartitionStatus;
pub use plugins::{LogLine, PluginHealth};
pub use server::{RunningBroker, start};
