package compat

// IBM/sarama against a real Weir broker: ClusterAdmin (CreateTopics, Metadata, DescribeConfigs,
// DeleteTopics, OffsetFetch), the idempotent SyncProducer (InitProducerId, Produce acks=all) and the
// consumer group (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, Fetch, OffsetCommit, LeaveGroup),
// at sarama's V3_6_0_0 and at the older V0_11_0_0 and V2_1_0_0 with snappy and lz4. Each test starts
// its own broker with --group-initial-rebalance-delay-ms 0; every wait is bounded.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func init() {
	if os.Getenv("WEIR_GO_DEBUG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
}

// saramaConfig is a sarama config for version v with bounded timeouts.
func saramaConfig(v sarama.KafkaVersion, clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = clientID + "-" + v.String() // e.g. weir-sarama-producer-0.11.0.0
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 5
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	cfg.Admin.Timeout = 15 * time.Second
	cfg.Admin.Retry.Max = 5
	cfg.Admin.Retry.Backoff = 200 * time.Millisecond
	return cfg
}

func newSaramaAdmin(t *testing.T, b *broker, v sarama.KafkaVersion) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{b.Kafka}, saramaConfig(v, "weir-sarama-admin"))
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin(%s): %v", v, err)
	}
	t.Cleanup(func() { _ = adm.Close() })
	return adm
}

// saramaRecord is one record as the consumer group saw it.
type saramaRecord struct {
	partition int32
	offset    int64
	key       string
	value     string
	headers   map[string]string
}

// saramaHandler collects records until want have been seen, marks each one, commits synchronously
// once all are in, then cancels the Consume loop.
type saramaHandler struct {
	want   int
	cancel context.CancelFunc
	mu     sync.Mutex
	recs   []saramaRecord
	seen   map[string]bool // partition/offset, to drop redeliveries after a rebalance
	setups int
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.setups++
	h.mu.Unlock()
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			hdrs := map[string]string{}
			for _, rh := range m.Headers {
				hdrs[string(rh.Key)] = string(rh.Value)
			}
			h.mu.Lock()
			id := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
			if !h.seen[id] {
				h.seen[id] = true
				h.recs = append(h.recs, saramaRecord{m.Partition, m.Offset, string(m.Key), string(m.Value), hdrs})
			}
			done := len(h.recs) >= h.want
			h.mu.Unlock()
			sess.MarkMessage(m, "")
			if done {
				sess.Commit() // synchronous flush of every marked offset
				h.cancel()
			}
		}
	}
}

func (h *saramaHandler) records() []saramaRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]saramaRecord(nil), h.recs...)
}

// saramaProduce sends n keyed records with a header through a SyncProducer built from cfg: the first
// half one at a time (SendMessage), the rest in one SendMessages call (batched by the producer). Each
// partition must hold offsets 0..k-1 in the order the records were sent. Returns k per partition.
func saramaProduce(t *testing.T, b *broker, cfg *sarama.Config, topic string, n int) map[int32]int64 {
	t.Helper()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{b.Kafka}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer(%s): %v", cfg.Version, err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Errorf("SyncProducer.Close: %v", err)
		}
	}()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value:   sarama.StringEncoder(fmt.Sprintf("v%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprintf("hv%d", i))}},
		}
	}
	for i, msg := range msgs[:n/2] {
		if _, _, err := p.SendMessage(msg); err != nil {
			t.Fatalf("SendMessage %d (%s): %v", i, cfg.Version, err)
		}
	}
	if err := p.SendMessages(msgs[n/2:]); err != nil {
		t.Fatalf("SendMessages %d..%d (%s): %v", n/2, n-1, cfg.Version, err)
	}
	next := map[int32]int64{}
	for i, msg := range msgs {
		if msg.Offset != next[msg.Partition] {
			t.Fatalf("record %d (%s): partition %d offset %d, want %d", i, cfg.Version, msg.Partition, msg.Offset, next[msg.Partition])
		}
		next[msg.Partition]++
	}
	return next
}

// saramaConsumeGroup reads n records of topic through a sarama consumer group (OffsetOldest),
// checks keys/values/headers and that each offset was seen once, and returns once the offsets are
// committed and the group closed.
func saramaConsumeGroup(t *testing.T, b *broker, cfg *sarama.Config, group, topic string, n int) {
	t.Helper()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 1 * time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup([]string{b.Kafka}, group, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup(%s): %v", cfg.Version, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	h := &saramaHandler{want: n, cancel: cancel, seen: map[string]bool{}}

	var errMu sync.Mutex
	var groupErrs []error
	go func() {
		for e := range cg.Errors() {
			errMu.Lock()
			groupErrs = append(groupErrs, e)
			errMu.Unlock()
		}
	}()
	var consumeErr error
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			consumeErr = err
			break
		}
	}
	if err := cg.Close(); err != nil {
		t.Errorf("ConsumerGroup.Close: %v", err)
	}
	errMu.Lock()
	defer errMu.Unlock()
	if consumeErr != nil {
		t.Fatalf("Consume (%s): %v", cfg.Version, consumeErr)
	}
	if len(groupErrs) > 0 {
		t.Fatalf("consumer group errors (%s): %v", cfg.Version, groupErrs)
	}
	got := h.records()
	if len(got) != n {
		t.Fatalf("group %s read %d of %d records within 25s (%s)", group, len(got), n, cfg.Version)
	}
	values := map[string]bool{}
	for _, r := range got {
		var i int
		if _, err := fmt.Sscanf(r.value, "v%d", &i); err != nil {
			t.Fatalf("unexpected value %q at %d/%d", r.value, r.partition, r.offset)
		}
		if r.key != fmt.Sprintf("k%d", i) || len(r.headers) != 1 || r.headers["h"] != fmt.Sprintf("hv%d", i) {
			t.Fatalf("record %d/%d: key %q value %q headers %v", r.partition, r.offset, r.key, r.value, r.headers)
		}
		if values[r.value] {
			t.Fatalf("value %q read twice", r.value)
		}
		values[r.value] = true
	}
	h.mu.Lock()
	setups := h.setups
	h.mu.Unlock()
	if setups < 1 {
		t.Fatalf("handler Setup never called")
	}
}

// assertSaramaCommitted checks that group's committed offsets on topic's partitions are the
// record counts produced there (so they sum to total).
func assertSaramaCommitted(t *testing.T, adm sarama.ClusterAdmin, group, topic string, partitions int32, produced map[int32]int64, total int64) {
	t.Helper()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets %s: %v", group, err)
	}
	var sum int64
	per := map[int32]int64{}
	for _, p := range ps {
		blk := resp.GetBlock(topic, p)
		if blk == nil {
			t.Fatalf("ListConsumerGroupOffsets %s: no block for %s[%d]", group, topic, p)
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			t.Fatalf("ListConsumerGroupOffsets %s: %s[%d] error %v", group, topic, p, blk.Err)
		}
		per[p] = blk.Offset
		if blk.Offset > 0 {
			sum += blk.Offset
		}
	}
	if sum != total {
		t.Fatalf("committed offsets %v sum to %d, want %d", per, sum, total)
	}
	for p, k := range produced {
		if per[p] != k {
			t.Fatalf("committed offset %s[%d] = %d, want %d (records produced there)", topic, p, per[p], k)
		}
	}
}

func TestSaramaAdminTopics(t *testing.T) {
	b := startBrokerT(t)
	adm := newSaramaAdmin(t, b, sarama.V3_6_0_0)
	topic := topicName(t)

	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("second CreateTopic %s: want ErrTopicAlreadyExists, got %v", topic, err)
	}
	var te *sarama.TopicError
	if !errors.As(err, &te) || te.Err != sarama.ErrTopicAlreadyExists {
		t.Fatalf("second CreateTopic %s: want a *TopicError with Err TOPIC_ALREADY_EXISTS, got %#v", topic, err)
	}

	md, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("DescribeTopics: %v", err)
	}
	if len(md) != 1 || md[0].Name != topic || !errors.Is(md[0].Err, sarama.ErrNoError) {
		t.Fatalf("DescribeTopics: %+v", md)
	}
	if len(md[0].Partitions) != 3 {
		t.Fatalf("DescribeTopics: %d partitions, want 3", len(md[0].Partitions))
	}
	for _, p := range md[0].Partitions {
		if !errors.Is(p.Err, sarama.ErrNoError) || p.Leader != 1 || len(p.Replicas) != 1 || len(p.Isr) != 1 {
			t.Fatalf("partition %d: err %v leader %d replicas %v isr %v", p.ID, p.Err, p.Leader, p.Replicas, p.Isr)
		}
	}

	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	var policy *sarama.ConfigEntry
	for i := range entries {
		if entries[i].Name == "cleanup.policy" {
			policy = &entries[i]
		}
	}
	if policy == nil {
		t.Fatalf("DescribeConfig: no cleanup.policy among %d entries", len(entries))
	}
	if policy.Value != "delete" {
		t.Fatalf("DescribeConfig: cleanup.policy = %q, want delete", policy.Value)
	}

	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != 3 {
		t.Fatalf("ListTopics: %s = %+v (present %v)", topic, d, ok)
	}
}

func TestSaramaIdempotentProducerAndGroup(t *testing.T) {
	b := startBrokerT(t, groupFlags...)
	adm := newSaramaAdmin(t, b, sarama.V3_6_0_0)
	topic := topicName(t)
	group := "sarama-group-" + topic
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}

	pcfg := saramaConfig(sarama.V3_6_0_0, "weir-sarama-producer")
	pcfg.Producer.Idempotent = true
	pcfg.Net.MaxOpenRequests = 1
	produced := saramaProduce(t, b, pcfg, topic, 100)

	saramaConsumeGroup(t, b, saramaConfig(sarama.V3_6_0_0, "weir-sarama-consumer"), group, topic, 100)

	assertSaramaCommitted(t, adm, group, topic, 3, produced, 100)
}

func TestSaramaOlderVersions(t *testing.T) {
	b := startBrokerT(t, groupFlags...)
	cases := []struct {
		name    string
		version sarama.KafkaVersion
		codec   sarama.CompressionCodec
		attr    uint8 // the codec in the record batch attributes
	}{
		{"v0.11-snappy", sarama.V0_11_0_0, sarama.CompressionSnappy, 2},
		{"v0.11-lz4", sarama.V0_11_0_0, sarama.CompressionLZ4, 3},
		{"v2.1-snappy", sarama.V2_1_0_0, sarama.CompressionSnappy, 2},
		{"v2.1-lz4", sarama.V2_1_0_0, sarama.CompressionLZ4, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			adm := newSaramaAdmin(t, b, tc.version)
			topic := topicName(t)
			group := "sarama-group-" + topic
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
				t.Fatalf("CreateTopic %s (%s): %v", topic, tc.version, err)
			}
			pcfg := saramaConfig(tc.version, "weir-sarama-producer")
			pcfg.Producer.Compression = tc.codec
			pcfg.Producer.Flush.Messages = 10 // SendMessages' half goes out in batches of up to 10 records
			pcfg.Producer.Flush.Frequency = 5 * time.Millisecond
			perPartition := saramaProduce(t, b, pcfg, topic, 60)
			// The broker stores the producer's batches as they came: read back (franz-go), each
			// record's batch carries sarama's codec (attributes bits 0-2: snappy 2, lz4 3).
			for p, k := range perPartition {
				recs := consume(t, b, topic, p, 0, int(k))
				if len(recs) != int(k) {
					t.Fatalf("%s[%d]: fetched %d records, produced %d", topic, p, len(recs), k)
				}
				for _, r := range recs {
					if ct := r.Attrs.CompressionType(); ct != tc.attr {
						t.Fatalf("%s[%d] offset %d: batch compression %d, want %d", topic, p, r.Offset, ct, tc.attr)
					}
				}
			}

			saramaConsumeGroup(t, b, saramaConfig(tc.version, "weir-sarama-consumer"), group, topic, 60)

			assertSaramaCommitted(t, adm, group, topic, 2, perPartition, 60)
		})
	}
}

func TestSaramaDeleteTopic(t *testing.T) {
	b := startBrokerT(t)
	adm := newSaramaAdmin(t, b, sarama.V3_6_0_0)
	topic := topicName(t)
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic %s: %v", topic, err)
	}
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if _, ok := topics[topic]; ok {
		t.Fatalf("topic %s still listed after DeleteTopic", topic)
	}
	if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("second DeleteTopic %s: want ErrUnknownTopicOrPartition, got %v", topic, err)
	}
}
