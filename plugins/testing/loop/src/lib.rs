//! Test plugin `loop`: `process` never returns. The host must stop it with its time budget
//! (epoch deadline) and count a plugin failure.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Loop {
    spins: u64,
}

impl Plugin for Loop {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Loop { spins: 0 })
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        loop {
            // `black_box` keeps the optimiser from proving the loop side-effect free.
            self.spins = std::hint::black_box(self.spins.wrapping_add(1));
        }
    }
}

weir_plugin_sdk::export_plugin!(Loop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_succeeds() {
        // `process` is not run natively: it would never return.
        assert!(Loop::init(&Config::default()).is_ok());
    }
}
