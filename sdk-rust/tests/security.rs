//! The SDK against a broker on SASL_SSL: librdkafka's SCRAM and TLS through `extra`, and the
//! admin HTTP calls (plugins) authenticated with the same user.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Weir, unique};
use weir_sdk::{
    Admin, AdminConfig, Context, Message, Reader, ReaderConfig, TopicSpec, Writer, WriterConfig,
};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it.
fn pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=weir-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("broker.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "broker.pem",
            "-days",
            "2",
            "-extfile",
            "broker.ext",
        ],
    );
}

fn secured(dir: &Path, password: &str) -> Vec<(String, String)> {
    [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", password),
        ("ssl.ca.location", &dir.join("ca.pem").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn writer_reader_and_admin_over_sasl_ssl() {
    let tmp = tempfile::tempdir().expect("tmp");
    pki(tmp.path());
    let cert = tmp.path().join("broker.pem").display().to_string();
    let key = tmp.path().join("broker.key").display().to_string();
    let w = Weir::start(&[
        "--security-protocol",
        "SASL_SSL",
        "--sasl-users",
        "alice:alice-secret",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let ctx = Context::background().with_timeout(Duration::from_secs(30));

    let mut ac = AdminConfig::new(&w.kafka);
    ac.admin_url = Some(w.http.clone());
    ac.extra = secured(tmp.path(), "alice-secret").into();
    let admin = Admin::new(ac).expect("admin");
    let t = unique("sec");
    admin
        .create_topic(&TopicSpec::new(&t, 2))
        .await
        .expect("create over SASL_SSL");
    // The HTTP admin API wants the user too; the SDK sends the client's own credentials.
    admin
        .list_plugins()
        .await
        .expect("plugins over authenticated HTTP");

    let mut wc = WriterConfig::new(&w.kafka).topic(&t);
    wc.admin_url = Some(w.http.clone());
    wc.extra = secured(tmp.path(), "alice-secret").into();
    let writer = Writer::new(wc).expect("writer");
    writer
        .write_messages(
            &ctx,
            (0..20).map(|i| Message::new(format!("m{i}")).with_key(format!("k{i}"))),
        )
        .await
        .expect("write over SASL_SSL");

    let mut rc = ReaderConfig::new(&w.kafka, &t);
    rc.group_id = Some(unique("g"));
    rc.extra = secured(tmp.path(), "alice-secret").into();
    let reader = Reader::new(rc).await.expect("reader");
    let mut got = Vec::new();
    while got.len() < 20 {
        let m = reader.read_message(&ctx).await.expect("read over SASL_SSL");
        got.push(m.value_str().expect("utf8 value").to_string());
    }
    got.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    reader.close().await.expect("close");

    // A wrong password is an error, not a hang.
    let mut bad = AdminConfig::new(&w.kafka);
    bad.admin_url = Some(w.http.clone());
    bad.timeout = Duration::from_secs(5);
    bad.extra = secured(tmp.path(), "wrong").into();
    let bad = Admin::new(bad).expect("admin");
    assert!(bad.list_topics().await.is_err());
    assert!(
        bad.list_plugins().await.is_err(),
        "HTTP refuses the wrong password"
    );
}
