"""Several named Kafka listeners (Kafka's `listeners`, `advertised.listeners`,
`listener.security.protocol.map`, `inter.broker.listener.name`), as a Docker Compose setup
uses them: INTERNAL for containers on the compose network, EXTERNAL for the host. A client is
told the addresses of the listener it connected to, in Metadata, FindCoordinator and
DescribeCluster; each listener has its own security protocol; brokers of a cluster replicate
over the inter-broker listener.
"""

import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka.admin import NewTopic

from test_cluster import Cluster, free_port, wait_all_in_sync
from weirtest import (
    WEIR_BIN,
    admin,
    assert_delivered,
    consume_partition,
    consumer,
    produce_sync,
    producer,
    unique,
)


def listener_flags(internal, external, external_host="localhost"):
    return ["--listeners", f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}",
            "--advertised-listeners",
            f"INTERNAL://127.0.0.1:{internal},EXTERNAL://{external_host}:{external}"]


def find_coordinator(port, group):
    """A raw FindCoordinator v0 on 127.0.0.1:port: (error, node, host, port)."""
    client = b"raw"
    key = group.encode()
    body = struct.pack(">h", len(key)) + key
    header = struct.pack(">hhih", 10, 0, 1, len(client)) + client
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", s.recv(4))[0]
        resp = b""
        while len(resp) < size:
            resp += s.recv(size - len(resp))
    _cid, err, node, hlen = struct.unpack(">ihih", resp[:12])
    host = resp[12:12 + hlen].decode()
    (p,) = struct.unpack(">i", resp[12 + hlen:16 + hlen])
    return err, node, host, p


def test_each_listener_advertises_its_own_address(broker_factory):
    internal, external = free_port(), free_port()
    b = broker_factory(*listener_flags(internal, external))
    assert b.bootstrap == f"127.0.0.1:{internal}"
    # Metadata: the addresses of the listener the client came in on.
    md = admin(f"127.0.0.1:{internal}").list_topics(timeout=20)
    assert (md.brokers[1].host, md.brokers[1].port) == ("127.0.0.1", internal)
    md = admin(f"localhost:{external}").list_topics(timeout=20)
    assert (md.brokers[1].host, md.brokers[1].port) == ("localhost", external)
    # FindCoordinator too.
    assert find_coordinator(external, "g") == (0, 1, "localhost", external)
    assert find_coordinator(internal, "g") == (0, 1, "127.0.0.1", internal)

    # Written through one listener, read through the other, and a group through EXTERNAL.
    topic = unique("two")
    a = admin(f"localhost:{external}")
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(20)
    p = producer(f"localhost:{external}")
    assert_delivered(produce_sync(p, topic, [{"value": f"v{i}".encode()} for i in range(10)]))
    got = consume_partition(f"127.0.0.1:{internal}", topic, 0, expected=10)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(10)]
    c = consumer(f"localhost:{external}", **{"group.id": unique("g"),
                                            "enable.partition.eof": False,
                                            "enable.auto.offset.store": True})
    c.subscribe([topic])
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < 10 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.append(m.value())
    c.commit(asynchronous=False)
    c.close()
    assert len(seen) == 10

    # kcat sees the EXTERNAL address too.
    out = subprocess.run(["kcat", "-b", f"localhost:{external}", "-L"], capture_output=True,
                         text=True, timeout=30)
    assert f"broker 1 at localhost:{external}" in out.stdout, out.stdout + out.stderr


def test_listeners_have_their_own_security(broker_factory):
    """INTERNAL on PLAINTEXT, EXTERNAL on SASL_PLAINTEXT: the same topic, open inside and
    authenticated outside; the HTTP API wants a user because a listener uses SASL."""
    internal, external = free_port(), free_port()
    b = broker_factory(*listener_flags(internal, external), "--listener-security-protocol-map",
                       "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT", "--sasl-users",
                       "alice:alice-pw")
    sasl = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": "alice", "sasl.password": "alice-pw"}
    topic = unique("sec")
    a = admin(f"127.0.0.1:{internal}")
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(20)
    assert_delivered(produce_sync(producer(f"localhost:{external}", **sasl), topic,
                                  [{"value": b"outside"}]))
    assert_delivered(produce_sync(producer(f"127.0.0.1:{internal}"), topic,
                                  [{"value": b"inside"}]))
    got = consume_partition(f"localhost:{external}", topic, 0, expected=2, **sasl)
    assert [m.value() for m in got] == [b"outside", b"inside"]
    # Without credentials, EXTERNAL serves nothing but ApiVersions and the SASL requests.
    with pytest.raises(Exception):
        admin(f"localhost:{external}", **{"socket.timeout.ms": 3000}).list_topics(timeout=5)
    # The HTTP API wants a user.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{b.http}/v1/topics", timeout=10)
    assert e.value.code == 401
    # SCRAM users are managed over a SASL-authenticated connection only: a client of the
    # PLAINTEXT listener cannot make itself a user of the SASL one.
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
    futs = a.alter_user_scram_credentials([UserScramCredentialUpsertion("mallory", info, b"x")])
    with pytest.raises(KafkaException) as e:
        futs["mallory"].result(20)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        a.describe_user_scram_credentials(["alice"])["alice"].result(20)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # Asked for every user, it is shown none (a top-level error would crash librdkafka).
    assert a.describe_user_scram_credentials().result(20) == {}
    # Through the SASL listener it works, and the new user logs in there.
    sa = admin(f"localhost:{external}", **sasl)
    futs = sa.alter_user_scram_credentials([UserScramCredentialUpsertion("bob", info, b"bob-pw")])
    futs["bob"].result(20)
    bob = dict(sasl, **{"sasl.username": "bob", "sasl.password": "bob-pw"})
    got = consume_partition(f"localhost:{external}", topic, 0, expected=2, **bob)
    assert len(got) == 2


@pytest.mark.parametrize("flags,message", [
    (["--listeners", "A://127.0.0.1:0,A://127.0.0.1:0"], "named twice"),
    (["--listeners", "A://127.0.0.1:0", "--advertised-listeners", "B://h:1"],
     "not one of --listeners"),
    (["--listeners", "A://127.0.0.1:0", "--inter-broker-listener-name", "B"],
     "not one of --listeners"),
    (["--listeners", "A://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"], "SASL users"),
    (["--listeners", "A://127.0.0.1", ], "host:port"),
    (["--advertised-listeners", "A://h:1"], "go with --listeners"),
    (["--listener-security-protocol-map", "A:SSL"], "go with --listeners"),
    # A map that forgets or misspells a listener must not leave it open in PLAINTEXT.
    (["--listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
      "--listener-security-protocol-map", "INTERNAL:PLAINTEXT"],
     "no entry for listener EXTERNAL"),
    (["--listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
      "--listener-security-protocol-map", "INTERNAL:PLAINTEXT,EXTRENAL:PLAINTEXT"],
     "names EXTRENAL"),
    (["--listeners", "A://127.0.0.1:0", "--advertised-listener", "h:1"],
     "--advertised-listeners"),
])
def test_listener_misconfigurations_fail_at_start(tmp_path, flags, message):
    r = subprocess.run([WEIR_BIN, "serve", "--data-dir", str(tmp_path / "d"), "--http-listen",
                        "127.0.0.1:0", *flags], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_a_cluster_replicates_over_its_internal_listener(tmp_path):
    """Three brokers, each with INTERNAL (inter-broker, replication and coordinator calls)
    and EXTERNAL listeners: clients on EXTERNAL are told every broker's EXTERNAL address."""
    c = Cluster(tmp_path)
    external = {}
    for node_id, b in c.nodes.items():
        internal, external[node_id] = free_port(), free_port()
        b.args += listener_flags(internal, external[node_id])
    try:
        c.start()
        boot = ",".join(f"localhost:{p}" for p in external.values())
        md = admin(boot).list_topics(timeout=20)
        assert {i: (md.brokers[i].host, md.brokers[i].port) for i in md.brokers} == {
            i: ("localhost", p) for i, p in external.items()}
        topic = unique("rf3")
        a = admin(boot)
        a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
        wait_all_in_sync(c, topic)
        p = producer(boot, acks="all")
        assert_delivered(produce_sync(p, topic, [{"value": f"r{i}".encode(), "partition": i % 3}
                                                 for i in range(90)], timeout=60))
        wait_all_in_sync(c, topic)
        for part in range(3):
            got = consume_partition(boot, topic, part, expected=30, timeout=60)
            assert len(got) == 30
    finally:
        c.dispose()


def test_a_cluster_with_sasl_outside_and_plaintext_inside(tmp_path):
    """The cloud split: brokers replicate over a PLAINTEXT INTERNAL listener while clients
    authenticate on a SASL EXTERNAL one. The controller and HTTP listeners want the
    inter-broker user (users exist), and a user made through EXTERNAL reaches every broker."""
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    c = Cluster(tmp_path)
    external = {}
    for node_id, b in c.nodes.items():
        internal, external[node_id] = free_port(), free_port()
        b.args += listener_flags(internal, external[node_id]) + [
            "--listener-security-protocol-map", "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
            "--sasl-users", "svc:svc-pw,alice:alice-pw", "--inter-broker-user", "svc"]
        b.http_auth = ("alice", "alice-pw")
    try:
        c.start()
        sasl = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "alice", "sasl.password": "alice-pw"}
        boot = ",".join(f"localhost:{p}" for p in external.values())
        a = admin(boot, **sasl)
        topic = unique("split")
        a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
        wait_all_in_sync(c, topic)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
        a.alter_user_scram_credentials(
            [UserScramCredentialUpsertion("carol", info, b"carol-pw")])["carol"].result(20)
        carol = dict(sasl, **{"sasl.username": "carol", "sasl.password": "carol-pw"})
        # carol's credential reaches every broker through the quorum.
        for port in external.values():
            deadline = time.monotonic() + 30
            while True:
                try:
                    admin(f"localhost:{port}", **carol).list_topics(timeout=5)
                    break
                except Exception:
                    assert time.monotonic() < deadline, f"carol cannot log in on {port}"
                    time.sleep(0.5)
        p = producer(boot, acks="all", **carol)
        assert_delivered(produce_sync(p, topic, [{"value": f"s{i}".encode(), "partition": i % 3}
                                                 for i in range(60)], timeout=60))
        wait_all_in_sync(c, topic)
        for part in range(3):
            assert len(consume_partition(boot, topic, part, expected=20, timeout=60,
                                         **carol)) == 20
    finally:
        c.dispose()
