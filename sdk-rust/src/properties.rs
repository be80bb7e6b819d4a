//! Extra librdkafka properties of a config, applied last. Printing a config (`{:?}`) hides
//! the values of secrets (passwords, JAAS and OAuth settings, PEM keys), so that a logged
//! config does not leak them.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// `(name, value)` pairs, in the order they are applied.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(pub Vec<(String, String)>);

/// Whether a property's value is a secret: `sasl.password`, `ssl.key.password`,
/// `sasl.jaas.config`, `sasl.oauthbearer.client.secret`, `ssl.key.pem` and the like.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "oauthbearer.config",
        "key.pem",
        "keystore",
    ]
    .iter()
    .any(|s| name.contains(s))
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret(k) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            }))
            .finish()
    }
}

impl Deref for Properties {
    type Target = Vec<(String, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<Vec<(String, String)>> for Properties {
    fn from(v: Vec<(String, String)>) -> Self {
        Properties(v)
    }
}

impl FromIterator<(String, String)> for Properties {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Properties(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a (String, String);
    type IntoIter = std::slice::Iter<'a, (String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let p: Properties = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.username", "alice"),
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "k3y"),
            ("sasl.jaas.config", "x password=\"p\""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = format!("{p:?}");
        assert!(
            shown.contains("SASL_SSL") && shown.contains("alice"),
            "{shown}"
        );
        for secret in ["hunter2", "k3y", "password=\\\"p"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(shown.matches("[redacted]").count(), 3, "{shown}");
    }
}
