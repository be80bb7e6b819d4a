package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.InvalidRecordException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * A WebAssembly plugin on the produce path (the `rejecter` test plugin, built by
 * scripts/build-plugins.sh): the Java producer gets InvalidRecordException with the plugin's
 * reason, and only good records are stored.
 */
class PluginRejectionTest extends BrokerTestBase {

    private static Path plugin(String name) {
        String dir = System.getenv().getOrDefault("WEIR_PLUGINS_DIR",
                System.getProperty("user.home") + "/.cache/weir/plugins");
        return Path.of(dir, name + ".wasm");
    }

    @Test
    void rejectedRecordFailsWithThePluginsReason(TestInfo info) throws Exception {
        Path wasm = plugin("rejecter");
        assertTrue(Files.exists(wasm), wasm + " is missing: run scripts/build-plugins.sh");
        HttpResponse<String> deployed = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://" + broker.http() + "/v1/plugins/guard?version=1.0.0"))
                        .PUT(HttpRequest.BodyPublishers.ofFile(wasm)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(201, deployed.statusCode(), deployed.body());

        String topic = uniqueTopic(info);
        createTopic(topic, 1, Map.of("weir.plugins", "guard"));
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(
                ProducerConfig.LINGER_MS_CONFIG, 1,
                ProducerConfig.RETRIES_CONFIG, 0))) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, 0, null, "a bad one".getBytes()))
                            .get(30, TimeUnit.SECONDS));
            assertInstanceOf(InvalidRecordException.class, e.getCause(), "cause: " + e.getCause());
            String msg = e.getCause().getMessage();
            assertTrue(msg.contains("rejected by plugin 'guard': contains forbidden word \"bad\""), msg);

            assertEquals(0, p.send(new ProducerRecord<>(topic, 0, null, "fine".getBytes()))
                    .get(30, TimeUnit.SECONDS).offset());
        }
        List<ConsumerRecord<byte[], byte[]>> got = consume(tp, 0, 1);
        assertEquals(1, got.size());
        assertEquals("fine", new String(got.get(0).value()));
    }
}
