//! The produce path's batch validation, and the compaction cleaner's record walk, on
//! arbitrary `records` bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = weir_storage::split_producer_batches(
        data,
        1 << 20,
        weir_storage::records::RecordChecks {
            keys_required: true,
            utf8_header_keys: true,
        },
    );
    // The record walk of compaction and of compacted topics' keyless-record check.
    let _ = weir_storage::keyless_record_in(data);
});
