//! [`Reader`]: kafka-go's `Reader` on librdkafka. In a group (`group_id` set) the group's
//! coordinator assigns partitions; without one it reads a partition (or every partition) of
//! a topic directly.
//!
//! Offsets: [`Reader::read_message`] marks the message consumed and the offset is committed
//! every `commit_interval` (and on close); [`Reader::fetch_message`] does not, and
//! [`Reader::commit_messages`] commits explicitly (synchronously).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::trace;

/// kafka-go's `FirstOffset`: the oldest record still stored.
pub const FIRST_OFFSET: i64 = -2;
/// kafka-go's `LastOffset`: the next record to be written.
pub const LAST_OFFSET: i64 = -1;

/// Where to start when there is no committed offset (or no group).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartOffset {
    #[default]
    Earliest,
    Latest,
}

#[derive(Clone, Debug)]
pub struct ReaderConfig {
    pub brokers: String,
    /// Topics to read. In a group, a name starting with `^` is a regular expression.
    pub topics: Vec<String>,
    /// Consumer group; `None` reads partitions directly, with no committed offsets.
    pub group_id: Option<String>,
    /// Without a group: the one partition to read (`None` reads them all).
    pub partition: Option<i32>,
    pub start_offset: StartOffset,
    /// How often offsets marked by `read_message` are committed.
    pub commit_interval: Duration,
    /// Longest a fetch waits for `min_bytes` (`fetch.wait.max.ms`).
    pub max_wait: Duration,
    pub min_bytes: usize,
    /// Most bytes fetched per partition per request.
    pub max_bytes: usize,
    pub session_timeout: Duration,
    /// Only committed transactional records (the default, as in Java and librdkafka).
    pub read_committed: bool,
    pub client_id: Option<String>,
    /// Any other librdkafka property, applied last.
    pub extra: crate::Properties,
}

impl ReaderConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        ReaderConfig {
            brokers: brokers.into(),
            topics: vec![topic.into()],
            group_id: None,
            partition: None,
            start_offset: StartOffset::Earliest,
            commit_interval: Duration::from_secs(1),
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 1 << 20,
            session_timeout: Duration::from_secs(45),
            read_committed: true,
            client_id: None,
            extra: crate::Properties::default(),
        }
    }

    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    fn client_config(&self) -> Result<ClientConfig> {
        if self.brokers.trim().is_empty() {
            return Err(Error::Config("brokers is empty".into()));
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.is_empty()) {
            return Err(Error::Config("a reader needs at least one topic".into()));
        }
        if self.group_id.is_none() && self.topics.len() > 1 {
            return Err(Error::Config(
                "without a group_id a reader reads one topic; set group_id to read several".into(),
            ));
        }
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", self.client_id.as_deref().unwrap_or("weir-sdk"))
            .set(
                "auto.offset.reset",
                match self.start_offset {
                    StartOffset::Earliest => "earliest",
                    StartOffset::Latest => "latest",
                },
            )
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", self.max_wait.as_millis().to_string())
            .set("fetch.min.bytes", self.min_bytes.max(1).to_string())
            .set(
                "max.partition.fetch.bytes",
                self.max_bytes.max(1).to_string(),
            )
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            )
            .set(
                "isolation.level",
                if self.read_committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            );
        match &self.group_id {
            Some(g) => {
                c.set("group.id", g).set("enable.auto.commit", "true").set(
                    "auto.commit.interval.ms",
                    self.commit_interval.as_millis().max(1).to_string(),
                );
            }
            None => {
                c.set("group.id", "weir-sdk-partition-reader")
                    .set("enable.auto.commit", "false");
            }
        }
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        Ok(c)
    }
}

/// Tracks the partitions the group assigned to this reader.
pub struct ReaderContext {
    assignment: Assignment,
}

impl ClientContext for ReaderContext {}

impl ConsumerContext for ReaderContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => self.assignment.add(tpl),
            Rebalance::Revoke(tpl) => self.assignment.remove(tpl),
            Rebalance::Error(_) => {}
        }
    }
}

/// One partition's lag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Next offset this reader (or group) will read; -1 if unknown.
    pub position: i64,
    pub high_watermark: i64,
    pub lag: i64,
}

/// A consumer. Not `Clone`; share it behind an `Arc` if several tasks read.
pub struct Reader {
    consumer: Arc<StreamConsumer<ReaderContext>>,
    config: ReaderConfig,
}

impl Reader {
    pub async fn new(config: ReaderConfig) -> Result<Reader> {
        let consumer: StreamConsumer<ReaderContext> = config
            .client_config()?
            .create_with_context(ReaderContext {
                assignment: Assignment::default(),
            })
            .map_err(|e| Error::Config(e.to_string()))?;
        let consumer = Arc::new(consumer);
        let reader = Reader { consumer, config };
        if reader.config.group_id.is_some() {
            let topics: Vec<&str> = reader.config.topics.iter().map(String::as_str).collect();
            reader.consumer.subscribe(&topics)?;
        } else {
            reader.assign_directly().await?;
        }
        Ok(reader)
    }

    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    async fn assign_directly(&self) -> Result<()> {
        let topic = self.config.topics[0].clone();
        let offset = match self.config.start_offset {
            StartOffset::Earliest => Offset::Beginning,
            StartOffset::Latest => Offset::End,
        };
        // Checked even for one partition: librdkafka would wait silently on a missing one.
        let all = self.partitions_of(&topic).await?;
        let partitions = match self.config.partition {
            Some(p) if all.contains(&p) => vec![p],
            Some(partition) => return Err(Error::UnknownPartition { topic, partition }),
            None => all,
        };
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&topic, p, offset)
                .map_err(|e| Error::from_kafka(e, &topic))?;
        }
        self.consumer.assign(&tpl)?;
        self.consumer.context().assignment.add(&tpl);
        Ok(())
    }

    async fn partitions_of(&self, topic: &str) -> Result<Vec<i32>> {
        let c = self.consumer.clone();
        let t = topic.to_string();
        let md = blocking(move || c.fetch_metadata(Some(&t), Duration::from_secs(10)))
            .await?
            .map_err(|e| Error::from_kafka(e, topic))?;
        let parts: Vec<i32> = md
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if parts.is_empty() {
            return Err(Error::UnknownTopic(topic.to_string()));
        }
        Ok(parts)
    }

    async fn next(&self, ctx: &Context) -> Result<Message> {
        ctx.run("read", async {
            loop {
                match self.consumer.recv().await {
                    Ok(m) => return Ok(Message::from_borrowed(&m)),
                    Err(KafkaError::PartitionEOF(_)) => continue,
                    Err(e) => {
                        // librdkafka names the topic in its message: report that one, not the
                        // whole subscription.
                        let text = e.to_string();
                        let topic = self
                            .config
                            .topics
                            .iter()
                            .find(|t| text.contains(t.as_str()))
                            .cloned()
                            .unwrap_or_else(|| self.config.topics.join(", "));
                        return Err(Error::from_kafka(e, &topic));
                    }
                }
            }
        })
        .await
    }

    /// The next message; its offset is committed within `commit_interval` (in a group).
    pub async fn read_message(&self, ctx: &Context) -> Result<Message> {
        let m = self.next(ctx).await?;
        if self.config.group_id.is_some()
            && let Some(p) = m.partition
        {
            self.consumer.store_offset(&m.topic, p, m.offset)?;
        }
        trace::record_consume(&m, self.config.group_id.as_deref());
        Ok(m)
    }

    /// The next message, without marking it consumed; commit with [`Reader::commit_messages`].
    pub async fn fetch_message(&self, ctx: &Context) -> Result<Message> {
        let m = self.next(ctx).await?;
        trace::record_consume(&m, self.config.group_id.as_deref());
        Ok(m)
    }

    /// Commits, for each partition among `msgs`, the offset after its highest message.
    pub async fn commit_messages(&self, msgs: &[Message]) -> Result<()> {
        if self.config.group_id.is_none() {
            return Err(Error::Config(
                "commit_messages needs a group_id: a partition reader has no committed offsets"
                    .into(),
            ));
        }
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for m in msgs {
            let Some(p) = m.partition else { continue };
            let e = next.entry((m.topic.as_str(), p)).or_insert(0);
            *e = (*e).max(m.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in next {
            tpl.add_partition_offset(t, p, Offset::Offset(o))?;
        }
        let c = self.consumer.clone();
        blocking(move || c.commit(&tpl, CommitMode::Sync))
            .await?
            .map_err(Error::from)
    }

    /// Moves the reader to `offset` on `partition` ([`FIRST_OFFSET`], [`LAST_OFFSET`] or an
    /// absolute offset). In a group the partition must be assigned to this reader.
    pub async fn seek(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        let off = match offset {
            FIRST_OFFSET => Offset::Beginning,
            LAST_OFFSET => Offset::End,
            o if o >= 0 => Offset::Offset(o),
            o => return Err(Error::Config(format!("offset {o} is not valid"))),
        };
        if !self
            .consumer
            .context()
            .assignment
            .contains(topic, partition)
        {
            return Err(Error::Config(format!(
                "partition {partition} of '{topic}' is not assigned to this reader"
            )));
        }
        let c = self.consumer.clone();
        let t = topic.to_string();
        blocking(move || c.seek(&t, partition, off, Duration::from_secs(10)))
            .await?
            .map_err(|e| Error::from_kafka(e, topic))
    }

    /// kafka-go's `SetOffset` for a partition reader (the configured partition, or 0).
    pub async fn set_offset(&self, offset: i64) -> Result<()> {
        let topic = self.config.topics[0].clone();
        self.seek(&topic, self.config.partition.unwrap_or(0), offset)
            .await
    }

    /// The partitions currently assigned to this reader.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.consumer.context().assignment.list()
    }

    /// Lag of each assigned partition: high watermark minus this reader's position (or the
    /// group's committed offset before the first read).
    pub async fn lag(&self) -> Result<Vec<PartitionLag>> {
        let c = self.consumer.clone();
        let assigned = self.assignment();
        let group = self.config.group_id.is_some();
        blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in &assigned {
                tpl.add_partition(t, *p);
            }
            let positions = c.position()?;
            let committed = if group {
                c.committed_offsets(tpl.clone(), Duration::from_secs(10))
                    .ok()
            } else {
                None
            };
            let mut out = Vec::new();
            for (t, p) in assigned {
                let offset_of = |l: &TopicPartitionList| {
                    l.find_partition(&t, p)
                        .and_then(|e| e.offset().to_raw())
                        .filter(|o| *o >= 0)
                };
                let (low, high) = c.fetch_watermarks(&t, p, Duration::from_secs(10))?;
                let position = offset_of(&positions)
                    .or_else(|| committed.as_ref().and_then(offset_of))
                    .unwrap_or(low);
                out.push(PartitionLag {
                    topic: t,
                    partition: p,
                    position,
                    high_watermark: high,
                    lag: (high - position).max(0),
                });
            }
            Ok::<_, KafkaError>(out)
        })
        .await?
        .map_err(Error::from)
    }

    /// Stops fetching `partitions` (they stay assigned) until [`Reader::resume`].
    pub fn pause(&self, partitions: &[(String, i32)]) -> Result<()> {
        self.consumer.pause(&tpl_of(partitions))?;
        Ok(())
    }

    pub fn resume(&self, partitions: &[(String, i32)]) -> Result<()> {
        self.consumer.resume(&tpl_of(partitions))?;
        Ok(())
    }

    /// Messages as an async stream, with `read_message`'s commit semantics. Ends after the
    /// first error.
    pub fn stream(&self) -> impl Stream<Item = Result<Message>> + '_ {
        let ctx = Context::background();
        futures_util::stream::unfold((self, ctx, false), |(r, ctx, done)| async move {
            if done {
                return None;
            }
            let m = r.read_message(&ctx).await;
            let failed = m.is_err();
            Some((m, (r, ctx, failed)))
        })
    }

    /// Commits what `read_message` marked and leaves the group.
    pub async fn close(self) -> Result<()> {
        let c = self.consumer.clone();
        let group = self.config.group_id.is_some();
        blocking(move || {
            if group {
                match c.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) | Err(KafkaError::ConsumerCommit(_)) => {}
                    Err(e) => return Err(e),
                }
                c.unsubscribe();
            }
            Ok(())
        })
        .await?
        .map_err(Error::from)
    }
}

fn tpl_of(partitions: &[(String, i32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in partitions {
        tpl.add_partition(t, *p);
    }
    tpl
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Closed)
}

/// The reader's assigned partitions, updated from librdkafka's rebalance callback.
#[derive(Default)]
struct Assignment(Mutex<BTreeSet<(String, i32)>>);

impl Assignment {
    fn parts(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, i32)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, tpl: &TopicPartitionList) {
        let mut parts = self.parts();
        for e in tpl.elements() {
            parts.insert((e.topic().to_string(), e.partition()));
        }
    }

    fn remove(&self, tpl: &TopicPartitionList) {
        let mut parts = self.parts();
        for e in tpl.elements() {
            parts.remove(&(e.topic().to_string(), e.partition()));
        }
    }

    fn contains(&self, topic: &str, partition: i32) -> bool {
        self.parts().contains(&(topic.to_string(), partition))
    }

    fn list(&self) -> Vec<(String, i32)> {
        self.parts().iter().cloned().collect()
    }
}
