package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs lists the partitions of a topic with their on-disk size.
func TestDescribeLogDirs(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 2, nil)
	produceN(t, topic, 0, 5, nil)
	all, err := adm.DescribeAllLogDirs(ctxT(t), nil)
	if err != nil {
		t.Fatalf("DescribeAllLogDirs: %v", err)
	}
	dirs, ok := all[1]
	if !ok || len(dirs) == 0 {
		t.Fatalf("no log dirs for broker 1: %+v", all)
	}
	found := map[int32]kadm.DescribedLogDirPartition{}
	for _, d := range dirs {
		if d.Err != nil {
			t.Errorf("log dir %s: %v", d.Dir, d.Err)
		}
		if d.Dir == "" {
			t.Errorf("empty log dir path")
		}
		for p, dp := range d.Topics[topic] {
			found[p] = dp
		}
	}
	if len(found) != 2 {
		t.Fatalf("partitions of %s in DescribeLogDirs: %d, want 2", topic, len(found))
	}
	if found[0].Size <= 0 {
		t.Errorf("partition 0 size %d after 5 records, want > 0", found[0].Size)
	}
	if found[1].Size < 0 {
		t.Errorf("partition 1 size %d", found[1].Size)
	}
}

// Raw kmsg ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+) and by timestamp.
func TestListOffsetsRawSpecialTimestamps(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)
	stamps := []int64{1000, 5000, 3000} // max timestamp is at offset 1
	produceN(t, topic, 0, 3, func(i int) time.Time { return time.UnixMilli(stamps[i]) })

	cl := newClient(t, shared)
	for _, c := range []struct {
		name       string
		ts         int64
		wantOffset int64
		wantTs     int64 // -1: don't check
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, 3, -1},
		{"max-timestamp", -3, 1, 5000},
		{"by-timestamp-2000", 2000, 1, 5000},
		{"by-timestamp-4000", 4000, 1, 5000},
		{"by-timestamp-5001", 5001, -1, -1},
	} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = 0
		rp.CurrentLeaderEpoch = -1
		rp.Timestamp = c.ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatalf("%s: ListOffsets: %v", c.name, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%s: malformed response %+v", c.name, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Errorf("%s (v%d): error %v", c.name, resp.Version, kerr.ErrorForCode(p.ErrorCode))
			continue
		}
		if p.Offset != c.wantOffset || (c.wantTs != -1 && p.Timestamp != c.wantTs) {
			t.Errorf("%s (v%d): offset %d ts %d, want offset %d ts %d", c.name, resp.Version, p.Offset, p.Timestamp,
				c.wantOffset, c.wantTs)
		}
	}
}

// A consumer polling an empty partition receives records produced while its Fetch is waiting.
func TestFetchLongPollReceivesNewRecords(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)
	cons := newClient(t, shared,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(5*time.Second))
	got := make(chan []*kgo.Record, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out []*kgo.Record
		for len(out) < 3 && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		}
		got <- out
	}()
	time.Sleep(500 * time.Millisecond) // let the consumer's fetch park on the broker (not asserted)
	prod := newClient(t, shared, kgo.DefaultProduceTopic(topic))
	for i := 0; i < 3; i++ {
		if err := prod.ProduceSync(ctxT(t), &kgo.Record{Value: []byte(fmt.Sprint("late-", i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	recs := <-got
	if len(recs) != 3 {
		t.Fatalf("long-polling consumer got %d records, want 3", len(recs))
	}
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint("late-", i) || r.Offset != int64(i) {
			t.Errorf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

// Clean restart (SIGTERM, same --data-dir and --listen): topics, partition counts, configs, records
// (compressed, with headers), log start offset after DeleteRecords all survive; offsets continue.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	b1 := startBrokerOnT(t, dir, "")
	topic := topicName(t)
	{
		adm := newAdmin(t, b1)
		resp, err := adm.CreateTopic(ctxT(t), 2, 1, map[string]*string{"retention.ms": sp("123456789")}, topic)
		if err != nil {
			t.Fatalf("CreateTopic: %v (%s)", err, resp.ErrMessage)
		}
		cl := newClient(t, b1, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.ZstdCompression()))
		var recs []*kgo.Record
		for i := 0; i < 20; i++ {
			recs = append(recs, &kgo.Record{Partition: int32(i % 2), Key: []byte(fmt.Sprint("k", i)),
				Value: []byte(fmt.Sprint("persisted-", i)), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}})
		}
		if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		var os kadm.Offsets
		os.AddOffset(topic, 1, 4, -1)
		if res, err := adm.DeleteRecords(ctxT(t), os); err != nil || res.Error() != nil {
			t.Fatalf("DeleteRecords: %v / %v", err, res.Error())
		}
		cl.Close()
		adm.Close()
	}
	if err := b1.stop(); err != nil {
		t.Fatalf("clean stop: %v\n%s", err, b1.stderrTail())
	}

	b2 := startBrokerOnT(t, dir, b1.Kafka)
	if b2.Kafka != b1.Kafka {
		t.Fatalf("restarted on %s, want %s", b2.Kafka, b1.Kafka)
	}
	adm := newAdmin(t, b2)
	td, err := adm.ListTopics(ctxT(t), topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("ListTopics after restart: %v / %v", err, td[topic].Err)
	}
	if n := len(td[topic].Partitions); n != 2 {
		t.Fatalf("%d partitions after restart, want 2", n)
	}
	rcs, err := adm.DescribeTopicConfigs(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On(topic, nil)
	val := ""
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			val = c.MaybeValue()
		}
	}
	if val != "123456789" {
		t.Errorf("retention.ms after restart = %q, want 123456789", val)
	}
	start, err := adm.ListStartOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup(topic, 1); s.Offset != 4 {
		t.Errorf("partition 1 log start offset after restart %d, want 4 (DeleteRecords must persist)", s.Offset)
	}
	got := consume(t, b2, topic, 0, 0, 10)
	for j, r := range got {
		i := j * 2
		if string(r.Value) != fmt.Sprint("persisted-", i) || string(r.Key) != fmt.Sprint("k", i) ||
			len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) || r.Offset != int64(j) {
			t.Errorf("p0 record %d after restart: offset %d key %q value %q headers %v", j, r.Offset, r.Key, r.Value, r.Headers)
		}
	}
	cl := newClient(t, b2, kgo.DefaultProduceTopic(topic))
	r := &kgo.Record{Partition: 0, Value: []byte("after-restart")}
	if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if r.Offset != 10 {
		t.Errorf("first offset after restart %d, want 10", r.Offset)
	}
}

// Crash (SIGKILL) with --log-flush-messages 1: every acknowledged (acks=all) record is readable after
// restart on the same data dir, and offsets continue after the last one.
func TestCrashRecoveryKeepsAckedRecords(t *testing.T) {
	dir := t.TempDir()
	b1 := startBrokerOnT(t, dir, "", "--log-flush-messages", "1")
	topic := topicName(t)
	const n = 100
	{
		adm := newAdmin(t, b1)
		if _, err := adm.CreateTopic(ctxT(t), 1, 1, nil, topic); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		cl := newClient(t, b1, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.Lz4Compression()))
		for i := 0; i < n; i += 10 {
			var recs []*kgo.Record
			for j := i; j < i+10; j++ {
				recs = append(recs, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprint("acked-", j))})
			}
			if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
		cl.Close()
		adm.Close()
	}
	b1.crash()

	b2 := startBrokerOnT(t, dir, b1.Kafka, "--log-flush-messages", "1")
	got := consume(t, b2, topic, 0, 0, n)
	if len(got) != n {
		t.Fatalf("%d records after crash, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprint("acked-", i) {
			t.Fatalf("record %d after crash: offset %d value %q", i, r.Offset, r.Value)
		}
	}
	cl := newClient(t, b2, kgo.DefaultProduceTopic(topic))
	r := &kgo.Record{Partition: 0, Value: []byte("post-crash")}
	if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
		t.Fatalf("produce after crash: %v", err)
	}
	if r.Offset != n {
		t.Errorf("first offset after crash recovery %d, want %d", r.Offset, n)
	}
	_, err := newAdmin(t, b2).CreateTopic(ctxT(t), 1, 1, nil, topic)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("topic metadata lost after crash? re-create: %v", err)
	}
}
