"""kcat (librdkafka CLI, legacy simple consumer) against Weir."""

import json
import re
import shutil
import subprocess

import pytest

from weirtest import assert_delivered, create_topic, produce_sync, producer, unique

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed (run.sh installs it)")


def kcat(broker, *args, stdin=None, timeout=60):
    cmd = [KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    assert p.returncode == 0, (
        f"{' '.join(cmd)} -> rc {p.returncode}\nstdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-2000:]!r}")
    return p.stdout.decode("utf-8", "replace")


def test_kcat_list_metadata(broker):
    topic = create_topic(broker.bootstrap, unique("kcat-md"), partitions=2)
    out = kcat(broker, "-L")
    assert f'topic "{topic}" with 2 partitions' in out, out
    assert f"broker 1 at {broker.bootstrap}" in out, out
    md = json.loads(kcat(broker, "-L", "-J", "-t", topic))
    assert [b["id"] for b in md["brokers"]] == [1]
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    assert all(p["leader"] == 1 for p in t["partitions"])


def test_kcat_produce_consume_keys_headers(broker):
    topic = create_topic(broker.bootstrap, unique("kcat-rt"), partitions=1)
    # 1) fixed key (-k) and headers (-H, including a duplicate key), gzip
    kcat(broker, "-P", "-t", topic, "-p", "0", "-k", "fixed-key", "-H", "h1=v1", "-H", "dup=a",
         "-H", "dup=b", "-z", "gzip", stdin=b"alpha\nbeta\ngamma\n")
    # 2) per-line keys via -K delimiter, snappy
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K", ":", "-H", "src=kcat", "-z", "snappy",
         stdin=b"k1:one\nk2:two\nk3:three\n")
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o|%k|%s|%h\n")
    lines = [ln for ln in out.splitlines() if ln]
    assert lines == [
        "0|fixed-key|alpha|h1=v1,dup=a,dup=b",
        "1|fixed-key|beta|h1=v1,dup=a,dup=b",
        "2|fixed-key|gamma|h1=v1,dup=a,dup=b",
        "3|k1|one|src=kcat",
        "4|k2|two|src=kcat",
        "5|k3|three|src=kcat",
    ], out
    # consume from an absolute offset and a relative-from-end offset
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "4", "-e", "-f", "%s\n")
    assert out.split() == ["two", "three"]
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "-1", "-e", "-f", "%s\n")
    assert out.split() == ["three"]


def test_kcat_reads_confluent_records(broker):
    """Records written by another client (zstd, timestamps, tombstone) as kcat sees them."""
    topic = create_topic(broker.bootstrap, unique("kcat-x"), partitions=1)
    prod = producer(broker.bootstrap, **{"compression.type": "zstd"})
    assert_delivered(produce_sync(prod, topic, [
        {"partition": 0, "key": b"a", "value": b"v1", "timestamp": 1000},
        {"partition": 0, "key": b"b", "value": None, "timestamp": 2000},
        {"partition": 0, "key": b"c", "value": b"v3", "timestamp": 3000},
    ]))
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o|%k|%S|%T\n")
    # %S is the value length (-1 for null)
    assert [ln for ln in out.splitlines() if ln] == ["0|a|2|1000", "1|b|-1|2000", "2|c|2|3000"]


@pytest.mark.parametrize("ts,offset", [(2000, 1), (1500, 1), (1000, 0), (99999999999999, -1)])
def test_kcat_offset_for_time_query(broker, ts, offset):
    topic = f"kcat-q-{ts}"
    create_topic(broker.bootstrap, topic, partitions=1)
    assert_delivered(produce_sync(producer(broker.bootstrap), topic, [
        {"partition": 0, "value": b"a", "timestamp": 1000},
        {"partition": 0, "value": b"b", "timestamp": 2000},
        {"partition": 0, "value": b"c", "timestamp": 3000},
    ]))
    out = kcat(broker, "-Q", "-t", f"{topic}:0:{ts}")
    m = re.search(rf"{re.escape(topic)} \[0\] offset (-?\d+)", out)
    assert m, out
    assert int(m.group(1)) == offset
