//! Node bindings for Weir: a thin napi-rs layer over `weir-sdk`. The JavaScript API Node
//! users call (Go-style `Writer`/`Reader`/`Admin` and the kafkajs-style `Weir` client) lives in
//! `index.js`; this crate only moves values across the boundary.
//!
//! # Layout
//! - [`writer`]: `NativeWriter` over `weir_sdk::Writer`.
//! - [`reader`]: `NativeReader` over `weir_sdk::Reader`, with timeouts and a batch fetch.
//! - [`admin`]: `NativeAdmin` over `weir_sdk::Admin`; structured answers cross as JSON text.
//! - [`message`]: the message and delivery objects JavaScript sees.
//! - [`error`]: every `weir_sdk::Error` becomes a JS `Error` whose message is
//!   `WEIR_ERROR:` + JSON (`code`, `message`, `topic`, `reason`, …); `index.js` rebuilds a
//!   `WeirError` from it.

mod admin;
mod error;
mod message;
mod reader;
mod writer;
