use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use sha2::Digest as _;
use tokio::sync::watch;
use uuid::Uuid;
use weir_metadata::{Command, MetadataStore, PartitionAssignment, TopicMeta};
use weir_storage::LogManager;

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::metrics::Metrics;
use crate::partition::{Partition, PartitionRef, RoleChange, topic_log_config};
use crate::plugins::Plugins;
use crate::plugins::pipeline::Pipelines;
use crate::replication::Fetchers;
use crate::txn::TxnCoordinator;
use crate::{Error, Result};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The internal journals a broker keeps in its data directory as `<name>-0` (a lone node's
/// coordinator journals, a cluster member's Raft log), where a topic's partition 0 would go: no
/// topic may take these names.
const INTERNAL_JOURNALS: [&str; 4] = [
    crate::txn::STATE_LOG,
    crate::group::MEMBERSHIP_LOG,
    crate::plugins::BLOB_LOG,
    weir_metadata::RAFT_LOG,
];

/// The state one broker shares across connections: metadata, the partitions it hosts, and the
/// signals that connect producers to waiting consumers.
pub struct Broker {
    pub config: BrokerConfig,
    /// The `(host, port)` of the inter-broker listener, as advertised.
    pub advertised: (String, u16),
    /// Every listener's advertised `(host, port)` by listener name (the inter-broker one
    /// included): clients are told the addresses of the listener they connected to.
    pub listeners: BTreeMap<String, (String, u16)>,
    pub metadata: MetadataStore,
    pub logs: LogManager,
    partitions: RwLock<HashMap<(String, i32), PartitionRef>>,
    /// Bumped after every append so that long-polling fetches re-check.
    appended: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    /// The block of producer ids this broker hands out: `next..end`.
    producer_ids: Mutex<(i64, i64)>,
    pub groups: GroupCoordinator,
    pub(crate) txns: TxnCoordinator,
    pub metrics: Metrics,
    pub(crate) plugins: Plugins,
    pub(crate) pipelines: Pipelines,
    /// Held while partitions are opened or removed; holds the metadata index the open
    /// partitions were last reconciled with.
    layout: Mutex<u64>,
    /// The replica fetchers pulling followed partitions from their leaders.
    fetchers: Fetchers,
}

/// Producer ids reserved from the metadata log at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

impl Broker {
    /// Opens the data directory and metadata, and every partition log the metadata names.
    pub fn open(
        config: BrokerConfig,
        advertised: (String, u16),
        listeners: BTreeMap<String, (String, u16)>,
    ) -> Result<Arc<Broker>> {
        config.validate()?;
        let logs = LogManager::open(&config.data_dir)?;
        let metadata = match &config.quorum {
            None => MetadataStore::open(&config.data_dir)?,
            Some(q) => {
                let cluster_id = q.cluster_id.clone().unwrap_or_else(|| {
                    let spec: Vec<String> =
                        q.voters.iter().map(|(id, a)| format!("{id}@{a}")).collect();
                    let digest = sha2::Sha256::digest(spec.join(",").as_bytes());
                    hex::encode(digest)[..22].to_string()
                });
                let qc = weir_metadata::raft::QuorumConfig {
                    node_id: u64::try_from(config.node_id).map_err(|_| {
                        Error::Config("a quorum member needs a node id of 0 or more".into())
                    })?,
                    voters: q.voters.clone(),
                    listen: q.listen,
                    propose_timeout: Duration::from_secs(60),
                    broker_id: (!q.controller_only).then_some(config.node_id),
                    session_timeout: q.session_timeout,
                    // Under SASL the controller listener wants proof of the inter-broker user.
                    auth: config.security.controller_auth(),
                };
                MetadataStore::open_quorum(&config.data_dir, qc, cluster_id)?
            }
        };
        let mut me = weir_metadata::BrokerInfo::new(
            config.node_id,
            advertised.0.clone(),
            i32::from(advertised.1),
            config.rack.clone(),
        );
        me.listeners = listeners
            .iter()
            .map(|(name, (host, port))| {
                let e = weir_metadata::Endpoint {
                    host: host.clone(),
                    port: i32::from(*port),
                };
                (name.clone(), e)
            })
            .collect();
        // Registered again when an address or the rack changed (the fenced flag is the
        // controller's business: heartbeats clear it).
        let registered = metadata.read(|s| {
            s.brokers.get(&config.node_id).is_some_and(|b| {
                (&b.host, b.port, &b.rack, &b.http, &b.listeners)
                    == (
                        &me.host,
                        me.port,
                        &me.rack,
                        &config.http_advertised,
                        &me.listeners,
                    )
            })
        });
        let controller_only = config.quorum.as_ref().is_some_and(|q| q.controller_only);
        if !registered && !controller_only {
            metadata.propose(Command::RegisterBroker {
                node_id: me.node_id,
                host: me.host,
                port: me.port,
                rack: me.rack,
                http: config.http_advertised.clone(),
                listeners: me.listeners,
            })?;
        }
        let groups = GroupCoordinator::open(
            &config.data_dir,
            logs.clean_start(),
            config.group_initial_rebalance_delay,
            config.offsets_retention,
            config.quorum.is_some(),
        )?;
        let txns = TxnCoordinator::open(
            &config.data_dir,
            logs.clean_start(),
            config.quorum.is_some(),
        )?;
        let metrics = Metrics::default();
        let plugins = Plugins::open(
            &config.data_dir,
            logs.clean_start(),
            metrics.plugins.clone(),
        )?;
        let broker = Broker {
            plugins,
            pipelines: Pipelines::default(),
            groups,
            txns,
            config,
            advertised,
            listeners,
            metadata,
            logs,
            partitions: RwLock::new(HashMap::new()),
            appended: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            producer_ids: Mutex::new((0, 0)),
            metrics,
            layout: Mutex::new(0),
            fetchers: Fetchers::default(),
        };
        if broker.config.quorum.is_some() {
            broker.plugins.set_peer_source(peer_blob_source(
                broker.metadata.clone(),
                broker.config.node_id,
                broker.config.security.inter_broker_http_auth(),
            ));
        }
        let started = std::time::Instant::now();
        let state = broker.metadata.snapshot();
        for t in state.topics.values() {
            broker.open_partitions(t, 0)?;
        }
        // A partition directory naming a topic the metadata records as deleted is what a
        // deletion left when the broker stopped (or crashed) before removing every partition's
        // files. Topic ids are never reused, so this holds on a cluster member whose metadata
        // is still catching up too; a deletion it applies later removes the files then.
        let live = state
            .topics
            .values()
            .map(|t| t.topic_id.to_string())
            .collect();
        let deleted = state
            .deleted_topic_ids
            .iter()
            .map(|id| id.to_string())
            .collect();
        match broker.logs.remove_deleted_logs(&live, &deleted) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(
                    count = removed.len(),
                    "removed deleted topics' partition files"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not look for deleted topics' partition files");
            }
        }
        tracing::info!(
            partitions = broker.partitions.read().len(),
            clean = broker.logs.clean_start(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "logs loaded"
        );
        Ok(Arc::new(broker))
    }

    fn open_partitions(&self, t: &TopicMeta, from: usize) -> Result<()> {
        let cfg = topic_log_config(&self.config, t);
        let topic_id = t.topic_id.to_string();
        for p in t.partitions.iter().skip(from) {
            let open = self
                .partitions
                .read()
                .contains_key(&(t.name.clone(), p.partition));
            if open || !p.replicas.contains(&self.config.node_id) {
                continue;
            }
            let log = self
                .logs
                .open_log(&t.name, p.partition, &topic_id, cfg.clone(), now_ms())?;
            let part = Partition::new(t.name.clone(), p.partition, log, p);
            self.partitions
                .write()
                .insert((t.name.clone(), p.partition), Arc::new(part));
        }
        Ok(())
    }

    /// Brings the open partitions in line with metadata changed through other members of the
    /// quorum: opens the partitions placed on this broker, removes those of deleted topics,
    /// takes each partition's leadership and ISR, and points the replica fetchers at the
    /// leaders of the partitions this broker follows.
    pub fn reconcile_partitions(self: &Arc<Self>) -> Result<()> {
        let mut done = self.layout.lock();
        let state = self.metadata.snapshot();
        if state.applied_index == *done {
            return Ok(());
        }
        for t in state.topics.values() {
            self.open_partitions(t, 0)?;
        }
        let me = self.config.node_id;
        let mut follow = Vec::new();
        let mut changed = false;
        for t in state.topics.values() {
            for a in &t.partitions {
                let Some(part) = self.partition(&t.name, a.partition) else {
                    continue;
                };
                match part.apply_assignment(me, a) {
                    RoleChange::None => {}
                    RoleChange::BecameLeader => {
                        part.advance_high_watermark(me);
                        changed = true;
                    }
                    RoleChange::Follower | RoleChange::NoLeader => changed = true,
                }
                if t.name == weir_metadata::OFFSETS_TOPIC && a.partition == 0 {
                    self.groups
                        .sync_role(&part, me, |txns| self.txns.take_over(txns));
                }
                let leader_active = state.brokers.get(&a.leader).is_some_and(|b| !b.fenced);
                // A replica moved away is removed below: nothing to fetch for it.
                if a.leader != me && a.leader >= 0 && leader_active && a.replicas.contains(&me) {
                    follow.push((a.leader, part.clone(), a.leader_epoch));
                }
            }
        }
        self.fetchers.set(self, follow);
        if changed {
            // Produce requests waiting on the high watermark re-check their leadership.
            self.notify_append();
        }
        let gone: Vec<(String, i32)> = self
            .partitions
            .read()
            .keys()
            .filter(|(topic, p)| {
                state.topics.get(topic).is_none_or(|t| {
                    !t.partitions
                        .iter()
                        .any(|x| x.partition == *p && x.replicas.contains(&me))
                })
            })
            .cloned()
            .collect();
        for (topic, p) in gone {
            self.partitions.write().remove(&(topic.clone(), p));
            self.remove_log_files(&topic, p);
            self.groups.forget_topic(&topic);
            tracing::info!(%topic, partition = p, "partition removed by a metadata change");
        }
        *done = state.applied_index;
        Ok(())
    }

    /// The broker that coordinates group or transactional id `key`: this one on a lone node;
    /// in a cluster, the leader of the replicated `__consumer_offsets-0` (created on first
    /// use), where committed offsets live, so coordination moves with it on failure. `None`
    /// while that partition has no leader (COORDINATOR_NOT_AVAILABLE).
    pub fn coordinator_for(&self, _key: &str) -> Option<(i32, String, i32)> {
        let me = (
            self.config.node_id,
            self.advertised.0.clone(),
            i32::from(self.advertised.1),
        );
        if self.config.quorum.is_none() {
            return Some(me);
        }
        if let Err(e) = self.ensure_offsets_topic() {
            tracing::warn!(error = %e, "could not create the offsets topic");
            return None;
        }
        let leader = self.leader_of(weir_metadata::OFFSETS_TOPIC, 0)?;
        let (host, port) = self.active_broker_address(leader)?;
        Some((leader, host, i32::from(port)))
    }

    /// Creates `__consumer_offsets` (one partition, replicated on up to three brokers) if the
    /// cluster does not have it yet.
    fn ensure_offsets_topic(&self) -> Result<()> {
        let name = weir_metadata::OFFSETS_TOPIC;
        if self.metadata.read(|s| s.topic(name).is_some()) {
            return Ok(());
        }
        let active = self.metadata.read(|s| s.active_broker_ids().len());
        let rf = active.clamp(1, 3) as i16;
        let configs = BTreeMap::from([
            ("retention.ms".to_string(), "-1".to_string()),
            ("min.insync.replicas".to_string(), "1".to_string()),
        ]);
        let placement = Placement::Spread {
            partitions: 1,
            replication_factor: rf,
        };
        match self.create_topic_unchecked(name, placement, configs, false) {
            Ok(_) | Err(Error::Metadata(weir_metadata::Error::TopicExists(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes stopped broker `node_id` from the cluster (it must hold no replicas), and from
    /// the controller quorum if it joined as a non-voting member. Blocking.
    pub fn remove_broker(&self, node_id: i32) -> Result<()> {
        self.metadata
            .propose(Command::UnregisterBroker { node_id })?;
        if let Ok(id) = u64::try_from(node_id)
            && self.metadata.learners().contains(&id)
        {
            self.metadata.remove_learner(id)?;
        }
        tracing::info!(broker = node_id, "broker removed from the cluster");
        Ok(())
    }

    /// Waits until `part`'s high watermark reaches `end` while this broker leads it at
    /// `epoch`. Errors: NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT.
    pub(crate) async fn await_high_watermark(
        &self,
        part: &PartitionRef,
        end: i64,
        epoch: i32,
        timeout: Duration,
    ) -> std::result::Result<(), i16> {
        use weir_protocol::kafka::ResponseError as E;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut appends = self.subscribe_appends();
        let mut stop = self.shutdown_signal();
        loop {
            appends.borrow_and_update();
            if !part.is_leader(self.config.node_id) || part.leader_epoch() != epoch {
                return Err(E::NotLeaderOrFollower.code());
            }
            if part.log.high_watermark() >= end {
                return Ok(());
            }
            tokio::select! {
                changed = appends.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        Err(E::RequestTimedOut.code())
    }

    /// The topic's `min.insync.replicas` (its override, else the broker default).
    pub fn min_insync_replicas(&self, t: &TopicMeta) -> usize {
        crate::partition::effective_configs(&self.config, &t.configs)
            .get(weir_metadata::topic_config::MIN_INSYNC_REPLICAS)
            .and_then(|(v, _)| v.trim().parse::<usize>().ok())
            .unwrap_or(1)
    }

    /// The error for a partition this broker does not serve: NOT_LEADER_OR_FOLLOWER when the
    /// cluster has it elsewhere (the client refreshes metadata and goes there),
    /// UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
    pub fn missing_partition_code(&self, topic: &str, partition: i32) -> i16 {
        if self.partition_exists(topic, partition) {
            weir_protocol::kafka::ResponseError::NotLeaderOrFollower.code()
        } else {
            weir_protocol::kafka::ResponseError::UnknownTopicOrPartition.code()
        }
    }

    /// `topic`/`partition` when this broker leads it, else the error for it
    /// ([`Broker::missing_partition_code`]).
    pub fn led_partition(&self, topic: &str, partition: i32) -> Result<PartitionRef, i16> {
        self.partition(topic, partition)
            .filter(|p| p.is_leader(self.config.node_id))
            .ok_or_else(|| self.missing_partition_code(topic, partition))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionRef> {
        self.partitions
            .read()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Whether the cluster has `topic`/`partition`, wherever it is hosted.
    pub fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.leader_of(topic, partition).is_some()
    }

    /// The leader of `topic`/`partition` in metadata (-1 while it has none); `None` when the
    /// cluster has no such partition.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.metadata.read(|s| {
            s.topic(topic)?
                .partitions
                .iter()
                .find(|p| p.partition == partition)
                .map(|p| p.leader)
        })
    }

    /// Broker `node`'s address on listener `listener` (the one a client connected to), for
    /// FindCoordinator; `None` when it has no such listener.
    pub fn client_endpoint(&self, node: i32, listener: &str) -> Option<(String, i32)> {
        if node == self.config.node_id {
            let (host, port) = self.listeners.get(listener)?;
            return Some((host.clone(), i32::from(*port)));
        }
        self.metadata.read(|s| {
            let (host, port) = s.brokers.get(&node)?.endpoint(listener)?;
            Some((host.to_string(), port))
        })
    }

    /// The Kafka address of broker `id` while it is registered and not fenced.
    pub fn active_broker_address(&self, id: i32) -> Option<(String, u16)> {
        self.metadata.read(|s| {
            let b = s.brokers.get(&id).filter(|b| !b.fenced)?;
            Some((b.host.clone(), u16::try_from(b.port).ok()?))
        })
    }

    pub fn all_partitions(&self) -> Vec<PartitionRef> {
        let mut v: Vec<_> = self.partitions.read().values().cloned().collect();
        v.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
        v
    }

    /// Creates a topic (or only checks that it could be, with `validate_only`), its replicas
    /// spread over the brokers. Reserved names (`__consumer_offsets`, `__cluster_metadata`) are
    /// refused.
    pub fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta> {
        self.create_topic_placed(
            name,
            Placement::Spread {
                partitions: num_partitions,
                replication_factor,
            },
            configs,
            validate_only,
        )
    }

    /// [`Broker::create_topic`] with the replicas placed as `placement` says.
    pub fn create_topic_placed(
        &self,
        name: &str,
        placement: Placement,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta> {
        weir_metadata::validate_topic_name(name)?;
        // Checked here rather than in the metadata state machine, so that topics created
        // before the checks existed still replay. A lone node's coordinator journals live
        // in the data directory under these names, where a topic's partitions would go.
        if INTERNAL_JOURNALS.contains(&name) {
            return Err(weir_metadata::Error::ReservedTopicName(name.to_string()).into());
        }
        if name.contains(['.', '_']) {
            let existing = self
                .metadata
                .read(|s| s.colliding_topic(name).map(str::to_string));
            if let Some(existing) = existing {
                return Err(weir_metadata::Error::TopicCollision {
                    name: name.to_string(),
                    existing,
                }
                .into());
            }
        }
        self.create_topic_unchecked(name, placement, configs, validate_only)
    }

    fn create_topic_unchecked(
        &self,
        name: &str,
        placement: Placement,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta> {
        let partitions = match placement {
            Placement::Spread {
                partitions,
                replication_factor,
            } => self.spread(partitions, replication_factor)?,
            Placement::Manual(lists) => self.placed(0, lists)?,
        };
        let num_partitions = partitions.len();
        let room = self.check_room_for(&partitions);
        let cmd = Command::CreateTopic {
            name: name.to_string(),
            topic_id: Uuid::new_v4(),
            partitions,
            configs,
        };
        // The metadata's own answers (TOPIC_ALREADY_EXISTS, INVALID_CONFIG) come first.
        self.metadata.read(|s| s.validate(&cmd))?;
        room?;
        if validate_only {
            let Command::CreateTopic {
                name,
                topic_id,
                partitions,
                configs,
            } = cmd
            else {
                return Err(Error::Config("unreachable".into()));
            };
            return Ok(TopicMeta {
                name,
                topic_id,
                partitions,
                configs,
            });
        }
        let _layout = self.layout.lock();
        let state = self.metadata.propose(cmd)?;
        let t = state
            .topic(name)
            .cloned()
            .ok_or_else(|| weir_metadata::Error::UnknownTopic(name.into()))?;
        self.open_partitions(&t, 0)?;
        tracing::info!(topic = name, partitions = num_partitions, "topic created");
        Ok(t)
    }

    /// Creates `name` with broker defaults if auto-creation is on; the existing topic otherwise.
    pub fn auto_create(&self, name: &str) -> Result<Option<TopicMeta>> {
        if let Some(t) = self.metadata.read(|s| s.topic(name).cloned()) {
            return Ok(Some(t));
        }
        if !self.config.auto_create_topics {
            return Ok(None);
        }
        match self.create_topic(name, -1, -1, BTreeMap::new(), false) {
            Ok(t) => Ok(Some(t)),
            Err(Error::Metadata(weir_metadata::Error::TopicExists(_))) => {
                Ok(self.metadata.read(|s| s.topic(name).cloned()))
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a partition's files once the metadata no longer has it here. The deletion has
    /// happened by then, so a failure to remove them is reported in the log, not to the client,
    /// and does not stop the other partitions' files from being removed.
    fn remove_log_files(&self, topic: &str, partition: i32) {
        if let Err(e) = self.logs.delete_log(topic, partition) {
            tracing::warn!(%topic, partition, error = %e, "could not remove a deleted partition's files");
        }
    }

    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta> {
        let t = self
            .metadata
            .read(|s| s.topic(name).cloned())
            .ok_or_else(|| weir_metadata::Error::UnknownTopic(name.into()))?;
        let _layout = self.layout.lock();
        self.metadata
            .propose(Command::DeleteTopic { name: name.into() })?;
        let mut parts = self.partitions.write();
        for p in &t.partitions {
            parts.remove(&(name.to_string(), p.partition));
        }
        drop(parts);
        for p in &t.partitions {
            self.remove_log_files(name, p.partition);
        }
        self.groups.forget_topic(name);
        tracing::info!(topic = name, "topic deleted");
        Ok(t)
    }

    /// `partitions` partitions of `replication_factor` replicas over the brokers, rack by
    /// rack (-1 takes the broker's default for either).
    fn spread(&self, partitions: i32, replication_factor: i16) -> Result<Vec<PartitionAssignment>> {
        let num_partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        let rf = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        if num_partitions <= 0 {
            return Err(weir_metadata::Error::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {num_partitions}"
            ))
            .into());
        }
        weir_metadata::check_partitions_per_request(i64::from(num_partitions))?;
        let brokers: Vec<i32> = self.metadata.read(rack_alternating);
        if rf <= 0 || rf as usize > brokers.len() {
            return Err(weir_metadata::Error::InvalidReplicationFactor(format!(
                "replication factor {rf} is not possible with {} available broker(s)",
                brokers.len()
            ))
            .into());
        }
        Ok(assign(&brokers, 0, num_partitions, rf as usize))
    }

    /// Partitions `first..` on the replicas listed for each, checked as Kafka checks a manual
    /// assignment: every list as long as the first, no broker twice, every broker registered.
    fn placed(&self, first: i32, lists: Vec<Vec<i32>>) -> Result<Vec<PartitionAssignment>> {
        if lists.is_empty() {
            return Err(weir_metadata::Error::InvalidReplicaAssignment(
                "the assignment lists no partitions".into(),
            )
            .into());
        }
        weir_metadata::check_partitions_per_request(lists.len() as i64)?;
        let rf = lists[0].len();
        for replicas in &lists {
            if replicas.len() != rf {
                return Err(weir_metadata::Error::InvalidReplicaAssignment(format!(
                    "all partitions need the same number of replicas: {replicas:?} has {}, the first {rf}",
                    replicas.len()
                ))
                .into());
            }
            self.metadata
                .read(|s| s.check_replica_assignment(replicas))?;
        }
        Ok(lists
            .into_iter()
            .zip(first..)
            .map(|(replicas, partition)| PartitionAssignment {
                partition,
                isr: replicas.clone(),
                leader: replicas[0],
                leader_epoch: 0,
                replicas,
            })
            .collect())
    }

    /// Refuses new partitions whose files this broker could not keep open. Checked before the
    /// metadata changes, so that a refused topic is not created at all. Each broker checks the
    /// replicas placed on itself; in a cluster a member short of files fails to open its
    /// replicas after the change and says so in its log.
    fn check_room_for(&self, partitions: &[PartitionAssignment]) -> Result<()> {
        let me = self.config.node_id;
        let here = partitions
            .iter()
            .filter(|p| p.replicas.contains(&me))
            .count();
        crate::limits::check_room_for_partitions(here)
    }

    /// Grows `name` to `count` partitions, the new ones spread over the brokers or, with
    /// `manual`, on the replicas it lists for each new partition in order.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        manual: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<()> {
        let t = self
            .metadata
            .read(|s| s.topic(name).cloned())
            .ok_or_else(|| weir_metadata::Error::UnknownTopic(name.into()))?;
        let current = t.partitions.len() as i32;
        if count <= current {
            return Err(weir_metadata::Error::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than or equal to the requested {count}"
            ))
            .into());
        }
        weir_metadata::check_partitions_per_request(i64::from(count) - i64::from(current))?;
        let rf = t.partitions.first().map_or(1, |p| p.replicas.len());
        let partitions = match manual {
            Some(lists) => {
                if lists.len() as i32 != count - current {
                    return Err(weir_metadata::Error::InvalidReplicaAssignment(format!(
                        "{} replica assignments for {} new partitions",
                        lists.len(),
                        count - current
                    ))
                    .into());
                }
                if let Some(l) = lists.iter().find(|l| l.len() != rf) {
                    return Err(weir_metadata::Error::InvalidReplicaAssignment(format!(
                        "the replicas {l:?} differ from the topic's replication factor {rf}"
                    ))
                    .into());
                }
                self.placed(current, lists)?
            }
            None => {
                let brokers: Vec<i32> = self.metadata.read(rack_alternating);
                assign(&brokers, current, count - current, rf)
            }
        };
        let room = self.check_room_for(&partitions);
        let cmd = Command::CreatePartitions {
            name: name.into(),
            partitions,
        };
        self.metadata.read(|s| s.validate(&cmd))?;
        room?;
        if validate_only {
            return Ok(());
        }
        let _layout = self.layout.lock();
        let state = self.metadata.propose(cmd)?;
        if let Some(t) = state.topic(name) {
            self.open_partitions(t, current as usize)?;
        }
        Ok(())
    }

    /// Sets or removes topic config overrides and applies them to the open logs.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        changes: BTreeMap<String, Option<String>>,
        validate_only: bool,
    ) -> Result<()> {
        let cmd = Command::AlterTopicConfigs {
            name: name.into(),
            configs: changes,
        };
        if validate_only {
            return Ok(self.metadata.read(|s| s.validate(&cmd))?);
        }
        let state = self.metadata.propose(cmd)?;
        if let Some(t) = state.topic(name) {
            let cfg = topic_log_config(&self.config, t);
            for p in self.all_partitions().iter().filter(|p| p.topic == name) {
                p.log.set_config(cfg.clone());
            }
        }
        Ok(())
    }

    /// A producer id never handed out before, on this broker or any other: blocks of ids are
    /// reserved through the metadata log, so they survive restarts and are unique cluster-wide.
    pub fn allocate_producer_id(&self) -> Result<i64> {
        let mut ids = self.producer_ids.lock();
        if ids.0 >= ids.1 {
            let state = self.metadata.propose(Command::AllocateProducerIds {
                count: PRODUCER_ID_BLOCK,
            })?;
            *ids = (
                state.next_producer_id - PRODUCER_ID_BLOCK,
                state.next_producer_id,
            );
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    pub fn notify_append(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// On a partition leader: proposes the ISR changes that are due (followers that fell
    /// behind leave, followers that caught up join) and moves high watermarks.
    fn replication_tick(&self) {
        let me = self.config.node_id;
        let lag = self.config.replica_lag_time_max;
        let mut moved = false;
        for p in self.all_partitions() {
            if !p.is_leader(me) || p.replica_count() < 2 {
                continue;
            }
            if let Some(change) = p.isr_change(me, lag) {
                tracing::info!(
                    topic = %p.topic, partition = p.index, from = ?p.isr(), to = ?change.isr,
                    "changing the in-sync replicas"
                );
                let cmd = Command::AlterPartition {
                    topic: p.topic.clone(),
                    partition: p.index,
                    leader_epoch: change.leader_epoch,
                    isr: change.isr,
                };
                // Proposed off this thread: without a controller quorum a proposal waits for
                // its timeout, and housekeeping must go on meanwhile.
                let metadata = self.metadata.clone();
                let part = p.clone();
                std::thread::spawn(move || {
                    if let Err(e) = metadata.propose(cmd) {
                        tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "ISR change not accepted");
                    }
                    part.isr_change_finished();
                });
            }
            moved |= p.advance_high_watermark(me);
        }
        if moved {
            self.notify_append();
        }
    }

    /// One retention and flush pass over every partition.
    pub fn housekeeping(self: &Arc<Self>, retention: bool) {
        if self.config.quorum.is_some() {
            if let Err(e) = self.reconcile_partitions() {
                tracing::warn!(error = %e, "could not open or remove partitions after a metadata change");
            }
            self.replication_tick();
        }
        self.groups.tick();
        self.txns.tick(self);
        let now = now_ms();
        for p in self.all_partitions() {
            if retention {
                match p.log.enforce_retention(now) {
                    Ok(out) if out.deleted_segments > 0 => tracing::info!(
                        topic = %p.topic, partition = p.index, segments = out.deleted_segments,
                        bytes = out.deleted_bytes, "retention deleted segments"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                    }
                }
                let expired = p.log.expire_producers(self.config.producer_id_expiration);
                if expired > 0 {
                    tracing::debug!(topic = %p.topic, partition = p.index, producers = expired, "idle producers expired");
                }
            }
            if let Err(e) = p.log.flush_if_due(now) {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }

    /// One compaction pass over every compacted partition this node holds (leader or
    /// follower: each replica compacts its own log, and offsets never change).
    pub fn clean_logs(self: &Arc<Self>) {
        let now = now_ms();
        for p in self.all_partitions() {
            if *self.shutdown.borrow() {
                return;
            }
            let started = Instant::now();
            match p.log.clean(now) {
                Ok(Some(out)) => {
                    self.metrics.cleaner_passes.inc();
                    self.metrics
                        .cleaner_records_removed
                        .inc_by(out.records_removed);
                    self.metrics
                        .cleaner_bytes_freed
                        .inc_by(out.bytes_before.saturating_sub(out.bytes_after));
                    tracing::info!(
                    topic = %p.topic, partition = p.index,
                    segments_before = out.segments_before, segments_after = out.segments_after,
                    bytes_before = out.bytes_before, bytes_after = out.bytes_after,
                    records_removed = out.records_removed,
                    elapsed_ms = started.elapsed().as_millis() as u64, "compacted"
                    )
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "compaction failed")
                }
            }
        }
    }

    /// Flushes and closes every log and marks the shutdown clean.
    pub fn close(&self) -> Result<()> {
        let mut ok = true;
        for p in self.all_partitions() {
            if let Err(e) = p.log.close() {
                ok = false;
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "closing log failed");
            }
        }
        self.metadata.flush()?;
        self.pipelines.stop_all();
        if let Err(e) = self.plugins.close() {
            ok = false;
            tracing::error!(error = %e, "closing the plugin store failed");
        }
        if let Err(e) = self.txns.close() {
            ok = false;
            tracing::error!(error = %e, "closing the transaction state log failed");
        }
        if let Err(e) = self.groups.close() {
            ok = false;
            tracing::error!(error = %e, "closing the offsets log failed");
        }
        if ok {
            self.logs.mark_clean_shutdown()?;
        }
        Ok(())
    }
}

/// Fetches a plugin binary from the other active brokers' HTTP APIs: the deployed plugin
/// with that SHA-256, as `GET /v1/plugins/NAME/binary` serves it. Blocking.
/// `auth`: the `Authorization` header the peers' HTTP APIs want (with a SASL listener).
fn peer_blob_source(
    metadata: MetadataStore,
    me: i32,
    auth: Option<String>,
) -> crate::plugins::BlobSource {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .build();
    Box::new(move |sha256: &str| {
        let (name, peers) = metadata.read(|s| {
            let name = s
                .plugins
                .values()
                .find(|p| p.sha256 == sha256)
                .map(|p| p.name.clone());
            let peers: Vec<String> = s
                .active_brokers()
                .filter(|b| b.node_id != me)
                .filter_map(|b| b.http.clone())
                .collect();
            (name, peers)
        });
        let name = name?;
        peers.iter().find_map(|peer| {
            let url = format!("http://{peer}/v1/plugins/{name}/binary");
            let mut req = agent.get(&url);
            if let Some(a) = &auth {
                req = req.set("Authorization", a);
            }
            let resp = req.call().ok()?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(
                    resp.into_reader(),
                    crate::plugins::MAX_PLUGIN_BYTES as u64 + 1,
                ),
                &mut bytes,
            )
            .ok()?;
            (bytes.len() <= crate::plugins::MAX_PLUGIN_BYTES).then_some(bytes)
        })
    })
}

/// The active brokers in placement order: racks take turns (a broker of each rack, then the
/// next of each), so that consecutive brokers, which hold one partition's replicas, sit on
/// different racks when there are enough (Kafka's rack-aware assignment). Without racks: by id.
fn rack_alternating(s: &weir_metadata::ClusterState) -> Vec<i32> {
    let mut racks: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in s.active_brokers() {
        racks.entry(b.rack.as_deref()).or_default().push(b.node_id);
    }
    let longest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| racks.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}

/// Places `count` new partitions starting at `first`, spreading leaders and replicas round robin.
/// Where a new topic's replicas go.
pub enum Placement {
    /// `partitions` partitions of `replication_factor` replicas spread over the brokers (-1
    /// for either takes the broker's default).
    Spread {
        partitions: i32,
        replication_factor: i16,
    },
    /// The replicas of each partition in order, the first of each its leader.
    Manual(Vec<Vec<i32>>),
}

fn assign(brokers: &[i32], first: i32, count: i32, rf: usize) -> Vec<PartitionAssignment> {
    if brokers.is_empty() {
        return Vec::new();
    }
    (first..first + count)
        .map(|p| {
            let replicas: Vec<i32> = (0..rf)
                .map(|r| brokers[(p as usize + r) % brokers.len()])
                .collect();
            PartitionAssignment {
                partition: p,
                isr: replicas.clone(),
                leader: replicas[0],
                leader_epoch: 0,
                replicas,
            }
        })
        .collect()
}
