//! Listener security, as Kafka's `listeners=SASL_SSL://...`: TLS (rustls) and SASL
//! authentication with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (`sasl.enabled.mechanisms`)
//! against a set of users loaded at start.
//!
//! The listener speaks one [`SecurityProtocol`]. With TLS, every connection is a TLS session
//! before the first Kafka byte. With SASL, a connection must authenticate (SaslHandshake v1,
//! then SaslAuthenticate) before any request but ApiVersions; anything else closes it, as in
//! Kafka. Brokers of a cluster reach each other on the same listener (replica fetches,
//! coordinator calls), as the user named by [`Security::inter_broker_user`].

mod client;
pub(crate) mod scram;
mod session;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use client::{BrokerStream, connect};
pub(crate) use session::{Gate, Outcome, Session};

use crate::error::{Error, Result};

/// `security.protocol` of the listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's names (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`), in any case.
    pub fn parse(s: &str) -> Result<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(Error::Config(format!(
                "unknown security protocol {other:?}: use PLAINTEXT, SSL, SASL_PLAINTEXT or \
                 SASL_SSL"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// A SASL mechanism Weir serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub const ALL: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of that name (exact, as Kafka compares them).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Parses a comma-separated list such as `PLAIN,SCRAM-SHA-512` (case-insensitive here:
    /// it is configuration, not the wire).
    pub fn parse_list(s: &str) -> Result<Vec<Mechanism>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let m = Mechanism::from_name(&part.to_ascii_uppercase()).ok_or_else(|| {
                Error::Config(format!(
                    "unknown SASL mechanism {part:?}: Weir serves PLAIN, SCRAM-SHA-256 and \
                     SCRAM-SHA-512"
                ))
            })?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err(Error::Config("no SASL mechanism enabled".into()));
        }
        Ok(out)
    }
}

/// One user that may authenticate: the password for PLAIN and the SCRAM credentials derived
/// from it at start (a random salt per user and mechanism).
pub struct User {
    password: String,
    scram_sha256: scram::Credential,
    scram_sha512: scram::Credential,
}

impl User {
    fn new(password: &str) -> Result<User> {
        Ok(User {
            password: password.to_string(),
            scram_sha256: scram::derive(scram::Hash::Sha256, password, scram::DEFAULT_ITERATIONS)?,
            scram_sha512: scram::derive(scram::Hash::Sha512, password, scram::DEFAULT_ITERATIONS)?,
        })
    }

    pub(crate) fn scram(&self, hash: scram::Hash) -> &scram::Credential {
        match hash {
            scram::Hash::Sha256 => &self.scram_sha256,
            scram::Hash::Sha512 => &self.scram_sha512,
        }
    }
}

/// Reads a users file: one `name:password` per line (the password is the rest of the line,
/// colons included); blank lines and lines starting with `#` are skipped.
pub fn parse_user_lines(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, password) = line.split_once(':').ok_or_else(|| {
            Error::Config(format!("users file line {}: expected name:password", i + 1))
        })?;
        pairs.push((name.trim().to_string(), password.to_string()));
    }
    Ok(pairs)
}

/// The users that may authenticate, by name.
#[derive(Default)]
pub struct Users(BTreeMap<String, User>);

impl Users {
    /// Parses a users file (see [`parse_user_lines`]).
    pub fn parse(text: &str) -> Result<Users> {
        Users::from_pairs(parse_user_lines(text)?)
    }

    /// Users from `(name, password)` pairs. Names must be non-empty, unique and free of `,`
    /// and `=` only where SCRAM would need escaping (both are allowed: SCRAM escapes them).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Users> {
        let mut users = BTreeMap::new();
        for (name, password) in pairs {
            if name.is_empty() {
                return Err(Error::Config("a SASL user with an empty name".into()));
            }
            if password.is_empty() {
                return Err(Error::Config(format!(
                    "SASL user {name:?} has an empty password"
                )));
            }
            if name.contains('\0') || password.contains('\0') {
                return Err(Error::Config(format!(
                    "SASL user {name:?}: names and passwords cannot contain NUL"
                )));
            }
            if users.contains_key(&name) {
                return Err(Error::Config(format!("SASL user {name:?} is listed twice")));
            }
            let user = User::new(&password)?;
            users.insert(name, user);
        }
        Ok(Users(users))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The users' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&User> {
        self.0.get(name)
    }

    /// PLAIN: the user exists and the password matches (compared in constant time).
    pub(crate) fn check_password(&self, name: &str, password: &str) -> bool {
        let user = self.0.get(name);
        // An unknown user is checked against a password no one can send (it holds a NUL).
        let want = user.map_or("\0", |u| u.password.as_str());
        scram::constant_time_eq(password.as_bytes(), want.as_bytes()) && user.is_some()
    }
}

/// Every user that may authenticate: those of the users file, read at start, and those made
/// since with AlterUserScramCredentials (`kafka-configs --alter --entity-type users`), whose
/// credentials live in the metadata log. A user of the file is managed in the file: the API
/// refuses to change it, and the file's entry is the one that counts.
pub(crate) struct Directory<'a> {
    users: &'a Users,
    metadata: &'a weir_metadata::MetadataStore,
}

impl Directory<'_> {
    /// The user's credential for SCRAM with `hash`.
    pub(crate) fn scram(&self, user: &str, hash: scram::Hash) -> Option<scram::Credential> {
        if let Some(u) = self.users.get(user) {
            return Some(u.scram(hash).clone());
        }
        self.metadata.read(|s| {
            s.scram_credentials
                .get(user)?
                .get(hash.mechanism().name())
                .cloned()
        })
    }

    /// PLAIN and HTTP Basic: the user exists and the password is theirs. A user with only
    /// SCRAM credentials is checked against the strongest one (one PBKDF2 derivation).
    pub(crate) fn check_password(&self, user: &str, password: &str) -> bool {
        if !self.users.contains(user) {
            let dynamic = self.metadata.read(|s| {
                let creds = s.scram_credentials.get(user)?;
                [scram::Hash::Sha512, scram::Hash::Sha256]
                    .into_iter()
                    .find_map(|h| creds.get(h.mechanism().name()).map(|c| (h, c.clone())))
            });
            if let Some((hash, credential)) = dynamic {
                return scram::verify_password(hash, &credential, password);
            }
            // An unknown user costs a PBKDF2 as well, so that timing does not tell which
            // names exist.
            let decoy = scram::decoy(scram::Hash::Sha512, user);
            scram::verify_password(scram::Hash::Sha512, &decoy, password);
            return false;
        }
        self.users.check_password(user, password)
    }
}

/// The user and password of an HTTP `Authorization: Basic ...` header.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// An HTTP `Authorization` header value for `user` and `password` (Basic).
pub fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Files of the listener's TLS identity (PEM).
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (`ssl.keystore.location` in Kafka's terms).
    pub cert: PathBuf,
    /// The private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates trusted when this broker connects to others over TLS (inter-broker
    /// replication); also, with `client_auth`, the CAs client certificates must chain to.
    pub ca: Option<PathBuf>,
    /// `ssl.client.auth=required`: clients must present a certificate issued by `ca`.
    pub client_auth: bool,
}

/// How the Kafka listener is secured: built once at start (certificates read, SCRAM
/// credentials derived), shared by every connection.
#[derive(Clone, Default)]
pub struct Security {
    pub protocol: SecurityProtocol,
    /// Enabled mechanisms, in the order a SaslHandshake response lists them.
    pub mechanisms: Vec<Mechanism>,
    pub users: Arc<Users>,
    /// The user this broker authenticates as when it connects to another broker.
    pub inter_broker_user: Option<String>,
    tls: Option<tls::Tls>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("mechanisms", &self.mechanisms)
            .field("users", &self.users.len())
            .field("inter_broker_user", &self.inter_broker_user)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Security {
    /// A listener without TLS or SASL.
    pub fn plaintext() -> Security {
        Security::default()
    }

    /// Checks the settings against each other and loads what they name. SASL needs at least
    /// one user and mechanism; TLS needs a certificate and key; an inter-broker user must be
    /// one of the users.
    pub fn new(
        protocol: SecurityProtocol,
        mechanisms: Vec<Mechanism>,
        users: Users,
        inter_broker_user: Option<String>,
        tls_files: Option<TlsFiles>,
    ) -> Result<Security> {
        if protocol.uses_sasl() {
            if users.is_empty() {
                return Err(Error::Config(format!(
                    "the listener is {} but no SASL users are configured (--sasl-users-file or \
                     --sasl-users)",
                    protocol.name()
                )));
            }
            if mechanisms.is_empty() {
                return Err(Error::Config("no SASL mechanism enabled".into()));
            }
            if let Some(u) = &inter_broker_user
                && !users.contains(u)
            {
                return Err(Error::Config(format!(
                    "the inter-broker user {u:?} is not one of the SASL users"
                )));
            }
        }
        let tls = match (protocol.uses_tls(), tls_files) {
            (true, Some(files)) => Some(tls::Tls::load(&files)?),
            (true, None) => {
                return Err(Error::Config(format!(
                    "the listener is {} but has no certificate: give --tls-cert-file and \
                     --tls-key-file",
                    protocol.name()
                )));
            }
            (false, _) => None,
        };
        Ok(Security {
            protocol,
            mechanisms,
            users: Arc::new(users),
            inter_broker_user,
            tls,
        })
    }

    /// The inter-broker user and its password, when other brokers want them: users exist only
    /// when some listener uses SASL, and then the HTTP and controller listeners want one,
    /// whatever the inter-broker listener speaks.
    fn inter_broker_credentials(&self) -> Option<(&str, &str)> {
        if self.users.is_empty() {
            return None;
        }
        let user = self.inter_broker_user.as_deref()?;
        Some((user, self.users.get(user)?.password.as_str()))
    }

    /// The `Authorization` header this broker sends to other brokers' HTTP APIs (the
    /// inter-broker user's), when they want one.
    pub(crate) fn inter_broker_http_auth(&self) -> Option<String> {
        let (user, password) = self.inter_broker_credentials()?;
        Some(basic_header(user, password))
    }

    /// The same users and certificates on a listener speaking `protocol` (one of several
    /// listeners). This security must have been built for a protocol that needs at least as
    /// much: users for SASL, a certificate for TLS.
    pub fn with_protocol(&self, protocol: SecurityProtocol) -> Result<Security> {
        if protocol.uses_sasl() && self.users.is_empty() {
            return Err(Error::Config(format!(
                "a {} listener needs SASL users (--sasl-users-file or --sasl-users)",
                protocol.name()
            )));
        }
        if protocol.uses_tls() && self.tls.is_none() {
            return Err(Error::Config(format!(
                "a {} listener needs --tls-cert-file and --tls-key-file",
                protocol.name()
            )));
        }
        Ok(Security {
            protocol,
            ..self.clone()
        })
    }

    /// The `Authorization` header of controller (Raft) requests when any listener uses SASL:
    /// a secret derived from the inter-broker user's password, so that the plain-HTTP
    /// controller traffic does not carry the password itself. Every member of a quorum derives
    /// the same one.
    pub fn controller_auth(&self) -> Option<String> {
        let (user, password) = self.inter_broker_credentials()?;
        let purpose = format!("weir-controller-v1:{user}");
        Some(format!(
            "Weir-Controller {}",
            scram::derived_secret(password, &purpose)
        ))
    }

    /// The users this listener knows, static and dynamic.
    pub(crate) fn directory<'a>(
        &'a self,
        metadata: &'a weir_metadata::MetadataStore,
    ) -> Directory<'a> {
        Directory {
            users: &self.users,
            metadata,
        }
    }

    /// The TLS identity, when this listener speaks TLS.
    pub(crate) fn tls(&self) -> Option<&tls::Tls> {
        self.tls.as_ref().filter(|_| self.protocol.uses_tls())
    }

    /// What a broker of a cluster must have to reach the others on this (the inter-broker)
    /// listener: the inter-broker user when any listener uses SASL (the controller and HTTP
    /// listeners want it then), and CAs to check their certificates under TLS.
    pub fn check_for_cluster(&self) -> Result<()> {
        if !self.users.is_empty() && self.inter_broker_user.is_none() {
            return Err(Error::Config(
                "a cluster member with a SASL listener needs --inter-broker-user (one of the \
                 SASL users) to replicate from the other brokers and reach their controller \
                 and HTTP listeners"
                    .into(),
            ));
        }
        if let Some(t) = self.tls()
            && !t.can_connect()
        {
            return Err(Error::Config(format!(
                "a cluster member with a {} listener needs --tls-ca-file (the CA that issued \
                 the brokers' certificates) to connect to the other brokers",
                self.protocol.name()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_lines() {
        let users =
            Users::parse("# comment\n\nalice:alice-secret\nbob: with:colons \r\n").expect("parses");
        assert_eq!(users.len(), 2);
        assert!(users.check_password("alice", "alice-secret"));
        assert!(!users.check_password("alice", "alice-secre"));
        assert!(!users.check_password("alice", "alice-secret2"));
        assert!(users.check_password("bob", " with:colons "));
        assert!(!users.check_password("carol", "x"));
        assert!(Users::parse("nocolon\n").is_err());
        assert!(Users::parse("a:x\na:y\n").is_err());
        assert!(Users::parse(":x\n").is_err());
        assert!(Users::parse("a:\n").is_err());
    }

    #[test]
    fn basic_auth_headers() {
        let h = basic_header("alice", "p:w");
        assert_eq!(basic_credentials(&h), Some(("alice".into(), "p:w".into())));
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            SecurityProtocol::parse("sasl_ssl").expect("known"),
            SecurityProtocol::SaslSsl
        );
        assert!(SecurityProtocol::parse("TLS").is_err());
        assert_eq!(
            Mechanism::parse_list("plain, scram-sha-512,PLAIN").expect("known"),
            vec![Mechanism::Plain, Mechanism::ScramSha512]
        );
        assert!(Mechanism::parse_list("GSSAPI").is_err());
        assert!(Mechanism::parse_list(" , ").is_err());
    }

    #[test]
    fn sasl_without_users_is_refused() {
        let e = Security::new(
            SecurityProtocol::SaslPlaintext,
            Mechanism::ALL.to_vec(),
            Users::default(),
            None,
            None,
        )
        .expect_err("refused");
        assert!(e.to_string().contains("no SASL users"), "{e}");
        let e = Security::new(
            SecurityProtocol::Ssl,
            Vec::new(),
            Users::default(),
            None,
            None,
        )
        .expect_err("refused");
        assert!(e.to_string().contains("--tls-cert-file"), "{e}");
    }
}
