//! A Weir plugin template: rejects records whose value is larger than `max_bytes` (default
//! 1048576) and keeps the rest. Copy this crate to start a plugin (see README.md).

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Template {
    max_bytes: usize,
}

impl Plugin for Template {
    /// Runs once per instance. Return `Err` to refuse a bad configuration.
    fn init(config: &Config) -> Result<Self, String> {
        let max_bytes = config.parse_or("max_bytes", 1 << 20)?;
        weir_plugin_sdk::info!("template: max_bytes={max_bytes}");
        Ok(Template { max_bytes })
    }

    /// Runs for each record. Decide with an `Outcome`: keep, replace, drop, reject,
    /// dead-letter or route.
    fn process(&mut self, record: &Record) -> Outcome {
        let len = record.value_bytes().len();
        if len > self.max_bytes {
            Outcome::reject(format!(
                "value is {len} bytes, more than max_bytes={}",
                self.max_bytes
            ))
        } else {
            Outcome::keep()
        }
    }
}

weir_plugin_sdk::export_plugin!(Template);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_large_values() {
        let mut plugin = Template::init(&Config::from_iter([("max_bytes", "3")])).expect("init");
        assert_eq!(plugin.process(&Record::new("abc")), Outcome::keep());
        assert_eq!(
            plugin.process(&Record::new("abcd")),
            Outcome::reject("value is 4 bytes, more than max_bytes=3")
        );
    }

    #[test]
    fn refuses_a_bad_config() {
        let err = Template::init(&Config::from_iter([("max_bytes", "lots")]))
            .err()
            .expect("init should fail");
        assert!(err.contains("max_bytes"), "{err}");
    }
}
