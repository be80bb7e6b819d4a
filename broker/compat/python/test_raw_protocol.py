"""Hostile/odd input at the TCP level, ApiVersions fallback, and the HTTP endpoints."""

import re
import socket
import struct
import urllib.request

import pytest

from weirtest import (
    assert_delivered,
    consume_partition,
    create_topic,
    produce_sync,
    producer,
    unique,
)

API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def connect(b, timeout=10.0):
    host, port = b.bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_frame(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    assert 0 < size < 10_000_000, f"bad response size {size}"
    return recv_exact(s, size)


def api_versions_request(version, correlation_id, flexible_header):
    client_id = b"weir-compat-raw"
    header = struct.pack(">hhih", API_VERSIONS, version, correlation_id, len(client_id)) + client_id
    if flexible_header:
        header += b"\x00"  # empty tagged fields (request header v2)
    return struct.pack(">i", len(header)) + header


def parse_v0_api_versions(body):
    corr, err, n = struct.unpack(">ihi", body[:10])
    apis = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", body[10 + 6 * i: 16 + 6 * i])
        apis[key] = (lo, hi)
    return corr, err, n, apis


def assert_closed(s, timeout=10.0):
    """The broker must close the connection (EOF or reset) within `timeout`."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return
    except ConnectionResetError:
        return
    except socket.timeout:
        pytest.fail(f"broker did not close the connection within {timeout}s")


def assert_broker_serves(b):
    # raw ApiVersions on a fresh connection
    s = connect(b)
    try:
        s.sendall(api_versions_request(0, 7, flexible_header=False))
        corr, err, n, apis = parse_v0_api_versions(read_frame(s))
        assert (corr, err) == (7, 0)
        assert API_VERSIONS in apis
    finally:
        s.close()
    # and a real client round trip
    topic = unique("alive")
    d = assert_delivered(produce_sync(producer(b.bootstrap), topic, [{"value": b"still-alive"}]))
    msgs = consume_partition(b.bootstrap, topic, d[0].partition(), expected=1)
    assert msgs[0].value() == b"still-alive"
    assert b.alive(), "broker process died"


@pytest.mark.parametrize("prefix", [2**31 - 1, 2**31 + 5, 0xFFFFFFFF],
                         ids=["int32-max", "negative-big", "minus-one"])
def test_oversized_or_negative_frame_closes_connection(broker, prefix):
    s = connect(broker)
    other = connect(broker)  # an innocent bystander connection
    try:
        s.sendall(struct.pack(">I", prefix) + b"\x00\x12\x00\x00")
        assert_closed(s)
        other.sendall(api_versions_request(0, 99, flexible_header=False))
        corr, err, _n, _apis = parse_v0_api_versions(read_frame(other))
        assert (corr, err) == (99, 0)
    finally:
        s.close()
        other.close()
    assert_broker_serves(broker)


def test_garbage_frame_closes_connection(broker):
    s = connect(broker)
    try:
        junk = b"\xde\xad\xbe\xef" * 8  # api_key 0xdead (negative/unknown), nonsense header
        s.sendall(struct.pack(">i", len(junk)) + junk)
        assert_closed(s)
    finally:
        s.close()
    assert_broker_serves(broker)


def test_truncated_then_disconnect_does_not_hurt(broker):
    s = connect(broker)
    s.sendall(struct.pack(">i", 100) + b"\x00\x12\x00")  # promise 100 bytes, send 3
    s.close()
    assert_broker_serves(broker)


def test_api_versions_unsupported_version_falls_back_to_v0(broker):
    s = connect(broker)
    try:
        s.sendall(api_versions_request(99, 4242, flexible_header=True))
        body = read_frame(s)
    finally:
        s.close()
    corr, err, n, apis = parse_v0_api_versions(body)
    assert corr == 4242
    assert err == UNSUPPORTED_VERSION
    assert n > 0, "the UNSUPPORTED_VERSION response must still list the supported APIs"
    assert len(body) == 10 + 6 * n, "response must be encoded as ApiVersions v0 (no throttle/tags)"
    # Apache Kafka lists at least ApiVersions itself here (so the client can
    # retry with a supported version); more entries are allowed.
    assert API_VERSIONS in apis and apis[API_VERSIONS][0] == 0 and apis[API_VERSIONS][1] >= 3
    for key, (lo, hi) in apis.items():
        assert 0 <= lo <= hi, f"api {key}: bad range {lo}..{hi}"


def test_api_versions_v0_ok(broker):
    s = connect(broker)
    try:
        s.sendall(api_versions_request(0, 1, flexible_header=False))
        body = read_frame(s)
    finally:
        s.close()
    corr, err, n, apis = parse_v0_api_versions(body)
    assert (corr, err) == (1, 0)
    assert len(body) == 10 + 6 * n
    # Every API the contract lists is advertised.
    for key in (0, 1, 2, 3, 18, 19, 20, 32, 33, 37, 44, 60, 21, 35):
        assert key in apis, f"api {key} not advertised: {sorted(apis)}"


def test_http_health_and_metrics(broker):
    with urllib.request.urlopen(f"http://{broker.http}/health", timeout=10) as r:
        assert r.status == 200
        assert r.read().decode().strip() == "ok"
    with urllib.request.urlopen(f"http://{broker.http}/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert samples, "metrics exposition has no samples"
    sample_re = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+-?\d+)?$")
    bad = [ln for ln in samples if not sample_re.match(ln)]
    assert not bad, f"not Prometheus text format: {bad[:5]}"


def test_describe_log_dirs_v1_raw(broker):
    """DescribeLogDirs v1 by hand (kafka-python 2.x only speaks v0, which Weir, like
    Kafka 4, no longer offers; librdkafka has no DescribeLogDirs)."""
    import io

    from kafka.protocol.admin import DescribeLogDirsResponse_v0  # v1 has the same layout

    name = create_topic(broker.bootstrap, unique("logdirs"), partitions=2)
    assert_delivered(produce_sync(producer(broker.bootstrap), name, [{"partition": 0, "value": b"L" * 200}
                                                 for _ in range(10)]))
    client_id = b"weir-compat-raw"
    header = struct.pack(">hhih", 35, 1, 77, len(client_id)) + client_id
    body = struct.pack(">i", -1)  # null topics array: all
    s = connect(broker)
    try:
        s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        frame = read_frame(s)
    finally:
        s.close()
    (corr,) = struct.unpack(">i", frame[:4])
    assert corr == 77
    resp = DescribeLogDirsResponse_v0.decode(io.BytesIO(frame[4:]))
    sizes = {}
    assert resp.log_dirs, "no log dirs reported"
    for error_code, log_dir, topics in resp.log_dirs:
        assert error_code == 0
        assert log_dir, "log dir path must be non-empty"
        for tname, parts in topics:
            if tname == name:
                for index, size, _lag, _future in parts:
                    sizes[index] = size
    assert set(sizes) == {0, 1}, f"partitions of {name} in DescribeLogDirs: {sizes}"
    assert sizes[0] >= 2000, f"partition 0 holds 10x200 bytes, reported size {sizes[0]}"
    assert sizes[1] == 0
