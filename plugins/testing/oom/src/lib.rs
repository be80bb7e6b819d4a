//! Test plugin `oom`: `process` allocates 1 MiB blocks and keeps them until allocation fails,
//! which aborts the guest (a trap) once the host's memory cap refuses to grow linear memory.
//! Config `step_bytes` changes the block size.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Oom {
    step: usize,
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Oom {
    fn init(config: &Config) -> Result<Self, String> {
        Ok(Oom {
            step: config.parse_or("step_bytes", 1 << 20)?,
            hoard: Vec::new(),
        })
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        loop {
            // Filled so that the pages are really touched; `black_box` keeps it from being
            // optimised out.
            self.hoard.push(std::hint::black_box(vec![0xa5; self.step]));
        }
    }
}

weir_plugin_sdk::export_plugin!(Oom);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_reads_the_step() {
        // `process` is not run natively: it would exhaust the test machine's memory.
        let plugin = Oom::init(&Config::from_iter([("step_bytes", "4096")])).expect("init");
        assert_eq!(plugin.step, 4096);
        assert!(Oom::init(&Config::from_iter([("step_bytes", "lots")])).is_err());
    }
}
