use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Command, Endpoint, Error, PartitionAssignment, PipelineMeta, PluginMeta, Result,
    SCRAM_MAX_ITERATIONS, SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, ScramCredential, topic_config,
    validate_topic_name,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// The broker's HTTP API (`host:port`), where peers fetch plugin binaries.
    #[serde(default)]
    pub http: Option<String>,
    /// Set by the controller when the broker stops heartbeating; a fenced broker is left out of
    /// metadata and of new replica placements until it heartbeats (or registers) again.
    #[serde(default)]
    pub fenced: bool,
    /// Every listener's advertised address by name; `host:port` is the inter-broker one.
    #[serde(default)]
    pub listeners: BTreeMap<String, Endpoint>,
}

impl BrokerInfo {
    pub fn new(node_id: i32, host: String, port: i32, rack: Option<String>) -> Self {
        BrokerInfo {
            node_id,
            host,
            port,
            rack,
            http: None,
            fenced: false,
            listeners: BTreeMap::new(),
        }
    }

    /// The address clients of listener `name` are told: that listener's. `None` when the
    /// broker has no listener of that name (Kafka leaves such a broker out of the answer:
    /// another listener's address may be unreachable or speak another protocol). A broker
    /// registered before named listeners has only its one address.
    pub fn endpoint(&self, name: &str) -> Option<(&str, i32)> {
        if self.listeners.is_empty() {
            return Some((&self.host, self.port));
        }
        self.listeners.get(name).map(|e| (e.host.as_str(), e.port))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionAssignment>,
    /// Overrides only; defaults come from the broker configuration.
    pub configs: BTreeMap<String, String>,
}

impl TopicMeta {
    /// The plugins that run on records produced to this topic, in order (`weir.plugins`).
    pub fn plugin_chain(&self) -> Vec<String> {
        self.configs
            .get(topic_config::WEIR_PLUGINS)
            .map(|v| topic_config::plugin_list(v).map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// A partition reassignment under way (KIP-455). Meanwhile the partition's replicas are
/// `target` followed by `removing_replicas`; new replicas open the partition and fetch from the
/// leader, which adds them to the ISR once caught up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// The requested replicas, in order: the first is the preferred leader.
    pub target: Vec<i32>,
    /// The replicas before the reassignment began, in order: a cancel goes back to them.
    pub original: Vec<i32>,
    /// Target replicas that were not replicas before (`target` - `original`).
    pub adding_replicas: Vec<i32>,
    /// Replicas that leave when the reassignment completes (`replicas` - `target`).
    pub removing_replicas: Vec<i32>,
}

/// A plugin or pipeline name: 1-64 characters of `[a-zA-Z0-9._-]`.
pub fn validate_plugin_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Error::InvalidPlugin(format!(
            "invalid name '{name}': use 1-64 characters of [a-zA-Z0-9._-]"
        )));
    }
    Ok(())
}

/// Checks one SCRAM credential change as Kafka does: a known mechanism, a user name, and
/// 4096-16384 iterations. Deleting a credential that does not exist is left to the caller
/// (the change is a no-op then).
pub fn validate_scram_change(
    user: &str,
    mechanism: &str,
    credential: Option<&ScramCredential>,
) -> Result<()> {
    if user.is_empty() {
        return Err(Error::UnacceptableCredential(
            "Username must not be empty".into(),
        ));
    }
    if !SCRAM_MECHANISMS.contains(&mechanism) {
        return Err(Error::UnacceptableCredential(format!(
            "Unknown SCRAM mechanism {mechanism}"
        )));
    }
    if let Some(c) = credential {
        if c.iterations < SCRAM_MIN_ITERATIONS {
            return Err(Error::UnacceptableCredential(format!(
                "Too few iterations: {} (the minimum is {SCRAM_MIN_ITERATIONS})",
                c.iterations
            )));
        }
        if c.iterations > SCRAM_MAX_ITERATIONS {
            return Err(Error::UnacceptableCredential(format!(
                "Too many iterations: {} (the maximum is {SCRAM_MAX_ITERATIONS})",
                c.iterations
            )));
        }
        if c.salt.is_empty() || c.stored_key.is_empty() || c.server_key.is_empty() {
            return Err(Error::UnacceptableCredential(
                "The salt and salted password must not be empty".into(),
            ));
        }
    }
    Ok(())
}

/// Everything the metadata log describes, as of the last applied command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub applied_index: u64,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub next_producer_id: i64,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginMeta>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineMeta>,
    /// Partition reassignments under way: topic -> partition -> reassignment.
    #[serde(default)]
    pub reassignments: BTreeMap<String, BTreeMap<i32, Reassignment>>,
    /// The ids of the topics deleted so far (an id is never given again): a partition
    /// directory naming one of them is a deleted topic's, left behind when a broker stopped
    /// before removing its files, and is removed when the broker starts. A directory naming an
    /// id the metadata never had is left alone (metadata cut short or restored from an old
    /// copy must not cost a topic its data).
    #[serde(default)]
    pub deleted_topic_ids: BTreeSet<Uuid>,
    /// SCRAM credentials made with AlterUserScramCredentials: user -> mechanism -> credential.
    /// (Users of the `--sasl-users-file` are not here: the file is read at start.)
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<String, ScramCredential>>,
}

impl ClusterState {
    /// Registered brokers that are not fenced: the ones clients are told about and replicas
    /// and coordinators are placed on, in node id order.
    pub fn active_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn active_broker_ids(&self) -> Vec<i32> {
        self.active_brokers().map(|b| b.node_id).collect()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.topic_id == id)
    }

    /// An existing topic other than `name` whose name is the same once '.' and '_' are taken
    /// as one character (Kafka's `Topic.hasCollision`: metric names replace '.' with '_').
    pub fn colliding_topic(&self, name: &str) -> Option<&str> {
        let folded = |n: &str| n.replace('.', "_");
        if self.topics.contains_key(name) {
            return None;
        }
        let wanted = folded(name);
        self.topics
            .keys()
            .find(|t| folded(t) == wanted)
            .map(String::as_str)
    }

    /// The reassignment of `topic`/`partition` under way, if any.
    pub fn reassignment(&self, topic: &str, partition: i32) -> Option<&Reassignment> {
        self.reassignments.get(topic)?.get(&partition)
    }

    /// Checks that `cmd` can be applied to the current state, without applying it.
    pub fn validate(&self, cmd: &Command) -> Result<()> {
        match cmd {
            Command::RegisterBroker { .. } | Command::AllocateProducerIds { .. } => Ok(()),
            Command::AlterScramCredentials { changes } => {
                for c in changes {
                    validate_scram_change(&c.user, &c.mechanism, c.credential.as_ref())?;
                }
                Ok(())
            }
            Command::UnregisterBroker { node_id } => {
                let b = self.brokers.get(node_id).ok_or_else(|| {
                    Error::InvalidPartitionChange(format!("broker {node_id} is not registered"))
                })?;
                if !b.fenced {
                    return Err(Error::InvalidPartitionChange(format!(
                        "broker {node_id} is running: stop it first (a stopped broker is fenced after the session timeout)"
                    )));
                }
                let held: Vec<String> = self
                    .topics
                    .values()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .filter(|p| p.replicas.contains(node_id))
                            .map(|p| format!("{}-{}", t.name, p.partition))
                    })
                    .collect();
                if !held.is_empty() {
                    return Err(Error::InvalidPartitionChange(format!(
                        "broker {node_id} still holds replicas of {}: move them (partition reassignment) or delete those topics first",
                        held.join(", ")
                    )));
                }
                Ok(())
            }
            Command::SetBrokerFenced { node_id, .. } => {
                if self.brokers.contains_key(node_id) {
                    Ok(())
                } else {
                    Err(Error::Quorum(format!("broker {node_id} is not registered")))
                }
            }
            Command::CreateTopic {
                name,
                partitions,
                configs,
                ..
            } => {
                // The one internal topic: the brokers create it for group offsets (users cannot;
                // the broker refuses the reserved names before proposing).
                if name != crate::OFFSETS_TOPIC {
                    validate_topic_name(name)?;
                }
                if self.topics.contains_key(name) {
                    return Err(Error::TopicExists(name.clone()));
                }
                if partitions.is_empty() {
                    return Err(Error::InvalidPartitions(
                        "a topic needs at least one partition".into(),
                    ));
                }
                for (k, v) in configs {
                    topic_config::validate(k, v)?;
                    self.check_plugin_refs(k, v)?;
                }
                Ok(())
            }
            Command::DeleteTopic { name } => self.existing(name).map(|_| ()),
            Command::AlterPartition {
                topic,
                partition,
                leader_epoch,
                isr,
            } => {
                let p = self.assignment(topic, *partition)?;
                if *leader_epoch != p.leader_epoch {
                    return Err(Error::FencedLeaderEpoch(format!(
                        "{topic}-{partition}: leader epoch {leader_epoch} is not the current {}",
                        p.leader_epoch
                    )));
                }
                if !isr.contains(&p.leader) {
                    return Err(Error::InvalidPartitionChange(format!(
                        "{topic}-{partition}: the ISR must contain the leader {}",
                        p.leader
                    )));
                }
                for r in isr {
                    if !p.replicas.contains(r) {
                        return Err(Error::InvalidPartitionChange(format!(
                            "{topic}-{partition}: broker {r} is not a replica"
                        )));
                    }
                    if !p.isr.contains(r) && self.brokers.get(r).is_none_or(|b| b.fenced) {
                        return Err(Error::InvalidPartitionChange(format!(
                            "{topic}-{partition}: broker {r} is fenced and cannot join the ISR"
                        )));
                    }
                }
                Ok(())
            }
            Command::ElectPreferredLeader { topic, partition } => {
                self.assignment(topic, *partition).map(|_| ())
            }
            Command::ReassignPartition {
                topic,
                partition,
                target,
            } => {
                let p = self.assignment(topic, *partition)?;
                match target {
                    Some(target) => self.check_replica_assignment(target),
                    None => {
                        let r = self.reassignment(topic, *partition).ok_or_else(|| {
                            Error::NoReassignmentInProgress(format!(
                                "no reassignment of {topic}-{partition} is in progress"
                            ))
                        })?;
                        if p.isr.iter().any(|i| r.original.contains(i)) {
                            Ok(())
                        } else {
                            Err(Error::InvalidReplicaAssignment(format!(
                                "{topic}-{partition}: cannot cancel the reassignment, none of the \
                                 original replicas {:?} is in sync (ISR {:?})",
                                r.original, p.isr
                            )))
                        }
                    }
                }
            }
            Command::CreatePartitions { name, partitions } => {
                let t = self.existing(name)?;
                let next = t.partitions.len() as i32;
                if partitions.is_empty() {
                    return Err(Error::InvalidPartitions(format!(
                        "topic '{name}' already has {next} partitions"
                    )));
                }
                if partitions
                    .iter()
                    .enumerate()
                    .any(|(i, p)| p.partition != next + i as i32)
                {
                    return Err(Error::InvalidPartitions(
                        "new partitions must follow the existing ones".into(),
                    ));
                }
                Ok(())
            }
            Command::AlterTopicConfigs { name, configs } => {
                self.existing(name)?;
                for (k, v) in configs {
                    match v {
                        Some(v) => {
                            topic_config::validate(k, v)?;
                            self.check_plugin_refs(k, v)?;
                        }
                        None => topic_config::lookup(k).map(|_| ())?,
                    }
                }
                Ok(())
            }
            Command::DeployPlugin(p) => {
                validate_plugin_name(&p.name)?;
                if p.version.is_empty() || p.version.len() > 64 {
                    return Err(Error::InvalidPlugin(
                        "a plugin version must be 1-64 characters".into(),
                    ));
                }
                if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidPlugin("sha256 must be 64 hex digits".into()));
                }
                Ok(())
            }
            Command::RemovePlugin { name } => {
                if !self.plugins.contains_key(name) {
                    return Err(Error::UnknownPlugin(name.clone()));
                }
                let users: Vec<String> = self
                    .topics
                    .values()
                    .filter(|t| t.plugin_chain().iter().any(|p| p == name))
                    .map(|t| format!("topic {}", t.name))
                    .chain(
                        self.pipelines
                            .values()
                            .filter(|p| p.plugins.contains(name))
                            .map(|p| format!("pipeline {}", p.name)),
                    )
                    .collect();
                if !users.is_empty() {
                    return Err(Error::InvalidPlugin(format!(
                        "plugin '{name}' is in use by {}; detach it first",
                        users.join(", ")
                    )));
                }
                Ok(())
            }
            Command::CreatePipeline(p) => {
                validate_plugin_name(&p.name)?;
                if self.pipelines.contains_key(&p.name) {
                    return Err(Error::InvalidPipeline(format!(
                        "pipeline '{}' already exists",
                        p.name
                    )));
                }
                self.existing(&p.input)?;
                if let Some(out) = &p.output {
                    validate_topic_name(out)?;
                    if out == &p.input {
                        return Err(Error::InvalidPipeline(
                            "a pipeline's output must differ from its input".into(),
                        ));
                    }
                }
                if p.plugins.is_empty() && p.output.is_none() {
                    return Err(Error::InvalidPipeline(
                        "a pipeline needs plugins or an output topic".into(),
                    ));
                }
                for name in &p.plugins {
                    if !self.plugins.contains_key(name) {
                        return Err(Error::UnknownPlugin(name.clone()));
                    }
                }
                Ok(())
            }
            Command::DeletePipeline { name } | Command::SetPipelinePaused { name, .. } => {
                if self.pipelines.contains_key(name) {
                    Ok(())
                } else {
                    Err(Error::InvalidPipeline(format!(
                        "pipeline '{name}' does not exist"
                    )))
                }
            }
        }
    }

    /// A reassignment target names each replica once, and only registered brokers (fenced
    /// ones too: they catch up once back).
    /// Checks replicas a user names: at least one, none twice, every broker registered.
    pub fn check_replica_assignment(&self, target: &[i32]) -> Result<()> {
        if target.is_empty() {
            return Err(Error::InvalidReplicaAssignment(
                "a partition needs at least one replica".into(),
            ));
        }
        for (i, r) in target.iter().enumerate() {
            if target[..i].contains(r) {
                return Err(Error::InvalidReplicaAssignment(format!(
                    "broker {r} appears more than once in the replicas {target:?}"
                )));
            }
            if !self.brokers.contains_key(r) {
                return Err(Error::InvalidReplicaAssignment(format!(
                    "broker {r} is not registered"
                )));
            }
        }
        Ok(())
    }

    /// Starts a reassignment of `topic`/`partition` to `target`, or replaces the one under
    /// way (which keeps its original replicas): the replicas become the target followed by the
    /// current replicas outside it. A mere reordering of the replicas takes effect at once.
    fn start_reassignment(&mut self, topic: &str, partition: i32, target: Vec<i32>) {
        let original = self
            .reassignment(topic, partition)
            .map(|r| r.original.clone());
        let Some(p) = self.assignment_mut(topic, partition) else {
            return;
        };
        let original = original.unwrap_or_else(|| p.replicas.clone());
        let mut replicas = target.clone();
        replicas.extend(p.replicas.iter().filter(|r| !target.contains(r)));
        let r = Reassignment {
            adding_replicas: minus(&target, &original),
            removing_replicas: minus(&replicas, &target),
            target,
            original,
        };
        p.replicas = replicas;
        let parts = self.reassignments.entry(topic.to_string()).or_default();
        if r.adding_replicas.is_empty() && r.removing_replicas.is_empty() {
            parts.remove(&partition);
        } else {
            parts.insert(partition, r);
        }
        if parts.is_empty() {
            self.reassignments.remove(topic);
        }
    }

    /// Cancels the reassignment under way: back to the original replicas and the in-sync ones
    /// among them; a leader outside them hands over to the first active one in sync (validate
    /// made sure one is in sync).
    fn cancel_reassignment(&mut self, topic: &str, partition: i32) {
        let Some(r) = self
            .reassignments
            .get_mut(topic)
            .and_then(|parts| parts.remove(&partition))
        else {
            return;
        };
        if self
            .reassignments
            .get(topic)
            .is_some_and(BTreeMap::is_empty)
        {
            self.reassignments.remove(topic);
        }
        let active = self.active_broker_ids();
        let Some(p) = self.assignment_mut(topic, partition) else {
            return;
        };
        p.replicas = r.original;
        let replicas = &p.replicas;
        p.isr.retain(|i| replicas.contains(i));
        if !p.replicas.contains(&p.leader) {
            p.leader = p
                .isr
                .iter()
                .copied()
                .find(|i| active.contains(i))
                .unwrap_or(-1);
            p.leader_epoch += 1;
        }
    }

    /// Completes the reassignments whose target replicas are all in sync (Kafka's rule):
    /// the replicas become the target, the leaving ones drop out of the ISR, and a leader
    /// outside the target hands over to the first target replica that is in sync and active
    /// (the epoch moves on). Without such a replica the reassignment waits. Runs after every
    /// command, so that completion is part of the deterministic apply.
    fn complete_reassignments(&mut self) {
        if self.reassignments.is_empty() {
            return;
        }
        let active = self.active_broker_ids();
        let topics = &mut self.topics;
        self.reassignments.retain(|topic, parts| {
            parts.retain(|&partition, r| {
                let Some(p) = topics
                    .get_mut(topic)
                    .and_then(|t| t.partitions.iter_mut().find(|p| p.partition == partition))
                else {
                    return false; // the topic is gone
                };
                if !r.target.iter().all(|t| p.isr.contains(t)) {
                    return true;
                }
                let leader = if r.target.contains(&p.leader) {
                    p.leader
                } else {
                    match r.target.iter().copied().find(|t| active.contains(t)) {
                        Some(l) => l,
                        None => return true,
                    }
                };
                p.replicas.clone_from(&r.target);
                p.isr.retain(|i| r.target.contains(i));
                if leader != p.leader {
                    p.leader = leader;
                    p.leader_epoch += 1;
                }
                false
            });
            !parts.is_empty()
        });
    }

    /// A topic's `weir.plugins` may only name deployed plugins.
    fn check_plugin_refs(&self, key: &str, value: &str) -> Result<()> {
        if key != topic_config::WEIR_PLUGINS {
            return Ok(());
        }
        for name in topic_config::plugin_list(value) {
            if !self.plugins.contains_key(name) {
                return Err(Error::InvalidConfig {
                    name: key.into(),
                    value: value.into(),
                    reason: format!("no plugin named '{name}' is deployed"),
                });
            }
        }
        Ok(())
    }

    /// The assignment of `topic`/`partition`, or UnknownTopic.
    pub fn assignment(&self, topic: &str, partition: i32) -> Result<&PartitionAssignment> {
        self.existing(topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| Error::UnknownTopic(format!("{topic}-{partition}")))
    }

    fn is_active(&self, node: i32) -> bool {
        self.brokers.get(&node).is_some_and(|b| !b.fenced)
    }

    /// A broker was fenced: it leaves every ISR it is in (unless it is the last member), and
    /// the partitions it led get a new leader from the remaining ISR with the epoch bumped, or
    /// none (leader -1, offline) when no other in-sync replica is active. Unclean election
    /// (a replica outside the ISR) never happens.
    fn on_fenced(&mut self, node: i32) {
        let active: Vec<i32> = self.active_broker_ids();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if p.isr.len() > 1 {
                    p.isr.retain(|&r| r != node);
                }
                if p.leader == node {
                    p.leader = p
                        .isr
                        .iter()
                        .copied()
                        .find(|r| *r != node && active.contains(r))
                        .unwrap_or(-1);
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// A broker is back: partitions left without a leader whose last in-sync replica it is
    /// get it as leader.
    fn on_unfenced(&mut self, node: i32) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if p.leader == -1 && p.isr.contains(&node) {
                    p.leader = node;
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// The partitions whose preferred replica is in sync and active but not leading.
    pub fn preferred_leader_imbalance(&self) -> Vec<(String, i32)> {
        self.topics
            .values()
            .flat_map(|t| {
                t.partitions.iter().filter_map(|p| {
                    let preferred = *p.replicas.first()?;
                    (p.leader != preferred
                        && p.isr.contains(&preferred)
                        && self.is_active(preferred))
                    .then(|| (t.name.clone(), p.partition))
                })
            })
            .collect()
    }

    fn existing(&self, name: &str) -> Result<&TopicMeta> {
        self.topics
            .get(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))
    }

    fn assignment_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionAssignment> {
        self.topics
            .get_mut(topic)?
            .partitions
            .iter_mut()
            .find(|p| p.partition == partition)
    }

    /// Validates and applies one command at log position `index`.
    pub fn apply(&mut self, index: u64, cmd: Command) -> Result<()> {
        self.validate(&cmd)?;
        match cmd {
            Command::RegisterBroker {
                node_id,
                host,
                port,
                rack,
                http,
                listeners,
            } => {
                let was_fenced = self.brokers.get(&node_id).is_some_and(|b| b.fenced);
                let mut info = BrokerInfo::new(node_id, host, port, rack);
                info.http = http;
                info.listeners = listeners;
                self.brokers.insert(node_id, info);
                if was_fenced {
                    self.on_unfenced(node_id);
                }
            }
            Command::UnregisterBroker { node_id } => {
                self.brokers.remove(&node_id);
            }
            Command::SetBrokerFenced { node_id, fenced } => {
                if let Some(b) = self.brokers.get_mut(&node_id) {
                    b.fenced = fenced;
                }
                if fenced {
                    self.on_fenced(node_id);
                } else {
                    self.on_unfenced(node_id);
                }
            }
            Command::AlterPartition {
                topic,
                partition,
                isr,
                ..
            } => {
                if let Some(p) = self.assignment_mut(&topic, partition) {
                    p.isr = isr;
                }
            }
            Command::ElectPreferredLeader { topic, partition } => {
                let active = self.active_broker_ids();
                if let Some(p) = self.assignment_mut(&topic, partition)
                    && let Some(&preferred) = p.replicas.first()
                    && p.leader != preferred
                    && p.isr.contains(&preferred)
                    && active.contains(&preferred)
                {
                    p.leader = preferred;
                    p.leader_epoch += 1;
                }
            }
            Command::CreateTopic {
                name,
                topic_id,
                partitions,
                configs,
            } => {
                self.topics.insert(
                    name.clone(),
                    TopicMeta {
                        name,
                        topic_id,
                        partitions,
                        configs,
                    },
                );
            }
            Command::DeleteTopic { name } => {
                if let Some(t) = self.topics.remove(&name) {
                    self.deleted_topic_ids.insert(t.topic_id);
                }
                self.reassignments.remove(&name);
            }
            Command::ReassignPartition {
                topic,
                partition,
                target,
            } => match target {
                Some(target) => self.start_reassignment(&topic, partition, target),
                None => self.cancel_reassignment(&topic, partition),
            },
            Command::CreatePartitions { name, partitions } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    t.partitions.extend(partitions);
                }
            }
            Command::AlterTopicConfigs { name, configs } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    for (k, v) in configs {
                        match v {
                            Some(v) => t.configs.insert(k, v),
                            None => t.configs.remove(&k),
                        };
                    }
                }
            }
            Command::AllocateProducerIds { count } => {
                self.next_producer_id += count.max(0);
            }
            Command::DeployPlugin(p) => {
                self.plugins.insert(p.name.clone(), p);
            }
            Command::RemovePlugin { name } => {
                self.plugins.remove(&name);
            }
            Command::CreatePipeline(p) => {
                self.pipelines.insert(p.name.clone(), p);
            }
            Command::DeletePipeline { name } => {
                self.pipelines.remove(&name);
            }
            Command::SetPipelinePaused { name, paused } => {
                if let Some(p) = self.pipelines.get_mut(&name) {
                    p.paused = paused;
                }
            }
            Command::AlterScramCredentials { changes } => {
                for c in changes {
                    match c.credential {
                        Some(cred) => {
                            self.scram_credentials
                                .entry(c.user)
                                .or_default()
                                .insert(c.mechanism, cred);
                        }
                        None => {
                            if let Some(m) = self.scram_credentials.get_mut(&c.user) {
                                m.remove(&c.mechanism);
                                if m.is_empty() {
                                    self.scram_credentials.remove(&c.user);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.complete_reassignments();
        self.applied_index = index;
        Ok(())
    }
}

/// The members of `a` not in `b`, in `a`'s order.
fn minus(a: &[i32], b: &[i32]) -> Vec<i32> {
    a.iter().copied().filter(|x| !b.contains(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterState {
        cluster_with(3, "t", &[1, 2, 3])
    }

    /// Brokers `1..=brokers`, and `topic` with one partition on `replicas`, all in sync, led by
    /// the first.
    pub(super) fn cluster_with(brokers: i32, topic: &str, replicas: &[i32]) -> ClusterState {
        let mut s = ClusterState::default();
        let mut i = 0;
        let mut apply = |s: &mut ClusterState, cmd| {
            i += 1;
            s.apply(i, cmd).expect("apply");
        };
        for id in 1..=brokers {
            apply(
                &mut s,
                Command::RegisterBroker {
                    node_id: id,
                    host: "h".into(),
                    port: 9000 + id,
                    rack: None,
                    http: None,
                    listeners: BTreeMap::new(),
                },
            );
        }
        apply(
            &mut s,
            Command::CreateTopic {
                name: topic.into(),
                topic_id: Uuid::new_v4(),
                partitions: vec![PartitionAssignment {
                    partition: 0,
                    replicas: replicas.to_vec(),
                    isr: replicas.to_vec(),
                    leader: replicas[0],
                    leader_epoch: 0,
                }],
                configs: BTreeMap::new(),
            },
        );
        s
    }

    fn p0(s: &ClusterState) -> PartitionAssignment {
        s.topics["t"].partitions[0].clone()
    }

    pub(super) fn fence(s: &mut ClusterState, node_id: i32, fenced: bool) {
        let next = s.applied_index + 1;
        s.apply(next, Command::SetBrokerFenced { node_id, fenced })
            .expect("fence");
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_and_never_uncleanly() {
        let mut s = cluster();
        fence(&mut s, 1, true);
        let p = p0(&s);
        assert_eq!(
            (p.leader, p.leader_epoch, p.isr.clone()),
            (2, 1, vec![2, 3])
        );
        // The leader shrinks the ISR to itself; then it dies too: no one else is in sync.
        let next = s.applied_index + 1;
        s.apply(
            next,
            Command::AlterPartition {
                topic: "t".into(),
                partition: 0,
                leader_epoch: 1,
                isr: vec![2],
            },
        )
        .expect("shrink");
        fence(&mut s, 2, true);
        let p = p0(&s);
        assert_eq!(
            (p.leader, p.isr.clone()),
            (-1, vec![2]),
            "offline, ISR kept"
        );
        // Broker 1 returns: not in sync, so it does not lead (unclean election is off).
        fence(&mut s, 1, false);
        assert_eq!(p0(&s).leader, -1);
        // The last in-sync replica returns and leads again.
        fence(&mut s, 2, false);
        let p = p0(&s);
        assert_eq!((p.leader, p.leader_epoch), (2, 3));
    }

    #[test]
    fn isr_changes_need_the_current_epoch_and_live_replicas() {
        let mut s = cluster();
        fence(&mut s, 3, true);
        assert_eq!(p0(&s).isr, vec![1, 2], "a fenced follower leaves the ISR");
        let alter = |epoch, isr: Vec<i32>| Command::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader_epoch: epoch,
            isr,
        };
        assert_eq!(
            s.validate(&alter(7, vec![1]))
                .expect_err("stale")
                .kafka_code(),
            74,
            "FENCED_LEADER_EPOCH"
        );
        assert!(
            s.validate(&alter(0, vec![2])).is_err(),
            "must keep the leader"
        );
        assert!(s.validate(&alter(0, vec![1, 2, 3])).is_err(), "3 is fenced");
        fence(&mut s, 3, false);
        s.validate(&alter(0, vec![1, 2, 3])).expect("3 is back");
        // Preferred leader: 1 leads again once 2 took over and 1 is back in sync.
        fence(&mut s, 1, true);
        assert_eq!(p0(&s).leader, 2);
        fence(&mut s, 1, false);
        assert_eq!(
            s.preferred_leader_imbalance(),
            Vec::<(String, i32)>::new(),
            "1 not in ISR"
        );
        let next = s.applied_index + 1;
        s.apply(next, alter(p0(&s).leader_epoch, vec![1, 2]))
            .expect("1 caught up");
        assert_eq!(s.preferred_leader_imbalance(), vec![("t".to_string(), 0)]);
        let next = s.applied_index + 1;
        s.apply(
            next,
            Command::ElectPreferredLeader {
                topic: "t".into(),
                partition: 0,
            },
        )
        .expect("elect");
        assert_eq!(p0(&s).leader, 1);
    }
}

#[cfg(test)]
mod reassignment_tests {
    use super::*;

    use super::tests::fence;

    /// Brokers 1-4; topic `r` with one partition on [1, 2], led by 1, both in sync.
    fn cluster() -> ClusterState {
        super::tests::cluster_with(4, "r", &[1, 2])
    }

    fn apply(s: &mut ClusterState, cmd: Command) {
        try_apply(s, cmd).expect("apply");
    }

    fn try_apply(s: &mut ClusterState, cmd: Command) -> Result<()> {
        let next = s.applied_index + 1;
        s.apply(next, cmd)
    }

    fn reassign(target: Option<&[i32]>) -> Command {
        Command::ReassignPartition {
            topic: "r".into(),
            partition: 0,
            target: target.map(<[i32]>::to_vec),
        }
    }

    /// The leader's ISR change, under the current epoch.
    fn try_set_isr(s: &mut ClusterState, isr: &[i32]) -> Result<()> {
        let cmd = Command::AlterPartition {
            topic: "r".into(),
            partition: 0,
            leader_epoch: p0(s).leader_epoch,
            isr: isr.to_vec(),
        };
        try_apply(s, cmd)
    }

    fn set_isr(s: &mut ClusterState, isr: &[i32]) {
        try_set_isr(s, isr).expect("ISR change");
    }

    fn p0(s: &ClusterState) -> PartitionAssignment {
        s.topics["r"].partitions[0].clone()
    }

    /// `(replicas, isr, leader, leader_epoch)`.
    fn summary(s: &ClusterState) -> (Vec<i32>, Vec<i32>, i32, i32) {
        let p = p0(s);
        (p.replicas, p.isr, p.leader, p.leader_epoch)
    }

    fn ongoing(s: &ClusterState) -> Option<(Vec<i32>, Vec<i32>)> {
        s.reassignment("r", 0)
            .map(|r| (r.adding_replicas.clone(), r.removing_replicas.clone()))
    }

    #[test]
    fn a_reassignment_completes_once_the_target_is_in_sync_and_moves_the_leader() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 2])));
        assert_eq!(summary(&s), (vec![3, 2, 1], vec![1, 2], 1, 0));
        assert_eq!(ongoing(&s), Some((vec![3], vec![1])));
        assert_eq!(s.reassignment("r", 0).expect("ongoing").original, [1, 2]);
        // The leader's ISR changes that leave the new replica out change nothing else.
        set_isr(&mut s, &[1]);
        set_isr(&mut s, &[1, 2]);
        assert!(ongoing(&s).is_some());
        // The new replica caught up: the replicas become the target, 1 leaves the ISR and
        // hands leadership to the first target replica, in a new epoch.
        set_isr(&mut s, &[1, 2, 3]);
        assert_eq!(summary(&s), (vec![3, 2], vec![2, 3], 3, 1));
        assert_eq!(ongoing(&s), None);
        assert!(s.reassignments.is_empty());
    }

    #[test]
    fn the_leader_stays_when_it_is_in_the_target() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[1, 3, 4])));
        assert_eq!(ongoing(&s), Some((vec![3, 4], vec![2])));
        set_isr(&mut s, &[1, 2, 3]);
        assert!(ongoing(&s).is_some(), "4 is not in sync yet");
        set_isr(&mut s, &[1, 2, 3, 4]);
        assert_eq!(summary(&s), (vec![1, 3, 4], vec![1, 3, 4], 1, 0));
    }

    #[test]
    fn shrinking_to_in_sync_replicas_and_reordering_take_effect_at_once() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[2, 1])));
        assert_eq!(summary(&s), (vec![2, 1], vec![1, 2], 1, 0));
        assert_eq!(ongoing(&s), None);
        assert_eq!(s.preferred_leader_imbalance(), vec![("r".to_string(), 0)]);
        apply(&mut s, reassign(Some(&[2])));
        assert_eq!(summary(&s), (vec![2], vec![2], 2, 1));
        assert_eq!(ongoing(&s), None);
    }

    #[test]
    fn fenced_replicas_neither_join_nor_lead_and_completion_waits_for_them() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 4])));
        fence(&mut s, 3, true);
        assert!(
            try_set_isr(&mut s, &[1, 2, 3]).is_err(),
            "a fenced broker cannot join the ISR"
        );
        fence(&mut s, 3, false);
        set_isr(&mut s, &[1, 2, 3]);
        // Every broker dies, 3 last: it stays in the ISR, and the partition has no leader.
        for id in [1, 2, 3] {
            fence(&mut s, id, true);
        }
        assert_eq!(summary(&s).1, [3]);
        assert_eq!(p0(&s).leader, -1);
        // Narrowed to [3], which is in sync but fenced: nothing can lead, so it waits.
        apply(&mut s, reassign(Some(&[3])));
        assert_eq!(ongoing(&s), Some((vec![3], vec![4, 1, 2])));
        // 3 returns, leads again, and the reassignment completes.
        fence(&mut s, 3, false);
        assert_eq!(ongoing(&s), None);
        let (replicas, isr, leader, _) = summary(&s);
        assert_eq!((replicas, isr, leader), (vec![3], vec![3], 3));
    }

    #[test]
    fn cancelling_goes_back_to_the_original_replicas() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 4])));
        set_isr(&mut s, &[1, 2, 3]);
        // The preferred replica is now 3, the first of the target: it takes over.
        apply(
            &mut s,
            Command::ElectPreferredLeader {
                topic: "r".into(),
                partition: 0,
            },
        );
        assert_eq!(summary(&s), (vec![3, 4, 1, 2], vec![1, 2, 3], 3, 1));
        apply(&mut s, reassign(None));
        assert_eq!(summary(&s), (vec![1, 2], vec![1, 2], 1, 2));
        assert_eq!(ongoing(&s), None);
        assert_eq!(
            try_apply(&mut s, reassign(None))
                .expect_err("nothing to cancel")
                .kafka_code(),
            85,
            "NO_REASSIGNMENT_IN_PROGRESS"
        );
    }

    #[test]
    fn a_replacing_reassignment_keeps_the_original_replicas_for_a_cancel() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 2])));
        apply(&mut s, reassign(Some(&[4, 2])));
        assert_eq!(summary(&s).0, [4, 2, 3, 1]);
        assert_eq!(ongoing(&s), Some((vec![4], vec![3, 1])));
        apply(&mut s, reassign(None));
        assert_eq!(summary(&s), (vec![1, 2], vec![1, 2], 1, 0));
        // Replaced again, and completed: 3 (caught up by now) leaves too.
        apply(&mut s, reassign(Some(&[3, 2])));
        set_isr(&mut s, &[1, 2, 3]);
        assert_eq!(summary(&s), (vec![3, 2], vec![2, 3], 3, 1));
    }

    #[test]
    fn a_cancel_that_would_leave_no_replica_in_sync_is_refused() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 4])));
        set_isr(&mut s, &[1, 2, 3]);
        fence(&mut s, 1, true);
        fence(&mut s, 2, true);
        assert_eq!(summary(&s).1, [3], "only the new replica is in sync");
        let e = try_apply(&mut s, reassign(None)).expect_err("refused");
        assert_eq!(e.kafka_code(), 39, "INVALID_REPLICA_ASSIGNMENT: {e}");
        assert!(ongoing(&s).is_some());
    }

    #[test]
    fn invalid_reassignments_are_refused_with_kafka_codes() {
        let s = cluster();
        let code = |cmd: Command| s.validate(&cmd).expect_err("refused").kafka_code();
        let unknown = |topic: &str, partition| Command::ReassignPartition {
            topic: topic.into(),
            partition,
            target: Some(vec![1]),
        };
        assert_eq!(code(unknown("nope", 0)), 3, "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(code(unknown("r", 1)), 3, "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(code(reassign(Some(&[]))), 39);
        assert_eq!(code(reassign(Some(&[1, 3, 1]))), 39);
        assert_eq!(code(reassign(Some(&[1, 99]))), 39);
        assert_eq!(code(reassign(None)), 85);
    }

    #[test]
    fn deleting_a_topic_drops_its_reassignment() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 4])));
        apply(&mut s, Command::DeleteTopic { name: "r".into() });
        assert!(s.reassignments.is_empty());
    }

    #[test]
    fn reassignments_survive_serialization_and_older_states_still_load() {
        let mut s = cluster();
        apply(&mut s, reassign(Some(&[3, 2])));
        let json = serde_json::to_string(&s).expect("encode");
        let back: ClusterState = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, s);
        // A snapshot written before reassignments existed.
        let mut v: serde_json::Value = serde_json::from_str(&json).expect("value");
        v.as_object_mut().expect("object").remove("reassignments");
        let old: ClusterState = serde_json::from_value(v).expect("decode an older state");
        assert!(old.reassignments.is_empty());
        let cmd = reassign(Some(&[3, 2]));
        let text = serde_json::to_string(&cmd).expect("encode");
        assert_eq!(serde_json::from_str::<Command>(&text).expect("decode"), cmd);
    }
}

#[cfg(test)]
mod scram_tests {
    use super::*;

    fn credential(iterations: u32) -> ScramCredential {
        ScramCredential {
            salt: vec![1; 24],
            iterations,
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
        }
    }

    fn scram(user: &str, mechanism: &str, c: Option<ScramCredential>) -> crate::ScramChange {
        crate::ScramChange {
            user: user.into(),
            mechanism: mechanism.into(),
            credential: c,
        }
    }

    #[test]
    fn scram_credentials_are_set_replaced_and_deleted() {
        let mut s = ClusterState::default();
        let alter = |changes| Command::AlterScramCredentials { changes };
        s.apply(
            1,
            alter(vec![
                scram("bob", "SCRAM-SHA-256", Some(credential(4096))),
                scram("bob", "SCRAM-SHA-512", Some(credential(8192))),
            ]),
        )
        .expect("set");
        assert_eq!(s.scram_credentials["bob"].len(), 2);
        s.apply(
            2,
            alter(vec![scram("bob", "SCRAM-SHA-512", Some(credential(16384)))]),
        )
        .expect("replace");
        assert_eq!(
            s.scram_credentials["bob"]["SCRAM-SHA-512"].iterations,
            16384
        );
        s.apply(3, alter(vec![scram("bob", "SCRAM-SHA-256", None)]))
            .expect("delete one");
        assert_eq!(s.scram_credentials["bob"].len(), 1);
        // The last credential gone, the user is gone; deleting again changes nothing.
        s.apply(4, alter(vec![scram("bob", "SCRAM-SHA-512", None)]))
            .expect("delete last");
        assert!(s.scram_credentials.is_empty());
        s.apply(5, alter(vec![scram("bob", "SCRAM-SHA-512", None)]))
            .expect("delete again");
        // Survives the metadata log's JSON encoding.
        let cmd = alter(vec![scram("bob", "SCRAM-SHA-256", Some(credential(4096)))]);
        let text = serde_json::to_string(&cmd).expect("encode");
        assert_eq!(serde_json::from_str::<Command>(&text).expect("decode"), cmd);
    }

    #[test]
    fn scram_changes_are_validated() {
        let mut s = ClusterState::default();
        for bad in [
            scram("", "SCRAM-SHA-256", Some(credential(4096))),
            scram("bob", "SCRAM-SHA-1", Some(credential(4096))),
            scram("bob", "SCRAM-SHA-256", Some(credential(4095))),
            scram("bob", "SCRAM-SHA-256", Some(credential(16385))),
            scram(
                "bob",
                "SCRAM-SHA-256",
                Some(ScramCredential {
                    salt: Vec::new(),
                    ..credential(4096)
                }),
            ),
        ] {
            let err = s
                .apply(
                    1,
                    Command::AlterScramCredentials {
                        changes: vec![bad.clone()],
                    },
                )
                .expect_err("refused");
            assert!(matches!(err, Error::UnacceptableCredential(_)), "{bad:?}");
        }
        assert!(s.scram_credentials.is_empty());
    }
}

#[cfg(test)]
mod listener_tests {
    use super::*;

    #[test]
    fn clients_are_told_the_address_of_their_listener() {
        // A registration from before named listeners decodes with none.
        let old = r#"{"type":"register_broker","node_id":1,"host":"h","port":9092,"rack":null}"#;
        let cmd: Command = serde_json::from_str(old).expect("decode");
        let mut s = ClusterState::default();
        s.apply(1, cmd).expect("apply");
        assert_eq!(s.brokers[&1].endpoint("EXTERNAL"), Some(("h", 9092)));

        let listeners = BTreeMap::from([
            (
                "INTERNAL".to_string(),
                Endpoint {
                    host: "weir".into(),
                    port: 29092,
                },
            ),
            (
                "EXTERNAL".to_string(),
                Endpoint {
                    host: "localhost".into(),
                    port: 9092,
                },
            ),
        ]);
        s.apply(
            2,
            Command::RegisterBroker {
                node_id: 1,
                host: "weir".into(),
                port: 29092,
                rack: None,
                http: None,
                listeners,
            },
        )
        .expect("apply");
        let b = &s.brokers[&1];
        assert_eq!(b.endpoint("EXTERNAL"), Some(("localhost", 9092)));
        assert_eq!(b.endpoint("INTERNAL"), Some(("weir", 29092)));
        // A listener the broker does not have: left out, not another listener's address.
        assert_eq!(b.endpoint("OTHER"), None);
    }
}
