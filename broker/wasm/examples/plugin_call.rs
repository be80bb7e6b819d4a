//! Times one plugin on batches of records, outside the broker:
//! `cargo run --release -p weir-wasm --example plugin_call -- PLUGIN.wasm [RECORDS] [VALUE_BYTES]`.
//! Prints the time per record of `process` (decoded records) and, for an ABI 0.2.0 plugin, of
//! `process_raw` (a producer's records region as it is: the produce path).

use std::sync::Arc;
use std::time::Instant;

use weir_wasm::{KafkaRecord, Limits, RawBatch, Runtime};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: plugin_call PLUGIN.wasm [RECORDS] [VALUE_BYTES]"))?;
    let n: usize = args.next().map_or(Ok(5000), |s| s.parse())?;
    let size: usize = args.next().map_or(Ok(195), |s| s.parse())?;
    let runtime = Runtime::new(None)?;
    let module = runtime.compile(&std::fs::read(&path)?)?;
    let mut instance = module.instantiate(&[], Limits::default(), Arc::new(|_, _| {}))?;
    let record = KafkaRecord {
        topic: "bench".into(),
        partition: 0,
        offset: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(vec![b'x'; size]),
        headers: Vec::new(),
    };
    let batch = vec![record; n];
    let rounds = (2_000_000 / n.max(1)).max(20);
    let per = time(rounds, n, || instance.process(&batch).map(drop))?;
    println!(
        "{path} (ABI {}): process: {per:.0} ns per record in batches of {n} x {size} B",
        module.abi_version()
    );
    if module.abi_version() != "0.1.0" {
        let (mut records, mut body) = (Vec::new(), Vec::new());
        for (i, r) in batch.iter().enumerate() {
            weir_wasm::encode_record(&mut records, &mut body, r, 0, i as i32);
        }
        let raw = RawBatch {
            topic: "bench",
            partition: 0,
            base_offset: -1,
            base_timestamp: 1_700_000_000_000,
            count: n as u32,
            records: &records,
        };
        let per = time(rounds, n, || instance.process_raw(&raw).map(drop))?;
        println!("{path}: process_raw: {per:.0} ns per record");
    }
    Ok(())
}

/// Nanoseconds per record of `call` on batches of `n`, after a warm-up.
fn time(
    rounds: usize,
    n: usize,
    mut call: impl FnMut() -> weir_wasm::Result<()>,
) -> anyhow::Result<f64> {
    for _ in 0..20 {
        call()?;
    }
    let t0 = Instant::now();
    for _ in 0..rounds {
        call()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e9 / (rounds * n) as f64)
}
