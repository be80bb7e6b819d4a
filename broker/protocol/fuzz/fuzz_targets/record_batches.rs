//! The produce path's batch validation on arbitrary `records` bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = weir_storage::split_producer_batches(data, 1 << 20);
});
