//! `weir plugin`, `weir dlq`, `weir pipeline`, `weir topic`, `weir group` and `weir cluster`:
//! admin commands that talk to a running broker's HTTP API.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Args, Debug)]
pub(crate) struct Admin {
    /// The broker's HTTP address.
    #[arg(
        long,
        env = "WEIR_ADMIN",
        default_value = "http://127.0.0.1:9644",
        global = true
    )]
    admin: String,
    /// Print the broker's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// A SASL user of the broker: with a SASL listener the HTTP API wants one (HTTP Basic).
    #[arg(long, env = "WEIR_USER", global = true)]
    user: Option<String>,
    /// The user's password (better in WEIR_PASSWORD than on the command line).
    #[arg(long, env = "WEIR_PASSWORD", global = true, hide_env_values = true)]
    password: Option<String>,
}

/// The `Authorization` header of every request this command sends.
static AUTHORIZATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Admin {
    /// Takes the credentials for this command's requests.
    pub(crate) fn authorize(&self) -> anyhow::Result<&Admin> {
        match (&self.user, &self.password) {
            (Some(u), Some(p)) => {
                let _ = AUTHORIZATION.set(weir_server::auth::basic_header(u, p));
            }
            (Some(_), None) => bail!("--user needs a password: set WEIR_PASSWORD (or --password)"),
            (None, Some(_)) => bail!("a password without --user (or WEIR_USER)"),
            (None, None) => {}
        }
        Ok(self)
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum PluginCmd {
    /// Deploy a plugin (a wasm component), or a new version of one, without a restart.
    Deploy {
        name: String,
        /// The plugin's .wasm component.
        file: PathBuf,
        #[arg(long)]
        version: String,
        /// Configuration passed to the plugin: KEY=VALUE, or KEY=@FILE to read the value from
        /// a file. Repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Memory cap per instance, MiB (default 128).
        #[arg(long)]
        memory_mb: Option<u64>,
        /// Time budget per batch, ms (default 1000).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// List deployed plugins with their health and the topics using them.
    List,
    /// Show one plugin in full.
    Describe { name: String },
    /// Remove a plugin (detach it from every topic first).
    Remove { name: String },
    /// Show a plugin's recent log lines (its own `log` calls and its failures).
    Logs {
        name: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Run a plugin on a topic's produce path (appends it to the topic's `weir.plugins`).
    Attach {
        name: String,
        #[arg(long)]
        topic: String,
        /// Topic-level plugin configuration (`weir.plugin.NAME.KEY`): KEY=VALUE or KEY=@FILE.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// Stop running a plugin on a topic.
    Detach {
        name: String,
        #[arg(long)]
        topic: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum DlqCmd {
    /// Show dead letters with why they were dead-lettered.
    Inspect {
        topic: String,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Send dead letters back to their source topic through its plugins (after a fix). Resumes
    /// where the last replay stopped unless --from is given.
    Replay {
        topic: String,
        /// Send them to this topic instead of their source.
        #[arg(long)]
        to: Option<String>,
        /// Start at this DLQ offset.
        #[arg(long)]
        from: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum UserCmd {
    /// Every SASL user: from the users file or made through the API, with its SCRAM
    /// mechanisms and iterations.
    List,
    /// Create a user, or change its password: SCRAM credentials (a fresh salt each) kept in
    /// the metadata log, like `kafka-configs --alter --entity-type users`.
    Set {
        name: String,
        /// The user's new password.
        #[arg(long, env = "WEIR_NEW_PASSWORD", hide_env_values = true)]
        new_password: String,
        /// SCRAM-SHA-256 and/or SCRAM-SHA-512 (default: both).
        #[arg(long, value_delimiter = ',')]
        mechanism: Vec<String>,
        /// PBKDF2 iterations, 4096-16384.
        #[arg(long)]
        iterations: Option<u32>,
    },
    /// Delete a user made through the API (users of the users file are changed in the file).
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCmd {
    /// Brokers with their addresses and fencing, and the controller leader, term and voters.
    Status,
    /// Remove a stopped broker that holds no replicas (move them first with partition
    /// reassignment), and take it out of the controller quorum if it joined as a non-voter.
    RemoveBroker {
        /// The broker's node id.
        id: i32,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum PipelineCmd {
    /// Create an asynchronous pipeline: INPUT records through plugins into OUTPUT.
    Create {
        name: String,
        /// The topic to read.
        #[arg(long)]
        input: String,
        /// A plugin to run, in order. Repeatable.
        #[arg(long = "plugin")]
        plugins: Vec<String>,
        /// The topic to write (none: the plugins route or only observe).
        #[arg(long)]
        output: Option<String>,
        /// earliest, latest, offset:N or timestamp:MS.
        #[arg(long, default_value = "earliest")]
        start: String,
        /// Create it paused (start it with `weir pipeline resume`).
        #[arg(long)]
        paused: bool,
    },
    /// List pipelines with their input, plugins, output and state.
    List,
    /// Show one pipeline with each input partition's position, lag and last error.
    Describe { name: String },
    /// Stop processing; the position is kept.
    Pause { name: String },
    /// Go on from the kept position.
    Resume { name: String },
    /// Stop the pipeline and forget it and its position (its output topic stays).
    Delete { name: String },
}

fn url(admin: &Admin, path: &str) -> String {
    format!("{}{path}", admin.admin.trim_end_matches('/'))
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends a request; an HTTP error becomes the broker's `error` message.
fn send(req: ureq::Request, body: Option<Body>) -> anyhow::Result<Value> {
    let url = req.url().to_string();
    let req = match AUTHORIZATION.get() {
        Some(a) => req.set("Authorization", a),
        None => req,
    };
    let result = match body {
        None => req.call(),
        Some(Body::Bytes(b)) => req.send_bytes(&b),
        Some(Body::Json(v)) => req.send_json(v),
    };
    match result {
        Ok(resp) => {
            let text = resp.into_string().context("reading the broker's answer")?;
            if text.is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_str(&text).context("the broker's answer is not JSON")
            }
        }
        Err(ureq::Error::Status(401, _)) if AUTHORIZATION.get().is_some() => {
            bail!("the broker refused the user name or password (HTTP 401)")
        }
        Err(ureq::Error::Status(401, _)) => bail!(
            "the broker wants a user (its listener uses SASL): pass --user NAME and set \
             WEIR_PASSWORD (HTTP 401)"
        ),
        Err(ureq::Error::Status(code, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            bail!("{msg} (HTTP {code})")
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot reach the broker at {url}: {e} (is it running? set --admin or WEIR_ADMIN)"
        )),
    }
}

enum Body {
    Bytes(Vec<u8>),
    Json(Value),
}

fn key_values(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("'{kv}' is not KEY=VALUE"))?;
            let v = match v.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {path} for config {k}"))?,
                None => v.to_string(),
            };
            Ok((k.to_string(), v))
        })
        .collect()
}

fn print(admin: &Admin, v: &Value, table: impl FnOnce(&Value)) {
    if admin.json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        table(v);
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

pub(crate) fn plugin(admin: &Admin, cmd: PluginCmd) -> anyhow::Result<()> {
    match cmd {
        PluginCmd::Deploy {
            name,
            file,
            version,
            config,
            memory_mb,
            timeout_ms,
        } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut q = format!("version={}", enc(&version));
            if let Some(m) = memory_mb {
                q.push_str(&format!("&memory_mb={m}"));
            }
            if let Some(t) = timeout_ms {
                q.push_str(&format!("&timeout_ms={t}"));
            }
            for (k, v) in key_values(&config)? {
                q.push_str(&format!("&config.{}={}", enc(&k), enc(&v)));
            }
            let v = send(
                ureq::put(&url(admin, &format!("/v1/plugins/{}?{q}", enc(&name)))),
                Some(Body::Bytes(wasm)),
            )?;
            print(admin, &v, |v| {
                println!(
                    "deployed {} {} (sha256 {}, {} bytes)",
                    s(v, "name"),
                    s(v, "version"),
                    s(v, "sha256"),
                    s(v, "size")
                );
            });
        }
        PluginCmd::List => {
            let v = send(ureq::get(&url(admin, "/v1/plugins")), None)?;
            print(admin, &v, |v| {
                println!(
                    "{:<24} {:<12} {:<8} {:<6} {:>10}  TOPICS",
                    "NAME", "VERSION", "STATE", "ABI", "SIZE"
                );
                for p in v.as_array().into_iter().flatten() {
                    let topics: Vec<String> = p["topics"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect();
                    println!(
                        "{:<24} {:<12} {:<8} {:<6} {:>10}  {}",
                        s(p, "name"),
                        s(p, "version"),
                        s(&p["health"], "state"),
                        s(p, "abi"),
                        s(p, "size"),
                        topics.join(",")
                    );
                }
            });
        }
        PluginCmd::Describe { name } => {
            let v = send(
                ureq::get(&url(admin, &format!("/v1/plugins/{}", enc(&name)))),
                None,
            )?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        PluginCmd::Remove { name } => {
            send(
                ureq::delete(&url(admin, &format!("/v1/plugins/{}", enc(&name)))),
                None,
            )?;
            println!("removed {name}");
        }
        PluginCmd::Logs { name, limit } => {
            let v = send(
                ureq::get(&url(
                    admin,
                    &format!("/v1/plugins/{}/logs?limit={limit}", enc(&name)),
                )),
                None,
            )?;
            print(admin, &v, |v| {
                for l in v.as_array().into_iter().flatten() {
                    println!(
                        "{} {:<5} {}",
                        s(l, "timestamp_ms"),
                        s(l, "level"),
                        s(l, "message")
                    );
                }
            });
        }
        PluginCmd::Attach {
            name,
            topic,
            config,
        } => {
            let mut chain = topic_chain(admin, &topic)?;
            if !chain.contains(&name) {
                chain.push(name.clone());
            }
            let mut set = serde_json::Map::new();
            set.insert("weir.plugins".into(), Value::String(chain.join(",")));
            for (k, v) in key_values(&config)? {
                set.insert(format!("weir.plugin.{name}.{k}"), Value::String(v));
            }
            send(
                ureq::put(&url(admin, &format!("/v1/topics/{}/configs", enc(&topic)))),
                Some(Body::Json(serde_json::json!({ "set": set }))),
            )?;
            println!("{topic}: weir.plugins={}", chain.join(","));
        }
        PluginCmd::Detach { name, topic } => {
            let chain: Vec<String> = topic_chain(admin, &topic)?
                .into_iter()
                .filter(|p| p != &name)
                .collect();
            let body = if chain.is_empty() {
                serde_json::json!({ "delete": ["weir.plugins"] })
            } else {
                serde_json::json!({ "set": { "weir.plugins": chain.join(",") } })
            };
            send(
                ureq::put(&url(admin, &format!("/v1/topics/{}/configs", enc(&topic)))),
                Some(Body::Json(body)),
            )?;
            println!("{topic}: weir.plugins={}", chain.join(","));
        }
    }
    Ok(())
}

fn topic_chain(admin: &Admin, topic: &str) -> anyhow::Result<Vec<String>> {
    let topics = send(ureq::get(&url(admin, "/v1/topics")), None)?;
    let t = topics
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == topic)
        .with_context(|| format!("topic '{topic}' does not exist"))?;
    Ok(t["configs"]["weir.plugins"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect())
}

pub(crate) fn dlq(admin: &Admin, cmd: DlqCmd) -> anyhow::Result<()> {
    match cmd {
        DlqCmd::Inspect {
            topic,
            offset,
            limit,
        } => {
            let v = send(
                ureq::get(&url(
                    admin,
                    &format!("/v1/dlq/{}?offset={offset}&limit={limit}", enc(&topic)),
                )),
                None,
            )?;
            print(admin, &v, |v| {
                for d in v.as_array().into_iter().flatten() {
                    println!(
                        "{}:{} from {}[{}] by {}: {}\n    key={} value={}",
                        s(d, "partition"),
                        s(d, "offset"),
                        s(d, "source_topic"),
                        s(d, "source_partition"),
                        s(d, "plugin"),
                        s(d, "reason"),
                        s(d, "key"),
                        s(d, "value")
                    );
                }
            });
        }
        DlqCmd::Replay { topic, to, from } => {
            let mut q = Vec::new();
            if let Some(t) = to {
                q.push(format!("to={}", enc(&t)));
            }
            if let Some(f) = from {
                q.push(format!("from={f}"));
            }
            let v = send(
                ureq::post(&url(
                    admin,
                    &format!("/v1/dlq/{}/replay?{}", enc(&topic), q.join("&")),
                )),
                None,
            )?;
            print(admin, &v, |v| {
                println!(
                    "replayed {}: {} appended, {} dead-lettered again, {} rejected, {} routed, {} skipped",
                    s(v, "replayed"),
                    s(v, "appended"),
                    s(v, "dead_lettered_again"),
                    s(v, "rejected"),
                    s(v, "routed"),
                    s(v, "skipped")
                );
            });
        }
    }
    Ok(())
}

pub(crate) fn pipeline(admin: &Admin, cmd: PipelineCmd) -> anyhow::Result<()> {
    let path = |name: &str, rest: &str| format!("/v1/pipelines/{}{rest}", enc(name));
    match cmd {
        PipelineCmd::Create {
            name,
            input,
            plugins,
            output,
            start,
            paused,
        } => {
            let v = send(
                ureq::post(&url(admin, "/v1/pipelines")),
                Some(Body::Json(serde_json::json!({
                    "name": name, "input": input, "plugins": plugins,
                    "output": output, "start": start, "paused": paused,
                }))),
            )?;
            print(admin, &v, |_| println!("created pipeline {name}"));
        }
        PipelineCmd::List => {
            let v = send(ureq::get(&url(admin, "/v1/pipelines")), None)?;
            print(admin, &v, |v| {
                println!(
                    "{:<20} {:<20} {:<20} {:<8} {:>10}  PLUGINS",
                    "NAME", "INPUT", "OUTPUT", "PAUSED", "LAG"
                );
                for p in v.as_array().into_iter().flatten() {
                    let lag: i64 = p["partitions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x["lag"].as_i64())
                        .sum();
                    println!(
                        "{:<20} {:<20} {:<20} {:<8} {:>10}  {}",
                        s(p, "name"),
                        s(p, "input"),
                        s(p, "output"),
                        s(p, "paused"),
                        lag,
                        p["plugins"]
                    );
                }
            });
        }
        PipelineCmd::Describe { name } => {
            let v = send(ureq::get(&url(admin, &path(&name, ""))), None)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        PipelineCmd::Pause { name } => {
            send(ureq::post(&url(admin, &path(&name, "/pause"))), None)?;
            println!("paused {name}");
        }
        PipelineCmd::Resume { name } => {
            send(ureq::post(&url(admin, &path(&name, "/resume"))), None)?;
            println!("resumed {name}");
        }
        PipelineCmd::Delete { name } => {
            send(ureq::delete(&url(admin, &path(&name, ""))), None)?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

pub(crate) fn user(admin: &Admin, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::List => {
            let v = send(ureq::get(&url(admin, "/v1/users")), None)?;
            print(admin, &v, |v| {
                println!("{:<24} {:<6} CREDENTIALS", "USER", "SOURCE");
                for u in v["users"].as_array().into_iter().flatten() {
                    let creds: Vec<String> = u["credentials"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            format!("{} ({} iterations)", s(c, "mechanism"), s(c, "iterations"))
                        })
                        .collect();
                    println!(
                        "{:<24} {:<6} {}",
                        s(u, "name"),
                        s(u, "source"),
                        creds.join(", ")
                    );
                }
            });
        }
        UserCmd::Set {
            name,
            new_password,
            mechanism,
            iterations,
        } => {
            let path = format!("/v1/users/{}", enc(&name));
            let mut body = serde_json::json!({ "password": new_password, "mechanisms": mechanism });
            if let Some(i) = iterations {
                body["iterations"] = i.into();
            }
            let v = send(ureq::put(&url(admin, &path)), Some(Body::Json(body)))?;
            print(admin, &v, |_| println!("user {name} set"));
        }
        UserCmd::Delete { name } => {
            let path = format!("/v1/users/{}", enc(&name));
            let v = send(ureq::delete(&url(admin, &path)), None)?;
            print(admin, &v, |_| println!("user {name} deleted"));
        }
    }
    Ok(())
}

pub(crate) fn cluster(admin: &Admin, cmd: ClusterCmd) -> anyhow::Result<()> {
    match cmd {
        ClusterCmd::RemoveBroker { id } => {
            let path = format!("/v1/cluster/brokers/{id}");
            let v = send(ureq::delete(&url(admin, &path)), None)?;
            print(admin, &v, |_| println!("removed broker {id}"));
        }
        ClusterCmd::Status => {
            let v = send(ureq::get(&url(admin, "/v1/cluster")), None)?;
            print(admin, &v, |v| {
                let c = &v["controller"];
                println!(
                    "cluster {}  (asked node {})",
                    s(v, "cluster_id"),
                    s(v, "node_id")
                );
                println!(
                    "controller: {} mode, leader {}, term {}, voters {}",
                    s(c, "mode"),
                    s(c, "leader"),
                    s(c, "term"),
                    c.get("voters").map_or("-".to_string(), Value::to_string)
                );
                println!("{:<6} {:<30} {:<10} STATE", "NODE", "ADDRESS", "RACK");
                for b in v["brokers"].as_array().into_iter().flatten() {
                    let state = if b["fenced"] == true {
                        "fenced"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<6} {:<30} {:<10} {state}",
                        s(b, "node_id"),
                        format!("{}:{}", s(b, "host"), s(b, "port")),
                        s(b, "rack"),
                    );
                }
                for (key, label) in [
                    ("under_replicated_partitions", "under-replicated"),
                    ("offline_partitions", "offline"),
                ] {
                    let parts = v[key].as_array().cloned().unwrap_or_default();
                    println!("{label} partitions: {}", parts.len());
                    for p in parts {
                        println!(
                            "  {}-{}  leader {}  replicas {}  isr {}",
                            s(&p, "topic"),
                            s(&p, "partition"),
                            s(&p, "leader"),
                            p["replicas"],
                            p["isr"]
                        );
                    }
                }
            });
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub(crate) enum TopicCmd {
    /// List topics with their partition counts, message counts and sizes.
    List,
    /// Show one topic: its partitions (leader, offsets, size) and the configs set on it.
    Describe { name: String },
    /// Create a topic.
    Create {
        name: String,
        /// Partition count (default: the broker's --num-partitions).
        #[arg(long, short = 'p')]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's --default-replication-factor).
        #[arg(long, short = 'r')]
        replication_factor: Option<i16>,
        /// A topic config, e.g. retention.ms=86400000 or cleanup.policy=compact. Repeatable.
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// Change a topic: grow its partitions, set or remove configs.
    Alter {
        name: String,
        /// The new partition count (partitions are only ever added).
        #[arg(long, short = 'p')]
        partitions: Option<i32>,
        /// Set a topic config. Repeatable.
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Remove a topic config (back to the broker default). Repeatable.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_config: Vec<String>,
    },
    /// Delete a topic and its data.
    Delete { name: String },
    /// Make the topics in a YAML file exist as declared: create the missing ones, grow
    /// partition counts, set configs that differ. Topics not in the file, and configs not
    /// named for a topic, are left alone. Prints the plan; --dry-run changes nothing.
    Apply {
        /// The YAML file: `topics: [{name, partitions, replication_factor, configs: {k: v}}]`.
        #[arg(long, short = 'f')]
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

/// One topic of a `weir topic apply` file.
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct DeclaredTopic {
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    #[serde(default)]
    configs: std::collections::BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    topics: Vec<DeclaredTopic>,
}

/// A YAML scalar as a config value: `retention.ms: 86400000` and `"86400000"` alike.
fn config_value(key: &str, v: &serde_yaml_ng::Value) -> anyhow::Result<String> {
    Ok(match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        other => bail!("config {key}: {other:?} is not a string, number or boolean"),
    })
}

fn topics_by_name(admin: &Admin) -> anyhow::Result<std::collections::BTreeMap<String, Value>> {
    let v = send(ureq::get(&url(admin, "/v1/topics")), None)?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|t| (s(t, "name"), t.clone()))
        .collect())
}

/// Creates a topic; `validate_only`: the broker checks the request and creates nothing.
fn create_topic(
    admin: &Admin,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: &[(String, String)],
    validate_only: bool,
) -> anyhow::Result<Value> {
    let body = serde_json::json!({
        "name": name,
        "partitions": partitions.unwrap_or(-1),
        "replication_factor": replication_factor.unwrap_or(-1),
        "configs": configs.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "validate_only": validate_only,
    });
    send(
        ureq::post(&url(admin, "/v1/topics")),
        Some(Body::Json(body)),
    )
}

/// Grows a topic's partitions and changes its configs. Both are checked by the broker first
/// (`validate_only`), so a change refused there (a config value, a smaller partition count)
/// leaves the topic as it was rather than half altered.
fn alter_topic(
    admin: &Admin,
    name: &str,
    partitions: Option<i32>,
    set: &[(String, String)],
    delete: &[String],
) -> anyhow::Result<()> {
    alter_topic_pass(admin, name, partitions, set, delete, true)?;
    alter_topic_pass(admin, name, partitions, set, delete, false)
}

fn alter_topic_pass(
    admin: &Admin,
    name: &str,
    partitions: Option<i32>,
    set: &[(String, String)],
    delete: &[String],
    validate_only: bool,
) -> anyhow::Result<()> {
    if let Some(count) = partitions {
        let path = format!("/v1/topics/{}/partitions", enc(name));
        send(
            ureq::post(&url(admin, &path)),
            Some(Body::Json(
                serde_json::json!({ "count": count, "validate_only": validate_only }),
            )),
        )?;
    }
    if !set.is_empty() || !delete.is_empty() {
        let path = format!("/v1/topics/{}/configs", enc(name));
        let set: std::collections::BTreeMap<_, _> = set.iter().cloned().collect();
        send(
            ureq::put(&url(admin, &path)),
            Some(Body::Json(serde_json::json!({
                "set": set, "delete": delete, "validate_only": validate_only,
            }))),
        )?;
    }
    Ok(())
}

fn partition_count(t: &Value) -> i64 {
    t["partitions"].as_array().map_or(0, |p| p.len() as i64)
}

pub(crate) fn topic(admin: &Admin, cmd: TopicCmd) -> anyhow::Result<()> {
    match cmd {
        TopicCmd::List => {
            let v = send(ureq::get(&url(admin, "/v1/topics")), None)?;
            print(admin, &v, |v| {
                println!(
                    "{:<40} {:>10} {:>14} {:>14}",
                    "TOPIC", "PARTITIONS", "MESSAGES", "BYTES"
                );
                for t in v.as_array().into_iter().flatten() {
                    let parts = t["partitions"].as_array().cloned().unwrap_or_default();
                    let field =
                        |k: &str| -> i64 { parts.iter().map(|p| p[k].as_i64().unwrap_or(0)).sum() };
                    println!(
                        "{:<40} {:>10} {:>14} {:>14}",
                        s(t, "name"),
                        parts.len(),
                        field("high_watermark") - field("log_start_offset"),
                        field("size_bytes")
                    );
                }
            });
        }
        TopicCmd::Describe { name } => {
            let topics = topics_by_name(admin)?;
            let t = topics
                .get(&name)
                .with_context(|| format!("topic '{name}' does not exist"))?;
            print(admin, t, |t| {
                println!("topic {}  id {}", s(t, "name"), s(t, "topic_id"));
                for (k, v) in t["configs"].as_object().into_iter().flatten() {
                    println!("  {k}={}", v.as_str().unwrap_or_default());
                }
                println!(
                    "{:>9} {:>7} {:>14} {:>14} {:>12}",
                    "PARTITION", "LEADER", "LOG-START", "HIGH-WATERMARK", "BYTES"
                );
                for p in t["partitions"].as_array().into_iter().flatten() {
                    println!(
                        "{:>9} {:>7} {:>14} {:>14} {:>12}",
                        s(p, "partition"),
                        s(p, "leader"),
                        s(p, "log_start_offset"),
                        s(p, "high_watermark"),
                        s(p, "size_bytes")
                    );
                }
            });
        }
        TopicCmd::Create {
            name,
            partitions,
            replication_factor,
            config,
        } => {
            let v = create_topic(
                admin,
                &name,
                partitions,
                replication_factor,
                &key_values(&config)?,
                false,
            )?;
            print(admin, &v, |v| {
                println!(
                    "created {} ({} partitions, replication factor {})",
                    s(v, "name"),
                    s(v, "partitions"),
                    s(v, "replication_factor")
                )
            });
        }
        TopicCmd::Alter {
            name,
            partitions,
            config,
            delete_config,
        } => {
            if partitions.is_none() && config.is_empty() && delete_config.is_empty() {
                bail!("nothing to change: give --partitions, --config or --delete-config");
            }
            alter_topic(
                admin,
                &name,
                partitions,
                &key_values(&config)?,
                &delete_config,
            )?;
            println!("altered {name}");
        }
        TopicCmd::Delete { name } => {
            let path = format!("/v1/topics/{}", enc(&name));
            send(ureq::delete(&url(admin, &path)), None)?;
            println!("deleted {name}");
        }
        TopicCmd::Apply { file, dry_run } => apply_topics(admin, &file, dry_run)?,
    }
    Ok(())
}

/// `weir topic apply`: plans every change first (so a file with a mistake changes nothing),
/// then makes them.
fn apply_topics(admin: &Admin, file: &std::path::Path, dry_run: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let declared: TopicFile =
        serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let existing = topics_by_name(admin)?;
    enum Step {
        Create(String, Option<i32>, Option<i16>, Vec<(String, String)>),
        Alter(String, Option<i32>, Vec<(String, String)>),
    }
    let mut steps = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for t in &declared.topics {
        if !seen.insert(t.name.as_str()) {
            bail!("topic '{}' is declared twice", t.name);
        }
        let configs = t
            .configs
            .iter()
            .map(|(k, v)| Ok((k.clone(), config_value(k, v)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let Some(current) = existing.get(&t.name) else {
            println!(
                "+ create {} (partitions {}, replication factor {}{})",
                t.name,
                t.partitions.map_or("default".into(), |p| p.to_string()),
                t.replication_factor
                    .map_or("default".into(), |r| r.to_string()),
                if configs.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {}",
                        configs
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
            steps.push(Step::Create(
                t.name.clone(),
                t.partitions,
                t.replication_factor,
                configs,
            ));
            continue;
        };
        let have = partition_count(current);
        let grow = match t.partitions {
            Some(p) if i64::from(p) > have => {
                println!("~ {}: partitions {have} -> {p}", t.name);
                Some(p)
            }
            Some(p) if i64::from(p) < have => bail!(
                "topic '{}' has {have} partitions; the file asks for {p}, and partitions cannot be removed",
                t.name
            ),
            _ => None,
        };
        let set: Vec<(String, String)> = configs
            .into_iter()
            .filter(|(k, v)| current["configs"][k.as_str()].as_str() != Some(v.as_str()))
            .collect();
        for (k, v) in &set {
            let was = current["configs"][k.as_str()]
                .as_str()
                .unwrap_or("(default)");
            println!("~ {}: {k} {was} -> {v}", t.name);
        }
        if grow.is_none() && set.is_empty() {
            println!("= {} unchanged", t.name);
        } else {
            steps.push(Step::Alter(t.name.clone(), grow, set));
        }
    }
    // Every step is checked by the broker before any is made, so a file with a name or value
    // the broker refuses changes nothing (and a dry run reports it).
    let run = |step: &Step, validate_only: bool| match step {
        Step::Create(name, p, r, configs) => {
            create_topic(admin, name, *p, *r, configs, validate_only)
                .map(|_| ())
                .with_context(|| format!("creating {name}"))
        }
        Step::Alter(name, p, set) => alter_topic_pass(admin, name, *p, set, &[], validate_only)
            .with_context(|| format!("changing {name}")),
    };
    for step in &steps {
        run(step, true)?;
    }
    if dry_run {
        println!(
            "dry run: {} change(s) planned and checked by the broker, none made",
            steps.len()
        );
        return Ok(());
    }
    for step in &steps {
        run(step, false)?;
    }
    println!("applied {} change(s)", steps.len());
    Ok(())
}

#[derive(Subcommand, Debug)]
pub(crate) enum GroupCmd {
    /// List consumer groups with their state, members and total lag.
    List,
    /// Show a group's committed offset, log end and lag per partition.
    Describe { group: String },
    /// Delete a group and its committed offsets (it must have no active member).
    Delete { group: String },
    /// Reset a group's committed offsets (the group must have no active member). Prints the
    /// plan; nothing changes without --execute, as with kafka-consumer-groups.
    ResetOffsets {
        group: String,
        /// A topic to reset (every partition). Repeatable; default: the partitions the group
        /// has committed offsets for (kafka-consumer-groups --all-topics).
        #[arg(long)]
        topic: Vec<String>,
        #[arg(long, group = "to")]
        to_earliest: bool,
        #[arg(long, group = "to")]
        to_latest: bool,
        #[arg(long, group = "to", value_name = "OFFSET")]
        to_offset: Option<i64>,
        /// The first offset at or after this time (RFC 3339, e.g. 2026-11-23T08:00:00Z).
        #[arg(long, group = "to", value_name = "DATETIME")]
        to_datetime: Option<String>,
        /// Move each committed offset by N (negative: back).
        #[arg(long, group = "to", value_name = "N", allow_hyphen_values = true)]
        shift_by: Option<i64>,
        /// Commit the new offsets (without it, only the plan is printed).
        #[arg(long)]
        execute: bool,
    },
}

pub(crate) fn group(admin: &Admin, cmd: GroupCmd) -> anyhow::Result<()> {
    let groups = || send(ureq::get(&url(admin, "/v1/groups")), None);
    match cmd {
        GroupCmd::List => {
            let v = groups()?;
            print(admin, &v, |v| {
                println!(
                    "{:<40} {:<20} {:>8} {:>12}",
                    "GROUP", "STATE", "MEMBERS", "LAG"
                );
                for g in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {:<20} {:>8} {:>12}",
                        s(g, "group"),
                        s(g, "state"),
                        s(g, "members"),
                        s(g, "total_lag")
                    );
                }
            });
        }
        GroupCmd::Describe { group } => {
            let v = groups()?;
            let g = v
                .as_array()
                .into_iter()
                .flatten()
                .find(|g| g["group"] == group.as_str())
                .cloned()
                .with_context(|| format!("group '{group}' does not exist"))?;
            print(admin, &g, |g| {
                println!(
                    "group {}  state {}  members {}  total lag {}",
                    s(g, "group"),
                    s(g, "state"),
                    s(g, "members"),
                    s(g, "total_lag")
                );
                println!(
                    "{:<40} {:>9} {:>14} {:>14} {:>10}",
                    "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"
                );
                for p in g["partitions"].as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {:>9} {:>14} {:>14} {:>10}",
                        s(p, "topic"),
                        s(p, "partition"),
                        s(p, "committed_offset"),
                        s(p, "log_end_offset"),
                        s(p, "lag")
                    );
                }
            });
        }
        GroupCmd::Delete { group } => {
            let path = format!("/v1/groups/{}", enc(&group));
            send(ureq::delete(&url(admin, &path)), None)?;
            println!("deleted group {group}");
        }
        GroupCmd::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            shift_by,
            execute,
        } => {
            let (to, value) = if to_earliest {
                ("earliest", None)
            } else if to_latest {
                ("latest", None)
            } else if let Some(o) = to_offset {
                ("offset", Some(o))
            } else if let Some(d) = to_datetime {
                let t = chrono::DateTime::parse_from_rfc3339(&d).with_context(|| {
                    format!("'{d}' is not an RFC 3339 time such as 2026-11-23T08:00:00Z")
                })?;
                ("timestamp", Some(t.timestamp_millis()))
            } else if let Some(n) = shift_by {
                ("shift", Some(n))
            } else {
                bail!(
                    "say where to: --to-earliest, --to-latest, --to-offset, --to-datetime or --shift-by"
                );
            };
            let body = serde_json::json!({
                "topics": topic, "to": to, "value": value, "dry_run": !execute,
            });
            let path = format!("/v1/groups/{}/offsets", enc(&group));
            let v = send(ureq::post(&url(admin, &path)), Some(Body::Json(body)))?;
            print(admin, &v, |v| {
                println!(
                    "{:<40} {:>9} {:>14} {:>14}",
                    "TOPIC", "PARTITION", "CURRENT", "NEW"
                );
                for p in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {:>9} {:>14} {:>14}",
                        s(p, "topic"),
                        s(p, "partition"),
                        s(p, "previous"),
                        s(p, "offset")
                    );
                }
                let clamped = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["clamped"] == true)
                    .count();
                if clamped > 0 {
                    println!(
                        "warning: {clamped} target offset(s) outside the log were moved to its start or end"
                    );
                }
                if execute {
                    println!("committed for group {group}");
                } else {
                    println!("plan only: add --execute to commit these offsets");
                }
            });
        }
    }
    Ok(())
}
