//! `noop`: keeps every record. The baseline for measuring what running a plugin costs: each
//! record is read and passed to `process`, as for any plugin that decides record by record.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Noop;

impl Plugin for Noop {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Noop)
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        Outcome::keep()
    }
}

weir_plugin_sdk::export_plugin!(Noop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything() {
        let mut plugin = Noop::init(&Config::default()).expect("init");
        for record in [Record::new("a"), Record::tombstone()] {
            assert_eq!(plugin.process(&record), Outcome::keep());
        }
    }
}
