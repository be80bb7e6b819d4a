//! Any bytes a client can send as a request frame: decoding returns a value or an error, never
//! panics, aborts or over-allocates.
#![no_main]

// Same allocator as the broker: it reserves address space lazily (see weir-protocol's README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = weir_protocol::decode_request(bytes::Bytes::copy_from_slice(data));
});
