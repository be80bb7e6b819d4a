//! A plugin's configuration.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// A plugin's configuration: the key/value pairs given at deploy time, overridden by the topic's
/// `weir.plugin.<name>.<key>` configs. When a key is given twice, the last value wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of `key`, or `default` when it is not set.
    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The value of `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("missing config key `{key}`"))
    }

    /// The value of `key` parsed as a `T`, `None` when it is not set, or an error naming the key.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(key)
            .map(|value| {
                value
                    .parse()
                    .map_err(|e| format!("config key `{key}` = {value:?}: {e}"))
            })
            .transpose()
    }

    /// The value of `key` parsed as a `T`, `default` when it is not set, or an error naming the
    /// key.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// The keys that start with `prefix`, without it, and their values, in key order:
    /// `with_prefix("header.")` turns `header.source=web` into `("source", "web")`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.iter()
            .filter_map(move |(key, value)| Some((key.strip_prefix(prefix)?, value)))
    }

    /// All the keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Config {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Config {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_parse_and_prefix() {
        let config = Config::from_iter([
            ("n", "3"),
            ("flag", "true"),
            ("bad", "x"),
            ("header.a", "1"),
            ("header.b", "2"),
            ("n", "4"),
        ]);
        assert_eq!(config.get("n"), Some("4"), "the last value wins");
        assert_eq!(config.get_or("missing", "d"), "d");
        assert_eq!(config.parse::<u32>("n"), Ok(Some(4)));
        assert_eq!(config.parse::<bool>("flag"), Ok(Some(true)));
        assert_eq!(config.parse::<u32>("missing"), Ok(None));
        assert_eq!(config.parse_or::<u32>("missing", 9), Ok(9));
        let err = config.parse::<u32>("bad").expect_err("not a number");
        assert!(err.starts_with("config key `bad` = \"x\": "), "{err}");
        assert_eq!(
            config.require("nope"),
            Err("missing config key `nope`".to_string())
        );
        let headers: Vec<_> = config.with_prefix("header.").collect();
        assert_eq!(headers, [("a", "1"), ("b", "2")]);
        assert!(!config.is_empty());
    }
}
