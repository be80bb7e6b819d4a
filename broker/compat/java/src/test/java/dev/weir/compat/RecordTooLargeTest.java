package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** Produce of a batch larger than the topic's max.message.bytes -> MESSAGE_TOO_LARGE. */
class RecordTooLargeTest extends BrokerTestBase {

    @Test
    void recordOverTopicMaxMessageBytesIsRejected(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, Map.of("max.message.bytes", "1024"));
        TopicPartition tp = new TopicPartition(topic, 0);
        byte[] big = new byte[4000];
        new Random(42).nextBytes(big); // incompressible, and compression is off anyway
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.BATCH_SIZE_CONFIG, 1024 * 1024,
                ProducerConfig.LINGER_MS_CONFIG, 1,
                ProducerConfig.COMPRESSION_TYPE_CONFIG, "none",
                ProducerConfig.RETRIES_CONFIG, 0))) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, 0, null, big)).get(30, TimeUnit.SECONDS));
            assertInstanceOf(RecordTooLargeException.class, e.getCause(), "cause: " + e.getCause());

            // a small record still goes through, at offset 0 (the big one was not appended)
            assertEquals(0, p.send(new ProducerRecord<>(topic, 0, null, "small".getBytes()))
                    .get(30, TimeUnit.SECONDS).offset());
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, 1);
        assertEquals(1, got.size(), "only the small record is stored");
        assertEquals("small", new String(got.get(0).value()));
    }
}
