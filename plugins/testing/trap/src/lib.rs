//! Test plugin `trap`: `process` panics, which is a WebAssembly trap (`unreachable`) in the
//! guest. The host must count a plugin failure and discard the instance.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Trap;

impl Plugin for Trap {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Trap)
    }

    fn process(&mut self, record: &Record) -> Outcome {
        panic!(
            "trap plugin: deliberate panic on a {}-byte record",
            record.value_bytes().len()
        )
    }
}

weir_plugin_sdk::export_plugin!(Trap);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "deliberate panic")]
    fn process_panics() {
        let mut plugin = Trap::init(&Config::default()).expect("init");
        plugin.process(&Record::new("x"));
    }
}
