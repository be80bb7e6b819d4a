"""Listener security with standard clients: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), TLS,
required client certificates, SASL over TLS, and a three-node cluster whose brokers replicate
over a SASL_SSL listener as the inter-broker user.

Certificates are made per test session with the openssl command line (a CA, a broker
certificate for localhost and 127.0.0.1, a client certificate). Clients: confluent-kafka
(librdkafka), kafka-python, aiokafka, kcat; a raw socket for the protocol-level answers.
"""

import asyncio
import os
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

import aiokafka
import kafka
import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

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

USERS = {"alice": "alice-secret", "svc,=odd": "p:w,with=punct"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a broker certificate (localhost, 127.0.0.1) and a client certificate, PEM."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=weir-test-ca", cwd=d)
    for name, ext in [("broker", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)
    return d


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("users")
    path = d / "users"
    path.write_text("# Weir SASL users\n" + "".join(f"{u}:{p}\n" for u, p in USERS.items()))
    return path


def sasl(mech, user="alice", password=None, protocol="SASL_PLAINTEXT", **extra):
    conf = {"security.protocol": protocol, "sasl.mechanism": mech, "sasl.username": user,
            "sasl.password": USERS[user] if password is None else password}
    conf.update(extra)
    return conf


def round_trip(bootstrap, conf, n=20):
    """Creates a topic, produces n records and reads them back, all with `conf`."""
    topic = unique("sec")
    a = admin(bootstrap, **conf)
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(20)
    p = producer(bootstrap, **conf)
    assert_delivered(produce_sync(p, topic, [{"value": f"v{i}".encode()} for i in range(n)]))
    got = consume_partition(bootstrap, topic, 0, expected=n, **conf)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(n)]
    return topic


def auth_error(bootstrap, conf, timeout=15):
    """The first error a producer reports: the authentication failure."""
    errors = []
    p = producer(bootstrap, error_cb=errors.append, **conf)
    p.produce(unique("never"), b"x")
    deadline = time.monotonic() + timeout
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    p.purge()
    assert errors, "no error reported"
    return errors[0]


def metric(b, name, **labels):
    text = urllib.request.urlopen(f"http://{b.http}/metrics", timeout=10).read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return 0.0


def frame(api, version, correlation, body=b""):
    client = b"raw"
    header = struct.pack(">hhih", api, version, correlation, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def read_frame(s):
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, size)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


# -- SASL_PLAINTEXT --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory, users_file):
    from conftest import _start
    b = _start(tmp_path_factory.mktemp("sasl"), args=[
        "--security-protocol", "SASL_PLAINTEXT", "--sasl-users-file", users_file])
    yield b
    b.dispose()


@pytest.mark.parametrize("mech", MECHANISMS)
def test_confluent_kafka_every_mechanism(sasl_broker, mech):
    round_trip(sasl_broker.bootstrap, sasl(mech))
    # A user name and password with SCRAM's special characters (',' and '=') and a colon.
    round_trip(sasl_broker.bootstrap, sasl(mech, user="svc,=odd"), n=3)


def test_group_consumer_commits_under_scram(sasl_broker):
    conf = sasl("SCRAM-SHA-512")
    topic = round_trip(sasl_broker.bootstrap, conf)
    group = unique("g")
    c = consumer(sasl_broker.bootstrap, **{"group.id": group, "enable.partition.eof": False,
                                         "enable.auto.offset.store": True},
                 **conf)
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 20 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m)
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, 0)], timeout=10)
    c.close()
    assert len(got) == 20
    assert committed[0].offset == 20


@pytest.mark.parametrize("mech", MECHANISMS)
def test_kafka_python_and_aiokafka(sasl_broker, mech):
    topic = unique("py")
    common = dict(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism=mech, sasl_plain_username="alice",
                  sasl_plain_password=USERS["alice"])
    kp = kafka.KafkaProducer(**common)
    kp.send(topic, b"from-kafka-python").get(timeout=20)
    kp.close()

    async def aio():
        p = aiokafka.AIOKafkaProducer(**common)
        await p.start()
        try:
            await p.send_and_wait(topic, b"from-aiokafka")
        finally:
            await p.stop()
        c = aiokafka.AIOKafkaConsumer(topic, auto_offset_reset="earliest", **common)
        await c.start()
        try:
            got = []
            async with asyncio.timeout(30):
                while len(got) < 2:
                    batch = await c.getmany(timeout_ms=500)
                    for records in batch.values():
                        got.extend(r.value for r in records)
            return got
        finally:
            await c.stop()

    assert asyncio.run(aio()) == [b"from-kafka-python", b"from-aiokafka"]


@pytest.mark.parametrize("mech", MECHANISMS)
def test_wrong_password_and_unknown_user_are_refused(sasl_broker, mech):
    failed_before = metric(sasl_broker, "weir_authentications_total", mechanism=mech,
                           result="failed")
    unknown = dict(sasl(mech), **{"sasl.username": "mallory", "sasl.password": "anything"})
    for conf in [sasl(mech, password="wrong"), unknown]:
        err = auth_error(sasl_broker.bootstrap, conf)
        assert err.code() == KafkaError._AUTHENTICATION, err
        assert "Authentication failed" in err.str(), err.str()
    assert metric(sasl_broker, "weir_authentications_total", mechanism=mech,
                  result="failed") >= failed_before + 2


def test_plaintext_client_gets_nothing(sasl_broker):
    a = admin(sasl_broker.bootstrap)
    with pytest.raises(KafkaException):
        a.list_topics(timeout=5)
    # On the wire: ApiVersions is answered, Metadata before authenticating closes the
    # connection without an answer, as Kafka does.
    host, port = sasl_broker.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(frame(18, 0, 1))
        body = read_frame(s)
        assert struct.unpack(">i", body[:4])[0] == 1
        s.sendall(frame(3, 1, 2, struct.pack(">i", -1)))
        with pytest.raises(ConnectionError):
            read_frame(s)


def test_raw_sasl_answers(sasl_broker):
    host, port = sasl_broker.bootstrap.rsplit(":", 1)
    mech = b"GSSAPI"
    # An unsupported mechanism: UNSUPPORTED_SASL_MECHANISM (33) with the enabled list.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(frame(17, 1, 7, struct.pack(">h", len(mech)) + mech))
        body = read_frame(s)
        cid, code, n = struct.unpack(">ihi", body[:10])
        assert (cid, code, n) == (7, 33, 3)
        assert b"SCRAM-SHA-512" in body
    # PLAIN through SaslAuthenticate v0 with a wrong password: SASL_AUTHENTICATION_FAILED
    # with a message, then the connection closes.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        plain = b"PLAIN"
        s.sendall(frame(17, 1, 1, struct.pack(">h", len(plain)) + plain))
        assert struct.unpack(">ih", read_frame(s)[:6]) == (1, 0)
        token = b"\0alice\0nope"
        s.sendall(frame(36, 0, 2, struct.pack(">i", len(token)) + token))
        body = read_frame(s)
        cid, code, mlen = struct.unpack(">ihh", body[:8])
        assert (cid, code) == (2, SASL_AUTHENTICATION_FAILED)
        assert b"Invalid username or password" in body[8:8 + mlen]
        with pytest.raises(ConnectionError):
            read_frame(s)
    # Before authenticating, frames over 512 KiB close the connection unread (Kafka's
    # sasl.server.max.receive.size); after it, the usual socket.request.max.bytes applies.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", 600 << 10) + frame(18, 0, 9)[4:])
        with pytest.raises(ConnectionError):
            read_frame(s)
    # PLAIN after a SaslHandshake v0: raw tokens, and an authenticated connection serves
    # requests.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        plain = b"PLAIN"
        s.sendall(frame(17, 0, 1, struct.pack(">h", len(plain)) + plain))
        assert struct.unpack(">ih", read_frame(s)[:6]) == (1, 0)
        token = b"\0alice\0" + USERS["alice"].encode()
        s.sendall(struct.pack(">i", len(token)) + token)
        assert read_frame(s) == b""
        s.sendall(frame(3, 1, 3, struct.pack(">i", -1)))
        assert struct.unpack(">i", read_frame(s)[:4])[0] == 3


def test_sasl_requests_on_a_plaintext_listener(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        plain = b"PLAIN"
        s.sendall(frame(17, 1, 5, struct.pack(">h", len(plain)) + plain))
        cid, code = struct.unpack(">ih", read_frame(s)[:6])
        assert (cid, code) == (5, ILLEGAL_SASL_STATE)
        # The connection stays usable, as on a Kafka PLAINTEXT listener.
        s.sendall(frame(3, 1, 6, struct.pack(">i", -1)))
        assert struct.unpack(">i", read_frame(s)[:4])[0] == 6


def test_only_enabled_mechanisms_are_served(broker_factory, users_file):
    b = broker_factory("--security-protocol", "SASL_PLAINTEXT", "--sasl-users-file",
                       users_file, "--sasl-enabled-mechanisms", "SCRAM-SHA-512")
    round_trip(b.bootstrap, sasl("SCRAM-SHA-512"), n=2)
    err = auth_error(b.bootstrap, sasl("PLAIN"))
    assert err.code() == KafkaError._AUTHENTICATION, err
    assert "SCRAM-SHA-512" in err.str() or "not supported" in err.str().lower(), err.str()


def test_misconfigurations_fail_at_start_with_a_message(tmp_path, users_file, pki):
    cases = [
        (["--security-protocol", "SASL_PLAINTEXT"], "no SASL users"),
        (["--security-protocol", "SSL"], "--tls-cert-file"),
        (["--security-protocol", "KERBEROS"], "unknown security protocol"),
        (["--security-protocol", "SASL_PLAINTEXT", "--sasl-users", "alice:x",
          "--sasl-enabled-mechanisms", "GSSAPI"], "unknown SASL mechanism"),
        (["--sasl-users", "alice:x"], "set --security-protocol"),
        (["--security-protocol", "SSL", "--tls-cert-file", pki / "broker.pem",
          "--tls-key-file", pki / "missing.key"], "missing.key"),
        (["--security-protocol", "SSL", "--tls-cert-file", pki / "broker.pem",
          "--tls-key-file", pki / "client.key"], "do not make an identity"),
        (["--security-protocol", "SASL_PLAINTEXT", "--sasl-users-file", users_file,
          "--controller-voters", "1@127.0.0.1:1"], "--inter-broker-user"),
    ]
    for args, want in cases:
        r = subprocess.run([WEIR_BIN, "serve", "--data-dir", tmp_path / "d", "--listen",
                            "127.0.0.1:0", "--no-http", *map(str, args)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, (args, r.stderr)
        assert want in r.stderr, (args, r.stderr)


# -- TLS ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory, pki):
    from conftest import _start
    b = _start(tmp_path_factory.mktemp("tls"), args=[
        "--security-protocol", "SSL", "--tls-cert-file", pki / "broker.pem",
        "--tls-key-file", pki / "broker.key"])
    yield b
    b.dispose()


def test_ssl_round_trip_and_a_large_fetch(tls_broker, pki):
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(pki / "ca.pem")}
    round_trip(tls_broker.bootstrap, conf)
    # Fetches over TLS read the log and encrypt it (no sendfile): 24 MiB in 10 KiB records.
    topic = unique("big")
    p = producer(tls_broker.bootstrap, **conf)
    values = [os.urandom(16) * 640 for _ in range(2400)]
    assert_delivered(produce_sync(p, topic, [{"value": v} for v in values], timeout=60))
    got = consume_partition(tls_broker.bootstrap, topic, 0, expected=len(values), timeout=60,
                            **conf)
    assert [m.value() for m in got] == values


def test_tls_is_checked(tls_broker, pki):
    # A client that does not trust the CA fails its handshake...
    err = auth_error(tls_broker.bootstrap, {"security.protocol": "SSL"})
    assert err.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), err
    # ...a plaintext client gets nothing, and the broker counts the failed handshakes.
    with pytest.raises(KafkaException):
        admin(tls_broker.bootstrap).list_topics(timeout=5)
    assert metric(tls_broker, "weir_authentications_total", mechanism="tls",
                  result="failed") >= 1
    # Python's own TLS stack (kafka-python) verifies the broker's name and certificate.
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    kp = kafka.KafkaProducer(bootstrap_servers=tls_broker.bootstrap, security_protocol="SSL",
                             ssl_context=ctx)
    kp.send(unique("kp"), b"over-tls").get(timeout=20)
    kp.close()


def test_kcat_over_sasl_ssl(broker_factory, pki, users_file):
    b = broker_factory(
        "--security-protocol", "SASL_SSL", "--sasl-users-file", users_file, "--tls-cert-file",
        pki / "broker.pem", "--tls-key-file", pki / "broker.key")
    topic = unique("kcat")
    common = ["kcat", "-b", b.bootstrap, "-X", "security.protocol=SASL_SSL", "-X",
              f"ssl.ca.location={pki / 'ca.pem'}", "-X", "sasl.mechanisms=SCRAM-SHA-256",
              "-X", "sasl.username=alice", "-X", f"sasl.password={USERS['alice']}"]
    subprocess.run(common + ["-P", "-t", topic], input=b"one\ntwo\n", check=True, timeout=60)
    out = subprocess.run(common + ["-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                         capture_output=True, check=True, timeout=60)
    assert out.stdout.split() == [b"one", b"two"]

    async def aio():
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        p = aiokafka.AIOKafkaProducer(
            bootstrap_servers=b.bootstrap, security_protocol="SASL_SSL", ssl_context=ctx,
            sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
            sasl_plain_password=USERS["alice"])
        await p.start()
        try:
            await p.send_and_wait(topic, b"three")
        finally:
            await p.stop()

    asyncio.run(aio())
    assert len(consume_partition(b.bootstrap, topic, 0, expected=3, **sasl(
        "PLAIN", protocol="SASL_SSL", **{"ssl.ca.location": str(pki / "ca.pem")}))) == 3


def test_required_client_certificates(broker_factory, pki):
    b = broker_factory(
        "--security-protocol", "SSL", "--tls-cert-file", pki / "broker.pem", "--tls-key-file",
        pki / "broker.key", "--tls-ca-file", pki / "ca.pem", "--tls-client-auth", "required")
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(pki / "ca.pem")}
    err = auth_error(b.bootstrap, conf)
    assert err.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), err
    round_trip(b.bootstrap, dict(conf, **{
        "ssl.certificate.location": str(pki / "client.pem"),
        "ssl.key.location": str(pki / "client.key")}), n=3)


# -- a cluster on SASL_SSL ------------------------------------------------------------------

def test_a_cluster_replicates_over_sasl_ssl(tmp_path, pki, users_file):
    from test_cluster import Cluster, wait_all_in_sync
    c = Cluster(tmp_path)
    for b in c.nodes.values():
        b.args += ["--security-protocol", "SASL_SSL", "--sasl-users-file", str(users_file),
                   "--inter-broker-user", "svc,=odd", "--tls-cert-file", str(pki / "broker.pem"),
                   "--tls-key-file", str(pki / "broker.key"), "--tls-ca-file",
                   str(pki / "ca.pem")]
        b.http_auth = ("alice", USERS["alice"])
    try:
        c.start()
        conf = sasl("SCRAM-SHA-512", protocol="SASL_SSL",
                    **{"ssl.ca.location": str(pki / "ca.pem")})
        topic = unique("rf3")
        a = admin(c.bootstrap(), **conf)
        a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
        wait_all_in_sync(c, topic)
        p = producer(c.bootstrap(), acks="all", **conf)
        assert_delivered(produce_sync(p, topic, [{"value": f"r{i}".encode(), "partition": i % 3}
                                                 for i in range(300)], timeout=60))
        # Every follower caught up through the secured listener: all replicas stay in sync
        # and each partition's high watermark covers what was acknowledged.
        wait_all_in_sync(c, topic)
        for part in range(3):
            got = consume_partition(c.bootstrap(), topic, part, expected=100, timeout=60, **conf)
            assert len(got) == 100
        # Consumer groups (the coordinator) work through the same listener.
        group = unique("g")
        cons = consumer(c.bootstrap(), **{"group.id": group, "enable.partition.eof": False,
                                         "enable.auto.offset.store": True},
                        **conf)
        cons.subscribe([topic])
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 300 and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and m.error() is None:
                seen += 1
        cons.commit(asynchronous=False)
        cons.close()
        assert seen == 300
    finally:
        c.dispose()


def test_http_api_wants_a_user(sasl_broker):
    """With a SASL listener the HTTP API (console, admin, CLI) wants one of the users;
    /health and /metrics stay open for probes and Prometheus."""
    import base64
    import urllib.error

    def get(path, user=None, password=None):
        req = urllib.request.Request(f"http://{sasl_broker.http}{path}")
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers)

    assert get("/health")[0] == 200
    assert get("/metrics")[0] == 200
    for path in ["/", "/v1/topics", "/v1/cluster", "/v1/plugins"]:
        status, headers = get(path)
        assert status == 401, path
        assert headers.get("www-authenticate", headers.get("WWW-Authenticate", "")).startswith(
            "Basic"), headers
        assert get(path, "alice", "wrong")[0] == 401, path
        assert get(path, "alice", USERS["alice"])[0] == 200, path
    env = dict(os.environ, WEIR_ADMIN=f"http://{sasl_broker.http}")
    env.pop("WEIR_USER", None)
    env.pop("WEIR_PASSWORD", None)
    r = subprocess.run([WEIR_BIN, "topic", "list"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "--user" in r.stderr, r.stderr
    topic = unique("cli")
    env.update(WEIR_USER="alice", WEIR_PASSWORD=USERS["alice"])
    subprocess.run([WEIR_BIN, "topic", "create", topic, "--partitions", "2"], env=env,
                   check=True, capture_output=True, timeout=30)
    r = subprocess.run([WEIR_BIN, "topic", "list"], env=env, capture_output=True, text=True,
                       timeout=30, check=True)
    assert topic in r.stdout
