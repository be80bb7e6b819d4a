//! With no tracer provider installed (this test binary installs none), every record written
//! still carries a W3C traceparent of its own, as the SDK documents.

mod common;

use std::time::Duration;

use common::{Weir, unique};
use weir_sdk::{Context, Message, Reader, ReaderConfig, TopicSpec};

#[tokio::test]
async fn records_written_outside_any_trace_still_carry_a_traceparent() {
    let w = Weir::start(&[]);
    let t = unique("untraced");
    w.admin()
        .create_topic(&TopicSpec::new(&t, 1))
        .await
        .expect("create");
    let ctx = Context::background().with_timeout(Duration::from_secs(20));
    let writer = w.writer(&t);
    for v in ["one", "two"] {
        writer
            .write_message(&ctx, Message::new(v))
            .await
            .expect("write");
    }
    let mut rc = ReaderConfig::new(&w.kafka, &t);
    rc.partition = Some(0);
    let reader = Reader::new(rc).await.expect("reader");
    let mut traces = Vec::new();
    for _ in 0..2 {
        let m = reader.read_message(&ctx).await.expect("read");
        let header = std::str::from_utf8(m.header("traceparent").expect("a traceparent"))
            .expect("utf-8")
            .to_string();
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "{header}");
        assert_eq!(parts[0], "00", "{header}");
        assert!(
            parts[1].len() == 32 && parts[1] != "0".repeat(32),
            "{header}"
        );
        assert!(
            parts[2].len() == 16 && parts[2] != "0".repeat(16),
            "{header}"
        );
        traces.push(parts[1].to_string());
    }
    assert_ne!(traces[0], traces[1], "each record its own trace");
}
