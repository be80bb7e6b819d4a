package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.UnacceptableCredentialException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The Java client's own SASL (PLAIN and SCRAM, its reference implementations) and TLS (the
 * JDK's, with a PEM trust store) against a broker on SASL_SSL, and its answer to a wrong
 * password.
 */
class SecurityTest {
    private static final String USER = "alice";
    private static final String PASSWORD = "alice-secret";
    private static Path pki;
    private static WeirBroker broker;

    private static void openssl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(pki.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("openssl " + String.join(" ", args) + ": " + out);
        }
    }

    @BeforeAll
    static void start() throws Exception {
        pki = Files.createTempDirectory("weir-java-pki-");
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=weir-test-ca");
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
                "-subj", "/CN=localhost");
        Files.writeString(pki.resolve("broker.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
        openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "broker.pem", "-days", "2", "-extfile", "broker.ext");
        broker = WeirBroker.start("--security-protocol", "SASL_SSL",
                "--sasl-users", USER + ":" + PASSWORD,
                "--tls-cert-file", pki.resolve("broker.pem").toString(),
                "--tls-key-file", pki.resolve("broker.key").toString());
    }

    @AfterAll
    static void stop() throws Exception {
        if (broker != null) {
            broker.close();
        }
    }

    private static Properties secured(String mechanism, String password) {
        return secured(mechanism, USER, password);
    }

    private static Properties secured(String mechanism, String user, String password) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
        p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, pki.resolve("ca.pem").toString());
        p.put(SaslConfigs.SASL_MECHANISM, mechanism);
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        p.put(SaslConfigs.SASL_JAAS_CONFIG, module + " required username=\"" + user + "\" password=\""
                + password + "\";");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
    void everyMechanismOverTls(String mechanism) throws Exception {
        String topic = "sec-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Admin.create(secured(mechanism, PASSWORD))) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        Properties pp = secured(mechanism, PASSWORD);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp)) {
            for (int i = 0; i < 50; i++) {
                p.send(new ProducerRecord<>(topic, ("v" + i).getBytes(StandardCharsets.UTF_8)));
            }
            p.flush();
        }
        Properties cp = secured(mechanism, PASSWORD);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "g-" + topic);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp)) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (got.size() < 50 && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    got.add(new String(r.value(), StandardCharsets.UTF_8));
                }
            }
            c.commitSync();
            assertEquals(50L, c.committed(java.util.Set.of(new TopicPartition(topic, 0)))
                    .get(new TopicPartition(topic, 0)).offset());
        }
        assertEquals(50, got.size());
        assertEquals("v0", got.get(0));
        assertEquals("v49", got.get(49));
    }

    @Test
    void aWrongPasswordIsASaslAuthenticationException() {
        for (String mechanism : List.of("PLAIN", "SCRAM-SHA-512")) {
            try (Admin admin = Admin.create(secured(mechanism, "wrong"))) {
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> admin.listTopics().names().get(30, TimeUnit.SECONDS));
                assertInstanceOf(SaslAuthenticationException.class, e.getCause(), mechanism);
                assertTrue(e.getCause().getMessage().contains("Authentication failed"),
                        e.getCause().getMessage());
            }
        }
    }

    /**
     * Admin.alterUserScramCredentials (what kafka-configs --entity-type users calls): the
     * client salts the password; the new user then logs in with SCRAM; too few iterations and
     * deleting what does not exist are refused with Kafka's exceptions.
     */
    @Test
    void scramUsersMadeThroughTheAdminApiLogIn() throws Exception {
        String user = "java-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Admin.create(secured("SCRAM-SHA-512", PASSWORD))) {
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(user,
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "java-pw")))
                    .all().get(30, TimeUnit.SECONDS);
            UserScramCredentialsDescription d = admin.describeUserScramCredentials(List.of(user))
                    .description(user).get(30, TimeUnit.SECONDS);
            assertEquals(1, d.credentialInfos().size());
            assertEquals(ScramMechanism.SCRAM_SHA_256, d.credentialInfos().get(0).mechanism());
            assertEquals(8192, d.credentialInfos().get(0).iterations());
            assertTrue(admin.describeUserScramCredentials().users().get(30, TimeUnit.SECONDS)
                    .contains(USER));

            ExecutionException few = assertThrows(ExecutionException.class, () -> admin
                    .alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("x" + user,
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 100), "pw")))
                    .all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(UnacceptableCredentialException.class, few.getCause());
            ExecutionException ghost = assertThrows(ExecutionException.class, () -> admin
                    .alterUserScramCredentials(List.of(new UserScramCredentialDeletion("y" + user,
                            ScramMechanism.SCRAM_SHA_512)))
                    .all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(ResourceNotFoundException.class, ghost.getCause());
        }
        try (Admin asUser = Admin.create(secured("SCRAM-SHA-256", user, "java-pw"))) {
            assertTrue(asUser.describeCluster().nodes().get(30, TimeUnit.SECONDS).size() == 1);
        }
        try (Admin wrong = Admin.create(secured("SCRAM-SHA-256", user, "nope"))) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> wrong.listTopics().names().get(30, TimeUnit.SECONDS));
            assertInstanceOf(SaslAuthenticationException.class, e.getCause());
        }
    }
}
