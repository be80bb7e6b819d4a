"""Compaction throughput: see scripts/compaction-probe.sh."""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(records, keys):
    work = tempfile.mkdtemp(prefix="weir-compaction-")
    log_path = os.path.join(work, "weir.log")
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    with open(log_path, "w") as log:
        broker = subprocess.Popen(
            [os.environ["WEIR_BIN"], "serve", "--listen", bootstrap, "--no-http",
             "--data-dir", os.path.join(work, "data"), "--log-cleaner-backoff-ms", "1000"],
            stdout=log, stderr=log)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        deadline = time.time() + 30
        while True:
            try:
                admin.create_topics([NewTopic("c", 1, 1, config={
                    "cleanup.policy": "compact", "segment.bytes": str(64 << 20)})])["c"].result()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1000000,
                             "queue.buffering.max.messages": 1000000})
        value = b"x" * 1000
        started = time.time()
        for i in range(records):
            while True:
                try:
                    producer.produce("c", key=b"key-%d" % (i % keys), value=value, partition=0)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush()
        print(f"produced {records} records of 1 KiB over {keys} keys in {time.time() - started:.1f} s")
        # Passes run every second while closed segments are dirty; wait until they stop.
        last, quiet_since = 0, time.time()
        while time.time() - quiet_since < 5 and time.time() - started < 300:
            passes = len(re.findall(r"compacted", open(log_path).read()))
            if passes != last:
                last, quiet_since = passes, time.time()
            time.sleep(0.5)
        strip = re.compile(r"\x1b\[[0-9;]*m")
        for line in open(log_path):
            if "compacted" in line:
                print(strip.sub("", line.strip()).split("compacted", 1)[1].strip())
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
