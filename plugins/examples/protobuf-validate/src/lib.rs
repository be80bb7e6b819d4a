//! `protobuf-validate`: checks that each record's value is a valid protobuf message of one type.
//!
//! Config: `descriptor_set` (required: a serialized `google.protobuf.FileDescriptorSet`, base64,
//! as written by `protoc --include_imports --descriptor_set_out` or `buf build -o`), `message`
//! (required: the message's full name, e.g. `weir.examples.Order`), `required` (optional:
//! comma-separated field names that must be set to a non-default value), `on_invalid` (`reject`,
//! the default, `dead-letter` or `drop`). Tombstones (records with no value) are kept.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use weir_plugin_sdk::{Config, OnInvalid, Outcome, Plugin, Record};

pub struct ProtobufValidate {
    message: MessageDescriptor,
    required: Vec<String>,
    on_invalid: OnInvalid,
}

impl Plugin for ProtobufValidate {
    fn init(config: &Config) -> Result<Self, String> {
        let bytes = BASE64
            .decode(config.require("descriptor_set")?.trim())
            .map_err(|e| format!("config key `descriptor_set` is not base64: {e}"))?;
        let pool = DescriptorPool::decode(bytes.as_slice())
            .map_err(|e| format!("config key `descriptor_set` is not a FileDescriptorSet: {e}"))?;
        let name = config.require("message")?;
        let message = pool
            .get_message_by_name(name)
            .ok_or_else(|| format!("message {name:?} is not in the descriptor set"))?;
        let required: Vec<String> = config
            .get_or("required", "")
            .split(',')
            .map(str::trim)
            .filter(|field| !field.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(unknown) = required
            .iter()
            .find(|f| message.get_field_by_name(f).is_none())
        {
            return Err(format!(
                "required field {unknown:?} is not a field of {name}"
            ));
        }
        Ok(ProtobufValidate {
            message,
            required,
            on_invalid: OnInvalid::from_config(config, "on_invalid", OnInvalid::Reject)?,
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        self.on_invalid.validate(record, |value| self.check(value))
    }
}

impl ProtobufValidate {
    /// `Ok` for a valid message; otherwise what failed.
    fn check(&self, value: &[u8]) -> Result<(), String> {
        let name = self.message.full_name();
        let decoded = DynamicMessage::decode(self.message.clone(), value)
            .map_err(|e| format!("not a valid {name}: {e}"))?;
        let missing: Vec<&str> = self
            .required
            .iter()
            .filter(|field| !decoded.has_field_by_name(field))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{name}: missing required field(s) {}",
                missing.join(", ")
            ))
        }
    }
}

weir_plugin_sdk::export_plugin!(ProtobufValidate);

#[cfg(test)]
mod tests {
    use prost_reflect::Value;
    use prost_reflect::prost::Message;
    use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
    use prost_reflect::prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    };

    use super::*;

    /// `weir.examples.Order { string id = 1; string customer = 2; int64 amount_cents = 3;
    /// repeated string items = 4; }`, as a base64 FileDescriptorSet.
    fn order_descriptor_set() -> String {
        let field = |name: &str, number, ty: Type, label: Label| FieldDescriptorProto {
            name: Some(name.to_string()),
            number: Some(number),
            r#type: Some(ty as i32),
            label: Some(label as i32),
            json_name: Some(name.to_string()),
            ..Default::default()
        };
        let set = FileDescriptorSet {
            file: vec![FileDescriptorProto {
                name: Some("order.proto".to_string()),
                package: Some("weir.examples".to_string()),
                syntax: Some("proto3".to_string()),
                message_type: vec![DescriptorProto {
                    name: Some("Order".to_string()),
                    field: vec![
                        field("id", 1, Type::String, Label::Optional),
                        field("customer", 2, Type::String, Label::Optional),
                        field("amount_cents", 3, Type::Int64, Label::Optional),
                        field("items", 4, Type::String, Label::Repeated),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        BASE64.encode(set.encode_to_vec())
    }

    fn plugin(extra: &[(&str, &str)]) -> ProtobufValidate {
        let set = order_descriptor_set();
        let mut pairs = vec![
            ("descriptor_set", set.as_str()),
            ("message", "weir.examples.Order"),
        ];
        pairs.extend_from_slice(extra);
        ProtobufValidate::init(&Config::from_iter(pairs)).expect("init")
    }

    fn order(p: &ProtobufValidate, id: &str, amount: i64) -> Vec<u8> {
        let mut msg = DynamicMessage::new(p.message.clone());
        msg.set_field_by_name("id", Value::String(id.to_string()));
        msg.set_field_by_name("amount_cents", Value::I64(amount));
        msg.set_field_by_name(
            "items",
            Value::List(vec![Value::String("book".to_string())]),
        );
        msg.encode_to_vec()
    }

    #[test]
    fn keeps_valid_messages() {
        let mut p = plugin(&[("required", "id")]);
        let value = order(&p, "o-1", 1250);
        assert_eq!(p.process(&Record::new(value)), Outcome::keep());
        assert_eq!(p.process(&Record::tombstone()), Outcome::keep());
    }

    #[test]
    fn rejects_undecodable_values() {
        let mut p = plugin(&[]);
        // Field 1 claims 100 bytes of string but the buffer ends.
        let Outcome::Reject(reason) = p.process(&Record::new(vec![0x0a, 100, b'x'])) else {
            panic!("not rejected")
        };
        assert!(
            reason
                .starts_with("not a valid weir.examples.Order: failed to decode Protobuf message"),
            "{reason}"
        );
    }

    #[test]
    fn checks_required_fields() {
        let mut p = plugin(&[("required", "id, customer"), ("on_invalid", "dead-letter")]);
        let value = order(&p, "", 5);
        assert_eq!(
            p.process(&Record::new(value)),
            Outcome::dead_letter("weir.examples.Order: missing required field(s) id, customer")
        );
    }

    #[test]
    fn refuses_bad_config() {
        let set = order_descriptor_set();
        let init = |pairs: &[(&str, &str)]| {
            ProtobufValidate::init(&Config::from_iter(pairs.iter().copied()))
                .err()
                .unwrap_or_default()
        };
        assert_eq!(init(&[]), "missing config key `descriptor_set`");
        assert!(init(&[("descriptor_set", "!!"), ("message", "x")]).contains("not base64"));
        assert_eq!(
            init(&[("descriptor_set", &set), ("message", "weir.examples.Nope")]),
            "message \"weir.examples.Nope\" is not in the descriptor set"
        );
        assert_eq!(
            init(&[
                ("descriptor_set", &set),
                ("message", "weir.examples.Order"),
                ("required", "nope")
            ]),
            "required field \"nope\" is not a field of weir.examples.Order"
        );
    }
}
