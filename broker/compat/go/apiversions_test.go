package compat

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIs the contract says the broker implements; each must be advertised in ApiVersions.
var requiredAPIs = []int16{
	0,  // Produce
	1,  // Fetch
	2,  // ListOffsets
	3,  // Metadata
	18, // ApiVersions
	19, // CreateTopics
	20, // DeleteTopics
	21, // DeleteRecords
	32, // DescribeConfigs
	33, // AlterConfigs
	35, // DescribeLogDirs
	37, // CreatePartitions
	44, // IncrementalAlterConfigs
	60, // DescribeCluster
}

func checkApiVersions(t *testing.T, resp *kmsg.ApiVersionsResponse) map[int16]kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions error code %d (%v)", resp.ErrorCode, kerr.ErrorForCode(resp.ErrorCode))
	}
	keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		keys[k.ApiKey] = k
	}
	for _, k := range []int16{0, 1} {
		v, ok := keys[k]
		if !ok {
			t.Errorf("%s (key %d) not listed in ApiVersions", kmsg.NameForKey(k), k)
		} else if v.MaxVersion < 7 {
			t.Errorf("%s (key %d) max version %d, want >= 7", kmsg.NameForKey(k), k, v.MaxVersion)
		}
	}
	for _, k := range requiredAPIs {
		v, ok := keys[k]
		if !ok {
			t.Errorf("%s (key %d) not listed in ApiVersions", kmsg.NameForKey(k), k)
		} else if v.MinVersion > v.MaxVersion || v.MinVersion < 0 {
			t.Errorf("%s (key %d) bad range %d..%d", kmsg.NameForKey(k), k, v.MinVersion, v.MaxVersion)
		}
	}
	return keys
}

// Raw kmsg ApiVersionsRequest through the franz-go client; logs the version franz-go will use per API.
func TestApiVersionsViaClient(t *testing.T) {
	reportOnFailure(t, shared)
	cl := newClient(t, shared)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "weir-compat-go"
	req.ClientSoftwareVersion = "1.0.0"
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	keys := checkApiVersions(t, resp)

	var lines []string
	sorted := make([]int16, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, k := range sorted {
		v := keys[k]
		clientMax := int16(-1)
		if r := kmsg.RequestForKey(k); r != nil {
			clientMax = r.MaxVersion()
		}
		used := v.MaxVersion
		if clientMax < used {
			used = clientMax
		}
		lines = append(lines, fmt.Sprintf("  %-26s key=%-3d broker=v%d..v%d franz-go max=v%d -> uses v%d",
			kmsg.NameForKey(k), k, v.MinVersion, v.MaxVersion, clientMax, used))
	}
	t.Logf("ApiVersions v%d (finalized features %d):\n%s", resp.Version, len(resp.FinalizedFeatures), strings.Join(lines, "\n"))
}

// rawRequest writes one request on a fresh TCP connection and returns the response body (after the
// correlation id; ApiVersions responses always use response header v0).
func rawRequest(t *testing.T, addr string, req kmsg.Request, corr int32) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("weir-compat-go-raw")).AppendRequest(nil, req, corr)
	if _, err := conn.Write(buf); err != nil {
		t.Fatalf("write: %v", err)
	}
	var sz [4]byte
	if _, err := io.ReadFull(conn, sz[:]); err != nil {
		t.Fatalf("read size (broker closed the connection?): %v", err)
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n < 4 || n > 1<<20 {
		t.Fatalf("bad response size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body[:4])); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	return body[4:]
}

// ApiVersions over a raw socket at every version v0..v3 (v3 = flexible request header), and an
// unknown (too high) version, which Kafka answers with UNSUPPORTED_VERSION in a v0 body that still
// lists the supported APIs (clients use that to downgrade).
func TestApiVersionsRaw(t *testing.T) {
	reportOnFailure(t, shared)
	for v := int16(0); v <= 3; v++ {
		v := v
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(v)
			req.ClientSoftwareName = "weir-compat-go"
			req.ClientSoftwareVersion = "1.0.0"
			body := rawRequest(t, shared.Kafka, req, 100+int32(v))
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.SetVersion(v)
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("decode ApiVersions v%d response (%d bytes): %v", v, len(body), err)
			}
			checkApiVersions(t, resp)
		})
	}
	t.Run("unsupported-version", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(99)
		body := rawRequest(t, shared.Kafka, req, 999)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode ApiVersions v99 answer as v0 (%d bytes): %v", len(body), err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error code %d, want %d (UNSUPPORTED_VERSION)", resp.ErrorCode, kerr.UnsupportedVersion.Code)
		}
		found := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == 18 {
				found = true
			}
		}
		if !found {
			t.Errorf("UNSUPPORTED_VERSION answer does not list ApiVersions (key 18): %+v", resp.ApiKeys)
		}
	})
}
