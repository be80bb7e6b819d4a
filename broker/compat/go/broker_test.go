package compat

// Broker lifecycle helpers: start the Weir binary with os/exec, wait for the ready line, stop with SIGTERM.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	reKafka = regexp.MustCompile(`kafka=(\S+)`)
	reHTTP  = regexp.MustCompile(`http=(\S+)`)
)

// broker is one running Weir process.
type broker struct {
	cmd       *exec.Cmd
	dataDir   string
	stderrLog string
	Kafka     string
	HTTP      string
	keepData  bool // data dir owned by the caller (restart tests): stop() leaves it alone
	done      chan struct{}
	waitErr   error
	stopOnce  sync.Once
}

func weirBin() string {
	if b := os.Getenv("WEIR_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "weir", "target", "debug", "weir")
}

// startBroker launches `weir serve` on ephemeral ports with a fresh data dir and waits (<=30 s) for
// the "weir ready:" line.
func startBroker(extra ...string) (*broker, error) {
	return startBrokerOn("", "", extra...)
}

// startBrokerOn is startBroker with an existing data dir ("" = fresh temp dir, removed on stop) and a
// fixed listen address ("" = 127.0.0.1:0), for restart tests.
func startBrokerOn(dataDir, listen string, extra ...string) (*broker, error) {
	bin := weirBin()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return nil, fmt.Errorf("weir binary not found at %q (set WEIR_BIN): %v", bin, err)
	}
	keepData := dataDir != ""
	if !keepData {
		d, err := os.MkdirTemp("", "weir-go-data-")
		if err != nil {
			return nil, err
		}
		dataDir = d
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	errf, err := os.CreateTemp("", "weir-go-stderr-*.log")
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve",
		"--listen", listen,
		"--http-listen", "127.0.0.1:0",
		"--data-dir", dataDir}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = errf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	errf.Close() // the child holds its own descriptor

	b := &broker{cmd: cmd, dataDir: dataDir, stderrLog: errf.Name(), keepData: keepData, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() { // keep draining stdout until the process exits
			line := sc.Text()
			if !sent && strings.HasPrefix(line, "weir ready:") {
				ready <- line
				sent = true
			}
		}
		close(ready)
	}()
	go func() {
		b.waitErr = cmd.Wait()
		close(b.done)
	}()

	cleanupFailed := func() {
		if !keepData {
			_ = os.RemoveAll(dataDir)
		}
		_ = os.Remove(b.stderrLog)
	}
	select {
	case line, ok := <-ready:
		if !ok {
			<-b.done
			defer cleanupFailed()
			return nil, fmt.Errorf("broker exited before ready (%v); stderr:\n%s", b.waitErr, b.stderrTail())
		}
		km, hm := reKafka.FindStringSubmatch(line), reHTTP.FindStringSubmatch(line)
		if km == nil || hm == nil {
			b.kill()
			cleanupFailed()
			return nil, fmt.Errorf("cannot parse ready line %q", line)
		}
		b.Kafka, b.HTTP = km[1], hm[1]
		return b, nil
	case <-time.After(30 * time.Second):
		b.kill()
		defer cleanupFailed()
		return nil, fmt.Errorf("broker not ready within 30s; stderr:\n%s", b.stderrTail())
	}
}

func (b *broker) kill() {
	_ = b.cmd.Process.Kill()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
	}
}

// stop sends SIGTERM and waits up to 20 s (then SIGKILL). It returns an error if the exit was not clean.
func (b *broker) stop() error {
	var err error
	b.stopOnce.Do(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
			if b.waitErr != nil {
				err = fmt.Errorf("broker exit after SIGTERM: %v", b.waitErr)
			}
		case <-time.After(20 * time.Second):
			b.kill()
			err = errors.New("broker did not exit within 20s of SIGTERM; killed")
		}
		if !b.keepData {
			_ = os.RemoveAll(b.dataDir)
		}
	})
	return err
}

// crash SIGKILLs the broker (no clean shutdown) and waits for it to be gone; the data dir is kept.
func (b *broker) crash() {
	b.stopOnce.Do(func() {
		b.kill()
	})
}

func (b *broker) stderrTail() string {
	data, err := os.ReadFile(b.stderrLog)
	if err != nil {
		return fmt.Sprintf("<cannot read %s: %v>", b.stderrLog, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	return strings.Join(lines, "\n")
}

// ---- the shared broker for this test binary ----

var shared *broker

func TestMain(m *testing.M) {
	b, err := startBroker()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL:", err)
		os.Exit(2)
	}
	shared = b
	fmt.Printf("weir broker %s at kafka=%s http=%s\n", weirBin(), b.Kafka, b.HTTP)
	code := m.Run()
	if err := b.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "broker stderr tail (%s):\n%s\n", b.stderrLog, b.stderrTail())
	}
	_ = os.Remove(b.stderrLog)
	os.Exit(code)
}

// startBrokerT starts a broker owned by one test: on failure its stderr tail is logged, then it is
// stopped (SIGTERM; an unclean exit fails the test) and its files are removed.
func startBrokerT(t *testing.T, extra ...string) *broker {
	t.Helper()
	return startBrokerOnT(t, "", "", extra...)
}

func startBrokerOnT(t *testing.T, dataDir, listen string, extra ...string) *broker {
	t.Helper()
	b, err := startBrokerOn(dataDir, listen, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs last (cleanups are LIFO)
		if err := b.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		_ = os.Remove(b.stderrLog)
	})
	reportOnFailure(t, b)
	return b
}

// ---- client helpers ----

func clientOpts(b *broker, extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(b.Kafka),
		kgo.DisableIdempotentWrite(), // so tests can choose acks; idempotent_test.go covers the default
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.RetryTimeout(30 * time.Second),
		kgo.ProduceRequestTimeout(15 * time.Second),
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if os.Getenv("WEIR_GO_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	} else {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)))
	}
	return append(opts, extra...)
}

func newClient(t *testing.T, b *broker, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(clientOpts(b, extra...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, b *broker) *kadm.Client {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b))
	adm.SetTimeoutMillis(15000)
	return adm
}

func ctxT(t *testing.T) context.Context {
	return ctxTimeout(t, 60*time.Second)
}

// ctxTimeout is a context that expires after d and is cancelled when the test ends.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// reportOnFailure prints the broker's stderr tail if the test failed.
func reportOnFailure(t *testing.T, b *broker) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker stderr tail:\n%s", b.stderrTail())
		}
	})
}

func topicName(t *testing.T) string {
	n := strings.NewReplacer("/", "-", " ", "-", "=", "-").Replace(t.Name())
	return fmt.Sprintf("go-%s-%d", n, time.Now().UnixNano()%1_000_000)
}

func mustCreateTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctxT(t), partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v (%s)", topic, err, resp.ErrMessage)
	}
}

// consume reads exactly n records from one partition starting at offset from (bounded: 30 s);
// extra client options (a TLS dialer, SASL) come last.
func consume(t *testing.T, b *broker, topic string, partition int32, from int64, n int, extra ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts := append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().At(from)},
	})}, extra...)
	cl := newClient(t, b, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s[%d] within 30s", len(out), n, topic, partition)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("fetch error %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// a short extra poll: nothing beyond what was produced may show up
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	cl.PollFetches(ctx2).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

func sp(s string) *string { return &s }
