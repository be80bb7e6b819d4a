#![doc = include_str!("../README.md")]

mod engine;
mod error;
mod instance;

pub use engine::{Module, Runtime};
pub use error::{Error, Result};
pub use instance::{Instance, Limits, LogSink};

/// The host bindings of the plugin world (`plugins/wit/weir-plugin.wit`).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit/weir-plugin.wit",
        world: "plugin",
        additional_derives: [PartialEq],
    });
}

pub use bindings::weir::plugin::types::{Header, KafkaRecord, Level, Outcome, Replacement};

/// The ABI version this host implements: the WIT package `weir:plugin@ABI_VERSION`.
pub const ABI_VERSION: &str = "0.1.0";
