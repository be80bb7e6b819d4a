package compat

// segmentio/kafka-go against a real Weir broker: the low-level Conn (Metadata, CreateTopics on the
// controller connection), the Writer (Produce acks=all, auto topic creation), the Reader with a
// consumer group (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, Fetch, OffsetCommit, OffsetFetch,
// LeaveGroup) and without one (ListOffsets, Fetch), and the Client (OffsetFetch, ListOffsets,
// DescribeGroups, Metadata, CreateTopics, DeleteTopics). Every call runs under a context deadline.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaGoLogger is the Reader/Writer error logger: stderr, prefixed (never t.Logf: kafka-go's
// goroutines may log after a test returned).
var kafkaGoLogger = kafka.LoggerFunc(log.New(os.Stderr, "[kafka-go] ", log.LstdFlags|log.Lmicroseconds).Printf)

func kafkaGoDebugLogger() kafka.Logger {
	if os.Getenv("WEIR_GO_DEBUG") != "" {
		return kafkaGoLogger
	}
	return nil
}

// kafkaGoClient is a kafka.Client with its own Transport. kafka-go's Transport answers Metadata
// requests from a per-address cache that DeleteTopics does not refresh, so a check of what the broker
// says after a delete must go through a fresh one (and tests must not share the DefaultTransport).
func kafkaGoClient(t *testing.T, b *broker) *kafka.Client {
	tr := &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTTL: 500 * time.Millisecond}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(b.Kafka), Timeout: 10 * time.Second, Transport: tr}
}

func TestKafkaGoCreateTopicViaController(t *testing.T) {
	b := startBrokerT(t)
	topic := topicName(t)
	ctx := ctxTimeout(t, 20*time.Second)
	deadline, _ := ctx.Deadline()

	conn, err := kafka.DialContext(ctx, "tcp", b.Kafka)
	if err != nil {
		t.Fatalf("kafka.Dial %s: %v", b.Kafka, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("Conn.Controller: %v", err)
	}
	if ctrl.ID != 1 || net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)) != b.Kafka {
		t.Fatalf("controller = %+v, want node 1 at %s", ctrl, b.Kafka)
	}

	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer cc.Close()
	_ = cc.SetDeadline(deadline)
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 4, ReplicationFactor: 1}); err != nil {
		t.Fatalf("Conn.CreateTopics %s: %v", topic, err)
	}
	// Conn.CreateTopics is documented as idempotent: it drops TOPIC_ALREADY_EXISTS itself. The
	// broker's error code is checked through kafka.Client, which reports it per topic.
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 4, ReplicationFactor: 1}); err != nil {
		t.Fatalf("second Conn.CreateTopics %s (idempotent in kafka-go): %v", topic, err)
	}
	cr, err := kafkaGoClient(t, b).CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 4, ReplicationFactor: 1}},
	})
	if err != nil {
		t.Fatalf("Client.CreateTopics: %v", err)
	}
	if !errors.Is(cr.Errors[topic], kafka.TopicAlreadyExists) {
		t.Fatalf("Client.CreateTopics of an existing topic %s: want TOPIC_ALREADY_EXISTS, got %v", topic, cr.Errors[topic])
	}

	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("ReadPartitions %s: %v", topic, err)
	}
	if len(parts) != 4 {
		t.Fatalf("ReadPartitions %s: %d partitions, want 4: %+v", topic, len(parts), parts)
	}
	seen := map[int]bool{}
	for _, p := range parts {
		if p.Topic != topic || p.Leader.ID != 1 || len(p.Replicas) != 1 || len(p.Isr) != 1 || p.Error != nil {
			t.Fatalf("partition %+v", p)
		}
		seen[p.ID] = true
	}
	for i := 0; i < 4; i++ {
		if !seen[i] {
			t.Fatalf("ReadPartitions: partition %d missing: %+v", i, parts)
		}
	}
}

func TestKafkaGoWriterReaderGroup(t *testing.T) {
	b := startBrokerT(t, groupFlags...)
	topic := topicName(t)
	group := "kafka-go-group-" + topic
	cl := kafkaGoClient(t, b)
	const n = 200

	ctx := ctxTimeout(t, 25*time.Second)
	cr, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 4, ReplicationFactor: 1}},
	})
	if err != nil {
		t.Fatalf("Client.CreateTopics: %v", err)
	}
	if e := cr.Errors[topic]; e != nil {
		t.Fatalf("Client.CreateTopics %s: %v", topic, e)
	}

	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Kafka),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		MaxAttempts:  5,
		Logger:       kafkaGoDebugLogger(),
		ErrorLogger:  kafkaGoLogger,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:     []byte(fmt.Sprintf("k%d", i)),
			Value:   []byte(fmt.Sprintf("v%d", i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte(fmt.Sprintf("hv%d", i))}},
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("Writer.WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}
	if st := w.Stats(); st.Errors != 0 {
		t.Fatalf("writer stats: %d errors", st.Errors)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{b.Kafka},
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: 1 * time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		CommitInterval:    0, // CommitMessages commits synchronously
		Logger:            kafkaGoDebugLogger(),
		ErrorLogger:       kafkaGoLogger,
	})
	readerClosed := false
	closeReader := func() {
		if !readerClosed {
			readerClosed = true
			if err := r.Close(); err != nil {
				t.Errorf("Reader.Close: %v", err)
			}
		}
	}
	defer closeReader()

	byPos := map[string]kafka.Message{} // "partition/offset" -> message
	perPartition := map[int]int64{}     // records read per partition
	values := map[string]bool{}
	for len(values) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %d of %d records: %v", len(values), n, err)
		}
		pos := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
		if _, dup := byPos[pos]; dup {
			t.Fatalf("record %s read twice", pos)
		}
		byPos[pos] = m
		var i int
		if _, err := fmt.Sscanf(string(m.Value), "v%d", &i); err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected value %q at %s", m.Value, pos)
		}
		if string(m.Key) != fmt.Sprintf("k%d", i) || len(m.Headers) != 1 || m.Headers[0].Key != "h" ||
			string(m.Headers[0].Value) != fmt.Sprintf("hv%d", i) || m.Topic != topic {
			t.Fatalf("record %s: topic %q key %q value %q headers %v", pos, m.Topic, m.Key, m.Value, m.Headers)
		}
		if values[string(m.Value)] {
			t.Fatalf("value %q read twice", m.Value)
		}
		values[string(m.Value)] = true
		perPartition[m.Partition]++
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("CommitMessages %s: %v", pos, err)
		}
	}
	if len(perPartition) < 2 {
		t.Fatalf("Hash balancer put every key on one partition: %v", perPartition)
	}

	// While the member is still in the group: DescribeGroups shows it.
	dg, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatalf("Client.DescribeGroups: %v", err)
	}
	if len(dg.Groups) != 1 || dg.Groups[0].GroupID != group || dg.Groups[0].Error != nil {
		t.Fatalf("DescribeGroups: %+v", dg.Groups)
	}
	g := dg.Groups[0]
	if g.GroupState != "Stable" || len(g.Members) != 1 {
		t.Fatalf("DescribeGroups %s: state %q, %d members (want Stable, 1)", group, g.GroupState, len(g.Members))
	}
	if got := len(g.Members[0].MemberAssignments.Topics); got != 1 ||
		g.Members[0].MemberAssignments.Topics[0].Topic != topic ||
		len(g.Members[0].MemberAssignments.Topics[0].Partitions) != 4 {
		t.Fatalf("DescribeGroups %s: member assignment %+v, want all 4 partitions of %s", group, g.Members[0].MemberAssignments, topic)
	}

	closeReader() // LeaveGroup

	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
	if err != nil {
		t.Fatalf("Client.OffsetFetch: %v", err)
	}
	if of.Error != nil {
		t.Fatalf("OffsetFetch %s: %v", group, of.Error)
	}
	var sum int64
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("OffsetFetch %s[%d]: %v", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset != perPartition[p.Partition] {
			t.Fatalf("OffsetFetch %s[%d] = %d, read %d records there", topic, p.Partition, p.CommittedOffset, perPartition[p.Partition])
		}
		sum += p.CommittedOffset
	}
	if len(of.Topics[topic]) != 4 || sum != n {
		t.Fatalf("OffsetFetch %s: %+v (sum %d), want 4 partitions summing to %d", group, of.Topics[topic], sum, n)
	}

	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)},
	}})
	if err != nil {
		t.Fatalf("Client.ListOffsets: %v", err)
	}
	pos := lo.Topics[topic]
	if len(pos) != 1 || pos[0].Partition != 0 || pos[0].Error != nil {
		t.Fatalf("ListOffsets %s: %+v", topic, pos)
	}
	if pos[0].FirstOffset != 0 || pos[0].LastOffset != perPartition[0] {
		t.Fatalf("ListOffsets %s[0]: first %d last %d, want 0 and %d", topic, pos[0].FirstOffset, pos[0].LastOffset, perPartition[0])
	}

	t.Run("partition-reader", func(t *testing.T) {
		want, ok := byPos["0/0"]
		if !ok {
			t.Fatalf("the group read nothing at %s[0] offset 0 (per partition: %v)", topic, perPartition)
		}
		pr := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     []string{b.Kafka},
			Topic:       topic,
			Partition:   0,
			MinBytes:    1,
			MaxBytes:    1 << 20,
			MaxWait:     250 * time.Millisecond,
			Logger:      kafkaGoDebugLogger(),
			ErrorLogger: kafkaGoLogger,
		})
		defer pr.Close()
		if err := pr.SetOffset(kafka.FirstOffset); err != nil {
			t.Fatalf("SetOffset(FirstOffset): %v", err)
		}
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := pr.ReadMessage(pctx)
		if err != nil {
			t.Fatalf("partition Reader.ReadMessage: %v", err)
		}
		if m.Partition != 0 || m.Offset != 0 || string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) ||
			len(m.Headers) != 1 || string(m.Headers[0].Value) != string(want.Headers[0].Value) {
			t.Fatalf("partition reader got %d/%d key %q value %q headers %v; group saw key %q value %q",
				m.Partition, m.Offset, m.Key, m.Value, m.Headers, want.Key, want.Value)
		}
	})
}

func TestKafkaGoWriterAutoCreateTopic(t *testing.T) {
	b := startBrokerT(t)
	topic := topicName(t)
	ctx := ctxTimeout(t, 20*time.Second)
	w := &kafka.Writer{
		Addr:                   kafka.TCP(b.Kafka),
		Topic:                  topic,
		AllowAutoTopicCreation: true,
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		ReadTimeout:            5 * time.Second,
		WriteTimeout:           5 * time.Second,
		Logger:                 kafkaGoDebugLogger(),
		ErrorLogger:            kafkaGoLogger,
	}
	defer w.Close()
	// kafka-go may see UNKNOWN_TOPIC_OR_PARTITION (or LEADER_NOT_AVAILABLE) on its first metadata
	// lookups while the topic is being created; retry within the deadline.
	var err error
	for attempt := 1; ; attempt++ {
		err = w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("auto")})
		if err == nil {
			break
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
			t.Fatalf("WriteMessages attempt %d: %v", attempt, err)
		}
		if ctx.Err() != nil || attempt >= 10 {
			t.Fatalf("WriteMessages to an auto-created topic: still failing after %d attempts: %v", attempt, err)
		}
		t.Logf("WriteMessages attempt %d: %v (retrying)", attempt, err)
		time.Sleep(200 * time.Millisecond)
	}

	cl := kafkaGoClient(t, b)
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Client.Metadata: %v", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 1 {
		t.Fatalf("Metadata %s: %+v (want the auto-created topic with 1 partition)", topic, md.Topics)
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)},
	}})
	if err != nil {
		t.Fatalf("Client.ListOffsets: %v", err)
	}
	if p := lo.Topics[topic]; len(p) != 1 || p[0].Error != nil || p[0].FirstOffset != 0 || p[0].LastOffset != 1 {
		t.Fatalf("ListOffsets %s: %+v, want first 0 last 1", topic, p)
	}
}

func TestKafkaGoDeleteTopics(t *testing.T) {
	b := startBrokerT(t)
	topic := topicName(t)
	ctx := ctxTimeout(t, 20*time.Second)
	cl := kafkaGoClient(t, b)
	cr, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}},
	})
	if err != nil || cr.Errors[topic] != nil {
		t.Fatalf("Client.CreateTopics %s: %v / %v", topic, err, cr)
	}
	dr, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Client.DeleteTopics: %v", err)
	}
	if e, ok := dr.Errors[topic]; !ok || e != nil {
		t.Fatalf("DeleteTopics %s: errors %v (present %v)", topic, e, ok)
	}
	// A fresh Transport: its cache is filled by a Metadata request (all topics) sent after the delete.
	md, err := kafkaGoClient(t, b).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Client.Metadata: %v", err)
	}
	if len(md.Topics) != 1 || !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		t.Fatalf("Metadata after delete: %+v, want UNKNOWN_TOPIC_OR_PARTITION", md.Topics)
	}
	dr, err = cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("second Client.DeleteTopics: %v", err)
	}
	if !errors.Is(dr.Errors[topic], kafka.UnknownTopicOrPartition) {
		t.Fatalf("second DeleteTopics %s: %v, want UNKNOWN_TOPIC_OR_PARTITION", topic, dr.Errors[topic])
	}
}
