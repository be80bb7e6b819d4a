//! A small client for Weir's HTTP admin API (plugins, dead letters, incremental topic
//! configs), which the Kafka protocol has no words for. Calls block, so they run on
//! tokio's blocking pool.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// Weir's HTTP port when none is configured.
pub const DEFAULT_ADMIN_PORT: u16 = 9644;

#[derive(Clone)]
pub(crate) struct Http {
    base: String,
    agent: ureq::Agent,
    /// `Authorization` for a broker whose SASL listener makes its HTTP API want a user: the
    /// client's own `sasl.username` and `sasl.password`, as HTTP Basic.
    authorization: Option<String>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("authorization", &self.authorization.is_some())
            .finish()
    }
}

/// Whether `base` (`scheme://host:port`) is HTTPS or on the loopback interface.
fn private_channel(base: &str) -> bool {
    if base.starts_with("https://") {
        return true;
    }
    let rest = base.strip_prefix("http://").unwrap_or(base);
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// HTTP Basic credentials from the client's librdkafka properties (`sasl.username` and
/// `sasl.password`), if both are there.
pub(crate) fn basic_auth(extra: &[(String, String)]) -> Option<String> {
    use base64::Engine as _;
    let get = |k: &str| extra.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
    let (user, password) = (get("sasl.username")?, get("sasl.password")?);
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

pub(crate) enum Body {
    None,
    Bytes(Vec<u8>),
    Json(Value),
}

impl Http {
    /// `url` if given, else the first bootstrap broker's host on port 9644.
    pub(crate) fn new(
        url: Option<&str>,
        brokers: &str,
        timeout: Duration,
        authorization: Option<String>,
    ) -> Self {
        let base = match url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let first = brokers.split(',').next().unwrap_or("127.0.0.1").trim();
                let first = first.rsplit_once("://").map_or(first, |(_, rest)| rest);
                let host = match first.rsplit_once(':') {
                    Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
                    _ => first,
                };
                let host = if host.is_empty() || host == "localhost" {
                    "127.0.0.1"
                } else {
                    host
                };
                format!("http://{host}:{DEFAULT_ADMIN_PORT}")
            }
        };
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        // The password goes only where it cannot be read on the way: over HTTPS (a TLS proxy
        // in front of Weir's HTTP API) or to this machine.
        let authorization = authorization.filter(|_| private_channel(&base));
        Http {
            base,
            agent,
            authorization,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        path: String,
        body: Body,
    ) -> Result<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.call_blocking(method, &path, body))
            .await
            .map_err(|e| Error::Api {
                status: 0,
                message: format!("admin call panicked: {e}"),
            })?
    }

    fn call_blocking<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Body,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.request(method, &url);
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a);
        }
        let result = match body {
            Body::None => req.call(),
            Body::Bytes(b) => req.set("content-type", "application/wasm").send_bytes(&b),
            Body::Json(v) => req.send_json(v),
        };
        let text = match result {
            Ok(resp) => resp.into_string().map_err(|e| Error::Api {
                status: 0,
                message: format!("reading {url}: {e}"),
            })?,
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or(text);
                return Err(Error::Api { status, message });
            }
            Err(e) => {
                return Err(Error::Unreachable(format!(
                    "{} (Weir's HTTP admin API; set admin_url if it listens elsewhere): {e}",
                    self.base
                )));
            }
        };
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|e| Error::Api {
            status: 200,
            message: format!("unexpected answer from {url}: {e}"),
        })
    }
}

/// Percent-encodes a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// librdkafka reports a plugin rejection only as INVALID_RECORD; the broker's reason (which
/// Produce v8+ carries in `error_message`) is not passed on. Weir writes every rejected batch
/// to the plugin's log, so the reason is read back from there: the newest rejection of `topic`
/// logged since `since_ms` by a plugin attached to it.
pub(crate) async fn rejection_reason(http: &Http, topic: &str, since_ms: i64) -> Option<String> {
    let plugins: Vec<Value> = http
        .call("GET", "/v1/plugins".into(), Body::None)
        .await
        .ok()?;
    let prefix = format!("[{topic}] rejected ");
    let mut best: Option<(i64, String)> = None;
    for p in plugins {
        let uses = p
            .get("topics")
            .and_then(Value::as_array)
            .is_some_and(|ts| ts.iter().any(|t| t.as_str() == Some(topic)));
        let Some(name) = p.get("name").and_then(Value::as_str).filter(|_| uses) else {
            continue;
        };
        let lines: Vec<Value> = http
            .call(
                "GET",
                format!("/v1/plugins/{}/logs?limit=100", enc(name)),
                Body::None,
            )
            .await
            .unwrap_or_default();
        for l in lines {
            let ts = l.get("timestamp_ms").and_then(Value::as_i64).unwrap_or(0);
            let msg = l.get("message").and_then(Value::as_str).unwrap_or("");
            if ts + 1000 < since_ms || !msg.starts_with(&prefix) {
                continue;
            }
            // "... which fails: rejected by plugin 'NAME': REASON": the plugin's own words.
            let reason = msg.split_once("which fails: ").map_or(msg, |(_, r)| r);
            let reason = reason
                .strip_prefix("rejected by plugin '")
                .and_then(|r| r.split_once("': "))
                .map_or(reason, |(_, r)| r)
                .to_string();
            if best.as_ref().is_none_or(|(t, _)| ts >= *t) {
                best = Some((ts, reason));
            }
        }
    }
    best.map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_over_https_or_loopback() {
        assert!(private_channel("https://weir.example:9644"));
        assert!(private_channel("http://127.0.0.1:9644"));
        assert!(private_channel("http://[::1]:9644"));
        assert!(private_channel("http://localhost:9644/x"));
        assert!(!private_channel("http://10.0.0.5:9644"));
        assert!(!private_channel("http://weir.example:9644"));
    }
}
