package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** AdminClient against Weir: CreateTopics, Metadata, DescribeConfigs, IncrementalAlterConfigs, ... */
class AdminTest extends BrokerTestBase {

    private static final long T = 30;

    private static Config describeTopicConfig(String topic) throws Exception {
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Map<ConfigResource, Config> m = admin.describeConfigs(List.of(res)).all().get(T, TimeUnit.SECONDS);
        Config c = m.get(res);
        assertNotNull(c, "DescribeConfigs returned no entry for " + topic);
        return c;
    }

    private static void produce(String topic, int partition, int n) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < n; i++) {
                p.send(new ProducerRecord<>(topic, partition, null, ("v" + i).getBytes()));
            }
            p.flush();
        }
    }

    @Test
    void createTopicWithConfigsThenDescribeTopicAndConfigs(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        NewTopic nt = new NewTopic(topic, 3, (short) 1).configs(Map.of(
                "retention.ms", "3600000",
                "cleanup.policy", "delete",
                "max.message.bytes", "65536"));
        CreateTopicsResult r = admin.createTopics(List.of(nt));
        r.all().get(T, TimeUnit.SECONDS);
        assertEquals(3, r.numPartitions(topic).get(T, TimeUnit.SECONDS));
        assertEquals(1, r.replicationFactor(topic).get(T, TimeUnit.SECONDS));

        // listTopics (Metadata)
        Map<String, TopicListing> listings = admin.listTopics().namesToListings().get(T, TimeUnit.SECONDS);
        assertTrue(listings.containsKey(topic), "listTopics contains " + topic + ": " + listings.keySet());
        assertFalse(listings.get(topic).isInternal());

        // describeTopics (Metadata / DescribeTopicPartitions, whatever the client negotiates)
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS).get(topic);
        assertEquals(topic, d.name());
        assertEquals(3, d.partitions().size());
        for (int i = 0; i < 3; i++) {
            TopicPartitionInfo pi = d.partitions().get(i);
            assertEquals(i, pi.partition());
            assertNotNull(pi.leader(), "leader of partition " + i);
            assertEquals(1, pi.leader().id(), "leader is node 1");
            assertEquals(1, pi.replicas().size());
            assertEquals(1, pi.isr().size());
        }

        // describeConfigs: the configs we set are reported back as dynamic topic configs
        Config c = describeTopicConfig(topic);
        assertEquals("3600000", c.get("retention.ms").value());
        assertEquals("delete", c.get("cleanup.policy").value());
        assertEquals("65536", c.get("max.message.bytes").value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("retention.ms").source());
    }

    @Test
    void createTopicValidateOnlyCreatesNothing(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1)),
                new CreateTopicsOptions().validateOnly(true)).all().get(T, TimeUnit.SECONDS);
        Set<String> names = admin.listTopics().names().get(T, TimeUnit.SECONDS);
        assertFalse(names.contains(topic), "validateOnly must not create the topic");
        // and it can still be created for real afterwards
        createTopic(topic, 2, null);
        assertTrue(admin.listTopics().names().get(T, TimeUnit.SECONDS).contains(topic));
    }

    @Test
    void createExistingTopicFailsWithTopicExists(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(TopicExistsException.class, e.getCause(), "cause: " + e.getCause());
    }

    @Test
    void createTopicWithInvalidNameFails() throws Exception {
        // characters outside [a-zA-Z0-9._-]; the Java client sends these to the broker as-is
        for (String bad : List.of("bad name with spaces", "bad/slash", "bad*star", "..")) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> admin.createTopics(List.of(new NewTopic(bad, 1, (short) 1))).all().get(T, TimeUnit.SECONDS),
                    "creating '" + bad + "' must fail");
            assertInstanceOf(InvalidTopicException.class, e.getCause(), "'" + bad + "' cause: " + e.getCause());
        }
        // too long (> 249 characters)
        String tooLong = "x".repeat(250);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.createTopics(List.of(new NewTopic(tooLong, 1, (short) 1))).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidTopicException.class, e.getCause(), "250-char name cause: " + e.getCause());
    }

    @Test
    void createTopicWithUnknownConfigFails(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                        .configs(Map.of("no.such.config", "1")))).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidConfigurationException.class, e.getCause(), "cause: " + e.getCause());
        assertFalse(admin.listTopics().names().get(T, TimeUnit.SECONDS).contains(topic));
    }

    /** As Kafka 4 (DescribeGroups v6, which 4.x clients send): a group that does not exist is
     *  GroupIdNotFound; 3.x clients (v5 at most) get it as a Dead group with no members, as
     *  from Kafka. */
    @Test
    void describingAGroupThatDoesNotExistFailsWithGroupIdNotFound(TestInfo info) throws Exception {
        String group = "nosuch-" + uniqueTopic(info);
        if (org.apache.kafka.common.utils.AppInfoParser.getVersion().startsWith("3.")) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group))
                    .describedGroups().get(group).get(T, TimeUnit.SECONDS);
            assertEquals(ConsumerGroupState.DEAD, d.state());
            assertTrue(d.members().isEmpty());
            return;
        }
        ExecutionException e = assertThrows(ExecutionException.class, () -> admin
                .describeConsumerGroups(List.of(group)).describedGroups().get(group)
                .get(T, TimeUnit.SECONDS));
        assertInstanceOf(GroupIdNotFoundException.class, e.getCause(), "cause: " + e.getCause());
        assertTrue(e.getCause().getMessage().contains(group), e.getCause().getMessage());
    }

    /** As Kafka: one key twice in a request (kafka-configs --add-config retention.ms=1
     *  --delete-config retention.ms) is INVALID_REQUEST and changes nothing; it was applied. */
    @Test
    void oneKeyTwiceInAnAlterIsRefusedAndChangesNothing(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, Map.of("retention.ms", "123456"));
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        ExecutionException e = assertThrows(ExecutionException.class, () -> admin.incrementalAlterConfigs(Map.of(res,
                List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "1"), AlterConfigOp.OpType.SET),
                        new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidRequestException.class, e.getCause(), "cause: " + e.getCause());
        assertTrue(e.getCause().getMessage().contains("duplicate config keys"), e.getCause().getMessage());
        assertEquals("123456", describeTopicConfig(topic).get("retention.ms").value());
    }

    @Test
    void incrementalAlterConfigsThenReadBack(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, Map.of("retention.ms", "100000"));
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);

        Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("segment.bytes", "1048576"), AlterConfigOp.OpType.SET)));
        admin.incrementalAlterConfigs(ops).all().get(T, TimeUnit.SECONDS);
        Config c = describeTopicConfig(topic);
        assertEquals("7200000", c.get("retention.ms").value());
        assertEquals("1048576", c.get("segment.bytes").value());

        // DELETE reverts to the default (no longer a dynamic topic override)
        admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(T, TimeUnit.SECONDS);
        ConfigEntry ret = describeTopicConfig(topic).get("retention.ms");
        if (ret != null) {
            assertFalse("7200000".equals(ret.value()), "retention.ms still 7200000 after DELETE");
            assertTrue(ret.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                    "retention.ms still a topic override after DELETE: " + ret);
        }
        // segment.bytes untouched by that DELETE
        assertEquals("1048576", describeTopicConfig(topic).get("segment.bytes").value());

        // Deleting what is not set succeeds, as at Kafka: a topic config never set, an unknown
        // name, and the broker's replication throttles (kafka-reassign-partitions --verify
        // clears them whether or not it set them).
        admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.bytes", ""), AlterConfigOp.OpType.DELETE),
                new AlterConfigOp(new ConfigEntry("no.such.config", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(T, TimeUnit.SECONDS);
        ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER, "1");
        admin.incrementalAlterConfigs(Map.of(brokerRes, List.of(
                new AlterConfigOp(new ConfigEntry("leader.replication.throttled.rate", ""), AlterConfigOp.OpType.DELETE),
                new AlterConfigOp(new ConfigEntry("follower.replication.throttled.rate", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(T, TimeUnit.SECONDS);
        assertEquals("1048576", describeTopicConfig(topic).get("segment.bytes").value());

        // unknown config names are rejected
        ExecutionException e = assertThrows(ExecutionException.class, () -> admin.incrementalAlterConfigs(Map.of(res,
                List.of(new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET))))
                .all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidConfigurationException.class, e.getCause(), "cause: " + e.getCause());
    }

    @Test
    void manualReplicaAssignmentsArePlacedAndChecked(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1), 1, List.of(1)))))
                .all().get(T, TimeUnit.SECONDS);
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS).get(topic);
        assertEquals(2, d.partitions().size());
        for (TopicPartitionInfo p : d.partitions()) {
            assertEquals(1, p.leader().id());
            assertEquals(List.of(1), p.replicas().stream().map(Node::id).toList());
        }
        // A broker that is not registered, or one named twice, is refused as Kafka refuses it
        // (the assignment was ignored before: the topic got broker 1 whatever was asked).
        for (List<Integer> replicas : List.of(List.of(2), List.of(1, 1))) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin
                    .createTopics(List.of(new NewTopic(topic + "-bad", Map.of(0, replicas))))
                    .all().get(T, TimeUnit.SECONDS));
            assertInstanceOf(InvalidReplicaAssignmentException.class, e.getCause(), replicas + ": " + e.getCause());
        }
        ExecutionException grow = assertThrows(ExecutionException.class, () -> admin
                .createPartitions(Map.of(topic, NewPartitions.increaseTo(3, List.of(List.of(7)))))
                .all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(InvalidReplicaAssignmentException.class, grow.getCause(), "cause: " + grow.getCause());
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3, List.of(List.of(1)))))
                .all().get(T, TimeUnit.SECONDS);
        assertEquals(3, admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS)
                .get(topic).partitions().size());
    }

    @Test
    void electLeadersNeedsNoElectionOnALoneBroker(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 2, null);
        TopicPartition tp = new TopicPartition(topic, 1);
        for (ElectionType type : ElectionType.values()) {
            Map<TopicPartition, java.util.Optional<Throwable>> r = admin.electLeaders(type, Set.of(tp))
                    .partitions().get(T, TimeUnit.SECONDS);
            assertInstanceOf(ElectionNotNeededException.class, r.get(tp).orElseThrow(), type + ": " + r);
        }
    }

    @Test
    void createPartitionsGrowsTopic(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 2, null);
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(T, TimeUnit.SECONDS);
        // metadata may take a moment to reflect the change on some brokers; bounded retry
        int parts = -1;
        for (int i = 0; i < 20 && parts != 5; i++) {
            parts = admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS)
                    .get(topic).partitions().size();
            if (parts != 5) {
                Thread.sleep(250);
            }
        }
        assertEquals(5, parts, "partition count after createPartitions(5)");
        // the new partition is writable and readable
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            assertEquals(0, p.send(new ProducerRecord<>(topic, 4, null, "p4".getBytes())).get(T, TimeUnit.SECONDS).offset());
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(new TopicPartition(topic, 4), 0, 1);
        assertEquals("p4", new String(got.get(0).value()));
    }

    @Test
    void deleteRecordsMovesBeginningOffset(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        produce(topic, 0, 10);
        DeletedRecords dr = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(6)))
                .lowWatermarks().get(tp).get(T, TimeUnit.SECONDS);
        assertEquals(6, dr.lowWatermark());
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            assertEquals(6L, c.beginningOffsets(List.of(tp)).get(tp));
            assertEquals(10L, c.endOffsets(List.of(tp)).get(tp));
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 6, 4);
        assertEquals(4, got.size());
        assertOffsets(got, 6);
        assertEquals("v6", new String(got.get(0).value()));
    }

    @Test
    void describeClusterReportsSingleNode() throws Exception {
        DescribeClusterResult r = admin.describeCluster();
        Collection<Node> nodes = r.nodes().get(T, TimeUnit.SECONDS);
        assertEquals(1, nodes.size(), "nodes: " + nodes);
        Node n = nodes.iterator().next();
        assertEquals(1, n.id());
        String[] hp = broker.bootstrap().split(":");
        assertEquals(hp[0], n.host());
        assertEquals(Integer.parseInt(hp[1]), n.port());
        Node controller = r.controller().get(T, TimeUnit.SECONDS);
        assertNotNull(controller);
        assertEquals(1, controller.id());
        String clusterId = r.clusterId().get(T, TimeUnit.SECONDS);
        assertNotNull(clusterId);
        assertFalse(clusterId.isEmpty());
    }

    @Test
    void deleteTopicsRemovesTopic(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 2, null);
        produce(topic, 0, 3);
        admin.deleteTopics(List.of(topic)).all().get(T, TimeUnit.SECONDS);
        Set<String> names = admin.listTopics().names().get(T, TimeUnit.SECONDS);
        assertFalse(names.contains(topic), "deleted topic still listed: " + names);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.describeTopics(List.of(topic)).allTopicNames().get(T, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause(), "cause: " + e.getCause());
        // deleting again -> UNKNOWN_TOPIC_OR_PARTITION
        ExecutionException e2 = assertThrows(ExecutionException.class,
                () -> admin.deleteTopics(List.of(topic)).all().get(T, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicOrPartitionException.class, e2.getCause(), "cause: " + e2.getCause());
        // re-creating under the same name starts empty
        createTopic(topic, 1, null);
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            TopicPartition tp = new TopicPartition(topic, 0);
            assertEquals(0L, c.endOffsets(List.of(tp)).get(tp));
        }
    }

    @Test
    void describeLogDirsListsTopicPartitions(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 2, null);
        produce(topic, 0, 5);
        Map<String, org.apache.kafka.clients.admin.LogDirDescription> dirs =
                admin.describeLogDirs(List.of(1)).descriptions().get(1).get(T, TimeUnit.SECONDS);
        assertFalse(dirs.isEmpty(), "no log dirs for broker 1");
        long size0 = -1;
        int parts = 0;
        for (Map.Entry<String, org.apache.kafka.clients.admin.LogDirDescription> e : dirs.entrySet()) {
            assertTrue(e.getValue().error() == null, "log dir " + e.getKey() + " error " + e.getValue().error());
            // v4: the file system's size and free space, as Kafka reports them.
            long total = e.getValue().totalBytes().orElse(-1);
            long usable = e.getValue().usableBytes().orElse(-1);
            assertTrue(total > 0, "total bytes of " + e.getKey() + ": " + total);
            assertTrue(usable >= 0 && usable <= total, "usable bytes " + usable + " of " + total);
            for (Map.Entry<TopicPartition, org.apache.kafka.clients.admin.ReplicaInfo> r
                    : e.getValue().replicaInfos().entrySet()) {
                if (r.getKey().topic().equals(topic)) {
                    parts++;
                    if (r.getKey().partition() == 0) {
                        size0 = r.getValue().size();
                    }
                }
            }
        }
        assertEquals(2, parts, "partitions of " + topic + " in describeLogDirs");
        assertTrue(size0 > 0, "partition 0 size " + size0 + " after 5 records");
    }

    @Test
    void aclsAnswerThatSecurityIsDisabledAndQuotasAreEmpty() throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.describeAcls(org.apache.kafka.common.acl.AclBindingFilter.ANY)
                        .values().get(30, TimeUnit.SECONDS));
        assertInstanceOf(org.apache.kafka.common.errors.SecurityDisabledException.class, e.getCause(),
                "cause: " + e.getCause());
        org.apache.kafka.common.acl.AclBinding binding = new org.apache.kafka.common.acl.AclBinding(
                new org.apache.kafka.common.resource.ResourcePattern(
                        org.apache.kafka.common.resource.ResourceType.TOPIC, "t",
                        org.apache.kafka.common.resource.PatternType.LITERAL),
                new org.apache.kafka.common.acl.AccessControlEntry("User:alice", "*",
                        org.apache.kafka.common.acl.AclOperation.READ,
                        org.apache.kafka.common.acl.AclPermissionType.ALLOW));
        e = assertThrows(ExecutionException.class,
                () -> admin.createAcls(List.of(binding)).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(org.apache.kafka.common.errors.SecurityDisabledException.class, e.getCause(),
                "cause: " + e.getCause());
        assertTrue(admin.describeClientQuotas(org.apache.kafka.common.quota.ClientQuotaFilter.all())
                .entities().get(30, TimeUnit.SECONDS).isEmpty());
    }

    @Test
    void listOffsetsAnswersEarliestLocalAndLatestTiered(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>(topic, 0, null, ("r" + i).getBytes())).get(30, TimeUnit.SECONDS);
            }
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        assertEquals(0L, admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.earliestLocal()))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset(), "all of the log is local");
        assertEquals(-1L, admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latestTiered()))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset(), "no tiered storage");
        assertEquals(3L, admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latest()))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset());
    }
}
