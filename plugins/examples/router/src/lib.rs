//! `router`: content-based routing of JSON records.
//!
//! Config: `field` (required: a top-level field name, or a JSON pointer such as
//! `/customer/region`), `route.<value>=<topic>` (one per value to route), `default` (optional:
//! the topic for records whose value matches no route; without it they stay in their topic).
//! A string field matches by its text; numbers and booleans by their JSON text (`route.42`,
//! `route.true`). A record whose value is not JSON is dead-lettered.

use std::collections::HashMap;

use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

pub struct Router {
    /// The JSON pointer to the field.
    pointer: String,
    routes: HashMap<String, String>,
    default: Option<String>,
}

impl Plugin for Router {
    fn init(config: &Config) -> Result<Self, String> {
        let field = config.require("field")?;
        let pointer = if field.starts_with('/') {
            field.to_string()
        } else {
            format!("/{}", field.replace('~', "~0").replace('/', "~1"))
        };
        let routes: HashMap<String, String> = config
            .with_prefix("route.")
            .map(|(value, topic)| (value.to_string(), topic.to_string()))
            .collect();
        let default = config.get("default").map(str::to_string);
        if routes.is_empty() && default.is_none() {
            return Err("no routes: set `route.<value>=<topic>` keys or `default`".to_string());
        }
        Ok(Router {
            pointer,
            routes,
            default,
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        let json: serde_json::Value = match serde_json::from_slice(record.value_bytes()) {
            Ok(json) => json,
            Err(e) => return Outcome::dead_letter(format!("invalid JSON: {e}")),
        };
        let key = match json.pointer(&self.pointer) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                Some(v.to_string())
            }
            _ => None,
        };
        let topic = key
            .and_then(|key| self.routes.get(&key))
            .or(self.default.as_ref());
        match topic {
            Some(topic) => Outcome::route([topic.as_str()]),
            None => Outcome::keep(),
        }
    }
}

weir_plugin_sdk::export_plugin!(Router);

#[cfg(test)]
mod tests {
    use super::*;

    fn router(pairs: &[(&str, &str)]) -> Router {
        Router::init(&Config::from_iter(pairs.iter().copied())).expect("init")
    }

    #[test]
    fn routes_by_top_level_field() {
        let mut r = router(&[
            ("field", "region"),
            ("route.eu", "orders-eu"),
            ("route.us", "orders-us"),
        ]);
        assert_eq!(
            r.process(&Record::new(r#"{"region":"eu","id":1}"#)),
            Outcome::route(["orders-eu"])
        );
        assert_eq!(
            r.process(&Record::new(r#"{"region":"us"}"#)),
            Outcome::route(["orders-us"])
        );
        // No match and no default: stays in its topic.
        assert_eq!(
            r.process(&Record::new(r#"{"region":"apac"}"#)),
            Outcome::keep()
        );
        assert_eq!(r.process(&Record::new(r#"{"id":1}"#)), Outcome::keep());
    }

    #[test]
    fn routes_by_pointer_with_default() {
        let mut r = router(&[
            ("field", "/customer/tier"),
            ("route.1", "gold"),
            ("route.true", "flagged"),
            ("default", "other"),
        ]);
        assert_eq!(
            r.process(&Record::new(r#"{"customer":{"tier":1}}"#)),
            Outcome::route(["gold"])
        );
        assert_eq!(
            r.process(&Record::new(r#"{"customer":{"tier":true}}"#)),
            Outcome::route(["flagged"])
        );
        assert_eq!(
            r.process(&Record::new(r#"{"customer":{"tier":2}}"#)),
            Outcome::route(["other"])
        );
    }

    #[test]
    fn dead_letters_non_json() {
        let mut r = router(&[("field", "a"), ("default", "x")]);
        assert_eq!(
            r.process(&Record::new("not json")),
            Outcome::dead_letter("invalid JSON: expected ident at line 1 column 2")
        );
        assert_eq!(
            r.process(&Record::tombstone()),
            Outcome::dead_letter("invalid JSON: EOF while parsing a value at line 1 column 0")
        );
    }

    #[test]
    fn field_names_with_slashes_are_escaped() {
        let mut r = router(&[("field", "a~b"), ("route.x", "t")]);
        assert_eq!(
            r.process(&Record::new(r#"{"a~b":"x"}"#)),
            Outcome::route(["t"])
        );
    }

    #[test]
    fn refuses_incomplete_config() {
        assert_eq!(
            Router::init(&Config::default()).err().as_deref(),
            Some("missing config key `field`")
        );
        assert_eq!(
            Router::init(&Config::from_iter([("field", "a")]))
                .err()
                .as_deref(),
            Some("no routes: set `route.<value>=<topic>` keys or `default`")
        );
    }
}
