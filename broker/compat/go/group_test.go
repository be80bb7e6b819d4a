package compat

// Consumer groups through franz-go's own group code (kgo.ConsumerGroup: FindCoordinator, JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch) and kadm's group admin (ListGroups,
// DescribeGroups, OffsetFetch, OffsetCommit, OffsetDelete, DeleteGroups). Each test starts its own
// broker with --group-initial-rebalance-delay-ms 0. Every wait is bounded; nothing asserts timings.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var groupFlags = []string{"--group-initial-rebalance-delay-ms", "0"}

// gotRecord is one record as seen by one group member.
type gotRecord struct {
	member    string
	partition int32
	offset    int64
	value     string
}

// recordSink collects what all members of a test consumed.
type recordSink struct {
	mu   sync.Mutex
	recs []gotRecord
}

func (s *recordSink) add(r gotRecord) { s.mu.Lock(); s.recs = append(s.recs, r); s.mu.Unlock() }
func (s *recordSink) len() int        { s.mu.Lock(); defer s.mu.Unlock(); return len(s.recs) }
func (s *recordSink) all() []gotRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotRecord(nil), s.recs...)
}

// groupMember is one kgo group consumer polling in its own goroutine. It marks every record it
// processed (AutoCommitMarks), blocks rebalances while processing (BlockRebalanceOnPoll), and commits
// its marks synchronously when partitions are revoked, so a partition that moves is resumed by its new
// owner exactly after the last record the old owner processed.
type groupMember struct {
	name     string
	cl       *kgo.Client
	sink     *recordSink
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	owned    map[int32]bool
	assigned int // OnPartitionsAssigned calls
	revoked  int // OnPartitionsRevoked calls with a non-empty set
	lost     int
	errs     []string
	closed   bool
}

func startMember(t *testing.T, b *broker, group, topic, name string, sink *recordSink, extra ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{name: name, sink: sink, owned: map[int32]bool{}, done: make(chan struct{})}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ClientID(name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(30 * time.Second),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(500 * time.Millisecond),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.assigned++
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Called at the end of every session, also with nothing revoked.
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				m.addErr("commit on revoke: %v", err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(r[topic]) > 0 {
				m.revoked++
			}
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.lost++
			for _, p := range l[topic] {
				delete(m.owned, p)
			}
		}),
	}, extra...)
	cl, err := kgo.NewClient(clientOpts(b, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient(%s): %v", name, err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollRecords(ctx, 100)
			if ctx.Err() != nil || fs.IsClientClosed() {
				cl.AllowRebalance()
				return
			}
			fs.EachError(func(tp string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					m.addErr("fetch %s[%d]: %v", tp, p, err)
				}
			})
			recs := fs.Records()
			for _, r := range recs {
				sink.add(gotRecord{member: name, partition: r.Partition, offset: r.Offset, value: string(r.Value)})
			}
			cl.MarkCommitRecords(recs...)
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(func() { m.close(t) })
	return m
}

func (m *groupMember) addErr(f string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, fmt.Sprintf(f, args...))
}

// close stops polling, then closes the client: a dynamic member leaves the group (its
// OnPartitionsRevoked commits the marks first), a static one (InstanceID) does not.
func (m *groupMember) close(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s: poll loop did not stop within 30s", m.name)
	}
	closed := make(chan struct{})
	go func() { m.cl.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Errorf("%s: Close did not return within 30s", m.name)
	}
}

func (m *groupMember) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int32, 0, len(m.owned))
	for p := range m.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (m *groupMember) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]int32, 0, len(m.owned))
	for p := range m.owned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return fmt.Sprintf("%s%v assigned=%d revoked=%d lost=%d errs=%v", m.name, ps, m.assigned, m.revoked, m.lost, m.errs)
}

func (m *groupMember) assertHealthy(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.errs) > 0 {
		t.Errorf("%s: errors: %v", m.name, m.errs)
	}
	if m.lost > 0 {
		t.Errorf("%s: OnPartitionsLost called %d times", m.name, m.lost)
	}
}

// waitFor polls cond every 50 ms for at most 60 s.
func waitFor(t *testing.T, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 60s: %s; state: %s", what, state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// splitExactly: every partition 0..n-1 has exactly one owner, and each member owns `each` of them.
func splitExactly(ms []*groupMember, n, each int) bool {
	seen := map[int32]int{}
	for _, m := range ms {
		ps := m.partitions()
		if len(ps) != each {
			return false
		}
		for _, p := range ps {
			seen[p]++
		}
	}
	if len(seen) != n {
		return false
	}
	for _, c := range seen {
		if c != 1 {
			return false
		}
	}
	return true
}

func membersState(ms []*groupMember, s *recordSink) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	return fmt.Sprintf("%s consumed=%d", strings.Join(parts, ", "), s.len())
}

// produceRange writes records with values "v-{p}-{i}" for i in [from, to) to every partition.
func produceRange(t *testing.T, b *broker, topic string, partitions int32, from, to int) {
	t.Helper()
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		for p := int32(0); p < partitions; p++ {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("v-%d-%d", p, i))})
		}
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// assertExactlyOnce: offsets [0, perPartition) of every partition consumed once each, nothing else.
func assertExactlyOnce(t *testing.T, got []gotRecord, partitions int32, perPartition int) {
	t.Helper()
	seen := map[string][]string{}
	for _, g := range got {
		k := fmt.Sprintf("%d@%d", g.partition, g.offset)
		seen[k] = append(seen[k], g.member)
		if want := fmt.Sprintf("v-%d-%d", g.partition, g.offset); g.value != want {
			t.Errorf("value at %s = %q, want %q", k, g.value, want)
		}
	}
	var dups, missing []string
	for k, who := range seen {
		if len(who) > 1 {
			dups = append(dups, fmt.Sprintf("%s by %v", k, who))
		}
	}
	for p := int32(0); p < partitions; p++ {
		for o := 0; o < perPartition; o++ {
			k := fmt.Sprintf("%d@%d", p, o)
			if _, ok := seen[k]; !ok {
				missing = append(missing, k)
			}
			delete(seen, k)
		}
	}
	sort.Strings(dups)
	sort.Strings(missing)
	if len(dups) > 0 {
		t.Errorf("consumed more than once: %v", dups)
	}
	if len(missing) > 0 {
		t.Errorf("never consumed: %v", missing)
	}
	if len(seen) > 0 {
		t.Errorf("unexpected records: %v", seen)
	}
}

func committedOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range os[topic] {
		if o.Err != nil {
			t.Fatalf("FetchOffsets %s %s[%d]: %v", group, topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

func describeGroup(t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ds, err := adm.DescribeGroups(ctxT(t), group)
	if err != nil {
		t.Fatalf("DescribeGroups %s: %v", group, err)
	}
	d, err := ds.On(group, nil)
	if err != nil || d.Err != nil {
		t.Fatalf("DescribeGroups %s: %v / %v", group, err, d.Err)
	}
	return d
}

func groupState(adm *kadm.Client, group string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "error: " + err.Error()
	}
	d, _ := ds.On(group, nil)
	return fmt.Sprintf("%s members=%d err=%v", d.State, len(d.Members), d.Err)
}

func groupName(t *testing.T) string { return "g-" + topicName(t) }

func eqOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Two kgo group members (cooperative-sticky, franz-go's default) on a 4-partition topic: the second
// member takes 2 partitions over while records keep coming, the first takes them back when the second
// leaves; every record is consumed exactly once and the committed offsets end at the log end.
func TestGroupTwoMembersConsumeEachRecordOnce(t *testing.T) {
	b := startBrokerT(t, groupFlags...)
	adm := newAdmin(t, b)
	topic, group := topicName(t), groupName(t)
	mustCreateTopic(t, adm, topic, 4, nil)
	sink := &recordSink{}

	produceRange(t, b, topic, 4, 0, 25)
	a := startMember(t, b, group, topic, "a", sink)
	ms := []*groupMember{a}
	waitFor(t, "a owns all 4 partitions and read 100 records",
		func() bool { return splitExactly(ms, 4, 4) && sink.len() >= 100 }, func() string { return membersState(ms, sink) })

	m2 := startMember(t, b, group, topic, "b", sink)
	ms = append(ms, m2)
	produceRange(t, b, topic, 4, 25, 50) // records keep coming while partitions move
	waitFor(t, "a and b own 2 partitions each", func() bool { return splitExactly(ms, 4, 2) },
		func() string { return membersState(ms, sink) })
	waitFor(t, "200 records consumed", func() bool { return sink.len() >= 200 }, func() string { return membersState(ms, sink) })
	produceRange(t, b, topic, 4, 50, 60) // after the split: each member reads its own new records
	waitFor(t, "240 records consumed", func() bool { return sink.len() >= 240 }, func() string { return membersState(ms, sink) })
	bParts := m2.partitions()
	for _, g := range sink.all() {
		if g.offset >= 50 {
			owner := a
			for _, p := range bParts {
				if p == g.partition {
					owner = m2
				}
			}
			if g.member != owner.name {
				t.Errorf("record %d@%d read by %s, but %s owns the partition", g.partition, g.offset, g.member, owner.name)
			}
		}
	}

	m2.close(t) // LeaveGroup
	produceRange(t, b, topic, 4, 60, 75)
	ms = ms[:1]
	waitFor(t, "a owns all 4 partitions again", func() bool { return splitExactly(ms, 4, 4) },
		func() string { return membersState(ms, sink) })
	waitFor(t, "300 records consumed", func() bool { return sink.len() >= 300 }, func() string { return membersState(ms, sink) })

	if err := a.cl.CommitMarkedOffsets(ctxT(t)); err != nil {
		t.Fatalf("CommitMarkedOffsets: %v", err)
	}
	want := map[int32]int64{0: 75, 1: 75, 2: 75, 3: 75}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, want) {
		t.Errorf("committed offsets %v, want %v", got, want)
	}
	got := sink.all()
	if len(got) != 300 {
		t.Errorf("consumed %d records, want 300", len(got))
	}
	assertExactlyOnce(t, got, 4, 75)
	takenBack := 0
	for _, g := range got {
		for _, p := range bParts {
			if g.partition == p && g.offset >= 60 && g.member == "a" {
				takenBack++
			}
		}
	}
	if takenBack != 2*15 {
		t.Errorf("a read %d of the 30 records produced to b's partitions %v after b left", takenBack, bParts)
	}
	a.assertHealthy(t)
	m2.assertHealthy(t)
}

// kadm against a group: ListGroups (with state filters), DescribeGroups, FetchOffsets, CommitOffsets to
// reset an empty group (a new member resumes there), OffsetDelete, DeleteGroups; plus the errors Kafka
// gives for an active group.
func TestGroupAdmin(t *testing.T) {
	b := startBrokerT(t, groupFlags...)
	adm := newAdmin(t, b)
	topic, group := topicName(t), groupName(t)
	mustCreateTopic(t, adm, topic, 3, nil)
	produceRange(t, b, topic, 3, 0, 10)
	sink := &recordSink{}
	m := startMember(t, b, group, topic, "solo", sink)
	ms := []*groupMember{m}
	waitFor(t, "30 records consumed", func() bool { return sink.len() >= 30 }, func() string { return membersState(ms, sink) })
	if err := m.cl.CommitMarkedOffsets(ctxT(t)); err != nil {
		t.Fatalf("CommitMarkedOffsets: %v", err)
	}
	want := map[int32]int64{0: 10, 1: 10, 2: 10}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, want) {
		t.Fatalf("FetchOffsets %v, want %v", got, want)
	}

	// ListGroups, with and without state filters.
	listed, err := adm.ListGroups(ctxT(t))
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	lg, ok := listed[group]
	if !ok {
		t.Fatalf("%s not in ListGroups: %v", group, listed.Groups())
	}
	if lg.ProtocolType != "consumer" || lg.State != "Stable" || lg.Coordinator != 1 {
		t.Errorf("listed %+v, want protocol type consumer, state Stable, coordinator 1", lg)
	}
	for _, c := range []struct {
		filter string
		in     bool
	}{{"Stable", true}, {"Empty", false}} {
		l, err := adm.ListGroups(ctxT(t), c.filter)
		if err != nil {
			t.Fatalf("ListGroups(%s): %v", c.filter, err)
		}
		if _, ok := l[group]; ok != c.in {
			t.Errorf("ListGroups(%s) lists the stable group: %v, want %v", c.filter, ok, c.in)
		}
	}

	// DescribeGroups: state, protocol, the member, its subscription and assignment.
	d := describeGroup(t, adm, group)
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "cooperative-sticky" || d.Coordinator.NodeID != 1 {
		t.Errorf("described state=%q type=%q protocol=%q coordinator=%d", d.State, d.ProtocolType, d.Protocol, d.Coordinator.NodeID)
	}
	if len(d.Members) != 1 {
		t.Fatalf("described %d members, want 1", len(d.Members))
	}
	dm := d.Members[0]
	if dm.MemberID == "" || dm.ClientID != "solo" || dm.ClientHost == "" || dm.InstanceID != nil {
		t.Errorf("member id=%q client=%q host=%q instance=%v", dm.MemberID, dm.ClientID, dm.ClientHost, dm.InstanceID)
	}
	if mid, _ := m.cl.GroupMetadata(); mid != dm.MemberID {
		t.Errorf("described member id %q, the client's is %q", dm.MemberID, mid)
	}
	if j, ok := dm.Join.AsConsumer(); !ok || len(j.Topics) != 1 || j.Topics[0] != topic {
		t.Errorf("member subscription %+v", j)
	}
	assigned := d.AssignedPartitions()
	if ps := assigned.Sorted(); len(ps) != 1 || ps[0].Topic != topic || fmt.Sprint(ps[0].Partitions) != "[0 1 2]" {
		t.Errorf("described assignment %v, want %s [0 1 2]", ps, topic)
	}

	// Active group: DeleteGroups -> NON_EMPTY_GROUP; an admin commit (no member id, generation -1)
	// -> UNKNOWN_MEMBER_ID; OffsetDelete of a subscribed topic -> GROUP_SUBSCRIBED_TO_TOPIC.
	dr, err := adm.DeleteGroups(ctxT(t), group)
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	if !errors.Is(dr[group].Err, kerr.NonEmptyGroup) {
		t.Errorf("DeleteGroups on an active group: %v, want NON_EMPTY_GROUP", dr[group].Err)
	}
	var reset kadm.Offsets
	reset.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1})
	cr, err := adm.CommitOffsets(ctxT(t), group, reset)
	if err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if r, _ := cr.Lookup(topic, 0); !errors.Is(r.Err, kerr.UnknownMemberID) {
		t.Errorf("CommitOffsets on an active group: %v, want UNKNOWN_MEMBER_ID", r.Err)
	}
	del, err := adm.DeleteOffsets(ctxT(t), group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if e, _ := del.Lookup(topic, 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Errorf("DeleteOffsets on an active group: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, want) {
		t.Errorf("refused requests changed offsets: %v, want %v", got, want)
	}

	m.close(t)
	m.assertHealthy(t)
	waitFor(t, "group Empty after the member left", func() bool { return strings.HasPrefix(groupState(adm, group), "Empty members=0") },
		func() string { return groupState(adm, group) })
	if l, err := adm.ListGroups(ctxT(t), "Empty"); err != nil || l[group].Group != group {
		t.Errorf("ListGroups(Empty) after leave: %v, %v", l.Groups(), err)
	}

	// Empty group: CommitOffsets resets it (with metadata); a new member resumes from there.
	reset = nil
	reset.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1, Metadata: "reset-by-kadm"})
	reset.Add(kadm.Offset{Topic: topic, Partition: 1, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctxT(t), group, reset); err != nil {
		t.Fatalf("CommitAllOffsets on the empty group: %v", err)
	}
	os, err := adm.FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := os.Lookup(topic, 0); o.At != 2 || o.Metadata != "reset-by-kadm" {
		t.Errorf("p0 after reset: %+v, want 2 with metadata", o)
	}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, map[int32]int64{0: 2, 1: 5, 2: 10}) {
		t.Errorf("offsets after reset %v, want 0:2 1:5 2:10", got)
	}
	sink2 := &recordSink{}
	m2 := startMember(t, b, group, topic, "resumer", sink2)
	ms2 := []*groupMember{m2}
	waitFor(t, "13 records consumed after the reset", func() bool { return sink2.len() >= 13 }, func() string { return membersState(ms2, sink2) })
	produceRange(t, b, topic, 3, 10, 11) // one more each, then nothing else may show up
	waitFor(t, "16 records consumed", func() bool { return sink2.len() >= 16 }, func() string { return membersState(ms2, sink2) })
	byPart := map[int32][]int64{}
	for _, g := range sink2.all() {
		byPart[g.partition] = append(byPart[g.partition], g.offset)
	}
	if fmt.Sprint(byPart[0]) != "[2 3 4 5 6 7 8 9 10]" || fmt.Sprint(byPart[1]) != "[5 6 7 8 9 10]" || fmt.Sprint(byPart[2]) != "[10]" {
		t.Errorf("after reset read %v, want p0 from 2, p1 from 5, p2 only the new record 10", byPart)
	}
	m2.close(t)
	m2.assertHealthy(t)
	waitFor(t, "group Empty again", func() bool { return strings.HasPrefix(groupState(adm, group), "Empty") },
		func() string { return groupState(adm, group) })

	// OffsetDelete on the empty group.
	del, err = adm.DeleteOffsets(ctxT(t), group, kadm.TopicsSet{topic: {1: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("DeleteOffsets on the empty group: %v / %v", err, del.Error())
	}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, map[int32]int64{0: 11, 2: 11}) {
		t.Errorf("offsets after deleting p1 %v, want 0:11 2:11", got)
	}

	// DeleteGroups on the empty group; a second delete -> GROUP_ID_NOT_FOUND.
	dr, err = adm.DeleteGroups(ctxT(t), group)
	if err != nil || dr[group].Err != nil {
		t.Fatalf("DeleteGroups on the empty group: %v / %v", err, dr[group].Err)
	}
	listed, err = adm.ListGroups(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[group]; ok {
		t.Errorf("deleted group still listed")
	}
	if got := committedOffsets(t, adm, group, topic); len(got) != 0 {
		t.Errorf("deleted group still has offsets %v", got)
	}
	dr, err = adm.DeleteGroups(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dr[group].Err, kerr.GroupIDNotFound) {
		t.Errorf("second DeleteGroups: %v, want GROUP_ID_NOT_FOUND", dr[group].Err)
	}
}

// Committed offsets survive a clean broker restart (SIGTERM, same data dir and port): group "g" committed
// through kgo (CommitUncommittedOffsets), group "g-kadm" through kadm with metadata; an offset deleted
// and a group deleted before the restart stay deleted. After the restart a new member of "g" resumes at
// the committed offsets.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b1 := startBrokerOnT(t, dir, "", groupFlags...)
	topic, group := topicName(t), groupName(t)
	gKadm, gGone := group+"-kadm", group+"-gone"
	{
		adm := newAdmin(t, b1)
		mustCreateTopic(t, adm, topic, 2, nil)
		produceRange(t, b1, topic, 2, 0, 10)
		// A plain group consumer with manual commits: CommitUncommittedOffsets after polling 20 records.
		cl := newClient(t, b1, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(10*time.Second),
			kgo.HeartbeatInterval(500*time.Millisecond))
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for n < 20 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				cancel()
				t.Fatalf("consumed %d of 20 within 60s", n)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Errorf("fetch %s[%d]: %v", tp, p, err) })
			n += fs.NumRecords()
		}
		cancel()
		if n != 20 {
			t.Errorf("group consumer read %d records, want 20", n)
		}
		if err := cl.CommitUncommittedOffsets(ctxT(t)); err != nil {
			t.Fatalf("CommitUncommittedOffsets: %v", err)
		}
		cl.Close() // leaves the group

		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "kadm-meta"})
		os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 7, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctxT(t), gKadm, os); err != nil {
			t.Fatalf("CommitAllOffsets %s: %v", gKadm, err)
		}
		if del, err := adm.DeleteOffsets(ctxT(t), gKadm, kadm.TopicsSet{topic: {1: {}}}); err != nil || del.Error() != nil {
			t.Fatalf("DeleteOffsets: %v / %v", err, del.Error())
		}
		if err := adm.CommitAllOffsets(ctxT(t), gGone, os); err != nil {
			t.Fatalf("CommitAllOffsets %s: %v", gGone, err)
		}
		if dr, err := adm.DeleteGroups(ctxT(t), gGone); err != nil || dr[gGone].Err != nil {
			t.Fatalf("DeleteGroups %s: %v / %v", gGone, err, dr[gGone].Err)
		}
		if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, map[int32]int64{0: 10, 1: 10}) {
			t.Fatalf("before restart: %s offsets %v, want 10/10", group, got)
		}
		adm.Close()
	}
	if err := b1.stop(); err != nil {
		t.Fatalf("clean stop: %v\n%s", err, b1.stderrTail())
	}

	b2 := startBrokerOnT(t, dir, b1.Kafka, groupFlags...)
	adm := newAdmin(t, b2)
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, map[int32]int64{0: 10, 1: 10}) {
		t.Errorf("after restart: %s offsets %v, want 0:10 1:10", group, got)
	}
	os, err := adm.FetchOffsets(ctxT(t), gKadm)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup(topic, 0); !ok || o.At != 3 || o.Metadata != "kadm-meta" {
		t.Errorf("after restart: %s p0 %+v (found %v), want 3 with metadata kadm-meta", gKadm, o, ok)
	}
	if o, ok := os.Lookup(topic, 1); ok {
		t.Errorf("after restart: %s p1 deleted before the restart is back: %+v", gKadm, o)
	}
	if got := committedOffsets(t, adm, gGone, topic); len(got) != 0 {
		t.Errorf("after restart: deleted group %s has offsets %v", gGone, got)
	}
	listed, err := adm.ListGroups(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[gGone]; ok {
		t.Errorf("after restart: deleted group %s listed", gGone)
	}

	// A new member of the group resumes at the committed offsets: only the records produced now.
	produceRange(t, b2, topic, 2, 10, 15)
	sink := &recordSink{}
	m := startMember(t, b2, group, topic, "after-restart", sink)
	ms := []*groupMember{m}
	waitFor(t, "10 new records consumed", func() bool { return sink.len() >= 10 }, func() string { return membersState(ms, sink) })
	if err := m.cl.CommitMarkedOffsets(ctxT(t)); err != nil {
		t.Fatalf("CommitMarkedOffsets: %v", err)
	}
	for _, g := range sink.all() {
		if g.offset < 10 {
			t.Errorf("after restart re-read %d@%d, committed offset was 10", g.partition, g.offset)
		}
	}
	if n := sink.len(); n != 10 {
		t.Errorf("after restart consumed %d records, want 10", n)
	}
	if got := committedOffsets(t, adm, group, topic); !eqOffsets(got, map[int32]int64{0: 15, 1: 15}) {
		t.Errorf("offsets after consuming on the restarted broker %v, want 15/15", got)
	}
	m.assertHealthy(t)
}
