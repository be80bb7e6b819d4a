#![doc = include_str!("../README.md")]

mod codec;
mod error;
mod frame;
mod splice;
mod versions;

pub use codec::{
    Decoded, Request, decode_request, decode_response, encode_request, encode_response_into,
};
pub use error::{Error, Result};
pub use frame::{DEFAULT_MAX_REQUEST_BYTES, read_frame};
pub use splice::{Splice, SplicedFrame, encode_fetch_spliced};
pub use versions::{SUPPORTED_APIS, api_versions_response, supported_range};

/// The codec crate, re-exported so that handlers name message types through one path.
pub use kafka_protocol as kafka;

// The codec reserves array capacity from lengths on the wire before reading elements. The
// broker's allocator (mimalloc) reserves address space lazily, so a hostile length fails on the
// first missing element instead of aborting the process; the tests run under the same allocator.
#[cfg(test)]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
