//! Test plugin `rejecter`: rejects records whose value contains config `needle` (default `bad`)
//! with the reason `contains forbidden word "<needle>"`, and keeps the rest.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Rejecter {
    needle: Vec<u8>,
    reason: String,
}

impl Plugin for Rejecter {
    fn init(config: &Config) -> Result<Self, String> {
        let needle = config.get_or("needle", "bad");
        if needle.is_empty() {
            return Err("config key `needle` is empty".to_string());
        }
        Ok(Rejecter {
            needle: needle.as_bytes().to_vec(),
            reason: format!("contains forbidden word \"{needle}\""),
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        let value = record.value_bytes();
        if value.windows(self.needle.len()).any(|w| w == self.needle) {
            Outcome::reject(self.reason.clone())
        } else {
            Outcome::keep()
        }
    }
}

weir_plugin_sdk::export_plugin!(Rejecter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_the_needle() {
        let mut plugin = Rejecter::init(&Config::default()).expect("init");
        assert_eq!(
            plugin.process(&Record::new("a bad one")),
            Outcome::reject("contains forbidden word \"bad\"")
        );
        assert_eq!(plugin.process(&Record::new("fine")), Outcome::keep());
        assert_eq!(plugin.process(&Record::tombstone()), Outcome::keep());

        let mut plugin = Rejecter::init(&Config::from_iter([("needle", "evil")])).expect("init");
        assert_eq!(
            plugin.process(&Record::new("evil")),
            Outcome::reject("contains forbidden word \"evil\"")
        );
        assert_eq!(plugin.process(&Record::new("bad")), Outcome::keep());
    }
}
