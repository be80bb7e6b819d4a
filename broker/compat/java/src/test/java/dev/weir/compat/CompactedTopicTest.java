package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.InvalidRecordException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** cleanup.policy=compact as the Java client sees it. */
@BrokerTestBase.BrokerFlags({"--log-cleaner-backoff-ms", "200"})
class CompactedTopicTest extends BrokerTestBase {

    private static final Map<String, String> COMPACT = Map.of(
            "cleanup.policy", "compact",
            "segment.bytes", "4096",
            "min.cleanable.dirty.ratio", "0.01");

    private static String s(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** Every record from the log start to the end offset. */
    private static List<ConsumerRecord<byte[], byte[]>> readAll(TopicPartition tp) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (c.position(tp) < end && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(500)).records(tp).forEach(out::add);
            }
            if (c.position(tp) < end) {
                fail("read up to " + c.position(tp) + " of " + end + " within 30s");
            }
        }
        return out;
    }

    @Test
    void eachKeyKeepsItsLatestValueAtItsOffset(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, COMPACT);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<Long, String[]> written = new HashMap<>();
        Map<String, String> latest = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.ACKS_CONFIG, "all"))) {
            for (int round = 0; round < 40; round++) {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (int k = 0; k < 10; k++) {
                    String key = "k" + k;
                    String value = "r" + round + "-" + key + "-" + "x".repeat(40);
                    sent.add(p.send(new ProducerRecord<>(topic, 0, key.getBytes(StandardCharsets.UTF_8),
                            value.getBytes(StandardCharsets.UTF_8))));
                    latest.put(key, value);
                }
                // One batch per round, so that segments fill and close.
                p.flush();
                for (int k = 0; k < 10; k++) {
                    long off = sent.get(k).get(30, TimeUnit.SECONDS).offset();
                    String key = "k" + k;
                    written.put(off, new String[] {key, "r" + round + "-" + key + "-" + "x".repeat(40)});
                }
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        List<ConsumerRecord<byte[], byte[]>> got = readAll(tp);
        while (got.size() >= written.size() / 3 && System.nanoTime() < deadline) {
            Thread.sleep(300);
            got = readAll(tp);
        }
        assertTrue(got.size() < written.size() / 3, "compaction removed superseded records: " + got.size());
        long prev = -1;
        Map<String, String> readLatest = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            assertTrue(r.offset() > prev, "offsets increase");
            prev = r.offset();
            String[] kv = written.get(r.offset());
            assertEquals(kv[0], s(r.key()), "key at " + r.offset());
            assertEquals(kv[1], s(r.value()), "value at " + r.offset());
            readLatest.put(s(r.key()), s(r.value()));
        }
        assertEquals(latest, readLatest, "every key's latest value survives");
        assertEquals(0L, admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.earliest()))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset(), "the log start stays");
        assertEquals((long) written.size(), admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latest()))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset(), "the log end stays");
    }

    @Test
    void aKeylessRecordIsRefused(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, COMPACT);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.RETRIES_CONFIG, 0))) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, 0, null, "no key".getBytes())).get(30, TimeUnit.SECONDS));
            assertInstanceOf(InvalidRecordException.class, e.getCause(), "cause: " + e.getCause());
            assertEquals(0, p.send(new ProducerRecord<>(topic, 0, "k".getBytes(), "v".getBytes()))
                    .get(30, TimeUnit.SECONDS).offset(), "the refused record took no offset");
        }
    }
}
