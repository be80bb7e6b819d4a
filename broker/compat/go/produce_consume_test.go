package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
	attr  uint8 // record batch attributes compression bits
}{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), 1},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
}

func mkRecords(topic string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: 0}
		if i%10 != 3 {
			r.Key = []byte(fmt.Sprintf("key-%d", i))
		}
		if i%7 != 0 { // every 7th value is null (tombstone)
			r.Value = []byte(strings.Repeat(fmt.Sprintf("value-%d-", i), 1+i%5))
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "idx", Value: []byte(fmt.Sprint(i))})
		if i%2 == 0 {
			r.Headers = append(r.Headers,
				kgo.RecordHeader{Key: "even", Value: []byte("yes")},
				kgo.RecordHeader{Key: "dup", Value: []byte("first")},
				kgo.RecordHeader{Key: "dup", Value: []byte("second")})
		}
		recs = append(recs, r)
	}
	return recs
}

func assertSameRecords(t *testing.T, want, got []*kgo.Record, fromOffset int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Offset != fromOffset+int64(i) {
			t.Errorf("record %d: offset %d, want %d", i, g.Offset, fromOffset+int64(i))
		}
		if (w.Key == nil) != (g.Key == nil) || !bytes.Equal(w.Key, g.Key) {
			t.Errorf("record %d: key %q (nil=%v), want %q (nil=%v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		}
		if (w.Value == nil) != (g.Value == nil) || !bytes.Equal(w.Value, g.Value) {
			t.Errorf("record %d: value %q (nil=%v), want %q (nil=%v)", i, g.Value, g.Value == nil, w.Value, w.Value == nil)
		}
		if len(w.Headers) != len(g.Headers) {
			t.Errorf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
			continue
		}
		for h := range w.Headers {
			if w.Headers[h].Key != g.Headers[h].Key || !bytes.Equal(w.Headers[h].Value, g.Headers[h].Value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, h,
					g.Headers[h].Key, g.Headers[h].Value, w.Headers[h].Key, w.Headers[h].Value)
			}
		}
	}
}

// Produce + Fetch round trip for each codec; checks keys, null keys, null values, headers (incl.
// duplicate keys), offsets, and that the fetched batches carry the codec (stored compressed).
func TestProduceConsumeCodecs(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	for _, c := range codecs {
		c := c
		t.Run(c.name, func(t *testing.T) {
			topic := topicName(t)
			mustCreateTopic(t, adm, topic, 1, nil)
			cl := newClient(t, shared,
				kgo.ProducerBatchCompression(c.codec),
				kgo.ProducerLinger(50*time.Millisecond),
				kgo.DefaultProduceTopic(topic),
			)
			want := mkRecords(topic, 50)
			res := cl.ProduceSync(ctxT(t), want...)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("produce (%s): %v", c.name, err)
			}
			for i, r := range res {
				if r.Record.Offset != int64(i) {
					t.Errorf("produce result %d: offset %d", i, r.Record.Offset)
				}
			}
			got := consume(t, shared, topic, 0, 0, len(want))
			assertSameRecords(t, want, got, 0)
			for i, r := range got {
				if ct := r.Attrs.CompressionType(); ct != c.attr {
					t.Errorf("record %d fetched with compression type %d, want %d (%s)", i, ct, c.attr, c.name)
					break
				}
			}
		})
	}
}

// acks=all (AllISRAcks) produce on a single-node broker.
func TestProduceAcksAll(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, nil)
	cl := newClient(t, shared, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	var want []*kgo.Record
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Partition: 0, Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("acks-all-", i))}
		res := cl.ProduceSync(ctxT(t), r)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("acks=all produce %d: offset %d", i, r.Offset)
		}
		want = append(want, r)
	}
	assertSameRecords(t, want, consume(t, shared, topic, 0, 0, 10), 0)
}

// Producing a batch over the topic's max.message.bytes fails with MESSAGE_TOO_LARGE and stores nothing.
func TestProduceMessageTooLarge(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 1, map[string]*string{"max.message.bytes": sp("1024")})
	cl := newClient(t, shared, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := make([]byte, 4000)
	for i := range big {
		big[i] = byte(i * 7919 % 251)
	}
	err := cl.ProduceSync(ctxT(t), &kgo.Record{Partition: 0, Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("want MESSAGE_TOO_LARGE, got %v", err)
	}
	small := &kgo.Record{Partition: 0, Value: []byte("small")}
	if err := cl.ProduceSync(ctxT(t), small).FirstErr(); err != nil {
		t.Fatalf("small produce after rejection: %v", err)
	}
	if small.Offset != 0 {
		t.Fatalf("small record offset %d, want 0 (rejected batch must not be appended)", small.Offset)
	}
	got := consume(t, shared, topic, 0, 0, 1)
	if len(got) != 1 || string(got[0].Value) != "small" {
		t.Fatalf("stored records: %d (first %q)", len(got), got[0].Value)
	}
}

// Multi-partition produce with explicit partitions; fetch starting mid-log.
func TestProduceMultiPartitionFetchFromMiddle(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 3, nil)
	cl := newClient(t, shared, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprint("v", i))})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for p := int32(0); p < 3; p++ {
		got := consume(t, shared, topic, p, 4, 6)
		if len(got) != 6 {
			t.Fatalf("partition %d: %d records from offset 4, want 6", p, len(got))
		}
		for j, r := range got {
			i := (4+j)*3 + int(p)
			if r.Offset != int64(4+j) || string(r.Value) != fmt.Sprint("v", i) || r.Partition != p {
				t.Errorf("p%d #%d: offset %d value %q partition %d", p, j, r.Offset, r.Value, r.Partition)
			}
		}
	}
}

// With --auto-create-topics false, producing to an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION;
// with the default (true) and a client that allows auto creation, the topic appears.
func TestAutoCreateTopics(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		b := startBrokerT(t, "--auto-create-topics", "false")
		cl := newClient(t, b, kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(2),
			kgo.RecordDeliveryTimeout(20*time.Second))
		err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "go-no-such-topic", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
		}
		topics, err := newAdmin(t, b).ListTopics(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if topics.Has("go-no-such-topic") {
			t.Fatal("topic was created although auto-create is off")
		}
	})
	t.Run("enabled", func(t *testing.T) {
		reportOnFailure(t, shared)
		topic := topicName(t)
		cl := newClient(t, shared, kgo.AllowAutoTopicCreation())
		r := &kgo.Record{Topic: topic, Value: []byte("auto")}
		if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
			t.Fatalf("produce to auto-created topic: %v", err)
		}
		if r.Partition != 0 || r.Offset != 0 {
			t.Fatalf("auto-created record at %d/%d, want 0/0", r.Partition, r.Offset)
		}
		got := consume(t, shared, topic, 0, 0, 1)
		if string(got[0].Value) != "auto" {
			t.Fatalf("value %q", got[0].Value)
		}
	})
}

// Large fetches are sent from the page cache with sendfile between encoded parts of the
// response: franz-go must read every byte back, from large batches and from many one-record
// batches, with a partition limit that cuts responses inside the log.
func TestLargeFetchesAreByteExact(t *testing.T) {
	reportOnFailure(t, shared)
	adm := newAdmin(t, shared)
	topic := topicName(t)
	mustCreateTopic(t, adm, topic, 3, nil)
	value := func(p int32, i int) []byte {
		size := 100
		if i < 600 {
			size = 4096 + i*37%8192
		}
		seed := fmt.Sprintf("p%d-r%d:%x", p, i, i*2654435761)
		return []byte(strings.Repeat(seed, size/len(seed)+1)[:size])
	}
	const big, small = 600, 1500
	cl := newClient(t, shared, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(20*time.Millisecond))
	var recs []*kgo.Record
	for i := 0; i < big; i++ {
		for p := int32(0); p < 3; p++ {
			recs = append(recs, &kgo.Record{Partition: p, Value: value(p, i)})
		}
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce large batches: %v", err)
	}
	// One record per batch: many batches between index entries.
	cl = newClient(t, shared, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := big; i < big+small; i += 50 {
		recs = recs[:0]
		for j := i; j < i+50; j++ {
			for p := int32(0); p < 3; p++ {
				recs = append(recs, &kgo.Record{Partition: p, Value: value(p, j)})
			}
		}
		for _, r := range recs {
			if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
				t.Fatalf("produce small batches: %v", err)
			}
		}
	}
	for p := int32(0); p < 3; p++ {
		reader := newClient(t, shared,
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}),
			kgo.FetchMaxPartitionBytes(150_000))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		next := 0
		for next < big+small {
			fs := reader.PollFetches(ctx)
			if ctx.Err() != nil {
				cancel()
				t.Fatalf("partition %d: read %d of %d records within 60s", p, next, big+small)
			}
			for _, fe := range fs.Errors() {
				cancel()
				t.Fatalf("fetch error %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(next) || !bytes.Equal(r.Value, value(p, next)) {
					t.Errorf("partition %d: record at offset %d (want %d) has the wrong bytes", p, r.Offset, next)
				}
				next++
			})
		}
		cancel()
	}
}
