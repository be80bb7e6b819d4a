#![doc = include_str!("../README.md")]

mod batch;
mod cleaner;
mod error;
mod flusher;
mod index;
mod log;
mod manager;
mod producer_state;
pub mod records;
mod segment;

pub use batch::{
    BatchHeader, HEADER_LEN, empty_batch, encode_records, set_last_offset_delta,
    split_producer_batches, validate as validate_batch,
};
pub use cleaner::{CleanOutcome, keyless_record_in};
pub use error::{Error, Result};
pub use log::{AppendInfo, Log, LogConfig, ReadResult, RetentionOutcome};
pub use manager::LogManager;
pub use producer_state::ActiveProducer;
pub use segment::FileSlice;

#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod tests;
