//! W3C trace context crosses the broker in record headers, with producer and consumer spans.

mod common;

use std::time::Duration;

use common::{Weir, unique};
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context as OtelContext, global};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use weir_sdk::{Context, Message, Reader, ReaderConfig, TopicSpec};

#[tokio::test]
async fn traceparent_links_the_consumer_span_to_the_producer_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    global::set_tracer_provider(provider.clone());

    let w = Weir::start(&[]);
    let t = unique("trace");
    w.admin()
        .create_topic(&TopicSpec::new(&t, 1))
        .await
        .expect("create");
    let ctx = Context::background().with_timeout(Duration::from_secs(20));

    let app = provider.tracer("app");
    let parent = app.start("handle-request");
    let trace_id = parent.span_context().trace_id();
    let cx = OtelContext::current_with_span(parent);
    {
        let _guard = cx.clone().attach();
        w.writer(&t)
            .write_message(&ctx, Message::new("traced"))
            .await
            .expect("write");
    }
    // A caller-set traceparent is left alone.
    let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    w.writer(&t)
        .write_message(&ctx, Message::new("own").with_header("traceparent", own))
        .await
        .expect("write");

    let mut rc = ReaderConfig::new(&w.kafka, &t);
    rc.partition = Some(0);
    let r = Reader::new(rc).await.expect("reader");
    let m = r.read_message(&ctx).await.expect("read");
    let header = std::str::from_utf8(m.header("traceparent").expect("traceparent"))
        .expect("utf8")
        .to_string();
    assert!(header.starts_with(&format!("00-{trace_id}-")), "{header}");
    assert_eq!(m.trace_context().span().span_context().trace_id(), trace_id);
    let m2 = r.read_message(&ctx).await.expect("read");
    assert_eq!(m2.header("traceparent"), Some(own.as_bytes()));

    let spans = exporter.get_finished_spans().expect("spans");
    let publish = spans
        .iter()
        .find(|s| s.name == format!("{t} publish"))
        .expect("publish span");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(publish.span_context.trace_id(), trace_id);
    assert_eq!(
        publish.parent_span_id,
        cx.span().span_context().span_id(),
        "publish is a child of the caller's span"
    );
    let receive = spans
        .iter()
        .find(|s| s.name == format!("{t} receive") && s.span_context.trace_id() == trace_id)
        .expect("receive span");
    assert_eq!(receive.span_kind, SpanKind::Consumer);
    assert_eq!(receive.parent_span_id, publish.span_context.span_id());
    assert!(receive.parent_span_is_remote);
}
