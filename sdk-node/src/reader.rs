//! `NativeReader`: `weir_sdk::Reader` for JavaScript. Reads take a timeout and resolve to
//! `null` when it passes (or when the reader is closed), so a JavaScript loop can check its
//! own state between reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use napi_derive::napi;
use weir_sdk::{Context, Error, Message, Reader, ReaderConfig, StartOffset};

use crate::error::{IntoJs, Result, config, to_js};
use crate::message::{IncomingMessage, TopicPartitionOffset};

/// `ReaderConfig` with JavaScript names; every field but `brokers` and `topics` is optional.
#[napi(object)]
pub struct ReaderOptions {
    pub brokers: String,
    /// In a group, a name starting with `^` is a regular expression.
    pub topics: Vec<String>,
    pub group_id: Option<String>,
    pub partition: Option<i32>,
    /// `earliest` (default) or `latest`.
    pub start_offset: Option<String>,
    pub commit_interval_ms: Option<u32>,
    pub max_wait_ms: Option<u32>,
    pub min_bytes: Option<u32>,
    pub max_bytes: Option<u32>,
    pub session_timeout_ms: Option<u32>,
    pub read_committed: Option<bool>,
    pub client_id: Option<String>,
    pub extra: Option<HashMap<String, String>>,
}

fn reader_config(o: ReaderOptions) -> Result<ReaderConfig> {
    let mut c = ReaderConfig::new(o.brokers, "");
    c.topics = o.topics;
    c.group_id = o.group_id;
    c.partition = o.partition;
    if let Some(s) = o.start_offset {
        c.start_offset = match s.as_str() {
            "earliest" | "first" => StartOffset::Earliest,
            "latest" | "last" => StartOffset::Latest,
            other => {
                return Err(config(format!(
                    "startOffset '{other}': use 'earliest' or 'latest'"
                )));
            }
        };
    }
    let ms = |v: u32| Duration::from_millis(v.into());
    if let Some(v) = o.commit_interval_ms {
        c.commit_interval = ms(v);
    }
    if let Some(v) = o.max_wait_ms {
        c.max_wait = ms(v);
    }
    if let Some(v) = o.min_bytes {
        c.min_bytes = v as usize;
    }
    if let Some(v) = o.max_bytes {
        c.max_bytes = v as usize;
    }
    if let Some(v) = o.session_timeout_ms {
        c.session_timeout = ms(v);
    }
    if let Some(v) = o.read_committed {
        c.read_committed = v;
    }
    c.client_id = o.client_id;
    c.extra = o.extra.unwrap_or_default().into_iter().collect();
    Ok(c)
}

/// One partition's lag.
#[napi(object)]
pub struct JsPartitionLag {
    pub topic: String,
    pub partition: i32,
    pub position: i64,
    pub high_watermark: i64,
    pub lag: i64,
}

#[napi]
pub struct NativeReader {
    config: Mutex<Option<ReaderConfig>>,
    reader: Mutex<Option<Arc<Reader>>>,
    /// Parent of every read's context; `close` cancels it so pending reads end.
    ctx: Context,
}

/// How long `close` waits for in-flight calls to let go of the reader before giving up on a
/// clean leave (the group then notices through the session timeout).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

#[napi]
impl NativeReader {
    #[napi(constructor)]
    pub fn new(options: ReaderOptions) -> Result<Self> {
        Ok(NativeReader {
            config: Mutex::new(Some(reader_config(options)?)),
            reader: Mutex::new(None),
            ctx: Context::background(),
        })
    }

    /// Creates the consumer: joins the group (in the background) or assigns the partitions.
    #[napi]
    pub async fn connect(&self) -> Result<()> {
        let Some(cfg) = lock(&self.config).take() else {
            return Ok(());
        };
        let reader = Reader::new(cfg).await.js()?;
        *lock(&self.reader) = Some(Arc::new(reader));
        Ok(())
    }

    fn reader(&self) -> Result<Arc<Reader>> {
        lock(&self.reader).clone().ok_or_else(|| {
            let connected = lock(&self.config).is_none();
            to_js(if connected {
                Error::Closed
            } else {
                Error::Config("call connect() first".into())
            })
        })
    }

    fn read_ctx(&self, timeout_ms: Option<u32>) -> Context {
        match timeout_ms {
            Some(ms) => self.ctx.with_timeout(Duration::from_millis(ms.into())),
            None => self.ctx.child(),
        }
    }

    /// The next message, marked for the periodic commit (in a group); null on timeout.
    #[napi]
    pub async fn read_message(&self, timeout_ms: Option<u32>) -> Result<Option<IncomingMessage>> {
        let r = self.reader()?;
        none_on_timeout(r.read_message(&self.read_ctx(timeout_ms)).await)
    }

    /// The next message, not marked; commit with `commitMessages`. Null on timeout.
    #[napi]
    pub async fn fetch_message(&self, timeout_ms: Option<u32>) -> Result<Option<IncomingMessage>> {
        let r = self.reader()?;
        none_on_timeout(r.fetch_message(&self.read_ctx(timeout_ms)).await)
    }

    /// Up to `max` messages without marking them: waits up to `timeoutMs` for the first, then
    /// takes whatever else is already fetched. Empty on timeout.
    #[napi]
    pub async fn fetch_batch(&self, max: u32, timeout_ms: u32) -> Result<Vec<IncomingMessage>> {
        let r = self.reader()?;
        let mut out = Vec::new();
        match none_on_timeout(r.fetch_message(&self.read_ctx(Some(timeout_ms))).await)? {
            Some(m) => out.push(m),
            None => return Ok(out),
        }
        let started = Instant::now();
        let ctx = self.ctx.child();
        while out.len() < max as usize && started.elapsed() < Duration::from_millis(50) {
            // `timeout` polls the read before its deadline, so a message already fetched by
            // librdkafka is taken and an empty queue ends the batch at once.
            match tokio::time::timeout(Duration::ZERO, r.fetch_message(&ctx)).await {
                Ok(m) => match none_on_timeout(m)? {
                    Some(m) => out.push(m),
                    None => break,
                },
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Commits, per partition, the offset after the highest `offset` given (message offsets).
    #[napi]
    pub async fn commit_messages(&self, messages: Vec<TopicPartitionOffset>) -> Result<()> {
        let r = self.reader()?;
        let msgs = messages
            .into_iter()
            .map(|m| {
                let offset = m
                    .offset
                    .ok_or_else(|| config("commitMessages: every entry needs an offset"))?;
                Ok(Message {
                    topic: m.topic,
                    partition: Some(m.partition),
                    offset,
                    ..Default::default()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        r.commit_messages(&msgs).await.js()
    }

    /// Moves to `offset` (-2 first, -1 last, or absolute) on an assigned partition.
    #[napi]
    pub async fn seek(&self, topic: String, partition: i32, offset: i64) -> Result<()> {
        let r = self.reader()?;
        r.seek(&topic, partition, offset).await.js()
    }

    #[napi]
    pub async fn lag(&self) -> Result<Vec<JsPartitionLag>> {
        let r = self.reader()?;
        Ok(r.lag()
            .await
            .js()?
            .into_iter()
            .map(|l| JsPartitionLag {
                topic: l.topic,
                partition: l.partition,
                position: l.position,
                high_watermark: l.high_watermark,
                lag: l.lag,
            })
            .collect())
    }

    #[napi]
    pub fn assignment(&self) -> Result<Vec<TopicPartitionOffset>> {
        Ok(self
            .reader()?
            .assignment()
            .into_iter()
            .map(|(topic, partition)| TopicPartitionOffset {
                topic,
                partition,
                offset: None,
            })
            .collect())
    }

    #[napi]
    pub fn pause(&self, partitions: Vec<TopicPartitionOffset>) -> Result<()> {
        self.reader()?.pause(&pairs(partitions)).js()
    }

    #[napi]
    pub fn resume(&self, partitions: Vec<TopicPartitionOffset>) -> Result<()> {
        self.reader()?.resume(&pairs(partitions)).js()
    }

    /// Ends pending reads, commits what `readMessage` marked and leaves the group.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.ctx.cancel();
        lock(&self.config).take();
        let Some(mut r) = lock(&self.reader).take() else {
            return Ok(());
        };
        let until = Instant::now() + CLOSE_WAIT;
        loop {
            match Arc::try_unwrap(r) {
                Ok(reader) => return reader.close().await.js(),
                Err(shared) if Instant::now() < until => {
                    r = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

fn pairs(list: Vec<TopicPartitionOffset>) -> Vec<(String, i32)> {
    list.into_iter().map(|p| (p.topic, p.partition)).collect()
}

/// A read's timeout or the reader's close is "no message", not an error.
fn none_on_timeout(r: weir_sdk::Result<Message>) -> Result<Option<IncomingMessage>> {
    match r {
        Ok(m) => Ok(Some(m.into())),
        Err(Error::Timeout(_) | Error::Cancelled) => Ok(None),
        Err(e) => Err(to_js(e)),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
