package compat

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func produceN(t *testing.T, topic string, partition int32, n int, ts func(i int) time.Time) {
	t.Helper()
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if ts != nil {
		// franz-go measures RecordDeliveryTimeout from the record's own Timestamp, so records with
		// explicit old timestamps (1970) would "time out" client-side before being sent. The
		// per-record context (ctxT, 60 s) still bounds the produce.
		opts = append(opts, kgo.RecordDeliveryTimeout(0))
	}
	cl := newClient(t, shared, opts...)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Partition: partition, Value: []byte(fmt.Sprint("v", i))}
		if ts != nil {
			r.Timestamp = ts(i)
		}
		// one at a time: each record is its own batch
		if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

func configValue(t *testing.T, adm *kadm.Client, topic, key string) (kadm.Config, bool) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctxT(t), topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v / %v (%s)", topic, err, rc.Err, rc.ErrMessage)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c, true
		}
	}
	return kadm.Config{}, false
}

// CreateTopics with configs, ListTopics (Metadata), DescribeTopicConfigs (DescribeConfigs).
func TestCreateListDescribeTopics(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	resp, err := adm.CreateTopics(ctxT(t), 3, 1, map[string]*string{
		"retention.ms":      sp("3600000"),
		"cleanup.policy":    sp("delete"),
		"max.message.bytes": sp("65536"),
	}, topic)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	r, err := resp.On(topic, nil)
	if err != nil || r.Err != nil {
		t.Fatalf("CreateTopics %s: %v / %v (%s)", topic, err, r.Err, r.ErrMessage)
	}
	if r.NumPartitions != 3 || r.ReplicationFactor != 1 {
		t.Errorf("CreateTopics response: partitions=%d rf=%d, want 3/1", r.NumPartitions, r.ReplicationFactor)
	}

	all, err := adm.ListTopics(ctxT(t))
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if !all.Has(topic) {
		t.Fatalf("ListTopics does not contain %s: %v", topic, all.Names())
	}
	td, err := adm.ListTopics(ctxT(t), topic)
	if err != nil {
		t.Fatalf("ListTopics(%s): %v", topic, err)
	}
	d := td[topic]
	if d.Err != nil {
		t.Fatalf("topic error: %v", d.Err)
	}
	if d.IsInternal {
		t.Error("topic reported internal")
	}
	if len(d.Partitions) != 3 {
		t.Fatalf("%d partitions, want 3", len(d.Partitions))
	}
	for _, p := range d.Partitions.Sorted() {
		if p.Err != nil || p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 || len(p.ISR) != 1 {
			t.Errorf("partition %d: err=%v leader=%d replicas=%v isr=%v", p.Partition, p.Err, p.Leader, p.Replicas, p.ISR)
		}
	}

	for k, v := range map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "65536"} {
		c, ok := configValue(t, adm, topic, k)
		if !ok {
			t.Errorf("DescribeConfigs: %s missing", k)
			continue
		}
		if c.MaybeValue() != v {
			t.Errorf("DescribeConfigs: %s=%q, want %q", k, c.MaybeValue(), v)
		}
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("DescribeConfigs: %s source %v, want DYNAMIC_TOPIC_CONFIG", k, c.Source)
		}
	}
}

// CreateTopics validate_only creates nothing.
func TestValidateCreateTopics(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	resp, err := adm.ValidateCreateTopics(ctxT(t), 2, 1, nil, topic)
	if err != nil {
		t.Fatalf("ValidateCreateTopics: %v", err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("ValidateCreateTopics %s: %v", topic, err)
	}
	all, err := adm.ListTopics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if all.Has(topic) {
		t.Fatal("validate_only created the topic")
	}
	mustCreateTopic(t, adm, topic, 2, nil)
}

// CreateTopics error codes: TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_CONFIG.
func TestCreateTopicErrors(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)

	_, err := adm.CreateTopic(ctxT(t), 1, 1, nil, topic)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("duplicate create: want TOPIC_ALREADY_EXISTS, got %v", err)
	}
	for _, bad := range []string{"bad name", "bad/slash", "bad*star", "..", strings.Repeat("x", 250)} {
		_, err := adm.CreateTopic(ctxT(t), 1, 1, nil, bad)
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("create %.20q: want INVALID_TOPIC_EXCEPTION, got %v", bad, err)
		}
	}
	unk := topicName(t) + "-badcfg"
	_, err = adm.CreateTopic(ctxT(t), 1, 1, map[string]*string{"no.such.config": sp("1")}, unk)
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("unknown config: want INVALID_CONFIG, got %v", err)
	}
}

// IncrementalAlterConfigs (AlterTopicConfigs) set/delete and legacy AlterConfigs (AlterTopicConfigsState),
// read back with DescribeConfigs.
func TestAlterTopicConfigs(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, map[string]*string{"retention.ms": sp("100000")})

	res, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("7200000")},
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: sp("1048576")},
	}, topic)
	if err != nil {
		t.Fatalf("AlterTopicConfigs: %v", err)
	}
	if r, err := res.On(topic, nil); err != nil || r.Err != nil {
		t.Fatalf("AlterTopicConfigs %s: %v / %v (%s)", topic, err, r.Err, r.ErrMessage)
	}
	if c, _ := configValue(t, adm, topic, "retention.ms"); c.MaybeValue() != "7200000" {
		t.Errorf("retention.ms after SET = %q", c.MaybeValue())
	}
	if c, _ := configValue(t, adm, topic, "segment.bytes"); c.MaybeValue() != "1048576" {
		t.Errorf("segment.bytes after SET = %q", c.MaybeValue())
	}

	res, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, topic)
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterTopicConfigs DELETE: %v / %v", err, res[0].Err)
	}
	if c, ok := configValue(t, adm, topic, "retention.ms"); ok &&
		(c.MaybeValue() == "7200000" || c.Source == kmsg.ConfigSourceDynamicTopicConfig) {
		t.Errorf("retention.ms after DELETE: %q source %v", c.MaybeValue(), c.Source)
	}
	if c, _ := configValue(t, adm, topic, "segment.bytes"); c.MaybeValue() != "1048576" {
		t.Errorf("segment.bytes changed by unrelated DELETE: %q", c.MaybeValue())
	}

	res, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: sp("1")}}, topic)
	if err != nil {
		t.Fatalf("AlterTopicConfigs unknown: %v", err)
	}
	if !errors.Is(res[0].Err, kerr.InvalidConfig) {
		t.Errorf("unknown config: want INVALID_CONFIG, got %v", res[0].Err)
	}

	// legacy AlterConfigs replaces the whole set of overrides
	res, err = adm.AlterTopicConfigsState(ctxT(t), []kadm.AlterConfig{{Name: "retention.ms", Value: sp("555000")}}, topic)
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterTopicConfigsState (AlterConfigs): %v / %v", err, res[0].Err)
	}
	if c, _ := configValue(t, adm, topic, "retention.ms"); c.MaybeValue() != "555000" {
		t.Errorf("retention.ms after AlterConfigs = %q", c.MaybeValue())
	}
	if c, ok := configValue(t, adm, topic, "segment.bytes"); ok && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("segment.bytes still an override after non-incremental AlterConfigs: %q", c.MaybeValue())
	}
}

// CreatePartitions grows a topic; the new partition is writable and readable.
func TestCreatePartitions(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 2, nil)
	res, err := adm.CreatePartitions(ctxT(t), 3, topic)
	if err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("CreatePartitions %s: %v", topic, err)
	}
	n := 0
	for i := 0; i < 20 && n != 5; i++ {
		td, err := adm.ListTopics(ctxT(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		n = len(td[topic].Partitions)
		if n != 5 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if n != 5 {
		t.Fatalf("%d partitions after adding 3 to 2", n)
	}
	// shrinking is refused
	res, err = adm.UpdatePartitions(ctxT(t), 3, topic)
	if err == nil && res.Error() == nil {
		t.Errorf("UpdatePartitions to fewer partitions succeeded")
	}
	produceN(t, topic, 4, 1, nil)
	got := consume(t, shared, topic, 4, 0, 1)
	if got[0].Value == nil || string(got[0].Value) != "v0" {
		t.Fatalf("partition 4 value %q", got[0].Value)
	}
}

// DeleteRecords moves the log start offset; ListStartOffsets / ListEndOffsets reflect it.
func TestDeleteRecords(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)
	produceN(t, topic, 0, 10, nil)

	var os kadm.Offsets
	os.AddOffset(topic, 0, 6, -1)
	res, err := adm.DeleteRecords(ctxT(t), os)
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	dr, ok := res.Lookup(topic, 0)
	if !ok || dr.Err != nil || dr.LowWatermark != 6 {
		t.Fatalf("DeleteRecords response: ok=%v err=%v lowWatermark=%d, want 6", ok, dr.Err, dr.LowWatermark)
	}
	start, err := adm.ListStartOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatalf("ListStartOffsets: %v", err)
	}
	if s, _ := start.Lookup(topic, 0); s.Err != nil || s.Offset != 6 {
		t.Fatalf("start offset %d (err %v), want 6", s.Offset, s.Err)
	}
	end, err := adm.ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	if e, _ := end.Lookup(topic, 0); e.Err != nil || e.Offset != 10 {
		t.Fatalf("end offset %d (err %v), want 10", e.Offset, e.Err)
	}
	got := consume(t, shared, topic, 0, 6, 4)
	if len(got) != 4 || got[0].Offset != 6 || string(got[0].Value) != "v6" {
		t.Fatalf("after DeleteRecords: %d records, first offset %d value %q", len(got), got[0].Offset, got[0].Value)
	}
}

// ListOffsets by timestamp: records at 1000/2000/3000 ms; lookup 2000 -> offset 1.
func TestListOffsetsAfterMilli(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)
	produceN(t, topic, 0, 3, func(i int) time.Time { return time.UnixMilli(int64(1000 * (i + 1))) })

	cases := []struct {
		ms         int64
		wantOffset int64
		wantTs     int64
	}{
		{2000, 1, 2000},
		{1500, 1, 2000},
		{0, 0, 1000},
		{3000, 2, 3000},
	}
	for _, c := range cases {
		lo, err := adm.ListOffsetsAfterMilli(ctxT(t), c.ms, topic)
		if err != nil {
			t.Fatalf("ListOffsetsAfterMilli(%d): %v", c.ms, err)
		}
		o, ok := lo.Lookup(topic, 0)
		if !ok || o.Err != nil || o.Offset != c.wantOffset || o.Timestamp != c.wantTs {
			t.Errorf("ListOffsetsAfterMilli(%d): ok=%v err=%v offset=%d ts=%d, want offset %d ts %d",
				c.ms, ok, o.Err, o.Offset, o.Timestamp, c.wantOffset, c.wantTs)
		}
	}
	// after the last record: Kafka answers offset -1 and kadm maps that to the end offset (3)
	lo, err := adm.ListOffsetsAfterMilli(ctxT(t), 3001, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup(topic, 0); o.Err != nil || o.Offset != 3 {
		t.Errorf("ListOffsetsAfterMilli(3001): offset %d err %v, want 3 (end)", o.Offset, o.Err)
	}
	got := consume(t, shared, topic, 0, 0, 3)
	for i, r := range got {
		if r.Timestamp.UnixMilli() != int64(1000*(i+1)) {
			t.Errorf("record %d timestamp %d", i, r.Timestamp.UnixMilli())
		}
	}
}

// DeleteTopics removes the topic; deleting again -> UNKNOWN_TOPIC_OR_PARTITION.
func TestDeleteTopics(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 2, nil)
	produceN(t, topic, 0, 3, nil)
	res, err := adm.DeleteTopics(ctxT(t), topic)
	if err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("DeleteTopics %s: %v", topic, err)
	}
	all, err := adm.ListTopics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if all.Has(topic) {
		t.Fatalf("deleted topic still listed")
	}
	td, err := adm.ListTopics(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := td[topic]; ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("metadata for deleted topic: err %v, want UNKNOWN_TOPIC_OR_PARTITION", d.Err)
	}
	_, err = adm.DeleteTopic(ctxT(t), topic)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("second delete: want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
	}
	mustCreateTopic(t, adm, topic, 1, nil)
	end, err := adm.ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 0 {
		t.Errorf("re-created topic end offset %d, want 0", e.Offset)
	}
}

// BrokerMetadata (Metadata): one broker, node 1, advertised at the bootstrap address, controller 1.
func TestBrokerMetadata(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	m, err := adm.BrokerMetadata(ctxT(t))
	if err != nil {
		t.Fatalf("BrokerMetadata: %v", err)
	}
	if len(m.Brokers) != 1 {
		t.Fatalf("%d brokers: %+v", len(m.Brokers), m.Brokers)
	}
	host, port, _ := net.SplitHostPort(shared.Kafka)
	b := m.Brokers[0]
	if b.NodeID != 1 || b.Host != host || strconv.Itoa(int(b.Port)) != port {
		t.Errorf("broker %d at %s:%d, want 1 at %s", b.NodeID, b.Host, b.Port, shared.Kafka)
	}
	if m.Controller != 1 {
		t.Errorf("controller %d, want 1", m.Controller)
	}
	if m.Cluster == "" {
		t.Errorf("empty cluster id")
	}
}
