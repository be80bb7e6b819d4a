//! `header-enrich`: appends headers to every record.
//!
//! Config: `header.<name>=<value>` (any number: header `<name>` with that value), and
//! `add_timestamp` (`true` or `false`, default `false`): also add `weir-processed-at`, in
//! milliseconds since the Unix epoch. Plugins have no clock (the ABI gives them none), so that is
//! the record's own timestamp. Every record is replaced by itself with the headers appended.

use weir_plugin_sdk::{Config, Header, Outcome, Plugin, Record};

/// The header `add_timestamp=true` adds.
pub const PROCESSED_AT: &str = "weir-processed-at";

pub struct HeaderEnrich {
    headers: Vec<Header>,
    add_timestamp: bool,
}

impl Plugin for HeaderEnrich {
    fn init(config: &Config) -> Result<Self, String> {
        let headers: Vec<Header> = config
            .with_prefix("header.")
            .map(|(name, value)| Header::new(name, value))
            .collect();
        if let Some(empty) = headers.iter().find(|h| h.key.is_empty()) {
            return Err(format!(
                "empty header name in config key `header.` ({empty:?})"
            ));
        }
        Ok(HeaderEnrich {
            headers,
            add_timestamp: config.parse_or("add_timestamp", false)?,
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        let mut headers = self.headers.clone();
        if self.add_timestamp {
            headers.push(Header::new(PROCESSED_AT, record.timestamp().to_string()));
        }
        if headers.is_empty() {
            return Outcome::keep();
        }
        Outcome::with_headers(record, headers)
    }
}

weir_plugin_sdk::export_plugin!(HeaderEnrich);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_configured_headers_and_timestamp() {
        let mut p = HeaderEnrich::init(&Config::from_iter([
            ("header.source", "web"),
            ("header.team", "payments"),
            ("add_timestamp", "true"),
            ("other", "ignored"),
        ]))
        .expect("init");
        let record = Record::new("v")
            .with_key("k")
            .with_header("existing", "1")
            .with_timestamp(1_700_000_000_123);
        let Outcome::Replace(r) = p.process(&record) else {
            panic!("not replaced")
        };
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            r.headers,
            vec![
                Header::new("existing", "1"),
                Header::new("source", "web"),
                Header::new("team", "payments"),
                Header::new(PROCESSED_AT, "1700000000123"),
            ]
        );
    }

    #[test]
    fn nothing_configured_keeps() {
        let mut p = HeaderEnrich::init(&Config::default()).expect("init");
        assert_eq!(p.process(&Record::new("v")), Outcome::keep());
    }

    #[test]
    fn refuses_bad_config() {
        assert!(HeaderEnrich::init(&Config::from_iter([("add_timestamp", "yes")])).is_err());
        assert!(HeaderEnrich::init(&Config::from_iter([("header.", "x")])).is_err());
    }
}
