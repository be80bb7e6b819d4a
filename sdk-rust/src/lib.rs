#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`writer`]: [`Writer`], batching producer with balancers, acks, compression, idempotence.
//! - [`reader`]: [`Reader`], group or partition consumer with auto or manual commits, seek, lag.
//! - [`admin`]: [`Admin`], topics and groups (Kafka protocol), plugins and dead letters (Weir).
//! - [`message`]: [`Message`] with JSON (serde) and protobuf (prost) helpers.
//! - [`context`]: [`Context`], Go-style cancellation and deadlines.
//! - [`trace`]: W3C `traceparent` propagation and OpenTelemetry spans.
//! - [`error`]: [`Error`], one enum whose messages say what to do.

pub mod admin;
pub mod context;
pub mod error;
mod http;
pub mod message;
pub mod properties;
pub mod reader;
pub mod trace;
pub mod writer;

pub use admin::{
    Admin, AdminConfig, DeadLetter, GroupInfo, GroupMember, OffsetReset, PartitionInfo, PluginInfo,
    PluginLogLine, PluginOptions, ReplayReport, TopicInfo, TopicSpec,
};
pub use context::Context;
pub use error::{Error, Result};
pub use http::DEFAULT_ADMIN_PORT;
pub use message::{Delivery, Header, Message};
pub use properties::Properties;
pub use reader::{FIRST_OFFSET, LAST_OFFSET, PartitionLag, Reader, ReaderConfig, StartOffset};
pub use writer::{Acks, Balancer, Compression, Writer, WriterConfig};
