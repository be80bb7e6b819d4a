package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The Java producer with its default configuration: since Kafka 3.0 that means
 * enable.idempotence=true and acks=all, so it starts with InitProducerId and sends sequenced
 * batches.
 */
class IdempotentProducerTest extends BrokerTestBase {

    @Test
    void defaultProducerConfigDeliversEveryRecordOnce() throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = "java-default-producer";
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < 2000; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, 0, ("k" + i).getBytes(StandardCharsets.UTF_8),
                        ("v" + i).getBytes(StandardCharsets.UTF_8))));
            }
            producer.flush();
            for (int i = 0; i < sent.size(); i++) {
                assertEquals(i, sent.get(i).get().offset());
            }
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(new TopicPartition(topic, 0), 0, 2000);
        assertEquals(2000, got.size(), "exactly once each");
        for (int i = 0; i < got.size(); i++) {
            assertArrayEquals(("v" + i).getBytes(StandardCharsets.UTF_8), got.get(i).value());
        }
    }
}
