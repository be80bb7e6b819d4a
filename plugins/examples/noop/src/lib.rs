//! `noop`: keeps every record. The baseline for measuring what running a plugin costs.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Noop;

impl Plugin for Noop {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Noop)
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        Outcome::keep()
    }

    fn process_batch(&mut self, records: &[Record]) -> Result<Vec<Outcome>, String> {
        Ok(vec![Outcome::keep(); records.len()])
    }
}

weir_plugin_sdk::export_plugin!(Noop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything() {
        let mut plugin = Noop::init(&Config::default()).expect("init");
        let records = [Record::new("a"), Record::tombstone()];
        assert_eq!(
            plugin.process_batch(&records),
            Ok(vec![Outcome::keep(), Outcome::keep()])
        );
    }
}
