//! [`Writer`]: kafka-go's `Writer` on librdkafka. Messages are batched per partition by
//! librdkafka; `write_messages` returns once every message is acknowledged (or failed).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as RdHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::sync::Mutex;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::http::{Http, rejection_reason};
use crate::message::{Delivery, Message};
use crate::trace;

/// How a writer picks the partition of a message that names none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Balancer {
    /// murmur2 of the key, as the Java client does, so keys land where Java producers put them;
    /// messages without a key are spread randomly.
    #[default]
    Hash,
    /// Each message to the next partition in turn, ignoring keys.
    RoundRobin,
}

/// Which acknowledgement a write waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget (`acks=0`); offsets come back as -1.
    None,
    /// The partition leader has the record (`acks=1`).
    Leader,
    /// Every in-sync replica has it (`acks=all`, the default).
    #[default]
    All,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Writer settings; `WriterConfig::new(brokers)` then set fields.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Topic for messages whose `topic` is empty.
    pub topic: Option<String>,
    pub balancer: Balancer,
    pub required_acks: Acks,
    pub compression: Compression,
    /// Most messages in one batch (librdkafka `batch.num.messages`).
    pub batch_size: usize,
    /// Most bytes in one batch (`batch.size`).
    pub batch_bytes: usize,
    /// How long a batch waits to fill (`linger.ms`).
    pub batch_timeout: Duration,
    /// Exactly-once per partition on retries (on by default; needs `Acks::All`).
    pub idempotent: bool,
    /// How long a message may take, retries included, before it fails (`message.timeout.ms`).
    pub write_timeout: Duration,
    pub client_id: Option<String>,
    /// Weir's HTTP admin API, used to fetch a plugin's rejection reason; defaults to the first
    /// broker's host on port 9644.
    pub admin_url: Option<String>,
    /// Any other librdkafka property, applied last.
    pub extra: crate::Properties,
}

impl WriterConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        WriterConfig {
            brokers: brokers.into(),
            topic: None,
            balancer: Balancer::Hash,
            required_acks: Acks::All,
            compression: Compression::None,
            batch_size: 10_000,
            batch_bytes: 1 << 20,
            batch_timeout: Duration::from_millis(5),
            idempotent: true,
            write_timeout: Duration::from_secs(30),
            client_id: None,
            admin_url: None,
            extra: crate::Properties::default(),
        }
    }

    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    fn client_config(&self) -> Result<ClientConfig> {
        if self.brokers.trim().is_empty() {
            return Err(Error::Config("brokers is empty".into()));
        }
        if self.idempotent && self.required_acks != Acks::All {
            return Err(Error::Config(
                "idempotent writes need required_acks = All; set idempotent = false for acks 0/1"
                    .into(),
            ));
        }
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", self.client_id.as_deref().unwrap_or("weir-sdk"))
            .set("partitioner", "murmur2_random")
            .set(
                "acks",
                match self.required_acks {
                    Acks::None => "0",
                    Acks::Leader => "1",
                    Acks::All => "all",
                },
            )
            .set("compression.type", self.compression.name())
            .set("batch.num.messages", self.batch_size.max(1).to_string())
            .set("batch.size", self.batch_bytes.max(1).to_string())
            .set("linger.ms", self.batch_timeout.as_millis().to_string())
            .set("enable.idempotence", self.idempotent.to_string())
            .set(
                "message.timeout.ms",
                self.write_timeout.as_millis().max(1).to_string(),
            )
            // A topic the broker does not know fails as UnknownTopic after 5 s, rather than
            // as a timeout after librdkafka's 30 s (which equals the default write timeout).
            .set("topic.metadata.propagation.max.ms", "5000");
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        Ok(c)
    }
}

/// A producer. Cheap to clone; all clones share one connection set.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: FutureProducer,
    config: WriterConfig,
    http: Http,
    next: AtomicUsize,
    /// Partition counts for round-robin, refreshed every 30 s.
    partitions: Mutex<HashMap<String, (i32, Instant)>>,
}

const PARTITIONS_TTL: Duration = Duration::from_secs(30);

impl Writer {
    pub fn new(config: WriterConfig) -> Result<Writer> {
        let producer: FutureProducer = config
            .client_config()?
            .create()
            .map_err(|e| Error::Config(e.to_string()))?;
        let http = Http::new(
            config.admin_url.as_deref(),
            &config.brokers,
            Duration::from_secs(5),
            crate::http::basic_auth(&config.extra),
        );
        Ok(Writer {
            inner: Arc::new(Inner {
                producer,
                config,
                http,
                next: AtomicUsize::new(0),
                partitions: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &WriterConfig {
        &self.inner.config
    }

    /// Writes `msgs` and waits for all of them. On success, the deliveries are in the order
    /// of `msgs`. If some fail, the others are still written and the error is
    /// [`Error::Write`] listing the failed ones (a single message fails with its own error).
    pub async fn write_messages(
        &self,
        ctx: &Context,
        msgs: impl IntoIterator<Item = Message>,
    ) -> Result<Vec<Delivery>> {
        let msgs: Vec<Message> = msgs.into_iter().collect();
        let total = msgs.len();
        let results = ctx.run("write_messages", self.write_all(msgs)).await?;
        let mut deliveries = Vec::with_capacity(total);
        let mut failed = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(d) => deliveries.push(d),
                Err(e) => failed.push((i, e)),
            }
        }
        match failed.len() {
            0 => Ok(deliveries),
            1 if total == 1 => Err(failed.remove(0).1),
            _ => Err(Error::Write { total, failed }),
        }
    }

    /// Writes one message and waits for it.
    pub async fn write_message(&self, ctx: &Context, msg: Message) -> Result<Delivery> {
        let mut d = self.write_messages(ctx, [msg]).await?;
        d.pop().ok_or(Error::Closed)
    }

    /// Waits until everything queued is sent, up to `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.producer.flush(timeout))
            .await
            .map_err(|_| Error::Closed)?
            .map_err(Error::from)
    }

    /// Flushes and releases the writer (other clones keep working).
    pub async fn close(self) -> Result<()> {
        self.flush(self.inner.config.write_timeout).await
    }

    async fn write_all(&self, msgs: Vec<Message>) -> Result<Vec<Result<Delivery>>> {
        let started_ms = now_ms();
        let mut pending = Vec::with_capacity(msgs.len());
        for mut msg in msgs {
            let topic = if msg.topic.is_empty() {
                match &self.inner.config.topic {
                    Some(t) => t.clone(),
                    None => {
                        pending.push(Pending::Failed(Error::Config(
                            "the message names no topic and the writer has none".into(),
                        )));
                        continue;
                    }
                }
            } else {
                std::mem::take(&mut msg.topic)
            };
            let partition = match (msg.partition, self.inner.config.balancer) {
                (Some(p), _) => Some(p),
                (None, Balancer::RoundRobin) => match self.partition_count(&topic).await {
                    Ok(n) => {
                        Some((self.inner.next.fetch_add(1, Ordering::Relaxed) % n as usize) as i32)
                    }
                    Err(e) => {
                        pending.push(Pending::Failed(e));
                        continue;
                    }
                },
                (None, Balancer::Hash) => None,
            };
            let span = trace::start_produce(&mut msg, &topic);
            let fut = self.enqueue(&topic, partition, &msg).await;
            pending.push(match fut {
                Ok(f) => Pending::Sent(topic, partition, f, span),
                Err(e) => {
                    span.end(Err(e.to_string()));
                    Pending::Failed(match (e.rdkafka_error_code(), partition) {
                        (Some(RDKafkaErrorCode::UnknownPartition), Some(partition)) => {
                            Error::UnknownPartition { topic, partition }
                        }
                        _ => Error::from_kafka(e, &topic),
                    })
                }
            });
        }
        let mut out = Vec::with_capacity(pending.len());
        let mut waits = Vec::new();
        for p in pending {
            match p {
                Pending::Failed(e) => out.push(Some(Err(e))),
                Pending::Sent(topic, partition, fut, span) => {
                    waits.push((out.len(), topic, partition, fut, span));
                    out.push(None);
                }
            }
        }
        let done = join_all(
            waits
                .into_iter()
                .map(|(i, topic, partition, fut, span)| async move {
                    let r = match fut.await {
                        Ok(Ok(d)) => {
                            span.end(Ok((d.partition, d.offset)));
                            Ok(Delivery {
                                topic,
                                partition: d.partition,
                                offset: d.offset,
                            })
                        }
                        Ok(Err((e, _))) => {
                            span.end(Err(e.to_string()));
                            Err((topic, partition, e))
                        }
                        Err(_) => {
                            span.end(Err("writer closed".into()));
                            Err((topic, partition, KafkaError::Canceled))
                        }
                    };
                    (i, r)
                }),
        )
        .await;
        for (i, r) in done {
            out[i] = Some(match r {
                Ok(d) => Ok(d),
                Err((topic, partition, e)) => {
                    Err(self.explain(e, topic, partition, started_ms).await)
                }
            });
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect())
    }

    /// Queues one message, waiting while librdkafka's queue is full.
    async fn enqueue(
        &self,
        topic: &str,
        partition: Option<i32>,
        msg: &Message,
    ) -> std::result::Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(msg.headers.len());
        for h in &msg.headers {
            headers = headers.insert(RdHeader {
                key: &h.key,
                value: h.value.as_deref(),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
        if let Some(k) = &msg.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &msg.value {
            record = record.payload(v.as_slice());
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(t) = msg.timestamp_ms {
            record = record.timestamp(t);
        }
        loop {
            match self.inner.producer.send_result(record) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Turns a delivery error into an [`Error`], fetching a plugin's reason for a rejection.
    async fn explain(
        &self,
        e: KafkaError,
        topic: String,
        partition: Option<i32>,
        since_ms: i64,
    ) -> Error {
        match (e.rdkafka_error_code(), partition) {
            (Some(RDKafkaErrorCode::UnknownPartition), Some(partition)) => {
                return Error::UnknownPartition { topic, partition };
            }
            (Some(RDKafkaErrorCode::InvalidRecord), _) => {}
            _ => return Error::from_kafka(e, &topic),
        }
        let reason = rejection_reason(&self.inner.http, &topic, since_ms)
            .await
            .unwrap_or_else(|| {
                "the broker refused the record as invalid (INVALID_RECORD); \
                 `weir plugin logs` shows why"
                    .to_string()
            });
        Error::Rejected { topic, reason }
    }

    async fn partition_count(&self, topic: &str) -> Result<i32> {
        let mut cache = self.inner.partitions.lock().await;
        if let Some((n, at)) = cache.get(topic)
            && at.elapsed() < PARTITIONS_TTL
        {
            return Ok(*n);
        }
        let inner = self.inner.clone();
        let t = topic.to_string();
        let n = tokio::task::spawn_blocking(move || {
            let md = inner
                .producer
                .client()
                .fetch_metadata(Some(&t), Duration::from_secs(10))?;
            Ok::<_, KafkaError>(
                md.topics()
                    .first()
                    .map_or(0, |t| t.partitions().len() as i32),
            )
        })
        .await
        .map_err(|_| Error::Closed)?
        .map_err(|e| Error::from_kafka(e, topic))?;
        if n == 0 {
            return Err(Error::UnknownTopic(topic.to_string()));
        }
        cache.insert(topic.to_string(), (n, Instant::now()));
        Ok(n)
    }
}

enum Pending {
    Sent(
        String,
        Option<i32>,
        rdkafka::producer::DeliveryFuture,
        trace::ProduceSpan,
    ),
    Failed(Error),
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
