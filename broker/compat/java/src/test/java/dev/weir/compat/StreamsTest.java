package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A Kafka Streams word count against Weir: a repartition topic, a state store whose changelog
 * is a compacted topic Streams creates, consumer groups, and with exactly_once_v2 transactions
 * spanning the output, the changelog and the offsets.
 */
@BrokerTestBase.BrokerFlags({"--group-initial-rebalance-delay-ms", "0"})
class StreamsTest extends BrokerTestBase {

    @ParameterizedTest
    @ValueSource(strings = {"at_least_once", "exactly_once_v2"})
    void wordCountThroughARepartitionTopicAndAChangelog(String guarantee, TestInfo info) throws Exception {
        String base = uniqueTopic(info).replace("[", "").replace("]", "");
        String in = base + "-in";
        String out = base + "-out";
        createTopic(in, 2, null);
        createTopic(out, 2, null);
        String app = "wc-" + guarantee.replace('_', '-') + "-" + UUID.randomUUID().toString().substring(0, 8);

        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(v -> Arrays.asList(v.toLowerCase().split("\\W+")))
                .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(out, Produced.with(Serdes.String(), Serdes.Long()));

        Path state = Files.createTempDirectory("weir-streams");
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATE_DIR_CONFIG, state.toString());
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        List<String> lines = List.of("the quick brown fox", "jumps over the lazy dog", "The end of the story");
        Map<String, Long> expected = new TreeMap<>();
        for (String l : lines) {
            for (String w : l.toLowerCase().split("\\W+")) {
                expected.merge(w, 1L, Long::sum);
            }
        }

        try (KafkaStreams streams = new KafkaStreams(b.build(), p)) {
            streams.start();
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
                int i = 0;
                for (String l : lines) {
                    prod.send(new ProducerRecord<>(in, "line-" + (i++), l)).get(30, TimeUnit.SECONDS);
                }
            }

            Properties cp = new Properties();
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, app + "-reader");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
            Map<String, Long> counts = new TreeMap<>();
            try (KafkaConsumer<String, Long> c = new KafkaConsumer<>(cp)) {
                c.subscribe(List.of(out));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                while (!counts.equals(expected) && System.nanoTime() < deadline) {
                    c.poll(Duration.ofMillis(500)).forEach(r -> counts.put(r.key(), r.value()));
                }
            }
            assertEquals(expected, counts, "the word counts, with " + guarantee + "; streams state " + streams.state());
        }

        // The state store's changelog is a compacted topic Streams created on Weir.
        String changelog = app + "-counts-changelog";
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, changelog);
        String policy = admin.describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS)
                .get(r).get("cleanup.policy").value();
        assertEquals("compact", policy, changelog);
    }
}
