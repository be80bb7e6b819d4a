//! DescribeUserScramCredentials and AlterUserScramCredentials: SCRAM users managed through the
//! Kafka API (`kafka-configs --entity-type users`, `Admin.alterUserScramCredentials`), kept in
//! the metadata log so that every broker of a cluster knows them. Users of the listener's
//! users file are listed too, but are changed in the file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use weir_metadata::{Command, SCRAM_MECHANISMS, ScramChange, validate_scram_change};
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use weir_protocol::kafka::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use weir_protocol::kafka::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::str_bytes;
use crate::auth::scram::{self, DEFAULT_ITERATIONS, Hash};
use crate::broker::Broker;

/// The wire code of a SCRAM mechanism (Kafka's `ScramMechanism`): 1 SCRAM-SHA-256,
/// 2 SCRAM-SHA-512.
fn hash_of_code(code: i8) -> Option<Hash> {
    match code {
        1 => Some(Hash::Sha256),
        2 => Some(Hash::Sha512),
        _ => None,
    }
}

fn code_of_name(name: &str) -> i8 {
    match name {
        "SCRAM-SHA-256" => 1,
        "SCRAM-SHA-512" => 2,
        _ => 0,
    }
}

/// Where a user comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// The listener's users file (`--sasl-users-file`, `--sasl-users`), read at start.
    File,
    /// AlterUserScramCredentials or `weir user set`, kept in the metadata log.
    Api,
}

/// One user and its credentials as `(mechanism, iterations)`.
pub(crate) struct UserView {
    pub(crate) source: Source,
    pub(crate) credentials: Vec<(&'static str, u32)>,
}

/// Every user: the users file's (both mechanisms, derived at start) and the metadata log's.
/// A name in both is the file's.
pub(crate) fn all_users(broker: &Broker) -> BTreeMap<String, UserView> {
    let both = [Hash::Sha256, Hash::Sha512].map(|h| (h.mechanism().name(), DEFAULT_ITERATIONS));
    let mut out: BTreeMap<String, UserView> = broker
        .config
        .security
        .users
        .names()
        .map(|u| {
            let view = UserView {
                source: Source::File,
                credentials: both.to_vec(),
            };
            (u.to_string(), view)
        })
        .collect();
    broker.metadata.read(|s| {
        for (user, creds) in &s.scram_credentials {
            out.entry(user.clone()).or_insert_with(|| UserView {
                source: Source::Api,
                credentials: SCRAM_MECHANISMS
                    .iter()
                    .filter_map(|m| creds.get(*m).map(|c| (*m, c.iterations)))
                    .collect(),
            });
        }
    });
    out
}

/// Refuses a change to a user of the users file, which is managed in the file.
pub(crate) fn check_not_file_user(broker: &Broker, user: &str) -> Result<(), String> {
    if broker.config.security.users.contains(user) {
        return Err(format!(
            "user '{user}' is defined in the broker's users file (--sasl-users-file or \
             --sasl-users): change it there"
        ));
    }
    Ok(())
}

/// Makes the changes (validated by the caller) in one metadata command.
pub(crate) fn apply(broker: &Broker, changes: Vec<ScramChange>) -> weir_metadata::Result<()> {
    let summary: Vec<String> = changes
        .iter()
        .map(|c| {
            let verb = if c.credential.is_some() {
                "set"
            } else {
                "deleted"
            };
            format!("{verb} {} {}", c.user, c.mechanism)
        })
        .collect();
    broker
        .metadata
        .propose(Command::AlterScramCredentials { changes })?;
    tracing::info!("SCRAM credentials: {}", summary.join(", "));
    Ok(())
}

fn describe_result(
    user: &str,
    code: i16,
    message: Option<&str>,
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(str_bytes(user))
        .with_error_code(code)
        .with_error_message(message.map(str_bytes))
}

/// Why a connection may not see or change SCRAM users: only a SASL-authenticated one may (a
/// client of a PLAINTEXT or SSL listener could otherwise make itself a user of a SASL one).
fn refuse_unauthenticated(user: Option<&str>) -> Option<&'static str> {
    user.is_none().then_some(
        "SCRAM users are managed over a SASL-authenticated connection: connect to a \
         SASL_PLAINTEXT or SASL_SSL listener",
    )
}

pub(crate) fn describe(
    broker: &Arc<Broker>,
    r: DescribeUserScramCredentialsRequest,
    user: Option<&str>,
) -> DescribeUserScramCredentialsResponse {
    if let Some(why) = refuse_unauthenticated(user) {
        // Each user named gets CLUSTER_AUTHORIZATION_FAILED; a request for every user gets
        // none. (Kafka puts the error at the top of the response as well, but librdkafka
        // 2.x crashes on a DescribeUserScramCredentials response with a top-level error.)
        let code = ResponseError::ClusterAuthorizationFailed.code();
        let results = r
            .users
            .iter()
            .flatten()
            .map(|u| describe_result(u.name.as_str(), code, Some(why)))
            .collect();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_message(None)
            .with_results(results);
    }
    let all = all_users(broker);
    let infos = |view: &UserView| {
        view.credentials
            .iter()
            .map(|&(mechanism, iterations)| {
                CredentialInfo::default()
                    .with_mechanism(code_of_name(mechanism))
                    .with_iterations(iterations as i32)
            })
            .collect::<Vec<_>>()
    };
    let results = match r.users.filter(|u| !u.is_empty()) {
        // No names (null or empty): every user.
        None => all
            .iter()
            .map(|(user, creds)| describe_result(user, 0, None).with_credential_infos(infos(creds)))
            .collect(),
        Some(users) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for u in &users {
                *counts.entry(u.name.as_str()).or_default() += 1;
            }
            let mut seen = BTreeSet::new();
            users
                .iter()
                .map(|u| u.name.as_str())
                .filter(|name| seen.insert(*name))
                .map(|name| {
                    if counts[name] > 1 {
                        describe_result(
                            name,
                            ResponseError::DuplicateResource.code(),
                            Some("Cannot describe SCRAM credentials for the same user twice in a single request"),
                        )
                    } else if let Some(creds) = all.get(name) {
                        describe_result(name, 0, None).with_credential_infos(infos(creds))
                    } else {
                        describe_result(
                            name,
                            ResponseError::ResourceNotFound.code(),
                            Some("Attempt to describe a user credential that does not exist"),
                        )
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default()
        .with_error_message(None)
        .with_results(results)
}

/// An upsertion's iterations, salt and salted password.
type Upsert = (i32, Vec<u8>, Vec<u8>);

pub(crate) fn alter(
    broker: &Arc<Broker>,
    r: AlterUserScramCredentialsRequest,
    user: Option<&str>,
) -> AlterUserScramCredentialsResponse {
    // Every change as (user, mechanism code, upsert), deletions first.
    let items: Vec<(String, i8, Option<Upsert>)> = r
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism, None))
        .chain(r.upsertions.iter().map(|u| {
            (
                u.name.to_string(),
                u.mechanism,
                Some((u.iterations, u.salt.to_vec(), u.salted_password.to_vec())),
            )
        }))
        .collect();
    // Users in the order the request first names them; a user with any bad change has none of
    // its changes made (as Kafka does), the others' are made together.
    let mut order: Vec<String> = Vec::new();
    for (name, _, _) in &items {
        if !order.contains(name) {
            order.push(name.clone());
        }
    }
    let mut errors: BTreeMap<String, (i16, String)> = BTreeMap::new();
    if let Some(why) = refuse_unauthenticated(user) {
        let code = ResponseError::ClusterAuthorizationFailed.code();
        for name in &order {
            errors.insert(name.clone(), (code, why.to_string()));
        }
        return alter_response(order, errors);
    }
    let mut changes: BTreeMap<String, Vec<ScramChange>> = BTreeMap::new();
    // A (user, mechanism) named twice anywhere in the request is refused before anything else.
    let mut pairs: BTreeMap<(&str, i8), usize> = BTreeMap::new();
    for (name, code, _) in &items {
        *pairs.entry((name.as_str(), *code)).or_default() += 1;
    }
    let existing = broker.metadata.read(|s| {
        s.scram_credentials
            .iter()
            .map(|(u, m)| (u.clone(), m.keys().cloned().collect::<BTreeSet<_>>()))
            .collect::<BTreeMap<_, _>>()
    });

    for (user, code, upsert) in items.iter().cloned() {
        let checked = (|| -> Result<ScramChange, (i16, String)> {
            if user.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential.code(),
                    "Username must not be empty".into(),
                ));
            }
            if pairs[&(user.as_str(), code)] > 1 {
                return Err((
                    ResponseError::DuplicateResource.code(),
                    "A user credential cannot be altered twice in the same request".into(),
                ));
            }
            let hash = hash_of_code(code).ok_or_else(|| {
                (
                    ResponseError::UnsupportedSaslMechanism.code(),
                    format!(
                        "Unknown SCRAM mechanism {code}: use SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2)"
                    ),
                )
            })?;
            let mechanism = hash.mechanism().name().to_string();
            check_not_file_user(broker, &user)
                .map_err(|m| (ResponseError::UnacceptableCredential.code(), m))?;
            let credential = match upsert {
                None => {
                    if !existing.get(&user).is_some_and(|m| m.contains(&mechanism)) {
                        return Err((
                            ResponseError::ResourceNotFound.code(),
                            "Attempt to delete a user credential that does not exist".into(),
                        ));
                    }
                    None
                }
                Some((iterations, salt, salted)) => {
                    if salted.is_empty() {
                        return Err((
                            ResponseError::UnacceptableCredential.code(),
                            "The salted password must not be empty".into(),
                        ));
                    }
                    let iterations = u32::try_from(iterations).unwrap_or(0);
                    Some(scram::from_salted_password(hash, salt, &salted, iterations))
                }
            };
            validate_scram_change(&user, &mechanism, credential.as_ref())
                .map_err(|e| (e.kafka_code(), e.to_string()))?;
            Ok(ScramChange {
                user: user.clone(),
                mechanism,
                credential,
            })
        })();
        match checked {
            Ok(change) => changes.entry(user).or_default().push(change),
            Err(e) => {
                errors.entry(user).or_insert(e);
            }
        }
    }
    let to_apply: Vec<ScramChange> = changes
        .into_iter()
        .filter(|(user, _)| !errors.contains_key(user))
        .flat_map(|(_, c)| c)
        .collect();
    let applied_users: BTreeSet<String> = to_apply.iter().map(|c| c.user.clone()).collect();
    if !to_apply.is_empty()
        && let Err(e) = apply(broker, to_apply)
    {
        for user in &applied_users {
            errors.insert(user.clone(), (e.kafka_code(), e.to_string()));
        }
    }
    alter_response(order, errors)
}

/// One result per user, in `order`: its error, or none.
fn alter_response(
    order: Vec<String>,
    mut errors: BTreeMap<String, (i16, String)>,
) -> AlterUserScramCredentialsResponse {
    let results = order
        .into_iter()
        .map(|user| {
            let (code, message) = match errors.remove(&user) {
                Some((code, message)) => (code, Some(str_bytes(message))),
                None => (0, None),
            };
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(user))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_codes() {
        assert_eq!(hash_of_code(1), Some(Hash::Sha256));
        assert_eq!(hash_of_code(2), Some(Hash::Sha512));
        assert_eq!(hash_of_code(0), None);
        assert_eq!(hash_of_code(3), None);
        for name in SCRAM_MECHANISMS {
            let code = code_of_name(name);
            assert_eq!(hash_of_code(code).map(|h| h.mechanism().name()), Some(name));
        }
    }
}
