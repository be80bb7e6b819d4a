//! What a plugin decides for a record.

use crate::__bindings::weir::plugin::types as wit;
use crate::{Config, Header, Record};

/// What happens to one record (the WIT `outcome`; see plugins/ABI.md for what the broker does
/// with each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Pass the record on unchanged.
    Keep,
    /// Pass on this content instead.
    Replace(Replacement),
    /// Discard the record silently.
    Drop,
    /// Refuse the record, with a reason.
    Reject(String),
    /// Send the record, unchanged, to the topic's dead-letter topic, with a reason.
    DeadLetter(String),
    /// Send the record, unchanged, to these topics instead of its own.
    Route(Vec<String>),
}

impl Outcome {
    /// Pass the record on unchanged.
    pub fn keep() -> Self {
        Outcome::Keep
    }

    /// Whether this is [`Outcome::Keep`].
    pub fn is_keep(&self) -> bool {
        matches!(self, Outcome::Keep)
    }

    /// Pass on this content instead of the record's.
    pub fn replace(replacement: Replacement) -> Self {
        Outcome::Replace(replacement)
    }

    /// The record with this value instead of its own.
    pub fn with_value(record: &Record, value: impl Into<Vec<u8>>) -> Self {
        Outcome::Replace(Replacement::from(record).with_value(value))
    }

    /// The record with this key instead of its own.
    pub fn with_key(record: &Record, key: impl Into<Vec<u8>>) -> Self {
        Outcome::Replace(Replacement::from(record).with_key(key))
    }

    /// The record with these headers appended to its own.
    pub fn with_headers(record: &Record, headers: impl IntoIterator<Item = Header>) -> Self {
        let mut replacement = Replacement::from(record);
        replacement.headers.extend(headers);
        Outcome::Replace(replacement)
    }

    /// Discard the record silently.
    pub fn drop() -> Self {
        Outcome::Drop
    }

    /// Refuse the record: on the produce path the request fails with INVALID_RECORD and this
    /// reason (or the record is dead-lettered, if the topic says so).
    pub fn reject(reason: impl Into<String>) -> Self {
        Outcome::Reject(reason.into())
    }

    /// Send the record, unchanged, to the topic's dead-letter topic with this reason.
    pub fn dead_letter(reason: impl Into<String>) -> Self {
        Outcome::DeadLetter(reason.into())
    }

    /// Send the record, unchanged, to each of these topics instead of its own (list its own
    /// topic to keep a copy there too).
    pub fn route<T: Into<String>>(topics: impl IntoIterator<Item = T>) -> Self {
        Outcome::Route(topics.into_iter().map(Into::into).collect())
    }
}

/// What a validating plugin does with a record that fails validation, read from a config key
/// such as `on_invalid`: `dead-letter`, `reject` or `drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    DeadLetter,
    Reject,
    Drop,
}

impl OnInvalid {
    /// Reads config `key`, `default` when it is not set.
    pub fn from_config(config: &Config, key: &str, default: OnInvalid) -> Result<Self, String> {
        match config.get(key) {
            None => Ok(default),
            Some("dead-letter") => Ok(OnInvalid::DeadLetter),
            Some("reject") => Ok(OnInvalid::Reject),
            Some("drop") => Ok(OnInvalid::Drop),
            Some(other) => Err(format!(
                "config key `{key}` = {other:?}: expected dead-letter, reject or drop"
            )),
        }
    }

    /// Validates a record's value with `check`: keeps the record when it passes (and tombstones,
    /// which have no value to check), otherwise the outcome for an invalid record with the reason
    /// `check` gave.
    pub fn validate(
        self,
        record: &Record,
        check: impl FnOnce(&[u8]) -> Result<(), String>,
    ) -> Outcome {
        match record.value().map(check) {
            None | Some(Ok(())) => Outcome::keep(),
            Some(Err(reason)) => self.outcome(reason),
        }
    }

    /// The outcome for an invalid record, with this reason.
    pub fn outcome(self, reason: impl Into<String>) -> Outcome {
        match self {
            OnInvalid::DeadLetter => Outcome::dead_letter(reason),
            OnInvalid::Reject => Outcome::reject(reason),
            OnInvalid::Drop => Outcome::drop(),
        }
    }
}

/// The new content of a record: key, value and headers (timestamp, topic and partition stay).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replacement {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
}

impl Replacement {
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_value(mut self, value: impl Into<Vec<u8>>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Replaces all the headers.
    pub fn with_headers(mut self, headers: Vec<Header>) -> Self {
        self.headers = headers;
        self
    }
}

/// A copy of the record's content, to change.
impl From<&Record> for Replacement {
    fn from(record: &Record) -> Self {
        Replacement {
            key: record.key().map(<[u8]>::to_vec),
            value: record.value().map(<[u8]>::to_vec),
            headers: record.headers().to_vec(),
        }
    }
}

impl From<Replacement> for Outcome {
    fn from(replacement: Replacement) -> Self {
        Outcome::Replace(replacement)
    }
}

impl From<Outcome> for wit::Outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Keep => wit::Outcome::Keep,
            Outcome::Replace(r) => wit::Outcome::Replace(wit::Replacement {
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(wit::Header::from).collect(),
            }),
            Outcome::Drop => wit::Outcome::Drop,
            Outcome::Reject(reason) => wit::Outcome::Reject(reason),
            Outcome::DeadLetter(reason) => wit::Outcome::DeadLetter(reason),
            Outcome::Route(topics) => wit::Outcome::Route(topics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_copy_the_record() {
        let record = Record::new("v").with_key("k").with_header("a", "1");
        let Outcome::Replace(r) = Outcome::with_value(&record, "w") else {
            panic!("not a replace")
        };
        assert_eq!(r.value.as_deref(), Some(&b"w"[..]));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.headers, vec![Header::new("a", "1")]);

        let Outcome::Replace(r) = Outcome::with_headers(&record, [Header::new("b", "2")]) else {
            panic!("not a replace")
        };
        assert_eq!(
            r.headers,
            vec![Header::new("a", "1"), Header::new("b", "2")]
        );
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));

        let Outcome::Replace(r) = Outcome::with_key(&record, "k2") else {
            panic!("not a replace")
        };
        assert_eq!(r.key.as_deref(), Some(&b"k2"[..]));
    }

    #[test]
    fn on_invalid_from_config() {
        let config = Config::from_iter([("a", "reject"), ("b", "drop"), ("c", "nope")]);
        let read = |key| OnInvalid::from_config(&config, key, OnInvalid::DeadLetter);
        assert_eq!(read("a"), Ok(OnInvalid::Reject));
        assert_eq!(read("b"), Ok(OnInvalid::Drop));
        assert_eq!(read("missing"), Ok(OnInvalid::DeadLetter));
        assert_eq!(
            read("c"),
            Err("config key `c` = \"nope\": expected dead-letter, reject or drop".to_string())
        );
        assert_eq!(OnInvalid::Reject.outcome("r"), Outcome::reject("r"));
        assert_eq!(
            OnInvalid::DeadLetter.outcome("r"),
            Outcome::dead_letter("r")
        );
        assert_eq!(OnInvalid::Drop.outcome("r"), Outcome::drop());
        let odd = |v: &[u8]| {
            if v.len() % 2 == 1 {
                Ok(())
            } else {
                Err(format!("{} bytes", v.len()))
            }
        };
        assert_eq!(
            OnInvalid::Reject.validate(&Record::new("a"), odd),
            Outcome::keep()
        );
        assert_eq!(
            OnInvalid::Reject.validate(&Record::new("ab"), odd),
            Outcome::reject("2 bytes")
        );
        assert_eq!(
            OnInvalid::Reject.validate(&Record::tombstone(), odd),
            Outcome::keep()
        );
    }

    #[test]
    fn converts_to_wit() {
        assert!(matches!(
            wit::Outcome::from(Outcome::route(["a", "b"])),
            wit::Outcome::Route(t) if t == ["a", "b"]
        ));
        assert!(matches!(
            wit::Outcome::from(Outcome::dead_letter("why")),
            wit::Outcome::DeadLetter(r) if r == "why"
        ));
        assert!(matches!(
            wit::Outcome::from(Outcome::reject("no")),
            wit::Outcome::Reject(r) if r == "no"
        ));
        assert!(matches!(
            wit::Outcome::from(Outcome::drop()),
            wit::Outcome::Drop
        ));
        assert!(matches!(
            wit::Outcome::from(Outcome::keep()),
            wit::Outcome::Keep
        ));
        let replaced = wit::Outcome::from(Outcome::replace(
            Replacement::default().with_value("x").with_header("h", "1"),
        ));
        let wit::Outcome::Replace(r) = replaced else {
            panic!("not a replace")
        };
        assert_eq!(r.value.as_deref(), Some(&b"x"[..]));
        assert_eq!(r.key, None);
        assert_eq!(r.headers.len(), 1);
    }
}
