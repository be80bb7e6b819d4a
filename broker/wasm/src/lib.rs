#![doc = include_str!("../README.md")]

mod batch;
mod engine;
mod error;
mod instance;

pub use engine::{Module, Runtime};
pub use error::{Error, Result};
pub use instance::{Instance, Limits, LogSink, RawBatch};

/// The host bindings of the two plugin worlds the broker runs side by side.
mod bindings {
    /// ABI 0.1.0 (`plugins/wit/weir-plugin.wit`): `process` takes a list of records.
    pub(crate) mod v1 {
        wasmtime::component::bindgen!({
            path: "../../plugins/wit/weir-plugin.wit",
            world: "plugin",
            additional_derives: [PartialEq],
        });
    }

    /// ABI 0.2.0 (`plugins/wit/0.2.0/weir-plugin.wit`): `process-batch` takes the batch in
    /// Kafka's record encoding, in one buffer.
    pub(crate) mod v2 {
        wasmtime::component::bindgen!({
            path: "../../plugins/wit/0.2.0/weir-plugin.wit",
            world: "plugin",
        });
    }
}

pub use batch::encode_record;
pub use bindings::v1::weir::plugin::types::{Header, KafkaRecord, Level, Outcome, Replacement};
pub use instance::Outcomes;

/// The newest ABI version this host implements: the WIT package `weir:plugin@ABI_VERSION`.
pub const ABI_VERSION: &str = "0.2.0";
/// Every ABI version this host runs.
pub const ABI_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
