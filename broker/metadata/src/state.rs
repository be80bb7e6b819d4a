use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Command, Error, PartitionAssignment, PipelineMeta, PluginMeta, Result, topic_config,
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
        }
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

    /// Checks that `cmd` can be applied to the current state, without applying it.
    pub fn validate(&self, cmd: &Command) -> Result<()> {
        match cmd {
            Command::RegisterBroker { .. } | Command::AllocateProducerIds { .. } => Ok(()),
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

    fn assignment(&self, topic: &str, partition: i32) -> Result<&PartitionAssignment> {
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
            } => {
                let was_fenced = self.brokers.get(&node_id).is_some_and(|b| b.fenced);
                let mut info = BrokerInfo::new(node_id, host, port, rack);
                info.http = http;
                self.brokers.insert(node_id, info);
                if was_fenced {
                    self.on_unfenced(node_id);
                }
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
                self.topics.remove(&name);
            }
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
        }
        self.applied_index = index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterState {
        let mut s = ClusterState::default();
        let mut i = 0;
        let mut apply = |s: &mut ClusterState, cmd| {
            i += 1;
            s.apply(i, cmd).expect("apply");
        };
        for id in 1..=3 {
            apply(
                &mut s,
                Command::RegisterBroker {
                    node_id: id,
                    host: "h".into(),
                    port: 9000 + id,
                    rack: None,
                },
            );
        }
        apply(
            &mut s,
            Command::CreateTopic {
                name: "t".into(),
                topic_id: Uuid::new_v4(),
                partitions: vec![PartitionAssignment {
                    partition: 0,
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2, 3],
                    leader: 1,
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

    fn fence(s: &mut ClusterState, node_id: i32, fenced: bool) {
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
                http,
        // The last in-sync replica returns and leads again.
        fence(&mut s, 2, false);
        let p = p0(&s);
        assert_eq!((p.leader, p.leader_epoch), (2, 3));
    }

    #[test]
    fn isr_changes_need_the_current_epoch_and_live_replicas() {
            Command::UnregisterBroker { node_id } => {
                self.brokers.remove(&node_id);
            }
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
                    http: None,
