//! `pii-redact`: masks email addresses and payment card numbers in record values.
//!
//! The value is read as UTF-8 text (JSON included): every email address, and every run of 13–19
//! digits (single spaces or dashes allowed between them) that passes the Luhn check, is replaced
//! by `mask` (config; default `[REDACTED]`). A record with nothing to mask, or whose value is not
//! UTF-8, is kept as it is, so unchanged records stay byte-identical.

use std::borrow::Cow;

use regex::Regex;
use weir_plugin_sdk::{Config, Outcome, Plugin, Record};

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";
/// 13 to 19 digits, each but the first optionally preceded by one space or dash, not inside a
/// longer run of digits (checked by the caller, as the regex crate has no look-around).
const CARD: &str = r"[0-9](?:[ -]?[0-9]){12,18}";

pub struct PiiRedact {
    mask: String,
    email: Regex,
    card: Regex,
}

impl Plugin for PiiRedact {
    fn init(config: &Config) -> Result<Self, String> {
        let compile = |pattern| Regex::new(pattern).map_err(|e| e.to_string());
        Ok(PiiRedact {
            mask: config.get_or("mask", "[REDACTED]").to_string(),
            email: compile(EMAIL)?,
            card: compile(CARD)?,
        })
    }

    fn process(&mut self, record: &Record) -> Outcome {
        let Ok(text) = record.value_str() else {
            return Outcome::keep();
        };
        match self.redact(text) {
            Cow::Borrowed(_) => Outcome::keep(),
            Cow::Owned(redacted) => Outcome::with_value(record, redacted),
        }
    }
}

impl PiiRedact {
    /// The text with its emails and card numbers masked; borrowed when there were none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let masked = self.email.replace_all(text, self.mask.as_str());
        match masked {
            Cow::Borrowed(text) => self.redact_cards(text),
            Cow::Owned(text) => Cow::Owned(self.redact_cards(&text).into_owned()),
        }
    }

    fn redact_cards<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut copied = 0;
        for found in self.card.find_iter(text) {
            let inside_longer_number = text[..found.start()]
                .ends_with(|c: char| c.is_ascii_digit())
                || text[found.end()..].starts_with(|c: char| c.is_ascii_digit());
            if !inside_longer_number && luhn_valid(found.as_str()) {
                out.push_str(&text[copied..found.start()]);
                out.push_str(&self.mask);
                copied = found.end();
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// The Luhn checksum of the digits in `s` (other characters are skipped).
pub fn luhn_valid(s: &str) -> bool {
    let digits = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'));
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2 == 1, d * 2) {
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

weir_plugin_sdk::export_plugin!(PiiRedact);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> PiiRedact {
        PiiRedact::init(&Config::default()).expect("init")
    }

    fn redacted(p: &mut PiiRedact, value: &str) -> String {
        match p.process(&Record::new(value)) {
            Outcome::Replace(r) => String::from_utf8(r.value.unwrap_or_default()).expect("utf-8"),
            Outcome::Keep => value.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn masks_emails_and_valid_cards() {
        let mut p = plugin();
        assert_eq!(
            redacted(&mut p, "mail jane.doe+x@example.co.uk now"),
            "mail [REDACTED] now"
        );
        assert_eq!(
            redacted(&mut p, r#"{"card":"4111 1111 1111 1111","n":1}"#),
            r#"{"card":"[REDACTED]","n":1}"#
        );
        assert_eq!(
            redacted(&mut p, "pan 5500-0000-0000-0004."),
            "pan [REDACTED]."
        );
        assert_eq!(redacted(&mut p, "4012888888881881"), "[REDACTED]");
    }

    #[test]
    fn leaves_invalid_numbers_alone() {
        let mut p = plugin();
        // Fails the Luhn check.
        assert_eq!(
            p.process(&Record::new("4111 1111 1111 1112")),
            Outcome::keep()
        );
        // Too short, and part of a longer number.
        assert_eq!(p.process(&Record::new("id 411111111111")), Outcome::keep());
        assert_eq!(
            p.process(&Record::new("order 12345678901234567890123")),
            Outcome::keep()
        );
    }

    #[test]
    fn keeps_clean_and_binary_records_unchanged() {
        let mut p = plugin();
        assert_eq!(p.process(&Record::new(r#"{"a":"b"}"#)), Outcome::keep());
        assert_eq!(p.process(&Record::new(vec![0xff, 0x00])), Outcome::keep());
        assert_eq!(p.process(&Record::tombstone()), Outcome::keep());
    }

    #[test]
    fn uses_the_configured_mask_and_keeps_key_and_headers() {
        let mut p = PiiRedact::init(&Config::from_iter([("mask", "***")])).expect("init");
        let record = Record::new("a@b.io").with_key("k").with_header("h", "v");
        assert_eq!(p.process(&record), Outcome::with_value(&record, "***"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
    }
}
