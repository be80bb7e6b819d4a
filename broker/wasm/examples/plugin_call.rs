//! Times one plugin's `process` on batches of records, outside the broker:
//! `cargo run --release -p weir-wasm --example plugin_call -- PLUGIN.wasm [RECORDS] [VALUE_BYTES]`.

use std::sync::Arc;
use std::time::Instant;

use weir_wasm::{KafkaRecord, Limits, Runtime};

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
    for _ in 0..20 {
        instance.process(&batch)?;
    }
    let rounds = 200;
    let t0 = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(instance.process(&batch)?);
    }
    let per = t0.elapsed().as_secs_f64() / (rounds * n) as f64;
    println!(
        "{} (ABI {}): {:.0} ns per record in batches of {n} x {size} B",
        path,
        module.abi_version(),
        per * 1e9
    );
    Ok(())
}
