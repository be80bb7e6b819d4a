package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer groups with the classic rebalance protocol (group.protocol=classic): FindCoordinator,
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, and the admin side
 * (ListGroups, DescribeGroups, DeleteGroups, OffsetDelete); the tests taking a group protocol also
 * run with KIP-848's (group.protocol=consumer: ConsumerGroupHeartbeat, server-side assignment).
 *
 * <p>Each member polls in its own thread and commits synchronously after every poll that returned
 * records (and in onPartitionsRevoked), so a partition that moves is resumed by its new owner exactly
 * where the old owner stopped. Every wait is bounded; nothing asserts how long anything took.
 */
@BrokerTestBase.BrokerFlags({"--group-initial-rebalance-delay-ms", "0"})
class ConsumerGroupTest extends BrokerTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** One record as seen by a group member. */
    record Got(String member, int partition, long offset, String value) {
        String key() {
            return partition + "@" + offset;
        }
    }

    /** A group member: one KafkaConsumer owned by one thread (subscribe, poll, commitSync, close). */
    static final class Member implements AutoCloseable {
        final String name;
        final Collection<Got> sink;
        final KafkaConsumer<byte[], byte[]> consumer;
        final AtomicInteger assignedCalls = new AtomicInteger();
        final AtomicInteger revokedCalls = new AtomicInteger();
        final AtomicInteger lostCalls = new AtomicInteger();
        final List<Set<Integer>> revokedHistory = java.util.Collections.synchronizedList(new ArrayList<>());
        final List<Throwable> commitErrors = java.util.Collections.synchronizedList(new ArrayList<>());
        final LinkedBlockingQueue<FutureTask<?>> tasks = new LinkedBlockingQueue<>();
        volatile Set<Integer> owned = Set.of();
        volatile Throwable fatal;
        volatile boolean stop;
        private final Thread thread;

        Member(String name, String group, String topic, Collection<Got> sink, Map<String, Object> extra) {
            this.name = name;
            this.sink = sink;
            Map<String, Object> cfg = new HashMap<>();
            cfg.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            cfg.put("group.protocol", "classic");
            cfg.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            cfg.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000);
            cfg.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
            cfg.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 30000);
            cfg.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 200);
            cfg.putAll(extra);
            if ("consumer".equals(cfg.get("group.protocol"))) {
                // KIP-848: the coordinator sets the session and the heartbeat interval, and
                // assigns partitions itself; the client refuses these settings.
                cfg.remove(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
                cfg.remove(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
                cfg.remove(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
            }
            this.consumer = consumer(cfg);
            this.thread = new Thread(() -> run(topic), "member-" + name);
            this.thread.setDaemon(true);
            this.thread.start();
        }

        private static Set<Integer> parts(Collection<TopicPartition> tps) {
            return tps.stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
        }

        private void commit(String where) {
            try {
                consumer.commitSync(Duration.ofSeconds(20));
            } catch (RuntimeException e) {
                commitErrors.add(new RuntimeException(name + ": commitSync in " + where + ": " + e, e));
            }
        }

        private void run(String topic) {
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        revokedCalls.incrementAndGet();
                        if (!partitions.isEmpty()) {
                            revokedHistory.add(parts(partitions));
                            commit("onPartitionsRevoked"); // positions = records already handed out
                        }
                        Set<Integer> left = new TreeSet<>(owned);
                        left.removeAll(parts(partitions));
                        owned = left;
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        assignedCalls.incrementAndGet();
                        owned = parts(consumer.assignment());
                    }

                    @Override
                    public void onPartitionsLost(Collection<TopicPartition> partitions) {
                        lostCalls.incrementAndGet();
                        Set<Integer> left = new TreeSet<>(owned);
                        left.removeAll(parts(partitions));
                        owned = left;
                    }
                });
                while (!stop) {
                    FutureTask<?> t;
                    while ((t = tasks.poll()) != null) {
                        t.run();
                    }
                    var recs = consumer.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<byte[], byte[]> r : recs) {
                        sink.add(new Got(name, r.partition(), r.offset(),
                                new String(r.value(), StandardCharsets.UTF_8)));
                    }
                    if (!recs.isEmpty()) {
                        commit("poll loop");
                    }
                }
            } catch (Throwable e) {
                fatal = e;
            } finally {
                try {
                    consumer.close(Duration.ofSeconds(20));
                } catch (Throwable e) {
                    if (fatal == null) {
                        fatal = e;
                    }
                }
                FutureTask<?> t;
                while ((t = tasks.poll()) != null) {
                    t.cancel(false);
                }
            }
        }

        /** Runs {@code fn} on the member's own thread between two polls (KafkaConsumer is single-threaded). */
        <T> T call(Function<KafkaConsumer<byte[], byte[]>, T> fn) throws Exception {
            FutureTask<T> task = new FutureTask<>(() -> fn.apply(consumer));
            tasks.add(task);
            try {
                return task.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw (e.getCause() instanceof Exception ex) ? ex : e;
            }
        }

        /** Stops polling and closes the consumer (a dynamic member sends LeaveGroup; a static one does not). */
        @Override
        public void close() throws Exception {
            stop = true;
            thread.join(TimeUnit.SECONDS.toMillis(60));
            if (thread.isAlive()) {
                fail(name + ": member thread did not finish within 60 s");
            }
        }

        void assertHealthy() {
            if (fatal != null) {
                throw new AssertionError(name + ": consumer failed: " + fatal, fatal);
            }
        }

        /** Commit errors other than RebalanceInProgressException (expected while a cooperative rebalance runs). */
        List<Throwable> unexpectedCommitErrors() {
            synchronized (commitErrors) {
                return commitErrors.stream()
                        .filter(e -> !(e.getCause() instanceof RebalanceInProgressException))
                        .collect(Collectors.toList());
            }
        }

        @Override
        public String toString() {
            return name + owned + " assigned=" + assignedCalls + " revoked=" + revokedCalls + " lost=" + lostCalls
                    + (fatal != null ? " FATAL=" + fatal : "") + " commitErrors=" + commitErrors;
        }
    }

    // ---- helpers ----

    private static void waitUntil(String what, BooleanSupplier cond, Supplier<String> state) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not reached within " + WAIT.toSeconds() + " s: " + what + "; state: " + state.get());
            }
            Thread.sleep(50);
        }
    }

    private static String groupName(TestInfo info) {
        return "g-" + info.getTestMethod().map(java.lang.reflect.Method::getName).orElse("t") + "-"
                + UUID.randomUUID().toString().substring(0, 8);
    }

    private static String state(List<Member> members, Collection<Got> got) {
        return members + " consumed=" + got.size();
    }

    /** True when every partition 0..n-1 has exactly one owner among the (running) members. */
    private static boolean coversExactly(List<Member> members, int partitions) {
        List<Integer> all = new ArrayList<>();
        members.forEach(m -> all.addAll(m.owned));
        return all.size() == partitions && new HashSet<>(all).size() == partitions;
    }

    /** Produces {@code perPartition} records to every partition; values "v-{p}-{i}". */
    private static void produce(String topic, int partitions, int fromIndex, int perPartition) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
            for (int i = fromIndex; i < fromIndex + perPartition; i++) {
                for (int part = 0; part < partitions; part++) {
                    fs.add(p.send(new ProducerRecord<>(topic, part, null,
                            ("v-" + part + "-" + i).getBytes(StandardCharsets.UTF_8))));
                }
            }
            p.flush();
            for (var f : fs) {
                f.get(30, TimeUnit.SECONDS);
            }
        }
    }

    /** Every (partition, offset) for offsets [0, perPartition) is in {@code got} exactly once, nothing else. */
    private static void assertExactlyOnce(Collection<Got> got, int partitions, int perPartition) {
        Map<String, List<Got>> byKey = got.stream().collect(Collectors.groupingBy(Got::key, TreeMap::new, Collectors.toList()));
        List<String> dups = byKey.entrySet().stream().filter(e -> e.getValue().size() > 1)
                .map(e -> e.getKey() + " by " + e.getValue().stream().map(Got::member).toList()).toList();
        assertTrue(dups.isEmpty(), "records consumed more than once: " + dups);
        Set<String> want = new TreeSet<>();
        for (int p = 0; p < partitions; p++) {
            for (int o = 0; o < perPartition; o++) {
                want.add(p + "@" + o);
            }
        }
        Set<String> missing = new TreeSet<>(want);
        missing.removeAll(byKey.keySet());
        Set<String> extra = new TreeSet<>(byKey.keySet());
        extra.removeAll(want);
        assertTrue(missing.isEmpty(), "records never consumed: " + missing);
        assertTrue(extra.isEmpty(), "unexpected records: " + extra);
        for (Got g : got) {
            assertEquals("v-" + g.partition() + "-" + g.offset(), g.value(), "value at " + g.key());
        }
    }

    private static void assertHealthy(List<Member> members) {
        for (Member m : members) {
            m.assertHealthy();
            assertTrue(m.unexpectedCommitErrors().isEmpty(), m.name + ": commit errors " + m.unexpectedCommitErrors());
            assertEquals(0, m.lostCalls.get(), m.name + ": onPartitionsLost was called");
        }
    }

    private static void closeAll(List<Member> members) throws Exception {
        Exception first = null;
        for (Member m : members) {
            try {
                m.close();
            } catch (Exception | AssertionError e) {
                if (first == null) {
                    first = new Exception(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private static ConsumerGroupDescription describe(String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(30, TimeUnit.SECONDS);
    }

    private static Map<TopicPartition, OffsetAndMetadata> groupOffsets(String group) throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
    }

    private static Map<Integer, Long> offsetsByPartition(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<Integer, Long> out = new TreeMap<>();
        m.forEach((tp, om) -> out.put(tp.partition(), om == null ? null : om.offset()));
        return out;
    }

    private static Set<String> listGroups(ListConsumerGroupsOptions opts) throws Exception {
        Collection<ConsumerGroupListing> l = admin.listConsumerGroups(opts).all().get(30, TimeUnit.SECONDS);
        return l.stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
    }

    // ---- (a) ----

    /** group.protocol: the classic rebalance protocol, and KIP-848's (ConsumerGroupHeartbeat). */
    private static Map<String, Object> protocol(String name) {
        return Map.of("group.protocol", name);
    }

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void threeMembersSplitSixPartitionsAndConsumeEachRecordOnce(String groupProtocol, TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        String group = groupName(info);
        createTopic(topic, 6, null);
        Collection<Got> got = new ConcurrentLinkedQueue<>();
        List<Member> ms = new ArrayList<>();
        try {
            for (String n : List.of("a", "b", "c")) {
                ms.add(new Member(n, group, topic, got, protocol(groupProtocol)));
            }
            waitUntil("3 members own 2 partitions each, 6 in all, no overlap",
                    () -> coversExactly(ms, 6) && ms.stream().allMatch(m -> m.owned.size() == 2),
                    () -> state(ms, got));

            produce(topic, 6, 0, 50);
            waitUntil("300 records consumed", () -> got.size() >= 300, () -> state(ms, got));

            // Each member reads only its own partitions; committed offsets are 50 for each of them.
            for (Member m : ms) {
                Set<TopicPartition> mine = m.owned.stream().map(p -> new TopicPartition(topic, p))
                        .collect(Collectors.toSet());
                Map<TopicPartition, OffsetAndMetadata> committed = m.call(c -> c.committed(mine));
                assertEquals(2, committed.size(), m.name + " committed " + committed);
                committed.forEach((tp, om) -> {
                    assertNotNull(om, m.name + ": no committed offset for " + tp);
                    assertEquals(50, om.offset(), m.name + ": committed offset of " + tp);
                });
                for (Got g : got) {
                    if (g.member().equals(m.name)) {
                        assertTrue(m.owned.contains(g.partition()),
                                m.name + " consumed partition " + g.partition() + " it does not own " + m.owned);
                    }
                }
            }
            // commitSync with an explicit offset and metadata, read back through the consumer and the admin.
            Member a = ms.get(0);
            TopicPartition tp = new TopicPartition(topic, a.owned.iterator().next());
            a.call(c -> {
                c.commitSync(Map.of(tp, new OffsetAndMetadata(50, "meta-" + group)), Duration.ofSeconds(20));
                return null;
            });
            OffsetAndMetadata back = a.call(c -> c.committed(Set.of(tp))).get(tp);
            assertEquals(50, back.offset());
            assertEquals("meta-" + group, back.metadata());
            assertEquals("meta-" + group, groupOffsets(group).get(tp).metadata());

            assertEquals(300, got.size(), "nothing consumed twice: " + state(ms, got));
            assertExactlyOnce(got, 6, 50);
            assertHealthy(ms);

            // The admin sees the three members and what each owns, whichever the protocol.
            ConsumerGroupDescription d = describe(group);
            assertEquals(3, d.members().size(), d.toString());
            Set<Integer> described = new TreeSet<>();
            for (MemberDescription md : d.members()) {
                md.assignment().topicPartitions().forEach(p -> assertTrue(described.add(p.partition()), d.toString()));
            }
            assertEquals(Set.of(0, 1, 2, 3, 4, 5), described, d.toString());
        } finally {
            closeAll(ms);
        }
    }

    // ---- (b) ----

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void closedMemberHandsItsPartitionsToTheOthers(String groupProtocol, TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        String group = groupName(info);
        createTopic(topic, 6, null);
        Collection<Got> got = new ConcurrentLinkedQueue<>();
        List<Member> ms = new ArrayList<>();
        try {
            for (String n : List.of("a", "b", "c")) {
                ms.add(new Member(n, group, topic, got, protocol(groupProtocol)));
            }
            waitUntil("3 members own 2 partitions each", () -> coversExactly(ms, 6)
                    && ms.stream().allMatch(m -> m.owned.size() == 2), () -> state(ms, got));
            produce(topic, 6, 0, 50);
            waitUntil("first 300 records consumed", () -> got.size() >= 300, () -> state(ms, got));

            Member c = ms.get(2);
            Set<Integer> cParts = Set.copyOf(c.owned);
            // Records keep arriving while c leaves: whatever c read it committed; a and b go on from there.
            produce(topic, 6, 50, 50);
            c.close(); // dynamic member: LeaveGroup
            c.assertHealthy();
            // And more after c is gone: these can only be read by a and b.
            produce(topic, 6, 100, 50);
            List<Member> rest = ms.subList(0, 2);
            waitUntil("a and b own 3 partitions each, c's included",
                    () -> coversExactly(rest, 6) && rest.stream().allMatch(m -> m.owned.size() == 3),
                    () -> state(ms, got));
            waitUntil("all 900 records consumed", () -> got.size() >= 900, () -> state(ms, got));

            // One more loop iteration of each remaining member, then nothing beyond the 900 may show up.
            for (Member m : rest) {
                m.call(k -> k.assignment());
            }
            assertEquals(900, got.size(), "nothing lost or consumed twice: " + state(ms, got));
            assertExactlyOnce(got, 6, 150);
            long takenOver = got.stream().filter(g -> cParts.contains(g.partition()) && !g.member().equals("c")).count();
            long byC = got.stream().filter(g -> g.member().equals("c")).count();
            assertEquals(300, takenOver + byC, "c's partitions: read by c, then by a/b");
            assertTrue(takenOver >= 100, "a/b went on reading c's partitions " + cParts + ": " + takenOver);
            for (Got g : got) {
                if (g.member().equals("c")) {
                    assertTrue(cParts.contains(g.partition()), "c read only its own partitions");
                }
            }
            Map<Integer, Long> committed = offsetsByPartition(groupOffsets(group));
            for (int p = 0; p < 6; p++) {
                assertEquals(150L, committed.get(p), "committed offset of partition " + p + ": " + committed);
            }
            assertHealthy(ms);
        } finally {
            closeAll(ms);
        }
    }

    // ---- (c) ----

    @Test
    void adminListDescribeOffsetsAlterDelete(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        String group = groupName(info);
        createTopic(topic, 3, null);
        produce(topic, 3, 0, 10);
        Collection<Got> got = new ConcurrentLinkedQueue<>();
        List<Member> ms = new ArrayList<>();
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        TopicPartition p2 = new TopicPartition(topic, 2);
        try {
            ms.add(new Member("a", group, topic, got, Map.of()));
            ms.add(new Member("b", group, topic, got, Map.of()));
            waitUntil("2 members share 3 partitions", () -> coversExactly(ms, 3)
                    && ms.stream().noneMatch(m -> m.owned.isEmpty()), () -> state(ms, got));
            waitUntil("30 records consumed", () -> got.size() >= 30, () -> state(ms, got));
            waitUntil("committed offsets 10/10/10",
                    () -> {
                        try {
                            return offsetsByPartition(groupOffsets(group)).equals(Map.of(0, 10L, 1, 10L, 2, 10L));
                        } catch (Exception e) {
                            return false;
                        }
                    }, () -> state(ms, got));

            // ListGroups, with and without a state filter.
            Collection<ConsumerGroupListing> all = admin.listConsumerGroups().all().get(30, TimeUnit.SECONDS);
            ConsumerGroupListing listing = all.stream().filter(l -> l.groupId().equals(group)).findFirst()
                    .orElseThrow(() -> new AssertionError(group + " not in listConsumerGroups: " + all));
            assertFalse(listing.isSimpleConsumerGroup());
            assertEquals(java.util.Optional.of(ConsumerGroupState.STABLE), listing.state());
            assertTrue(listGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.STABLE)))
                    .contains(group), "STABLE filter lists the group");
            assertFalse(listGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.EMPTY)))
                    .contains(group), "EMPTY filter does not list a stable group");

            // DescribeGroups: members, their assignments, state, assignor, coordinator.
            ConsumerGroupDescription d = describe(group);
            assertEquals(group, d.groupId());
            assertEquals(ConsumerGroupState.STABLE, d.state());
            assertFalse(d.isSimpleConsumerGroup());
            assertEquals("range", d.partitionAssignor());
            assertEquals(1, d.coordinator().id());
            assertEquals(2, d.members().size(), "members " + d.members());
            Set<TopicPartition> described = new HashSet<>();
            for (MemberDescription md : d.members()) {
                assertFalse(md.consumerId().isEmpty(), "member id");
                assertFalse(md.host().isEmpty(), "member host");
                assertTrue(md.groupInstanceId().isEmpty(), "dynamic member has no instance id");
                Member m = ms.stream().filter(x -> x.name.equals(md.clientId())).findFirst()
                        .orElseThrow(() -> new AssertionError("unknown client id " + md.clientId()));
                Set<Integer> parts = md.assignment().topicPartitions().stream().map(TopicPartition::partition)
                        .collect(Collectors.toSet());
                assertEquals(m.owned, parts, "described assignment of " + m.name);
                described.addAll(md.assignment().topicPartitions());
            }
            assertEquals(Set.of(p0, p1, p2), described);

            // OffsetFetch through the admin.
            assertEquals(Map.of(0, 10L, 1, 10L, 2, 10L), offsetsByPartition(groupOffsets(group)));

            // Active group: DeleteGroups -> GROUP_NOT_EMPTY, OffsetDelete -> GROUP_SUBSCRIBED_TO_TOPIC,
            // admin OffsetCommit (no member id) -> UNKNOWN_MEMBER_ID.
            ExecutionException e1 = assertThrows(ExecutionException.class,
                    () -> admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(GroupNotEmptyException.class, e1.getCause());
            ExecutionException e2 = assertThrows(ExecutionException.class,
                    () -> admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(GroupSubscribedToTopicException.class, e2.getCause());
            ExecutionException e3 = assertThrows(ExecutionException.class,
                    () -> admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(1)))
                            .all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(UnknownMemberIdException.class, e3.getCause());
            assertEquals(Map.of(0, 10L, 1, 10L, 2, 10L), offsetsByPartition(groupOffsets(group)),
                    "refused requests changed nothing");

            assertHealthy(ms);
            closeAll(ms);
            waitUntil("group EMPTY after both members left", () -> {
                try {
                    ConsumerGroupDescription x = describe(group);
                    return x.state() == ConsumerGroupState.EMPTY && x.members().isEmpty();
                } catch (Exception e) {
                    return false;
                }
            }, () -> "describe: " + safeDescribe(group));
            assertTrue(listGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.EMPTY)))
                    .contains(group), "EMPTY filter lists the group");
            assertFalse(listGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.STABLE)))
                    .contains(group), "STABLE filter no longer lists it");

            // Empty group: AlterConsumerGroupOffsets, then a new member resumes from there.
            admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(7)))
                    .all().get(30, TimeUnit.SECONDS);
            assertEquals(Map.of(0, 3L, 1, 7L, 2, 10L), offsetsByPartition(groupOffsets(group)));
            Collection<Got> got2 = new ConcurrentLinkedQueue<>();
            List<Member> ms2 = List.of(new Member("resumer", group, topic, got2, Map.of()));
            try {
                waitUntil("resumer reads p0 from 3 and p1 from 7", () -> got2.size() >= 10, () -> state(ms2, got2));
                ms2.get(0).call(k -> k.assignment());
                Map<Integer, List<Long>> byPart = new TreeMap<>();
                got2.forEach(g -> byPart.computeIfAbsent(g.partition(), k -> new ArrayList<>()).add(g.offset()));
                assertEquals(Map.of(0, List.of(3L, 4L, 5L, 6L, 7L, 8L, 9L), 1, List.of(7L, 8L, 9L)), byPart,
                        "resumed at the altered offsets; partition 2 (committed 10 = end) has nothing");
                assertHealthy(ms2);
            } finally {
                closeAll(ms2);
            }
            waitUntil("group EMPTY again", () -> {
                try {
                    return describe(group).state() == ConsumerGroupState.EMPTY;
                } catch (Exception e) {
                    return false;
                }
            }, () -> "describe: " + safeDescribe(group));

            // OffsetDelete on the empty group.
            admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get(30, TimeUnit.SECONDS);
            Map<Integer, Long> left = offsetsByPartition(groupOffsets(group));
            assertEquals(Map.of(0, 10L, 2, 10L), left, "p1's offset deleted, the others kept");

            // DeleteGroups on the empty group.
            admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS);
            assertFalse(listGroups(new ListConsumerGroupsOptions()).contains(group), "deleted group still listed");
            assertTrue(groupOffsets(group).isEmpty(), "deleted group still has offsets");
        } finally {
            closeAll(ms);
        }
    }

    private static String safeDescribe(String group) {
        try {
            return describe(group).toString();
        } catch (Exception e) {
            return e.toString();
        }
    }

    // ---- (d) ----

    /**
     * Static membership (KIP-345): a member with group.instance.id that closes does not send LeaveGroup;
     * restarted with the same instance id within session.timeout.ms it gets its partitions back and the
     * other member is not rebalanced. {@code restartLeader} picks which of the two restarts (the first
     * member to join is the leader).
     */
    @Test
    void staticMemberRestartDoesNotRebalanceTheOther(TestInfo info) throws Exception {
        staticRestart("follower", info);
    }

    /**
     * The same, restarting a static member whose latest JoinGroup was not its first one: the leader
     * (it rejoined when the second member came) or a follower after one more rebalance. The Java
     * client's subscription (ConsumerProtocolSubscription v2+) embeds the member's last generation
     * id, which a restarted consumer sends as -1, so the metadata bytes differ; as in Kafka, only a
     * change of the group's selected protocol may rebalance.
     */
    @ParameterizedTest(name = "restart={0}")
    @ValueSource(strings = {"leader", "follower-after-second-generation"})
    void staticMemberRestartAfterARejoinDoesNotRebalanceTheOther(String scenario, TestInfo info) throws Exception {
        staticRestart(scenario, info);
    }

    private void staticRestart(String scenario, TestInfo info) throws Exception {
        boolean restartLeader = scenario.equals("leader");
        String topic = uniqueTopic(info) + "-" + scenario;
        String group = groupName(info);
        createTopic(topic, 4, null);
        Collection<Got> got = new ConcurrentLinkedQueue<>();
        List<Member> ms = new ArrayList<>();
        Map<String, Object> common = Map.of(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000);
        Map<String, Object> cfgA = new HashMap<>(common);
        cfgA.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-a");
        Map<String, Object> cfgB = new HashMap<>(common);
        cfgB.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-b");
        try {
            Member a = new Member("a", group, topic, got, cfgA);
            ms.add(a);
            waitUntil("a alone owns all 4 partitions", () -> a.owned.size() == 4, () -> state(ms, got));
            Member b = new Member("b", group, topic, got, cfgB);
            ms.add(b);
            waitUntil("a and b own 2 partitions each", () -> coversExactly(ms, 4)
                    && ms.stream().allMatch(m -> m.owned.size() == 2), () -> state(ms, got));
            produce(topic, 4, 0, 10);
            waitUntil("40 records consumed", () -> got.size() >= 40, () -> state(ms, got));

            ConsumerGroupDescription d = describe(group);
            assertEquals(ConsumerGroupState.STABLE, d.state());
            Map<String, String> idByInstance = new HashMap<>();
            d.members().forEach(md -> idByInstance.put(md.groupInstanceId().orElse("?"), md.consumerId()));
            assertEquals(Set.of("static-a", "static-b"), idByInstance.keySet(), "instance ids in " + d.members());

            if (scenario.equals("follower-after-second-generation")) {
                // A dynamic member joins and leaves: a and b rejoin twice, so their latest JoinGroup
                // subscriptions carry a generation (ConsumerProtocolSubscription v2+) unlike a fresh member's.
                Member c = new Member("c", group, topic, got, Map.of());
                ms.add(c);
                waitUntil("a, b and c share the 4 partitions", () -> coversExactly(ms, 4)
                        && ms.stream().noneMatch(m -> m.owned.isEmpty()), () -> state(ms, got));
                c.close();
                ms.remove(c);
                c.assertHealthy();
                waitUntil("a and b own 2 partitions each again", () -> coversExactly(ms, 4)
                        && ms.stream().allMatch(m -> m.owned.size() == 2), () -> state(ms, got));
            }

            Member stays = restartLeader ? b : a;
            Member goes = restartLeader ? a : b;
            String goesInstance = restartLeader ? "static-a" : "static-b";
            Set<Integer> goesParts = Set.copyOf(goes.owned);
            int staysAssigned = stays.assignedCalls.get();
            int staysRevoked = stays.revokedCalls.get();
            Set<Integer> staysParts = Set.copyOf(stays.owned);

            goes.close(); // static member: no LeaveGroup
            goes.assertHealthy();
            ConsumerGroupDescription during = describe(group);
            assertEquals(2, during.members().size(),
                    "the closed static member stays in the group until its session times out: " + during.members());
            assertEquals(ConsumerGroupState.STABLE, during.state(), "no rebalance after a static member closed");

            Member back = new Member(goes.name + "2", group, topic, got, restartLeader ? cfgA : cfgB);
            ms.add(back);
            waitUntil("restarted member owns its old partitions again",
                    () -> back.assignedCalls.get() > 0 && !back.owned.isEmpty(), () -> state(ms, got));
            assertEquals(goesParts, back.owned, "restarted static member got its old partitions");

            produce(topic, 4, 10, 10);
            waitUntil("80 records consumed", () -> got.size() >= 80, () -> state(ms, got));
            stays.call(k -> k.assignment());
            back.call(k -> k.assignment());
            assertTrue(got.stream().anyMatch(g -> g.member().equals(stays.name) && g.offset() >= 10),
                    "the staying member read records produced after the restart");
            assertEquals(80, got.size(), "nothing consumed twice: " + state(ms, got));
            assertExactlyOnce(got, 4, 20);

            assertEquals(staysAssigned, stays.assignedCalls.get(),
                    "onPartitionsAssigned calls of the member that stayed (a rebalance happened): " + state(ms, got));
            assertEquals(staysRevoked, stays.revokedCalls.get(), "onPartitionsRevoked calls of the member that stayed");
            assertEquals(staysParts, stays.owned);

            ConsumerGroupDescription after = describe(group);
            assertEquals(ConsumerGroupState.STABLE, after.state());
            assertEquals(2, after.members().size(), "members " + after.members());
            MemberDescription restarted = after.members().stream()
                    .filter(md -> md.groupInstanceId().equals(java.util.Optional.of(goesInstance))).findFirst()
                    .orElseThrow();
            assertNotEquals(idByInstance.get(goesInstance), restarted.consumerId(), "restarted member has a new member id");
            assertEquals(goesParts, restarted.assignment().topicPartitions().stream()
                    .map(TopicPartition::partition).collect(Collectors.toSet()));
            assertHealthy(ms);
        } finally {
            closeAll(ms);
        }
    }

    // ---- (e) ----

    @Test
    void cooperativeStickyAssignorWithTwoMembers(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        String group = groupName(info);
        createTopic(topic, 4, null);
        Collection<Got> got = new ConcurrentLinkedQueue<>();
        List<Member> ms = new ArrayList<>();
        Map<String, Object> coop = Map.of(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                CooperativeStickyAssignor.class.getName());
        try {
            Member a = new Member("a", group, topic, got, coop);
            ms.add(a);
            waitUntil("a alone owns all 4 partitions", () -> a.owned.size() == 4, () -> state(ms, got));
            produce(topic, 4, 0, 25);
            waitUntil("first 100 records consumed", () -> got.size() >= 100, () -> state(ms, got));

            Member b = new Member("b", group, topic, got, coop);
            ms.add(b);
            produce(topic, 4, 25, 25); // records keep coming while the partitions move
            waitUntil("a and b own 2 partitions each", () -> coversExactly(ms, 4)
                    && ms.stream().allMatch(m -> m.owned.size() == 2), () -> state(ms, got));
            waitUntil("all 200 records consumed", () -> got.size() >= 200, () -> state(ms, got));
            a.call(k -> k.assignment());
            b.call(k -> k.assignment());
            assertEquals(200, got.size(), "nothing consumed twice: " + state(ms, got));
            assertExactlyOnce(got, 4, 50);

            // Incremental: a gave up exactly the partitions b now owns, and never the ones it kept.
            Set<Integer> revoked = new TreeSet<>();
            synchronized (a.revokedHistory) {
                a.revokedHistory.forEach(revoked::addAll);
            }
            assertEquals(b.owned, revoked, "a revoked only what moved to b; history " + a.revokedHistory);
            assertTrue(a.assignedCalls.get() >= 2, "a saw the initial and the incremental assignment");
            for (Got g : got) {
                if (g.member().equals("b")) {
                    assertTrue(b.owned.contains(g.partition()));
                }
            }
            ConsumerGroupDescription d = describe(group);
            assertEquals(ConsumerGroupState.STABLE, d.state());
            assertEquals("cooperative-sticky", d.partitionAssignor());
            assertEquals(2, d.members().size());
            assertHealthy(ms);
        } finally {
            closeAll(ms);
        }
    }
}
