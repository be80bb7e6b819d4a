#!/usr/bin/env python3
"""Consume throughput and broker CPU per GiB read, plaintext vs TLS (BENCHMARKS.md, "Fetches
over TLS"). A fresh broker per run (the release weir, pinned to core 0), 1 GiB of 1 KiB records
read back three times with confluent-kafka; run this on core 1:

    taskset -c 1 python3 broker/bench/tls_consume.py ~/.cache/weir/target/release/weir PKI_DIR

PKI_DIR holds ca.pem and a broker.pem/broker.key for 127.0.0.1 signed by it (the openssl
commands in broker/compat/python/test_security.py make them). Needs confluent-kafka
(~/.cache/weir/venv-compat has it)."""
import os, subprocess, sys, time, re, tempfile
from confluent_kafka import Producer, Consumer, TopicPartition
WEIR, PKI = sys.argv[1], sys.argv[2]
N, SIZE = 1_048_576, 1024
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def run(proto, extra, conf):
    d = tempfile.mkdtemp(prefix="tlsb-")
    p = subprocess.Popen(["taskset", "-c", "0", WEIR, "serve", "--data-dir", d, "--listen", "127.0.0.1:0",
                          "--http-listen", "127.0.0.1:0", "--security-protocol", proto, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        m = re.search(r"weir ready: kafka=(\S+)", line)
        if m: boot = m.group(1); break
    base = {"bootstrap.servers": boot, **conf}
    pr = Producer({**base, "linger.ms": 5, "batch.size": 1000000, "acks": 1})
    v = os.urandom(SIZE)
    for i in range(N):
        while True:
            try: pr.produce("t", v); break
            except BufferError: pr.poll(0.01)
    pr.flush(120)
    out = []
    for rnd in range(3):
        c = Consumer({**base, "group.id": f"g{rnd}", "enable.auto.commit": False, "fetch.max.bytes": 52428800,
                      "max.partition.fetch.bytes": 10485760, "fetch.queue.backoff.ms": 1, "queued.max.messages.kbytes": 1048576})
        c.assign([TopicPartition("t", 0, 0)])
        got, nbytes, t0, c0 = 0, 0, None, None
        while got < N:
            ms = c.consume(10000, 5)
            if ms and t0 is None: t0, c0 = time.perf_counter(), cpu(p.pid)
            for m in ms:
                if m.error() is None: got += 1; nbytes += len(m.value())
        dt, dc = time.perf_counter() - t0, cpu(p.pid) - c0
        c.close()
        out.append((nbytes / dt / 2**20, dc / (nbytes / 2**30)))
    p.terminate(); p.wait()
    subprocess.run(["rm", "-rf", d])
    return out
ca = {"ssl.ca.location": f"{PKI}/ca.pem"}
tls = ["--tls-cert-file", f"{PKI}/broker.pem", "--tls-key-file", f"{PKI}/broker.key"]
for name, proto, extra, conf in [("PLAINTEXT", "PLAINTEXT", [], {}),
                                 ("SSL", "SSL", tls, {"security.protocol": "SSL", **ca}),
                                 ("PLAINTEXT", "PLAINTEXT", [], {}),
                                 ("SSL", "SSL", tls, {"security.protocol": "SSL", **ca})]:
    r = run(proto, extra, conf)
    print(name, " ".join(f"{mib:.0f}MiB/s@{c:.2f}cpu-s/GiB" for mib, c in r), flush=True)
