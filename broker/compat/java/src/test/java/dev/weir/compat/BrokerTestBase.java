package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.extension.ExtensionContext;

/** One fresh Weir broker (fresh data dir) per test class. */
@ExtendWith(BrokerTestBase.StderrOnFailure.class)
public abstract class BrokerTestBase {
    protected static WeirBroker broker;
    protected static Admin admin;

    /**
     * Extra {@code weir serve} flags for the broker of one test class, e.g.
     * {@code @BrokerFlags({"--group-initial-rebalance-delay-ms", "0"})}.
     */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.TYPE)
    @Inherited
    public @interface BrokerFlags {
        String[] value();
    }

    @BeforeAll
    static void startBroker(TestInfo info) throws Exception {
        String[] flags = info.getTestClass()
                .map(c -> c.getAnnotation(BrokerFlags.class))
                .map(BrokerFlags::value)
                .orElse(new String[0]);
        System.out.println("[weir] kafka-clients " + org.apache.kafka.common.utils.AppInfoParser.getVersion()
                + ", broker " + WeirBroker.binary() + (flags.length > 0 ? " " + String.join(" ", flags) : ""));
        broker = WeirBroker.start(flags);
        admin = Admin.create(adminProps());
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (admin != null) {
            admin.close(Duration.ofSeconds(10));
            admin = null;
        }
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }

    /** Prints the broker's stderr tail when a test fails, for bug reports. */
    public static class StderrOnFailure implements TestWatcher {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            if (broker != null) {
                System.err.println("[weir] " + context.getDisplayName() + " failed; broker stderr tail:\n"
                        + broker.stderrTail());
            }
        }
    }

    protected static Properties adminProps() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        return p;
    }

    protected static Properties producerProps() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
        p.put(ProducerConfig.ACKS_CONFIG, "1");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 20000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return p;
    }

    protected static KafkaProducer<byte[], byte[]> producer(Map<String, Object> overrides) {
        Properties p = producerProps();
        p.putAll(overrides);
        return new KafkaProducer<>(p);
    }

    protected static KafkaConsumer<byte[], byte[]> consumer() {
        return consumer(Map.of());
    }

    protected static KafkaConsumer<byte[], byte[]> consumer(Map<String, Object> overrides) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 500);
        // no group.id by default: assign() only; ConsumerGroupTest adds group.id and friends
        p.putAll(overrides);
        return new KafkaConsumer<>(p);
    }

    /** Reads exactly {@code expected} records from one partition, starting at {@code fromOffset}. */
    protected static List<ConsumerRecord<byte[], byte[]>> consume(TopicPartition tp, long fromOffset, int expected) {
        return consume(tp, fromOffset, expected, Map.of());
    }

    protected static List<ConsumerRecord<byte[], byte[]>> consume(TopicPartition tp, long fromOffset, int expected,
            Map<String, Object> consumerOverrides) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = consumer(consumerOverrides)) {
            c.assign(Collections.singletonList(tp));
            c.seek(tp, fromOffset);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (out.size() < expected && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                recs.records(tp).forEach(out::add);
            }
            if (out.size() < expected) {
                fail("consumed " + out.size() + " of " + expected + " records from " + tp + " within 30s");
            }
            // a short extra poll: nothing beyond what was produced may show up
            ConsumerRecords<byte[], byte[]> extra = c.poll(Duration.ofMillis(300));
            extra.records(tp).forEach(out::add);
        }
        return out;
    }

    protected static String uniqueTopic(TestInfo info) {
        String m = info.getTestMethod().map(java.lang.reflect.Method::getName).orElse("t");
        return "java-" + m + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    protected static void createTopic(String name, int partitions, Map<String, String> configs) throws Exception {
        NewTopic nt = new NewTopic(name, partitions, (short) 1);
        if (configs != null) {
            nt.configs(configs);
        }
        admin.createTopics(List.of(nt)).all().get(30, TimeUnit.SECONDS);
    }

    protected static void assertOffsets(List<ConsumerRecord<byte[], byte[]>> recs, long from) {
        for (int i = 0; i < recs.size(); i++) {
            assertEquals(from + i, recs.get(i).offset(), "offset of record #" + i);
        }
    }
}
