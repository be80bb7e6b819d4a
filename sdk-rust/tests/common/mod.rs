//! Starts the real `weir` binary on ephemeral ports with a fresh data dir.
//!
//! The binary is `$WEIR_BIN`, else the `weir` next to this test's target dir (built by
//! `cargo test --workspace`, or `cargo build -p weir`).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use weir_sdk::{Admin, AdminConfig};

pub struct Weir {
    child: Child,
    pub kafka: String,
    pub http: String,
    _tmp: tempfile::TempDir,
}

fn weir_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("weir");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p weir` or set WEIR_BIN",
        bin.display()
    );
    bin
}

impl Weir {
    pub fn start(extra: &[&str]) -> Weir {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut child = Command::new(weir_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(tmp.path().join("data"))
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn weir");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("weir ready:") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("weir did not become ready within 30 s");
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .expect("ready line field")
                .to_string()
        };
        Weir {
            kafka: field("kafka="),
            http: format!("http://{}", field("http=")),
            child,
            _tmp: tmp,
        }
    }

    pub fn admin(&self) -> Admin {
        let mut c = AdminConfig::new(&self.kafka);
        c.admin_url = Some(self.http.clone());
        Admin::new(c).expect("admin")
    }

    pub fn writer(&self, topic: &str) -> weir_sdk::Writer {
        let mut c = weir_sdk::WriterConfig::new(&self.kafka).topic(topic);
        c.admin_url = Some(self.http.clone());
        weir_sdk::Writer::new(c).expect("writer")
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A name unique within this test process run.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The compiled test plugin `name` from `scripts/build-plugins.sh`.
pub fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("WEIR_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/weir/plugins")
        });
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins with scripts/build-plugins.sh",
            path.display()
        )
    })
}
