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


def flexible_frame(api, version, correlation, body=b""):
    """A request with header v2 (flexible versions: tagged fields after the client id)."""
    client = b"raw"
    header = struct.pack(">hhih", api, version, correlation, len(client)) + client + b"\0"
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


# -- SCRAM users managed through the Kafka API -------------------------------------------------

def scram_admin(bootstrap):
    """An admin client logged in as a users-file user."""
    return admin(bootstrap, **sasl("SCRAM-SHA-512"))


def alter_users(a, alterations):
    """Runs AlterUserScramCredentials; {user: exception or None}."""
    out = {}
    for user, fut in a.alter_user_scram_credentials(alterations).items():
        try:
            fut.result(20)
            out[user] = None
        except KafkaException as e:
            out[user] = e.args[0]
    return out


def describe_users(a, users=None):
    from confluent_kafka.admin import ScramMechanism
    futs = a.describe_user_scram_credentials(users)
    if users is None:
        descs = futs.result(20)
    else:
        descs = {u: f.result(20) for u, f in futs.items()}
    return {u: sorted((ScramMechanism(c.mechanism).name, c.iterations)
                      for c in d.scram_credential_infos) for u, d in descs.items()}


def test_scram_users_made_with_the_admin_api_can_log_in(broker_factory, users_file):
    """kafka-configs --alter --entity-type users (AlterUserScramCredentials): the client salts
    the password, the broker keeps the credential in the metadata log, and the new user logs
    in with that mechanism (and with PLAIN, checked against the credential), also after a
    restart; a deleted credential no longer logs in."""
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    b = broker_factory("--security-protocol", "SASL_PLAINTEXT",
                       "--sasl-users-file", str(users_file))
    a = scram_admin(b.bootstrap)
    # The file's users are listed (both mechanisms, 4096 iterations).
    assert describe_users(a)["alice"] == [("SCRAM_SHA_256", 4096), ("SCRAM_SHA_512", 4096)]

    sha256 = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)
    sha512 = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
    assert alter_users(a, [
        UserScramCredentialUpsertion("carol", sha256, b"carol-pw"),
        UserScramCredentialUpsertion("carol", sha512, b"carol-pw"),
        UserScramCredentialUpsertion("dave", sha512, b"dave-pw"),
    ]) == {"carol": None, "dave": None}
    assert describe_users(a, ["carol", "dave"]) == {
        "carol": [("SCRAM_SHA_256", 8192), ("SCRAM_SHA_512", 4096)],
        "dave": [("SCRAM_SHA_512", 4096)]}

    for mech in MECHANISMS:
        round_trip(b.bootstrap, sasl(mech, user="carol", password="carol-pw"), n=3)
    round_trip(b.bootstrap, sasl("SCRAM-SHA-512", user="dave", password="dave-pw"), n=3)
    # dave has no SCRAM-SHA-256 credential, and a wrong password fails as usual.
    for conf in [sasl("SCRAM-SHA-256", user="dave", password="dave-pw"),
                 sasl("SCRAM-SHA-512", user="carol", password="nope"),
                 sasl("PLAIN", user="carol", password="nope")]:
        assert auth_error(b.bootstrap, conf).code() == KafkaError._AUTHENTICATION

    # A password change takes effect at once; the old password stops working.
    assert alter_users(a, [UserScramCredentialUpsertion("carol", sha512, b"carol-pw2")]) == {
        "carol": None}
    round_trip(b.bootstrap, sasl("SCRAM-SHA-512", user="carol", password="carol-pw2"), n=1)
    assert auth_error(b.bootstrap, sasl("SCRAM-SHA-512", user="carol",
                                        password="carol-pw")).code() == KafkaError._AUTHENTICATION

    # The credentials live in the metadata log: they survive a restart.
    b.stop()
    b.start(same_port=True)
    round_trip(b.bootstrap, sasl("SCRAM-SHA-512", user="carol", password="carol-pw2"), n=1)
    round_trip(b.bootstrap, sasl("SCRAM-SHA-256", user="carol", password="carol-pw"), n=1)

    a = scram_admin(b.bootstrap)
    assert alter_users(a, [UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_512)]) \
        == {"dave": None}
    assert auth_error(b.bootstrap, sasl("SCRAM-SHA-512", user="dave",
                                        password="dave-pw")).code() == KafkaError._AUTHENTICATION
    with pytest.raises(KafkaException) as e:
        describe_users(a, ["dave"])
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND


def test_scram_user_changes_are_checked(broker_factory, users_file):
    """Kafka's refusals: too few or too many iterations, a credential changed twice in one
    request, deleting one that does not exist; and Weir's: a users-file user is changed in the
    file. A user with a refused change keeps all its credentials, other users' changes land."""
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    b = broker_factory("--security-protocol", "SASL_PLAINTEXT",
                       "--sasl-users-file", str(users_file))
    a = scram_admin(b.bootstrap)
    sha256 = ScramMechanism.SCRAM_SHA_256
    got = alter_users(a, [
        UserScramCredentialUpsertion("few", ScramCredentialInfo(sha256, 1000), b"pw"),
        UserScramCredentialUpsertion("many", ScramCredentialInfo(sha256, 20000), b"pw"),
        UserScramCredentialUpsertion("twice", ScramCredentialInfo(sha256, 4096), b"pw"),
        UserScramCredentialDeletion("twice", sha256),
        UserScramCredentialDeletion("ghost", sha256),
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(sha256, 4096), b"pw"),
        UserScramCredentialUpsertion("fine", ScramCredentialInfo(sha256, 4096), b"fine-pw"),
    ])
    assert got["fine"] is None
    assert got["few"].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    assert "few iterations" in got["few"].str()
    assert got["many"].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    assert "many iterations" in got["many"].str()
    assert got["twice"].code() == KafkaError.DUPLICATE_RESOURCE
    assert got["ghost"].code() == KafkaError.RESOURCE_NOT_FOUND
    assert got["alice"].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    assert "users file" in got["alice"].str()
    described = describe_users(a)
    assert "fine" in described
    for refused in ["few", "many", "twice", "ghost"]:
        assert refused not in described
    # The file user's password is unchanged.
    round_trip(b.bootstrap, sasl("SCRAM-SHA-256"), n=1)


def test_scram_users_on_the_raw_wire(broker_factory, users_file):
    """The two APIs byte for byte: DescribeUserScramCredentials (50) with a user named twice
    and an unknown one, AlterUserScramCredentials (51) with an unknown mechanism."""
    b = broker_factory("--security-protocol", "SASL_PLAINTEXT",
                       "--sasl-users-file", str(users_file))
    host, port = b.bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(frame(17, 1, 1, struct.pack(">h", 5) + b"PLAIN"))
        assert struct.unpack(">h", read_frame(s)[4:6])[0] == 0
        token = b"\0alice\0" + USERS["alice"].encode()
        s.sendall(frame(36, 0, 2, struct.pack(">i", len(token)) + token))
        assert struct.unpack(">h", read_frame(s)[4:6])[0] == 0

        def compact_str(v):
            return bytes([len(v) + 1]) + v

        # Describe: users [alice, alice, nobody] -> alice DUPLICATE_RESOURCE, nobody
        # RESOURCE_NOT_FOUND.
        users = [b"alice", b"alice", b"nobody"]
        body = bytes([len(users) + 1]) + b"".join(compact_str(u) + b"\0" for u in users) + b"\0"
        s.sendall(flexible_frame(50, 0, 3, body))
        resp = read_frame(s)
        # correlation(4) tagged(1) throttle(4) error_code(2) error_message(compact nullable)
        assert struct.unpack(">i", resp[:4])[0] == 3
        pos = 5 + 4
        assert struct.unpack(">h", resp[pos:pos + 2])[0] == 0
        pos += 2
        assert resp[pos] == 0  # null message
        pos += 1
        n = resp[pos] - 1
        pos += 1
        results = {}
        for _ in range(n):
            ulen = resp[pos] - 1
            user = resp[pos + 1:pos + 1 + ulen].decode()
            pos += 1 + ulen
            code = struct.unpack(">h", resp[pos:pos + 2])[0]
            pos += 2
            mlen = resp[pos]
            pos += 1 + max(mlen - 1, 0)
            infos = resp[pos] - 1
            pos += 1 + infos * (1 + 4 + 1)
            pos += 1  # tagged fields
            results[user] = code
        assert results == {"alice": 92, "nobody": 91}

        # Alter: an upsertion with mechanism 7 -> UNSUPPORTED_SASL_MECHANISM (33).
        upsert = (compact_str(b"eve") + bytes([7]) + struct.pack(">i", 4096) +
                  compact_str(b"salt") + compact_str(b"x" * 32) + b"\0")
        body = bytes([1]) + bytes([2]) + upsert + b"\0"
        s.sendall(flexible_frame(51, 0, 4, body))
        resp = read_frame(s)
        assert struct.unpack(">i", resp[:4])[0] == 4
        pos = 5 + 4
        assert resp[pos] == 2  # one result
        pos += 1
        ulen = resp[pos] - 1
        assert resp[pos + 1:pos + 1 + ulen] == b"eve"
        pos += 1 + ulen
        assert struct.unpack(">h", resp[pos:pos + 2])[0] == 33


def test_scram_users_reach_every_broker_of_a_cluster(tmp_path, users_file):
    """A user made through one broker logs in through the others: the credential is a
    metadata change, replicated by the controller quorum, whose listeners refuse requests
    without the inter-broker user's credentials."""
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    from test_cluster import Cluster
    c = Cluster(tmp_path)
    for b in c.nodes.values():
        b.args += ["--security-protocol", "SASL_PLAINTEXT", "--sasl-users-file",
                   str(users_file), "--inter-broker-user", "alice"]
        b.http_auth = ("alice", USERS["alice"])
    try:
        c.start()
        first, *others = list(c.nodes.items())
        a = scram_admin(first[1].bootstrap)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
        assert alter_users(a, [UserScramCredentialUpsertion("erin", info, b"erin-pw")]) == {
            "erin": None}
        conf = sasl("SCRAM-SHA-512", user="erin", password="erin-pw")
        for node_id, b in others:
            deadline = time.monotonic() + 30
            while True:
                a2 = scram_admin(b.bootstrap)
                if "erin" in describe_users(a2):
                    break
                assert time.monotonic() < deadline, "the credential never reached the broker"
                time.sleep(0.2)
            # Bootstrapped through this broker only: the login happened there.
            md = admin(b.bootstrap, **conf).list_topics(timeout=20)
            assert int(node_id) in md.brokers and len(md.brokers) == 3
        # The controller listeners want the inter-broker user as well: a metadata change
        # forged straight to a voter (here, a credential) is refused.
        import json
        import urllib.error
        args = [str(a) for a in first[1].args]
        voters = args[args.index("--controller-voters") + 1].split(",")
        forged = {"type": "alter_scram_credentials", "changes": [{
            "user": "mallory", "mechanism": "SCRAM-SHA-256", "credential": {
                "salt": [1] * 24, "iterations": 4096, "stored_key": [2] * 32,
                "server_key": [3] * 32}}]}
        for voter in voters:
            addr = voter.split("@", 1)[1]
            req = urllib.request.Request(f"http://{addr}/raft/propose",
                                         data=json.dumps(forged).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            assert e.value.code == 401
        assert "mallory" not in describe_users(a)
    finally:
        c.dispose()


def test_weir_user_cli(broker_factory, users_file):
    """`weir user set|list|delete` (the HTTP API's /v1/users): a user made there logs in
    over SASL and to the HTTP API itself; users of the file are refused with a message."""
    import base64
    import json
    import urllib.error
    b = broker_factory("--security-protocol", "SASL_PLAINTEXT",
                       "--sasl-users-file", str(users_file))
    env = dict(os.environ, WEIR_ADMIN=f"http://{b.http}", WEIR_USER="alice",
               WEIR_PASSWORD=USERS["alice"])

    def weir(*args, check=True, **extra_env):
        r = subprocess.run([WEIR_BIN, "user", *args], env=dict(env, **extra_env),
                           capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    weir("set", "frank", "--new-password", "frank-pw")
    weir("set", "gina", "--mechanism", "SCRAM-SHA-256", "--iterations", "8192",
         WEIR_NEW_PASSWORD="gina-pw")
    listed = weir("list").stdout
    assert "frank" in listed and "gina" in listed and "alice" in listed
    users = {u["name"]: u for u in json.loads(weir("list", "--json").stdout)["users"]}
    assert users["alice"]["source"] == "file"
    assert users["gina"] == {"name": "gina", "source": "api", "credentials": [
        {"mechanism": "SCRAM-SHA-256", "iterations": 8192}]}

    round_trip(b.bootstrap, sasl("SCRAM-SHA-512", user="frank", password="frank-pw"), n=1)
    round_trip(b.bootstrap, sasl("SCRAM-SHA-256", user="gina", password="gina-pw"), n=1)
    # A user made through the API logs in to the HTTP API too.
    req = urllib.request.Request(f"http://{b.http}/v1/topics")
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(b"frank:frank-pw").decode())
    assert urllib.request.urlopen(req, timeout=10).status == 200

    # Without a SASL listener there is no one to be: users are refused.
    plain = broker_factory()
    r = subprocess.run([WEIR_BIN, "user", "set", "zed", "--new-password", "x"],
                       env=dict(os.environ, WEIR_ADMIN=f"http://{plain.http}"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "no listener uses SASL" in r.stderr, r.stderr

    r = weir("set", "alice", "--new-password", "x", check=False)
    assert r.returncode != 0 and "users file" in r.stderr, r.stderr
    r = weir("set", "hal", "--new-password", "x", "--iterations", "100000", check=False)
    assert r.returncode != 0 and "4096-16384" in r.stderr, r.stderr
    r = weir("set", "hal", "--new-password", "x", "--mechanism", "MD5", check=False)
    assert r.returncode != 0 and "unknown SCRAM mechanism" in r.stderr, r.stderr

    weir("delete", "frank")
    r = weir("delete", "frank", check=False)
    assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr
    assert auth_error(b.bootstrap, sasl("SCRAM-SHA-512", user="frank",
                                        password="frank-pw")).code() == KafkaError._AUTHENTICATION
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401
