package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Large fetches: Weir sends records from the page cache with sendfile between encoded parts of
 * the response. The Java client (which checks every batch's CRC) must read every byte back, from
 * large batches and from many one-record batches, with a partition limit that cuts inside the log.
 */
class LargeFetchTest extends BrokerTestBase {

    private static final int BIG = 600;
    private static final int SMALL = 1500;

    private static byte[] value(int partition, int i) {
        int size = i < BIG ? 4096 + (i * 37) % 8192 : 100;
        String seed = "p" + partition + "-r" + i + ":" + Long.toHexString(i * 2654435761L);
        return seed.repeat(size / seed.length() + 1).substring(0, size).getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void largeFetchesAreByteExact(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 2, null);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.LINGER_MS_CONFIG, 20,
                ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20))) {
            for (int i = 0; i < BIG; i++) {
                for (int part = 0; part < 2; part++) {
                    p.send(new ProducerRecord<>(topic, part, null, value(part, i)));
                }
            }
            p.flush();
        }
        // One record per batch: many batches between index entries.
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, 0))) {
            for (int i = BIG; i < BIG + SMALL; i++) {
                for (int part = 0; part < 2; part++) {
                    p.send(new ProducerRecord<>(topic, part, null, value(part, i))).get(30, TimeUnit.SECONDS);
                }
            }
        }
        for (int part = 0; part < 2; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            List<ConsumerRecord<byte[], byte[]>> recs = consume(tp, 0, BIG + SMALL,
                    Map.of(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 150_000));
            assertEquals(BIG + SMALL, recs.size(), "records of " + tp);
            assertOffsets(recs, 0);
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                assertArrayEquals(value(part, (int) r.offset()), r.value(), tp + " offset " + r.offset());
            }
        }
    }
}
