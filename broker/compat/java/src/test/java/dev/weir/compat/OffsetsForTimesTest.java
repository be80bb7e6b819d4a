package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** ListOffsets by timestamp (consumer offsetsForTimes) with explicit CreateTime timestamps. */
class OffsetsForTimesTest extends BrokerTestBase {

    @Test
    void offsetsForTimesFindsFirstOffsetAtOrAfterTimestamp(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            long[] ts = {1000L, 2000L, 3000L};
            for (int i = 0; i < ts.length; i++) {
                // one send at a time so each record is its own batch
                p.send(new ProducerRecord<>(topic, 0, ts[i], ("k" + i).getBytes(), ("t" + ts[i]).getBytes()))
                        .get(30, TimeUnit.SECONDS);
            }
        }
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(Map.of(tp, 2000L));
            OffsetAndTimestamp o = r.get(tp);
            assertNotNull(o, "offsetsForTimes(2000) returned null");
            assertEquals(1, o.offset());
            assertEquals(2000L, o.timestamp());

            o = c.offsetsForTimes(Map.of(tp, 1500L)).get(tp);
            assertNotNull(o);
            assertEquals(1, o.offset(), "1500 -> first record with ts >= 1500");
            assertEquals(2000L, o.timestamp());

            o = c.offsetsForTimes(Map.of(tp, 0L)).get(tp);
            assertNotNull(o);
            assertEquals(0, o.offset());
            assertEquals(1000L, o.timestamp());

            o = c.offsetsForTimes(Map.of(tp, 3000L)).get(tp);
            assertNotNull(o);
            assertEquals(2, o.offset());

            assertNull(c.offsetsForTimes(Map.of(tp, 3001L)).get(tp), "no record at/after 3001");

            assertEquals(0L, c.beginningOffsets(List.of(tp)).get(tp));
            assertEquals(3L, c.endOffsets(List.of(tp)).get(tp));
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, 3);
        assertEquals(1000L, got.get(0).timestamp());
        assertEquals(2000L, got.get(1).timestamp());
        assertEquals(3000L, got.get(2).timestamp());
    }

    @Test
    void offsetsForTimesInsideOneBatch(TestInfo info) throws Exception {
        // the three records share one record batch (timestamps stored as deltas)
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of("linger.ms", 200))) {
            p.send(new ProducerRecord<>(topic, 0, 1000L, null, "a".getBytes()));
            p.send(new ProducerRecord<>(topic, 0, 2000L, null, "b".getBytes()));
            p.send(new ProducerRecord<>(topic, 0, 3000L, null, "c".getBytes()));
            p.flush();
        }
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            OffsetAndTimestamp o = c.offsetsForTimes(Map.of(tp, 2000L)).get(tp);
            assertNotNull(o);
            assertEquals(1, o.offset());
            assertEquals(2000L, o.timestamp());
        }
    }
}
