//! W3C trace context in record headers, and OpenTelemetry spans for produce and consume.
//!
//! Spans go to the global tracer provider (`opentelemetry::global`); with none installed they
//! cost next to nothing, and a caller's current span context is still propagated. A record
//! written outside any trace carries no trace headers.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context as OtelContext, KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::message::{Header, Message};

const TRACER: &str = "weir-sdk";
/// The W3C header; the SDK leaves a message alone when the caller already set it.
pub const TRACEPARENT: &str = "traceparent";

struct HeaderInjector<'a>(&'a mut Vec<Header>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes `tracestate` even when it is empty: a record gets no such
        // header then.
        if value.is_empty() {
            return;
        }
        self.0.retain(|h| h.key != key);
        self.0.push(Header {
            key: key.to_string(),
            value: Some(value.into_bytes()),
        });
    }
}

struct HeaderExtractor<'a>(&'a [Header]);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key.as_str()).collect()
    }
}

/// A producer span, ended with the delivery outcome.
pub(crate) struct ProduceSpan(Option<OtelContext>);

/// Starts a `publish` span under the caller's current context and writes its traceparent into
/// `msg`, unless the message already carries one.
pub(crate) fn start_produce(msg: &mut Message, topic: &str) -> ProduceSpan {
    if msg.headers.iter().any(|h| h.key == TRACEPARENT) {
        return ProduceSpan(None);
    }
    let parent = OtelContext::current();
    let tracer = global::tracer(TRACER);
    let span = tracer
        .span_builder(format!("{topic} publish"))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.operation.type", "publish"),
            KeyValue::new("messaging.destination.name", topic.to_string()),
        ])
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    // Nothing is written when there is no trace (no tracer provider and no caller's span):
    // records then carry only the headers their writer gave them.
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut msg.headers));
    ProduceSpan(Some(cx))
}

impl ProduceSpan {
    pub(crate) fn end(self, outcome: Result<(i32, i64), String>) {
        let Some(cx) = self.0 else { return };
        let span = cx.span();
        match outcome {
            Ok((partition, offset)) => {
                span.set_attribute(KeyValue::new(
                    "messaging.destination.partition.id",
                    partition.to_string(),
                ));
                span.set_attribute(KeyValue::new("messaging.kafka.offset", offset));
            }
            Err(e) => span.set_status(Status::error(e)),
        }
        span.end();
    }
}

/// The trace context a message carries (its `traceparent` header), for continuing the trace
/// in the code that handles it.
pub fn extract(msg: &Message) -> OtelContext {
    TraceContextPropagator::new().extract(&HeaderExtractor(&msg.headers))
}

/// Records a `receive` span for a consumed message, child of the producer's span.
pub(crate) fn record_consume(msg: &Message, group: Option<&str>) {
    let parent = extract(msg);
    let tracer = global::tracer(TRACER);
    let mut attrs = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "receive"),
        KeyValue::new("messaging.destination.name", msg.topic.clone()),
        KeyValue::new(
            "messaging.destination.partition.id",
            msg.partition.unwrap_or(-1).to_string(),
        ),
        KeyValue::new("messaging.kafka.offset", msg.offset),
    ];
    if let Some(g) = group {
        attrs.push(KeyValue::new(
            "messaging.consumer.group.name",
            g.to_string(),
        ));
    }
    let mut span = tracer
        .span_builder(format!("{} receive", msg.topic))
        .with_kind(SpanKind::Consumer)
        .with_attributes(attrs)
        .start_with_context(&tracer, &parent);
    span.end();
}

impl Message {
    /// The OpenTelemetry context this message carries (see [`extract`]).
    pub fn trace_context(&self) -> OtelContext {
        extract(self)
    }
}
