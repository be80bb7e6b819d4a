//! `NativeWriter`: `weir_sdk::Writer` for JavaScript.

use std::collections::HashMap;
use std::time::Duration;

use napi_derive::napi;
use weir_sdk::{Acks, Balancer, Compression, Context, Message, Writer, WriterConfig};

use crate::error::{IntoJs, Result, config};
use crate::message::{JsDelivery, OutgoingMessage};

/// `WriterConfig` with JavaScript names; every field but `brokers` is optional.
#[napi(object)]
pub struct WriterOptions {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    pub topic: Option<String>,
    /// `hash` (default) or `roundRobin`.
    pub balancer: Option<String>,
    /// `all` (default), `leader` or `none`.
    pub required_acks: Option<String>,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: Option<String>,
    pub batch_size: Option<u32>,
    pub batch_bytes: Option<u32>,
    pub batch_timeout_ms: Option<u32>,
    pub idempotent: Option<bool>,
    pub write_timeout_ms: Option<u32>,
    pub client_id: Option<String>,
    pub admin_url: Option<String>,
    /// Other librdkafka properties.
    pub extra: Option<HashMap<String, String>>,
}

fn writer_config(o: WriterOptions) -> Result<WriterConfig> {
    let mut c = WriterConfig::new(o.brokers);
    c.topic = o.topic;
    if let Some(b) = o.balancer {
        c.balancer = match b.as_str() {
            "hash" => Balancer::Hash,
            "roundRobin" | "round_robin" => Balancer::RoundRobin,
            other => {
                return Err(config(format!(
                    "balancer '{other}': use 'hash' or 'roundRobin'"
                )));
            }
        };
    }
    if let Some(a) = o.required_acks {
        c.required_acks = match a.as_str() {
            "all" | "-1" => Acks::All,
            "leader" | "1" => Acks::Leader,
            "none" | "0" => Acks::None,
            other => {
                return Err(config(format!(
                    "requiredAcks '{other}': use 'all', 'leader' or 'none'"
                )));
            }
        };
    }
    if let Some(z) = o.compression {
        c.compression = match z.as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => {
                return Err(config(format!(
                    "compression '{other}': use none, gzip, snappy, lz4 or zstd"
                )));
            }
        };
    }
    if let Some(n) = o.batch_size {
        c.batch_size = n as usize;
    }
    if let Some(n) = o.batch_bytes {
        c.batch_bytes = n as usize;
    }
    if let Some(ms) = o.batch_timeout_ms {
        c.batch_timeout = Duration::from_millis(ms.into());
    }
    if let Some(i) = o.idempotent {
        c.idempotent = i;
    }
    if let Some(ms) = o.write_timeout_ms {
        c.write_timeout = Duration::from_millis(ms.into());
    }
    c.client_id = o.client_id;
    c.admin_url = o.admin_url;
    c.extra = o.extra.unwrap_or_default().into_iter().collect();
    Ok(c)
}

#[napi]
pub struct NativeWriter {
    writer: Writer,
}

#[napi]
impl NativeWriter {
    #[napi(constructor)]
    pub fn new(options: WriterOptions) -> Result<Self> {
        let writer = Writer::new(writer_config(options)?).js()?;
        Ok(NativeWriter { writer })
    }

    /// Writes `messages` and waits for every acknowledgement; deliveries in message order.
    #[napi]
    pub async fn write_messages(
        &self,
        messages: Vec<OutgoingMessage>,
        timeout_ms: Option<u32>,
    ) -> Result<Vec<JsDelivery>> {
        let msgs: Vec<Message> = messages.into_iter().map(Message::from).collect();
        let ctx = match timeout_ms {
            Some(ms) => Context::background().with_timeout(Duration::from_millis(ms.into())),
            None => Context::background(),
        };
        let d = self.writer.write_messages(&ctx, msgs).await.js()?;
        Ok(d.into_iter().map(JsDelivery::from).collect())
    }

    /// Waits until everything queued is sent.
    #[napi]
    pub async fn flush(&self, timeout_ms: Option<u32>) -> Result<()> {
        let t = Duration::from_millis(timeout_ms.unwrap_or(30_000).into());
        self.writer.flush(t).await.js()
    }

    /// Flushes; the writer stays usable (librdkafka's producer is released with the object).
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.writer.clone().close().await.js()
    }
}
