//! `json-schema`: validates each record's value as JSON against a JSON Schema.
//!
//! Config: `schema` (the schema, as JSON text; required), `on_invalid` (`dead-letter`, the
//! default, `reject` or `drop`). Tombstones (records with no value) are kept.

use jsonschema::Validator;
use weir_plugin_sdk::{Config, OnInvalid, Outcome, Plugin, Record};

/// At most this many schema violations are named in a reason.
const MAX_ERRORS_IN_REASON: usize = 5;

pub struct JsonSchema {
    validator: Validator,
    on_invalid: OnInvalid,
}

impl Plugin for JsonSchema {
    fn init(config: &Config) -> Result<Self, String> {
        let schema: serde_json::Value = serde_json::from_str(config.require("schema")?)
            .map_err(|e| format!("config key `schema` is not JSON: {e}"))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("config key `schema` is not a valid JSON Schema: {e}"))?;
        Ok(JsonSchema {
            validator,
            on_invalid: OnInvalid::from_config(config, "on_invalid", OnInvalid::DeadLetter)?,
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        self.on_invalid.validate(record, |value| self.check(value))
    }
}

impl JsonSchema {
    /// `Ok` for a valid value; otherwise what failed, e.g. `/amount: "x" is not of type "number"`.
    fn check(&self, value: &[u8]) -> Result<(), String> {
        let instance: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| format!("invalid JSON: {e}"))?;
        // The common case, a valid value, takes the validator's short-circuiting check; the
        // errors are collected only for a value that fails it.
        if self.validator.is_valid(&instance) {
            return Ok(());
        }
        let errors = self.validator.iter_errors(&instance);
        let mut reasons: Vec<String> = Vec::new();
        let mut more = 0;
        for error in errors {
            if reasons.len() == MAX_ERRORS_IN_REASON {
                more += 1;
                continue;
            }
            let path = error.instance_path().to_string();
            reasons.push(if path.is_empty() {
                error.to_string()
            } else {
                format!("{path}: {error}")
            });
        }
        let mut reason = reasons.join("; ");
        if more > 0 {
            reason.push_str(&format!("; and {more} more"));
        }
        Err(reason)
    }
}

weir_plugin_sdk::export_plugin!(JsonSchema);

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "amount": {"type": "number"}
        },
        "required": ["id", "amount"]
    }"#;

    fn plugin(extra: &[(&str, &str)]) -> JsonSchema {
        let mut pairs = vec![("schema", SCHEMA)];
        pairs.extend_from_slice(extra);
        JsonSchema::init(&Config::from_iter(pairs)).expect("init")
    }

    #[test]
    fn keeps_valid_records() {
        let mut p = plugin(&[]);
        let outcome = p.process(&Record::new(r#"{"id":"a","amount":3.5}"#));
        assert_eq!(outcome, Outcome::keep());
        assert_eq!(p.process(&Record::tombstone()), Outcome::keep());
    }

    #[test]
    fn dead_letters_violations_naming_the_field() {
        let mut p = plugin(&[]);
        assert_eq!(
            p.process(&Record::new(r#"{"id":"a","amount":"x"}"#)),
            Outcome::dead_letter(r#"/amount: "x" is not of type "number""#)
        );
        assert_eq!(
            p.process(&Record::new(r#"{"amount":1}"#)),
            Outcome::dead_letter(r#""id" is a required property"#)
        );
    }

    #[test]
    fn invalid_json_is_named() {
        let mut p = plugin(&[]);
        assert_eq!(
            p.process(&Record::new("{nope")),
            Outcome::dead_letter("invalid JSON: key must be a string at line 1 column 2")
        );
    }

    #[test]
    fn on_invalid_chooses_the_outcome() {
        let bad = Record::new(r#"{"id":"","amount":1}"#);
        assert_eq!(
            plugin(&[("on_invalid", "reject")]).process(&bad),
            Outcome::reject(r#"/id: "" is shorter than 1 character"#)
        );
        assert_eq!(
            plugin(&[("on_invalid", "drop")]).process(&bad),
            Outcome::drop()
        );
        let err = JsonSchema::init(&Config::from_iter([("schema", "{}"), ("on_invalid", "x")]))
            .err()
            .expect("bad on_invalid");
        assert!(err.contains("on_invalid"), "{err}");
    }

    #[test]
    fn refuses_missing_or_bad_schema() {
        let missing = JsonSchema::init(&Config::default()).err();
        assert_eq!(missing.as_deref(), Some("missing config key `schema`"));
        let not_json = JsonSchema::init(&Config::from_iter([("schema", "{")])).err();
        assert!(not_json.is_some_and(|e| e.starts_with("config key `schema` is not JSON")));
        let bad = JsonSchema::init(&Config::from_iter([("schema", r#"{"type": 12}"#)])).err();
        assert!(
            bad.as_deref()
                .is_some_and(|e| e.starts_with("config key `schema` is not a valid JSON Schema")),
            "{bad:?}"
        );
    }

    #[test]
    fn many_violations_are_capped() {
        let schema = r#"{"type":"array","items":{"type":"number"}}"#;
        let mut p = JsonSchema::init(&Config::from_iter([("schema", schema)])).expect("init");
        let Outcome::DeadLetter(reason) =
            p.process(&Record::new(r#"["a","b","c","d","e","f","g"]"#))
        else {
            panic!("not dead-lettered")
        };
        assert!(
            reason.starts_with(r#"/0: "a" is not of type "number"; /1: "#),
            "{reason}"
        );
        assert!(reason.ends_with("; and 2 more"), "{reason}");
    }
}
