package dev.weir.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Collection;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The Java client's transactional producer: commits and aborts as a read_committed consumer
 * sees them, offsets committed inside a transaction, and a producer replaced by a new instance
 * with the same transactional.id fenced.
 */
class TransactionalProducerTest extends BrokerTestBase {

    private static KafkaProducer<byte[], byte[]> transactional(String id) {
        return producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, id,
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.ACKS_CONFIG, "all"));
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, String value) {
        return new ProducerRecord<>(topic, 0, null, value.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> values(List<ConsumerRecord<byte[], byte[]>> recs) {
        List<String> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : recs) {
            out.add(new String(r.value(), StandardCharsets.UTF_8));
        }
        return out;
    }

    private static List<String> readCommitted(TopicPartition tp, int expected) {
        return values(consume(tp, 0, expected,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")));
    }

    @Test
    void commitsAreReadAndAbortsAreNotAndOffsetsCommitWithTheTransaction(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        TopicPartition source = new TopicPartition(topic + "-source", 0);
        String group = topic + "-group";
        try (KafkaProducer<byte[], byte[]> p = transactional(topic + "-tx")) {
            p.initTransactions();
            p.beginTransaction();
            p.send(record(topic, "a1"));
            p.send(record(topic, "a2"));
            p.sendOffsetsToTransaction(Map.of(source, new OffsetAndMetadata(42)),
                    new ConsumerGroupMetadata(group));
            p.commitTransaction();

            p.beginTransaction();
            p.send(record(topic, "aborted"));
            p.sendOffsetsToTransaction(Map.of(source, new OffsetAndMetadata(99)),
                    new ConsumerGroupMetadata(group));
            p.flush();
            p.abortTransaction();

            p.beginTransaction();
            p.send(record(topic, "b1"));
            p.commitTransaction();
        }
        assertEquals(List.of("a1", "a2", "b1"), readCommitted(tp, 3));
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        assertEquals(42, committed.get(source).offset(), "the aborted transaction's offset is not committed");
    }

    @Test
    void aProducerReplacedByANewInstanceIsFencedAndItsOpenTransactionAborted(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        String id = topic + "-tx";
        try (KafkaProducer<byte[], byte[]> first = transactional(id)) {
            first.initTransactions();
            first.beginTransaction();
            first.send(record(topic, "from the first")).get(30, TimeUnit.SECONDS);
            try (KafkaProducer<byte[], byte[]> second = transactional(id)) {
                // Aborts the first instance's open transaction and fences it.
                second.initTransactions();
                assertThrows(ProducerFencedException.class, first::commitTransaction);
                second.beginTransaction();
                second.send(record(topic, "from the second"));
                second.commitTransaction();
            }
        }
        assertEquals(List.of("from the second"), readCommitted(tp, 1));
    }

    @Test
    void adminDescribesTheProducersAndTransactionsOfAPartition(TestInfo info) throws Exception {
        String topic = uniqueTopic(info);
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        String id = topic + "-tx";
        try (KafkaProducer<byte[], byte[]> p = transactional(id)) {
            p.initTransactions();
            p.beginTransaction();
            p.send(record(topic, "open")).get(30, TimeUnit.SECONDS);

            Collection<TransactionListing> listed = admin.listTransactions().all().get(30, TimeUnit.SECONDS);
            TransactionListing listing = listed.stream()
                    .filter(l -> l.transactionalId().equals(id))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError(id + " is listed: " + listed));
            assertEquals(TransactionState.ONGOING, listing.state());
            TransactionDescription open = admin.describeTransactions(List.of(id)).description(id)
                    .get(30, TimeUnit.SECONDS);
            assertEquals(TransactionState.ONGOING, open.state());
            assertEquals(listing.producerId(), open.producerId());
            assertTrue(open.topicPartitions().contains(tp), open.toString());

            List<ProducerState> producers = admin.describeProducers(List.of(tp)).partitionResult(tp)
                    .get(30, TimeUnit.SECONDS).activeProducers();
            assertEquals(1, producers.size(), producers.toString());
            ProducerState state = producers.get(0);
            assertEquals(listing.producerId(), state.producerId());
            assertEquals(open.producerEpoch(), state.producerEpoch());
            assertEquals(0, state.lastSequence());
            assertEquals(OptionalLong.of(0), state.currentTransactionStartOffset(), "the transaction opened at 0");

            p.commitTransaction();
            ProducerState after = admin.describeProducers(List.of(tp)).partitionResult(tp)
                    .get(30, TimeUnit.SECONDS).activeProducers().get(0);
            assertEquals(OptionalLong.empty(), after.currentTransactionStartOffset(), "no open transaction");
            TransactionDescription done = admin.describeTransactions(List.of(id)).description(id)
                    .get(30, TimeUnit.SECONDS);
            assertEquals(TransactionState.COMPLETE_COMMIT, done.state());
        }
    }
}
