//! Test plugin `init-fail`: `init` always returns `Err("bad config")`. The host must refuse the
//! configuration and count a plugin failure.

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct InitFail;

impl Plugin for InitFail {
    fn init(_config: &Config) -> Result<Self, String> {
        Err("bad config".to_string())
    }

    fn process(&mut self, _record: &Record) -> Outcome {
        Outcome::keep()
    }
}

weir_plugin_sdk::export_plugin!(InitFail);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_fails() {
        assert_eq!(
            InitFail::init(&Config::default()).err().as_deref(),
            Some("bad config")
        );
    }
}
