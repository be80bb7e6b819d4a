package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// franz-go's defaults: idempotent writes (InitProducerId, sequenced batches) and acks=all.
// Also checks that the producer carries on across a broker restart with its sequences intact.
func TestDefaultIdempotentProducerAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerOnT(t, dir, "")
	topic := topicName(t)
	produce := func(cl *kgo.Client, from, to int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprintf("v%d", i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v\n%s", i, err, b.stderrTail())
			}
			if r.Offset != int64(i) {
				t.Fatalf("record %d got offset %d", i, r.Offset)
			}
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Kafka),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryTimeout(60*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce(cl, 0, 200)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	// Same data dir and port: the client reconnects on its own.
	b2 := startBrokerOnT(t, dir, b.Kafka)
	produce(cl, 200, 400)
	got := consume(t, b2, topic, 0, 0, 400)
	if len(got) != 400 {
		t.Fatalf("want 400 records exactly once, got %d", len(got))
	}
	for i, r := range got {
		if string(r.Value) != fmt.Sprintf("v%d", i) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}
