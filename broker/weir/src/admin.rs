//! `weir plugin`, `weir dlq` and `weir pipeline`: admin commands that talk to a running
//! broker's HTTP API.

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
        #[arg(long)]
        input: String,
        /// A plugin to run, in order. Repeatable.
        #[arg(long = "plugin")]
        plugins: Vec<String>,
        #[arg(long)]
        output: Option<String>,
        /// earliest, latest, offset:N or timestamp:MS.
        #[arg(long, default_value = "earliest")]
        start: String,
        #[arg(long)]
        paused: bool,
    },
    List,
    Describe {
        name: String,
    },
    /// Stop processing; the position is kept.
    Pause {
        name: String,
    },
    Resume {
        name: String,
    },
    Delete {
        name: String,
    },
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
