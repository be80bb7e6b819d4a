//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them: no channel
//! binding, an optional authorization id that must equal the user name, extensions other than
//! `tokenauth` ignored. The server side authenticates clients; the client side is what a
//! broker uses to reach another broker, and what the tests check the server with.
//!
//! The hash, HMAC and PBKDF2 come from the RustCrypto crates; this module only parses and
//! builds the messages and checks the proof.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256, Sha512};

use weir_metadata::{SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS};

use crate::error::{Error, Result};

/// Iterations of new credentials: Kafka's minimum for SCRAM, and what `kafka-configs`
/// uses unless told otherwise.
pub(crate) const DEFAULT_ITERATIONS: u32 = 4096;
/// Bytes of randomness in a salt and in the server's part of the nonce.
const RANDOM_BYTES: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    /// The SASL mechanism of this hash.
    pub(crate) fn mechanism(self) -> super::Mechanism {
        match self {
            Hash::Sha256 => super::Mechanism::ScramSha256,
            Hash::Sha512 => super::Mechanism::ScramSha512,
        }
    }

    /// The hash of a SCRAM mechanism; `None` for PLAIN.
    pub(crate) fn of(mechanism: super::Mechanism) -> Option<Hash> {
        match mechanism {
            super::Mechanism::ScramSha256 => Some(Hash::Sha256),
            super::Mechanism::ScramSha512 => Some(Hash::Sha512),
            super::Mechanism::Plain => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => mac::<Hmac<Sha256>>(key, data),
            Hash::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
                out.to_vec()
            }
            Hash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// HMAC of `data` under `key`. HMAC accepts keys of any length, so `new_from_slice` cannot
/// fail for it.
fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// What the server keeps of a password: enough to check a proof, not enough to make one. The
/// same type is what the metadata log stores for users made with AlterUserScramCredentials.
pub(crate) use weir_metadata::ScramCredential as Credential;

/// Derives a credential with a fresh random salt.
pub(crate) fn derive(hash: Hash, password: &str, iterations: u32) -> Result<Credential> {
    let salt = random_bytes()?;
    Ok(with_salt(hash, password, salt, iterations))
}

fn with_salt(hash: Hash, password: &str, salt: Vec<u8>, iterations: u32) -> Credential {
    let salted = hash.salted_password(password, &salt, iterations);
    from_salted_password(hash, salt, &salted, iterations)
}

/// The credential of a salted password (`Hi(password, salt, iterations)`), which is what a
/// client sends in AlterUserScramCredentials: the password itself never reaches the broker.
pub(crate) fn from_salted_password(
    hash: Hash,
    salt: Vec<u8>,
    salted: &[u8],
    iterations: u32,
) -> Credential {
    let client_key = hash.hmac(salted, b"Client Key");
    Credential {
        stored_key: hash.digest(&client_key),
        server_key: hash.hmac(salted, b"Server Key"),
        salt,
        iterations,
    }
}

/// A secret derived from `password` for one purpose (HMAC-SHA-256 of `purpose`, hex): it
/// proves knowledge of the password without carrying it.
pub(crate) fn derived_secret(password: &str, purpose: &str) -> String {
    Hash::Sha256
        .hmac(password.as_bytes(), purpose.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `password` is the one `credential` was made from (for PLAIN and HTTP Basic logins
/// of users that only have SCRAM credentials). Costs one PBKDF2 of the credential's
/// iterations.
pub(crate) fn verify_password(hash: Hash, credential: &Credential, password: &str) -> bool {
    let salted = hash.salted_password(password, &credential.salt, credential.iterations);
    let candidate = hash.digest(&hash.hmac(&salted, b"Client Key"));
    constant_time_eq(&candidate, &credential.stored_key)
}

fn random_bytes() -> Result<Vec<u8>> {
    let mut b = vec![0u8; RANDOM_BYTES];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Config(format!("no randomness for SCRAM salts and nonces: {e}")))?;
    Ok(b)
}

/// Why an exchange failed; the message goes back to the client in SaslAuthenticate's
/// `error_message` (SASL_AUTHENTICATION_FAILED).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failed(pub(crate) String);

fn malformed(what: &str) -> Failed {
    Failed(format!("Authentication failed: invalid SCRAM {what}"))
}

/// Decodes a `saslname` (RFC 5802: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid).
fn decode_name(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn encode_name(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// A nonce is printable ASCII without `,`.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The server between its first message and the client's final one.
pub(crate) struct ServerFirst {
    hash: Hash,
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// For a user that does not exist, a made-up credential: the exchange goes on, does the
    /// same work and fails at the proof, so that a client cannot tell unknown users from wrong
    /// passwords.
    credential: Credential,
    known: bool,
}

/// Reads the client's first message and answers with the salt, iterations and nonce.
/// `lookup` finds a user's credential for this hash.
pub(crate) fn server_first(
    hash: Hash,
    client_first: &[u8],
    lookup: impl FnOnce(&str) -> Option<Credential>,
) -> Result<(ServerFirst, Vec<u8>), Failed> {
    let server_nonce = random_bytes().map_err(|e| Failed(e.to_string()))?;
    server_first_with(hash, client_first, lookup, &B64.encode(server_nonce))
}

fn server_first_with(
    hash: Hash,
    client_first: &[u8],
    lookup: impl FnOnce(&str) -> Option<Credential>,
    server_nonce: &str,
) -> Result<(ServerFirst, Vec<u8>), Failed> {
    let msg = std::str::from_utf8(client_first).map_err(|_| malformed("client first message"))?;
    // gs2-header: cbind-flag "," [authzid] ","
    let mut parts = msg.splitn(3, ',');
    let (Some(cbind), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("client first message"));
    };
    match cbind {
        "n" | "y" => {}
        c if c.starts_with("p=") => {
            return Err(Failed(
                "Authentication failed: channel binding is not supported".into(),
            ));
        }
        _ => return Err(malformed("client first message")),
    }
    let authzid = match authzid {
        "" => None,
        a => Some(
            a.strip_prefix("a=")
                .and_then(decode_name)
                .ok_or_else(|| malformed("authorization id"))?,
        ),
    };
    let mut fields = bare.split(',');
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .and_then(decode_name)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| malformed("user name"))?;
    let client_nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| valid_nonce(n))
        .ok_or_else(|| malformed("nonce"))?;
    for ext in fields {
        if ext == "tokenauth=true" {
            return Err(Failed(
                "Authentication failed: delegation tokens are not supported".into(),
            ));
        }
    }
    if authzid.as_ref().is_some_and(|a| *a != user) {
        return Err(Failed(
            "Authentication failed: the authorization id must be the user name".into(),
        ));
    }
    let found = lookup(&user);
    let known = found.is_some();
    let credential = found.unwrap_or_else(|| decoy(hash, &user));
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        B64.encode(&credential.salt),
        credential.iterations
    );
    let reply = server_first.clone().into_bytes();
    Ok((
        ServerFirst {
            hash,
            user,
            gs2_header: msg[..msg.len() - bare.len()].to_string(),
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            credential,
            known,
        },
        reply,
    ))
}

/// A credential for an unknown user, the same on every attempt (so that repeated tries do
/// not reveal the user is made up) and unguessable: its salt and keys come from a key made at
/// start. No password leads to it.
pub(crate) fn decoy(hash: Hash, user: &str) -> Credential {
    use std::sync::OnceLock;
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    let key = KEY.get_or_init(|| random_bytes().unwrap_or_else(|_| b"weir".to_vec()));
    let mut salt = hash.hmac(key, user.as_bytes());
    salt.truncate(RANDOM_BYTES);
    Credential {
        stored_key: hash.hmac(key, &[user.as_bytes(), b"stored"].concat()),
        server_key: hash.hmac(key, &[user.as_bytes(), b"server"].concat()),
        salt,
        iterations: DEFAULT_ITERATIONS,
    }
}

impl ServerFirst {
    pub(crate) fn mechanism(&self) -> super::Mechanism {
        self.hash.mechanism()
    }

    /// Checks the client's final message. On success: the user name and the server's final
    /// message (its signature, which the client checks).
    pub(crate) fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), Failed> {
        let msg =
            std::str::from_utf8(client_final).map_err(|_| malformed("client final message"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("client final message"))?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or_else(|| malformed("channel binding"))?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or_else(|| malformed("nonce"))?;
        if binding != B64.encode(self.gs2_header.as_bytes()) {
            return Err(malformed("channel binding"));
        }
        // RFC 5802 wants the nonce back exactly. librdkafka (1.x and 2.x) sends its own nonce
        // again in front of the server's combined one, and Kafka accepts any nonce that ends
        // with the server's: so does Weir (the server's random part is still in it).
        if !nonce.ends_with(&self.nonce) {
            return Err(Failed(
                "Authentication failed: the nonce does not match the server's".into(),
            ));
        }
        let proof = B64.decode(proof).map_err(|_| malformed("proof"))?;
        let failed = || {
            Failed(format!(
                "Authentication failed during authentication due to invalid credentials with \
                 SASL mechanism {}",
                match self.hash {
                    Hash::Sha256 => "SCRAM-SHA-256",
                    Hash::Sha512 => "SCRAM-SHA-512",
                }
            ))
        };
        let cred = &self.credential;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = self.hash.hmac(&cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(failed());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        // Compare H(ClientKey) with StoredKey as MACs under one key: constant time.
        let stored = self.hash.digest(&client_key);
        if !constant_time_eq(&stored, &cred.stored_key) || !self.known {
            return Err(failed());
        }
        let server_signature = self.hash.hmac(&cred.server_key, auth_message.as_bytes());
        Ok((
            self.user,
            format!("v={}", B64.encode(server_signature)).into_bytes(),
        ))
    }
}

/// Whether `a` and `b` are equal, compared as MACs under one key: the time taken does not
/// depend on where they first differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mac = |d: &[u8]| {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"weir-scram").ok()?;
        m.update(d);
        Some(m)
    };
    match (mac(a), mac(b)) {
        (Some(m), Some(n)) => m.verify(&n.finalize().into_bytes()).is_ok(),
        _ => false,
    }
}

/// The client side, for one exchange.
pub(crate) struct Client {
    hash: Hash,
    password: String,
    client_first_bare: String,
    nonce: String,
}

impl Client {
    /// The client's first message.
    pub(crate) fn start(hash: Hash, user: &str, password: &str) -> Result<(Client, Vec<u8>)> {
        Ok(Client::start_with(
            hash,
            user,
            password,
            &B64.encode(random_bytes()?),
        ))
    }

    fn start_with(hash: Hash, user: &str, password: &str, nonce: &str) -> (Client, Vec<u8>) {
        let bare = format!("n={},r={nonce}", encode_name(user));
        let first = format!("n,,{bare}").into_bytes();
        (
            Client {
                hash,
                password: password.to_string(),
                client_first_bare: bare,
                nonce: nonce.to_string(),
            },
            first,
        )
    }

    /// Answers the server's first message with the proof; returns the final message and the
    /// server signature to expect.
    pub(crate) fn respond(&self, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Failed> {
        let msg =
            std::str::from_utf8(server_first).map_err(|_| malformed("server first message"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for f in msg.split(',') {
            if let Some(v) = f.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = f.strip_prefix("s=") {
                salt = B64.decode(v).ok();
            } else if let Some(v) = f.strip_prefix("i=") {
                iterations = v.parse::<u32>().ok();
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(malformed("server first message"));
        };
        if !nonce.starts_with(&self.nonce) {
            return Err(malformed("server first message"));
        }
        // Kafka's bounds: fewer is weak, more lets a rogue server burn this side's CPU.
        if !(SCRAM_MIN_ITERATIONS..=SCRAM_MAX_ITERATIONS).contains(&iterations) {
            return Err(Failed(format!(
                "SCRAM iterations {iterations} outside {SCRAM_MIN_ITERATIONS}..={SCRAM_MAX_ITERATIONS}"
            )));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{msg},{without_proof}", self.client_first_bare);
        let salted = self.hash.salted_password(&self.password, &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.digest(&client_key);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        let server_signature = self.hash.hmac(&server_key, auth_message.as_bytes());
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)).into_bytes(),
            format!("v={}", B64.encode(server_signature)).into_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_exchange() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("base64");
        let cred = with_salt(Hash::Sha256, "pencil", salt, 4096);
        let (state, first) = server_first_with(
            Hash::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            |u| (u == "user").then(|| cred.clone()),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .expect("first");
        assert_eq!(
            String::from_utf8(first).expect("utf8"),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, fin) = state
            .finish(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .expect("final");
        assert_eq!(user, "user");
        assert_eq!(
            String::from_utf8(fin).expect("utf8"),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    fn exchange(
        hash: Hash,
        server_pw: &str,
        client_user: &str,
        client_pw: &str,
    ) -> Result<String, Failed> {
        let cred = derive(hash, server_pw, DEFAULT_ITERATIONS).expect("derive");
        let (client, first) = Client::start(hash, client_user, client_pw).expect("start");
        let (state, reply) =
            server_first(hash, &first, |u| (u == "al,i=ce").then(|| cred.clone()))?;
        let (fin, want) = client.respond(&reply)?;
        let (user, server_final) = state.finish(&fin)?;
        assert_eq!(
            server_final, want,
            "the client checks the server's signature"
        );
        Ok(user)
    }

    #[test]
    fn both_hashes_round_trip_and_refuse_wrong_passwords() {
        for hash in [Hash::Sha256, Hash::Sha512] {
            assert_eq!(
                exchange(hash, "pw", "al,i=ce", "pw"),
                Ok("al,i=ce".to_string())
            );
            let wrong = exchange(hash, "pw", "al,i=ce", "pW").expect_err("wrong password");
            assert!(wrong.0.contains("invalid credentials"), "{wrong:?}");
            // An unknown user fails the same way, at the same step.
            let unknown = exchange(hash, "pw", "bob", "pw").expect_err("unknown user");
            assert_eq!(unknown, wrong);
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        let none = |_: &str| None;
        for bad in [
            &b""[..],
            b"n,,",
            b"n,,r=abc",
            b"x,,n=u,r=abc",
            b"p=tls-unique,,n=u,r=abc",
            b"n,,n=u,r=",
            b"n,,n=u=41,r=abc",
            b"n,,n=u,r=abc,tokenauth=true",
            b"n,a=other,n=u,r=abc",
            b"\xff\xfe",
        ] {
            assert!(
                server_first(Hash::Sha256, bad, none).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let cred = derive(Hash::Sha256, "pw", DEFAULT_ITERATIONS).expect("derive");
        let (client, first) = Client::start(Hash::Sha256, "u", "pw").expect("start");
        let (state, reply) =
            server_first(Hash::Sha256, &first, |_| Some(cred.clone())).expect("first");
        let (fin, _) = client.respond(&reply).expect("respond");
        let fin = String::from_utf8(fin).expect("utf8");
        // A changed nonce, binding or truncated proof each fail.
        let tampered = fin.replacen("r=", "r=x", 1);
        assert!(
            server_first(Hash::Sha256, &first, |_| Some(cred.clone()))
                .expect("first")
                .0
                .finish(tampered.as_bytes())
                .is_err()
        );
        let (p, _) = fin.rsplit_once(",p=").expect("proof");
        assert!(state.finish(format!("{p},p=AAAA").as_bytes()).is_err());
    }

    #[test]
    fn names_escape() {
        assert_eq!(decode_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(encode_name("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(decode_name("a=3"), None);
    }
}
