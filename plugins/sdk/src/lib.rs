//! Guest-side SDK for Weir WebAssembly plugins.
//!
//! A plugin is a type that implements [`Plugin`]: [`Plugin::init`] builds it from its
//! [`Config`], and [`Plugin::process`] decides the [`Outcome`] of each [`Record`]. One
//! [`export_plugin!`] line turns the crate into a component that exports the `weir:plugin@0.2.0`
//! world (`plugins/wit/0.2.0/weir-plugin.wit`; the contract is in `plugins/ABI.md`): the broker
//! hands over each batch in one buffer, the SDK reads the records out of it without copying keys
//! or values, and a batch the plugin keeps whole goes back as a single `keep-all`.
//!
//! ```
//! use weir_plugin_sdk::{Config, Outcome, Plugin, Record};
//!
//! /// Drops records whose value is empty, keeps the rest.
//! struct DropEmpty {
//!     min_len: usize,
//! }
//!
//! impl Plugin for DropEmpty {
//!     fn init(config: &Config) -> Result<Self, String> {
//!         Ok(DropEmpty { min_len: config.parse_or("min_len", 1)? })
//!     }
//!
//!     fn process(&mut self, record: &Record) -> Outcome {
//!         if record.value_bytes().len() < self.min_len {
//!             Outcome::drop()
//!         } else {
//!             Outcome::keep()
//!         }
//!     }
//! }
//!
//! weir_plugin_sdk::export_plugin!(DropEmpty);
//! # fn main() {}
//! ```
//!
//! Errors are values: a bad record gets [`Outcome::reject`] or [`Outcome::dead_letter`] with a
//! reason, a bad configuration is an `Err` from `init`. A panic is a trap: the broker counts it
//! as a plugin failure and discards the instance.
//!
//! Everything but the host calls works natively, so a plugin's unit tests run with plain
//! `cargo test`; [`log`] prints to stderr there.

mod config;
#[cfg_attr(
    not(all(feature = "getrandom", target_arch = "wasm32")),
    allow(dead_code)
)]
mod entropy;
pub mod log;
mod outcome;
mod record;

pub use config::Config;
pub use outcome::{OnInvalid, Outcome, Replacement};
pub use record::{Header, Record};

/// The bindings wit-bindgen generates from the WIT world. Not part of the API: used by
/// [`export_plugin!`].
#[doc(hidden)]
#[allow(unsafe_code, unreachable_pub, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2.0/weir-plugin.wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_weir_plugin_world",
        runtime_path: "::weir_plugin_sdk::__wit_bindgen::rt",
    });
}

/// wit-bindgen, re-exported so that plugin crates need no dependency of their own on it.
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

// The generated code names the runtime by an absolute path, which must also work inside this crate.
extern crate self as weir_plugin_sdk;

/// A Weir plugin: built once per instance from its configuration, then asked about each record.
///
/// The broker may create several instances, reuse one for many batches, and discard one at any
/// time (after a trap, when its memory grows too much, on redeploy), so state kept in the plugin
/// is a cache, not a store.
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its configuration (deploy-time values overridden by the topic's
    /// `weir.plugin.<name>.<key>` configs). An `Err` refuses the configuration: the broker
    /// treats it as a plugin failure.
    fn init(config: &Config) -> Result<Self, String>;

    /// Decides what happens to one record.
    fn process(&mut self, record: &Record) -> Outcome;

    /// Decides what happens to each record of a batch: exactly one outcome per record, in order.
    /// An `Err` fails the whole batch. By default, [`Plugin::process`] for each record.
    ///
    /// A plugin that keeps this default is given its records one at a time instead (the SDK
    /// notices on the first batch): no slice of records and no list of outcomes is built, and a
    /// batch kept whole costs a call of `process` per record and nothing else.
    fn process_batch(&mut self, records: &[Record]) -> Result<Vec<Outcome>, String> {
        __runtime::DEFAULT_BATCH.set(true);
        Ok(records.iter().map(|record| self.process(record)).collect())
    }
}

/// Exports a [`Plugin`] type as the component's `init` and `process` functions.
///
/// Use it once per plugin crate, at the crate root. The plugin instance lives in a thread-local
/// cell (a WebAssembly instance is single-threaded).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<$crate::__runtime::Slot<$plugin>> =
                    const { ::std::cell::RefCell::new($crate::__runtime::Slot::EMPTY) };
            }

            struct Export;

            impl $crate::__bindings::Guest for Export {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__runtime::init(&STATE, config)
                }

                fn process_batch(
                    batch: $crate::__bindings::weir::plugin::types::RecordBatch,
                ) -> ::std::result::Result<
                    $crate::__bindings::weir::plugin::types::BatchOutcome,
                    ::std::string::String,
                > {
                    $crate::__runtime::process_batch(&STATE, batch)
                }
            }

            $crate::__bindings::__export_weir_plugin_world!(Export with_types_in $crate::__bindings);
        };
    };
}

/// What [`export_plugin!`] expands to calls. Not part of the API.
#[doc(hidden)]
pub mod __runtime {
    use std::cell::{Cell, RefCell};
    use std::thread::LocalKey;

    use crate::__bindings::weir::plugin::types as wit;
    use crate::record::Records;
    use crate::{Config, Outcome, Plugin, Record};

    /// The thread-local cell that holds a plugin instance.
    pub type State<P> = LocalKey<RefCell<Slot<P>>>;

    /// A plugin instance, once `init` built it, and how it takes batches.
    pub struct Slot<P> {
        plugin: Option<P>,
        /// Whether its `process_batch` is the trait's default (known after the first batch):
        /// then records are streamed through `process`.
        streams: bool,
    }

    impl<P> Slot<P> {
        pub const EMPTY: Self = Slot {
            plugin: None,
            streams: false,
        };
    }

    thread_local! {
        /// Set by the default `Plugin::process_batch`: how the runtime tells it from an override.
        pub(crate) static DEFAULT_BATCH: Cell<bool> = const { Cell::new(false) };
    }

    /// `init`: builds the plugin from its configuration and keeps it.
    pub fn init<P: Plugin>(
        state: &'static State<P>,
        config: Vec<(String, String)>,
    ) -> Result<(), String> {
        let plugin = P::init(&Config::from_iter(config))?;
        state.with(|cell| {
            *cell.borrow_mut() = Slot {
                plugin: Some(plugin),
                streams: false,
            }
        });
        Ok(())
    }

    /// `process-batch`: runs the plugin over a batch; all `keep` goes back as `keep-all`.
    pub fn process_batch<P: Plugin>(
        state: &'static State<P>,
        batch: wit::RecordBatch,
    ) -> Result<wit::BatchOutcome, String> {
        let records = Records::new(batch)?;
        state.with(|cell| {
            let mut slot = cell.borrow_mut();
            let streams = slot.streams;
            let plugin = slot
                .plugin
                .as_mut()
                .ok_or_else(|| "process called before a successful init".to_string())?;
            if streams {
                return Ok(stream(plugin, records));
            }
            let records: Vec<Record> = records.collect();
            DEFAULT_BATCH.set(false);
            let outcomes = plugin.process_batch(&records)?;
            slot.streams = DEFAULT_BATCH.get();
            if outcomes.len() == records.len() && outcomes.iter().all(Outcome::is_keep) {
                return Ok(wit::BatchOutcome::KeepAll);
            }
            Ok(wit::BatchOutcome::Each(
                outcomes.into_iter().map(wit::Outcome::from).collect(),
            ))
        })
    }

    /// What the default `process_batch` answers, without building the slice of records or,
    /// until a record is not kept, the list of outcomes.
    fn stream<P: Plugin>(plugin: &mut P, records: Records) -> wit::BatchOutcome {
        let count = records.len();
        let mut each: Option<Vec<wit::Outcome>> = None;
        for (i, record) in records.enumerate() {
            let outcome = plugin.process(&record);
            match &mut each {
                Some(each) => each.push(outcome.into()),
                None if outcome.is_keep() => {}
                None => {
                    let mut all = Vec::with_capacity(count);
                    all.extend((0..i).map(|_| wit::Outcome::Keep));
                    all.push(outcome.into());
                    each = Some(all);
                }
            }
        }
        each.map_or(wit::BatchOutcome::KeepAll, wit::BatchOutcome::Each)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::__bindings::weir::plugin::types as wit;
    use super::*;

    struct Upper;

    impl Plugin for Upper {
        fn init(config: &Config) -> Result<Self, String> {
            match config.get("fail") {
                Some(reason) => Err(reason.to_string()),
                None => Ok(Upper),
            }
        }

        fn process(&mut self, record: &Record) -> Outcome {
            match record.value_str() {
                Ok(text) => Outcome::with_value(record, text.to_uppercase()),
                Err(_) => Outcome::reject("not UTF-8"),
            }
        }
    }

    thread_local! {
        static STATE: RefCell<__runtime::Slot<Upper>> = const { RefCell::new(__runtime::Slot::EMPTY) };
    }

    fn batch(values: &[&[u8]]) -> wit::RecordBatch {
        let records: Vec<Record> = values.iter().map(|v| Record::new(*v)).collect();
        record::write_batch(&records)
    }

    fn each(outcome: wit::BatchOutcome) -> Vec<wit::Outcome> {
        match outcome {
            wit::BatchOutcome::Each(each) => each,
            wit::BatchOutcome::KeepAll => panic!("expected one outcome per record"),
        }
    }

    #[test]
    fn runtime_runs_init_then_batches() {
        let err = __runtime::process_batch(&STATE, batch(&[b"a"])).expect_err("no init");
        assert_eq!(err, "process called before a successful init");
        assert_eq!(
            __runtime::init(&STATE, vec![("fail".to_string(), "bad config".to_string())]),
            Err("bad config".to_string())
        );
        assert_eq!(__runtime::init(&STATE, Vec::new()), Ok(()));
        let outcomes =
            each(__runtime::process_batch(&STATE, batch(&[b"a", &[0xff]])).expect("process"));
        assert_eq!(outcomes.len(), 2);
        assert!(
            matches!(&outcomes[0], wit::Outcome::Replace(r) if r.value.as_deref() == Some(&b"A"[..]))
        );
        assert!(matches!(&outcomes[1], wit::Outcome::Reject(r) if r == "not UTF-8"));

        // From the second batch on the default `process_batch` is streamed: same answers.
        let outcomes = each(
            __runtime::process_batch(&STATE, batch(&[b"", b"b", &[0xfe], b"c"])).expect("process"),
        );
        assert!(
            matches!(&outcomes[0], wit::Outcome::Replace(r) if r.value.as_deref() == Some(&b""[..]))
        );
        assert!(
            matches!(&outcomes[1], wit::Outcome::Replace(r) if r.value.as_deref() == Some(&b"B"[..]))
        );
        assert!(matches!(&outcomes[2], wit::Outcome::Reject(r) if r == "not UTF-8"));
        assert_eq!(outcomes.len(), 4);
    }

    /// Drops records whose value is `x` and keeps the rest, deciding with `process` alone.
    struct DropX;

    impl Plugin for DropX {
        fn init(_config: &Config) -> Result<Self, String> {
            Ok(DropX)
        }

        fn process(&mut self, record: &Record) -> Outcome {
            if record.value() == Some(&b"x"[..]) {
                Outcome::drop()
            } else {
                Outcome::keep()
            }
        }
    }

    /// Answers batches itself, differently from its `process`.
    struct DropAll;

    impl Plugin for DropAll {
        fn init(_config: &Config) -> Result<Self, String> {
            Ok(DropAll)
        }

        fn process(&mut self, _record: &Record) -> Outcome {
            Outcome::keep()
        }

        fn process_batch(&mut self, records: &[Record]) -> Result<Vec<Outcome>, String> {
            Ok(vec![Outcome::drop(); records.len()])
        }
    }

    thread_local! {
        static DROP_X: RefCell<__runtime::Slot<DropX>> = const { RefCell::new(__runtime::Slot::EMPTY) };
        static DROP_ALL: RefCell<__runtime::Slot<DropAll>> = const { RefCell::new(__runtime::Slot::EMPTY) };
    }

    #[test]
    fn streamed_batches_answer_as_the_default_does() {
        assert_eq!(__runtime::init(&DROP_X, Vec::new()), Ok(()));
        for _ in 0..3 {
            assert!(matches!(
                __runtime::process_batch(&DROP_X, batch(&[b"a", b"b"])),
                Ok(wit::BatchOutcome::KeepAll)
            ));
            let outcomes = each(
                __runtime::process_batch(&DROP_X, batch(&[b"a", b"b", b"x", b"c"]))
                    .expect("process"),
            );
            assert!(matches!(
                outcomes[..],
                [
                    wit::Outcome::Keep,
                    wit::Outcome::Keep,
                    wit::Outcome::Drop,
                    wit::Outcome::Keep
                ]
            ));
            // A malformed batch fails before any record is processed.
            let mut bad = batch(&[b"a", b"b"]);
            bad.count = 3;
            assert!(__runtime::process_batch(&DROP_X, bad).is_err());
        }
    }

    #[test]
    fn an_overridden_process_batch_is_never_streamed() {
        assert_eq!(__runtime::init(&DROP_ALL, Vec::new()), Ok(()));
        for _ in 0..3 {
            let outcomes =
                each(__runtime::process_batch(&DROP_ALL, batch(&[b"a", b"b"])).expect("process"));
            assert!(matches!(
                outcomes[..],
                [wit::Outcome::Drop, wit::Outcome::Drop]
            ));
        }
    }
}
