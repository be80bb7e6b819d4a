//! Test plugin `tagger`: adds header `weir-version` = config `tag` (default `v1`) to every
//! record, so that two deployed versions can be told apart by their output.

use weir_plugin_sdk::{Config, Header, Outcome, Plugin, Record};

pub struct Tagger {
    tag: String,
}

impl Plugin for Tagger {
    fn init(config: &Config) -> Result<Self, String> {
        Ok(Tagger {
            tag: config.get_or("tag", "v1").to_string(),
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        Outcome::with_headers(record, [Header::new("weir-version", self.tag.as_str())])
    }
}

weir_plugin_sdk::export_plugin!(Tagger);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_with_the_configured_version() {
        let mut plugin = Tagger::init(&Config::from_iter([("tag", "v2")])).expect("init");
        let record = Record::new("x").with_key("k");
        assert_eq!(
            plugin.process(&record),
            Outcome::with_headers(&record, [Header::new("weir-version", "v2")])
        );
        let mut plugin = Tagger::init(&Config::default()).expect("init");
        let Outcome::Replace(r) = plugin.process(&record) else {
            panic!("not replaced")
        };
        assert_eq!(r.headers, vec![Header::new("weir-version", "v1")]);
    }
}
