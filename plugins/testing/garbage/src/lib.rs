//! Test plugin `garbage`: breaks the ABI's one-outcome-per-record rule by returning one outcome
//! more than it was given records. The host must treat the batch as a plugin failure.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Garbage;

impl Plugin for Garbage {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Garbage)
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        Outcome::keep()
    }

    fn process_batch(&mut self, records: &[Record]) -> Result<Vec<Outcome>, String> {
        Ok(vec![Outcome::keep(); records.len() + 1])
    }
}

weir_plugin_sdk::export_plugin!(Garbage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_one_outcome_too_many() {
        let mut plugin = Garbage::init(&Config::default()).expect("init");
        let outcomes = plugin.process_batch(&[Record::new("a"), Record::new("b")]);
        assert_eq!(outcomes.map(|o| o.len()), Ok(3));
    }
}
