//! With no tracer provider installed (this test binary installs none) and no caller's span, a
//! record carries exactly the headers its writer gave it: no traceparent, no empty tracestate.

mod common;

use std::time::Duration;

use common::{Weir, unique};
use weir_sdk::{Context, Message, Reader, ReaderConfig, TopicSpec};

#[tokio::test]
async fn records_written_outside_any_trace_carry_only_their_own_headers() {
    let w = Weir::start(&[]);
    let t = unique("untraced");
    w.admin()
        .create_topic(&TopicSpec::new(&t, 1))
        .await
        .expect("create");
    let ctx = Context::background().with_timeout(Duration::from_secs(20));
    w.writer(&t)
        .write_message(&ctx, Message::new("one").with_header("h", "1"))
        .await
        .expect("write");
    let mut rc = ReaderConfig::new(&w.kafka, &t);
    rc.partition = Some(0);
    let reader = Reader::new(rc).await.expect("reader");
    let m = reader.read_message(&ctx).await.expect("read");
    let keys: Vec<&str> = m.headers.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, ["h"]);
}
