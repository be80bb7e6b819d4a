//! One client connection's SASL state: which requests it may send and what its SaslHandshake
//! and SaslAuthenticate requests are answered with.

use bytes::Bytes;
use weir_protocol::Request;
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::{
    RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeResponse,
};
use weir_protocol::kafka::protocol::StrBytes;

use super::{Directory, Mechanism, Security, scram};

/// What to do with a request.
pub(crate) enum Gate {
    /// Serve it as usual.
    Pass,
    /// Answer with this (a SASL step), then close the connection if `close`.
    Reply {
        body: Box<ResponseKind>,
        close: bool,
    },
    /// Close the connection without an answer, logging why.
    Close(String),
}

enum State {
    /// The listener does not use SASL.
    Open,
    /// Waiting for SaslHandshake.
    Handshake,
    /// The mechanism is chosen; waiting for the first SaslAuthenticate.
    Mechanism(Mechanism),
    /// SCRAM: the server's first message is sent; waiting for the client's proof.
    ScramFinal(Box<scram::ServerFirst>),
    /// Authenticated (as the user the log line names; nothing is authorized per user yet).
    Authenticated,
}

pub(crate) struct Session {
    state: State,
    /// The handshake was v0: the SASL tokens that follow come as raw frames, not as
    /// SaslAuthenticate requests.
    raw: bool,
    /// The user the connection authenticated as (SASL).
    user: Option<String>,
}

/// How a SASL exchange ended, for the log and the metrics.
pub(crate) enum Outcome {
    Succeeded {
        user: String,
        mechanism: Mechanism,
    },
    Failed {
        mechanism: Mechanism,
        reason: String,
    },
}

impl Session {
    pub(crate) fn new(security: &Security) -> Session {
        Session {
            state: if security.protocol.uses_sasl() {
                State::Handshake
            } else {
                State::Open
            },
            raw: false,
            user: None,
        }
    }

    /// Decides what happens to `req`; SASL requests are answered here. `outcome` is set when
    /// an authentication ends.
    pub(crate) fn check(
        &mut self,
        security: &Security,
        directory: &Directory<'_>,
        req: &Request,
        outcome: &mut Option<Outcome>,
    ) -> Gate {
        let sasl = security.protocol.uses_sasl();
        match &req.body {
            RequestKind::ApiVersions(_) => Gate::Pass,
            RequestKind::SaslHandshake(r) => {
                let enabled: Vec<StrBytes> = if sasl {
                    security
                        .mechanisms
                        .iter()
                        .map(|m| StrBytes::from_static_str(m.name()))
                        .collect()
                } else {
                    Vec::new()
                };
                let reply = |code: i16, close: bool| Gate::Reply {
                    body: Box::new(ResponseKind::SaslHandshake(
                        SaslHandshakeResponse::default()
                            .with_error_code(code)
                            .with_mechanisms(enabled.clone()),
                    )),
                    close,
                };
                if !matches!(self.state, State::Handshake) {
                    // A second handshake, or one on a listener without SASL.
                    return reply(ResponseError::IllegalSaslState.code(), sasl);
                }
                match Mechanism::from_name(r.mechanism.as_str())
                    .filter(|m| security.mechanisms.contains(m))
                {
                    Some(m) => {
                        self.state = State::Mechanism(m);
                        self.raw = req.version == 0;
                        reply(0, false)
                    }
                    None => reply(ResponseError::UnsupportedSaslMechanism.code(), true),
                }
            }
            RequestKind::SaslAuthenticate(r) => self.authenticate(security, directory, r, outcome),
            _ => match &self.state {
                State::Open | State::Authenticated => Gate::Pass,
                _ => Gate::Close(format!(
                    "{:?} request before SASL authentication completed",
                    req.api
                )),
            },
        }
    }

    /// The SASL user the connection authenticated as; `None` on a listener without SASL.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether requests are served (no SASL on the listener, or authenticated).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open | State::Authenticated)
    }

    /// Whether the next frame is a raw SASL token (after a SaslHandshake v0) rather than a
    /// request.
    pub(crate) fn expects_raw_token(&self) -> bool {
        self.raw && matches!(self.state, State::Mechanism(_) | State::ScramFinal(_))
    }

    /// A raw SASL token (SaslHandshake v0): the raw token to answer with, or `None` when the
    /// exchange failed and the connection must close (v0 has no way to say why).
    pub(crate) fn raw_token(
        &mut self,
        directory: &Directory<'_>,
        token: &[u8],
        outcome: &mut Option<Outcome>,
    ) -> Option<Vec<u8>> {
        self.step(directory, token, outcome).ok()
    }

    fn authenticate(
        &mut self,
        security: &Security,
        directory: &Directory<'_>,
        r: &SaslAuthenticateRequest,
        outcome: &mut Option<Outcome>,
    ) -> Gate {
        if self.raw || !matches!(self.state, State::Mechanism(_) | State::ScramFinal(_)) {
            let sasl = security.protocol.uses_sasl();
            let message = match &self.state {
                State::Open => "this listener does not use SASL",
                State::Authenticated => "the connection is already authenticated",
                _ if self.raw => "SaslAuthenticate after a SaslHandshake v0",
                _ => "SaslAuthenticate before SaslHandshake",
            };
            return Gate::Reply {
                body: Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_error_code(ResponseError::IllegalSaslState.code())
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                )),
                close: sasl,
            };
        }
        match self.step(directory, &r.auth_bytes, outcome) {
            Ok(bytes) => Gate::Reply {
                body: Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(Bytes::from(bytes))
                        .with_session_lifetime_ms(0),
                )),
                close: false,
            },
            Err(message) => Gate::Reply {
                body: Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                )),
                close: true,
            },
        }
    }

    /// One token of the exchange, in a state that expects one: the token to answer with, or
    /// why authentication failed.
    fn step(
        &mut self,
        directory: &Directory<'_>,
        token: &[u8],
        outcome: &mut Option<Outcome>,
    ) -> Result<Vec<u8>, String> {
        let mut fail = |mechanism: Mechanism, reason: String| {
            *outcome = Some(Outcome::Failed {
                mechanism,
                reason: reason.clone(),
            });
            Err(reason)
        };
        match std::mem::replace(&mut self.state, State::Handshake) {
            State::Mechanism(Mechanism::Plain) => match parse_plain(token) {
                Some((user, password)) if directory.check_password(&user, &password) => {
                    self.user = Some(user.clone());
                    *outcome = Some(Outcome::Succeeded {
                        user,
                        mechanism: Mechanism::Plain,
                    });
                    self.state = State::Authenticated;
                    Ok(Vec::new())
                }
                None => fail(
                    Mechanism::Plain,
                    "Authentication failed: invalid PLAIN message".into(),
                ),
                Some(_) => fail(
                    Mechanism::Plain,
                    "Authentication failed: Invalid username or password".into(),
                ),
            },
            State::Mechanism(m @ (Mechanism::ScramSha256 | Mechanism::ScramSha512)) => {
                let hash = scram::Hash::of(m).unwrap_or(scram::Hash::Sha512);
                let lookup = |u: &str| directory.scram(u, hash);
                match scram::server_first(hash, token, lookup) {
                    Ok((state, reply)) => {
                        self.state = State::ScramFinal(Box::new(state));
                        Ok(reply)
                    }
                    Err(scram::Failed(reason)) => fail(m, reason),
                }
            }
            State::ScramFinal(state) => {
                let mechanism = state.mechanism();
                match state.finish(token) {
                    Ok((user, reply)) => {
                        self.user = Some(user.clone());
                        *outcome = Some(Outcome::Succeeded { user, mechanism });
                        self.state = State::Authenticated;
                        Ok(reply)
                    }
                    Err(scram::Failed(reason)) => fail(mechanism, reason),
                }
            }
            other => {
                self.state = other;
                Err("no SASL exchange in progress".into())
            }
        }
    }
}

/// PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. An authorization id other than the
/// user name is refused, as Kafka does.
fn parse_plain(bytes: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        assert_eq!(
            parse_plain(b"\0alice\0pw"),
            Some(("alice".into(), "pw".into()))
        );
        assert_eq!(
            parse_plain(b"alice\0alice\0pw"),
            Some(("alice".into(), "pw".into()))
        );
        assert_eq!(parse_plain(b"bob\0alice\0pw"), None);
        assert_eq!(parse_plain(b"\0alice"), None);
        assert_eq!(parse_plain(b"\0\0pw"), None);
        assert_eq!(parse_plain(b"\0a\0b\0c"), None);
        assert_eq!(parse_plain(b"\0\xff\0pw"), None);
    }
}
