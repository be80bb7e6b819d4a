package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Produce (v per client negotiation) + Fetch round trips, all codecs, keys, headers, null values. */
class ProduceConsumeTest extends BrokerTestBase {

    private static byte[] b(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    private static String s(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    @ParameterizedTest(name = "compression.type={0}")
    @ValueSource(strings = {"none", "gzip", "snappy", "lz4", "zstd"})
    void roundTripWithCompression(String codec, TestInfo info) throws Exception {
        String topic = uniqueTopic(info) + "-" + codec;
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);

        final int n = 50;
        List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String key = (i % 10 == 3) ? null : "key-" + i;                 // some null keys
            String value = (i % 7 == 0) ? null : ("value-" + i + "-").repeat(1 + i % 5); // some null values (tombstones)
            RecordHeaders headers = new RecordHeaders();
            headers.add(new RecordHeader("idx", b(Integer.toString(i))));
            if (i % 2 == 0) {
                headers.add(new RecordHeader("even", b("yes")));
                headers.add(new RecordHeader("dup", b("first")));
                headers.add(new RecordHeader("dup", b("second")));  // duplicate header keys keep order
            }
            if (i % 5 == 0) {
                headers.add(new RecordHeader("null-header", (byte[]) null));
            }
            sent.add(new ProducerRecord<>(topic, 0, null, b(key), b(value), headers));
        }

        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 20,
                ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024))) {
            for (ProducerRecord<byte[], byte[]> r : sent) {
                futures.add(p.send(r));
            }
            p.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata md = futures.get(i).get(30, TimeUnit.SECONDS);
                assertEquals(topic, md.topic());
                assertEquals(0, md.partition());
                assertEquals(i, md.offset(), "producer-reported offset of record " + i);
            }
        }

        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, n);
        assertEquals(n, got.size(), "record count (no duplicates, nothing extra)");
        assertOffsets(got, 0);
        for (int i = 0; i < n; i++) {
            ProducerRecord<byte[], byte[]> exp = sent.get(i);
            ConsumerRecord<byte[], byte[]> act = got.get(i);
            assertEquals(s(exp.key()), s(act.key()), "key of record " + i);
            if (exp.value() == null) {
                assertNull(act.value(), "null value of record " + i);
            } else {
                assertArrayEquals(exp.value(), act.value(), "value of record " + i);
            }
            Header[] eh = exp.headers().toArray();
            Header[] ah = act.headers().toArray();
            assertEquals(eh.length, ah.length, "header count of record " + i);
            for (int h = 0; h < eh.length; h++) {
                assertEquals(eh[h].key(), ah[h].key(), "header key " + h + " of record " + i);
                assertArrayEquals(eh[h].value(), ah[h].value(), "header value " + h + " of record " + i);
            }
            assertTrue(act.timestamp() > 0, "CreateTime timestamp is set");
        }
    }

    @Test
    void acksAllAndAcksZero(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.ACKS_CONFIG, "all"))) {
            for (int i = 0; i < 5; i++) {
                RecordMetadata md = p.send(new ProducerRecord<>(topic, 0, b("k" + i), b("all-" + i)))
                        .get(30, TimeUnit.SECONDS);
                assertEquals(i, md.offset());
            }
        }
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.ACKS_CONFIG, "0"))) {
            for (int i = 5; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, 0, b("k" + i), b("zero-" + i))).get(30, TimeUnit.SECONDS);
            }
            p.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, 10);
        assertEquals(10, got.size());
        assertOffsets(got, 0);
        for (int i = 0; i < 10; i++) {
            assertEquals((i < 5 ? "all-" : "zero-") + i, s(got.get(i).value()));
        }
    }

    @Test
    void multiPartitionProduceByKeyAndSeekMiddle(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 3, null);
        int[] perPartition = new int[3];
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < 30; i++) {
                int part = i % 3;
                RecordMetadata md = p.send(new ProducerRecord<>(topic, part, b("k" + i), b("v" + i)))
                        .get(30, TimeUnit.SECONDS);
                assertEquals(part, md.partition());
                assertEquals(perPartition[part]++, md.offset());
            }
        }
        for (int part = 0; part < 3; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 4, 6);
            assertEquals(6, got.size(), "records from offset 4 on partition " + part);
            assertOffsets(got, 4);
            for (int j = 0; j < 6; j++) {
                int i = (4 + j) * 3 + part;
                assertEquals("v" + i, s(got.get(j).value()));
                assertEquals(part, got.get(j).partition());
            }
        }
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                    new TopicPartition(topic, 2));
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
            for (TopicPartition tp : tps) {
                assertEquals(10L, end.get(tp), "end offset " + tp);
                assertEquals(0L, begin.get(tp), "beginning offset " + tp);
            }
        }
    }

    @Test
    void autoCreateTopicOnProduce(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            RecordMetadata md = p.send(new ProducerRecord<>(topic, b("k"), b("auto"))).get(30, TimeUnit.SECONDS);
            assertEquals(0, md.partition(), "default --num-partitions is 1");
            assertEquals(0, md.offset());
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(new TopicPartition(topic, 0), 0, 1);
        assertEquals("auto", s(got.get(0).value()));
        assertNotNull(admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic));
    }

    @Test
    void fetchMakesProgressWithTinyFetchMaxBytes(TestInfo info) throws Exception {
        // KIP-74: even when the first batch is larger than fetch.max.bytes / max.partition.fetch.bytes,
        // the broker returns it so the consumer can make progress.
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        byte[] payload = new byte[2048];
        java.util.Arrays.fill(payload, (byte) 'x');
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < 10; i++) {
                payload[0] = (byte) ('0' + i);
                p.send(new ProducerRecord<>(topic, 0, null, payload.clone())).get(30, TimeUnit.SECONDS);
            }
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, 10, Map.of(
                "fetch.max.bytes", 1, "max.partition.fetch.bytes", 1));
        assertEquals(10, got.size());
        assertOffsets(got, 0);
        for (int i = 0; i < 10; i++) {
            assertEquals(2048, got.get(i).value().length);
            assertEquals((byte) ('0' + i), got.get(i).value()[0]);
        }
    }

    @Test
    void manyRecordsAcrossManyFetches(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        final int n = 5000;
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4",
                ProducerConfig.BATCH_SIZE_CONFIG, 16 * 1024))) {
            for (int i = 0; i < n; i++) {
                p.send(new ProducerRecord<>(topic, 0, b("k" + i), b("record-" + i + "-" + "y".repeat(i % 100))));
            }
            p.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, n, Map.of(
                "max.partition.fetch.bytes", 32 * 1024, "max.poll.records", 250));
        assertEquals(n, got.size());
        assertOffsets(got, 0);
        for (int i = 0; i < n; i++) {
            assertEquals("k" + i, s(got.get(i).key()));
            assertEquals("record-" + i + "-" + "y".repeat(i % 100), s(got.get(i).value()));
        }
    }
}
