#!/usr/bin/env python3
"""Seeds the fuzz corpus with real clients' requests.

Starts gregor behind a recording proxy (gregor advertises the proxy, so every connection of
every client goes through it), drives librdkafka (confluent-kafka), kafka-python and the Java
CLI tools through produce (every codec), consume, classic and KIP-848 groups, transactions and
admin calls, and writes what the clients sent:

  fuzz/corpus/request/     one request frame each (header and body, no size prefix)
  fuzz/corpus/frame/       the first frames of each connection, size prefixes included
  fuzz/corpus/batch/       0x80 + each Produce frame (the batch target reads its records)
  fuzz/corpus/compaction/  the same seeds

Inputs are named by their SHA-1, so a second recording adds only what is new.

  fuzz/record.py [--java]    (compat/setup installs the clients; --java adds the slower CLI tools)
"""

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "compat"))
import harness  # noqa: E402  (re-executes under the compat venv)

CORPUS = os.path.join(HERE, "corpus")
FRAME_BYTES_MAX = 64 << 10       # larger requests are left out: the corpus stays small
STREAM_FRAMES = 8                # frames per connection kept for the frame target


def save(target: str, data: bytes) -> None:
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


class Recorder:
    """A TCP proxy that keeps what clients send to the broker."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.frames = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, []), daemon=True).start()

    def _pump(self, src, dst, stream):
        buf = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
                if stream is None:
                    continue
                buf += chunk
                while len(buf) >= 4:
                    size = int.from_bytes(buf[:4], "big")
                    if len(buf) < 4 + size:
                        break
                    self._keep(buf[4:4 + size], stream)
                    buf = buf[4 + size:]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _keep(self, frame: bytes, stream: list):
        with self.lock:
            self.frames += 1
        if len(frame) > FRAME_BYTES_MAX:
            return
        save("request", frame)
        if frame[:2] == b"\x00\x00":  # Produce
            save("batch", b"\x80" + frame)
            save("compaction", b"\x80" + frame)
        if len(stream) < STREAM_FRAMES:
            stream.append(len(frame).to_bytes(4, "big") + frame)
            save("frame", b"".join(stream))


def librdkafka(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic("rec-plain", 3, 1), NewTopic("rec-compact", 2, 1, config={"cleanup.policy": "compact"})]
    for f in admin.create_topics(topics).values():
        f.result(30)
    admin.describe_configs([ConfigResource("topic", "rec-plain")])[ConfigResource("topic", "rec-plain")].result(30)
    admin.alter_configs([ConfigResource("topic", "rec-plain", set_config={"retention.ms": "3600000"})])
    for f in admin.create_partitions([NewPartitions("rec-plain", 4)]).values():
        f.result(30)
    admin.list_topics(timeout=30)
    records = harness.make_records("rec", n=300, big_every=100)
    for codec in harness.CODECS:
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "enable.idempotence": True,
                      "linger.ms": 5})
        for r in records[:100]:
            p.produce("rec-plain", key=r["key"], value=r["value"], headers=r.get("headers"))
            p.produce("rec-compact", key=r["key"] or b"k", value=r["value"])
        p.flush(30)
    tp = Producer({"bootstrap.servers": bootstrap, "transactional.id": "rec-txn"})
    tp.init_transactions(30)
    for commit in (True, False):
        tp.begin_transaction()
        tp.produce("rec-plain", key=b"t", value=b"in a transaction")
        if commit:
            tp.commit_transaction(30)
        else:
            tp.abort_transaction(30)
    for protocol in ("classic", "consumer"):
        conf = {"bootstrap.servers": bootstrap, "group.id": f"rec-{protocol}", "auto.offset.reset": "earliest",
                "group.protocol": protocol, "enable.auto.commit": False}
        if protocol == "classic":
            conf["session.timeout.ms"] = 6000
        c = Consumer(conf)
        c.subscribe(["rec-plain"])
        got, end = 0, time.monotonic() + 30
        while got < 50 and time.monotonic() < end:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        c.offsets_for_times([TopicPartition("rec-plain", 0, 1_700_000_000_000)], 10)
        c.close()
    admin.list_consumer_groups().result(30)


def kafka_python(bootstrap: str) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("rec-kp", 2, 1)])
    # Admin calls that reach more of the APIs; a refusal still records the request.
    calls = [
        lambda: admin.describe_groups(["rec-classic", "rec-consumer"]),
        lambda: admin.list_groups(),
        lambda: admin.list_group_offsets("rec-classic"),
        lambda: admin.describe_cluster(),
        lambda: admin.describe_log_dirs(),
        lambda: admin.describe_metadata_quorum(),
        lambda: admin.describe_topics(["rec-plain"]),
        lambda: admin.describe_topic_partitions(["rec-plain"]),
        lambda: admin.list_transactions(),
        lambda: admin.describe_transactions(["rec-txn"]),
        lambda: admin.describe_producers(["rec-plain"]),
        lambda: admin.list_partition_reassignments(),
        lambda: admin.list_config_resources(),
        lambda: admin.describe_acls(None),
        lambda: admin.delete_records({}),
        lambda: admin.elect_leaders(),
    ]
    for call in calls:
        try:
            call()
        except Exception:  # noqa: BLE001 - what the broker answers does not matter here
            pass
    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, acks="all")
        for i in range(30):
            p.send("rec-kp", key=f"k{i}".encode(), value=f"v{i}".encode() * (i + 1))
        p.flush(30)
        p.close()
    c = KafkaConsumer("rec-kp", bootstrap_servers=bootstrap, group_id="rec-kp-group",
                      auto_offset_reset="earliest", consumer_timeout_ms=5000)
    for i, _ in enumerate(c):
        if i >= 50:
            break
    c.commit()
    c.close()
    admin.delete_topics(["rec-kp"])
    admin.close()


def java_cli(bootstrap: str) -> None:
    run = harness.run_cli
    run("kafka-topics", ["--bootstrap-server", bootstrap, "--create", "--topic", "rec-java", "--partitions", "2"])
    run("kafka-topics", ["--bootstrap-server", bootstrap, "--describe", "--topic", "rec-java"])
    lines = "".join(f"k{i}:v{i}\n" for i in range(50))
    for codec in ("snappy", "gzip", "lz4", "zstd"):
        run("kafka-console-producer", ["--bootstrap-server", bootstrap, "--topic", "rec-java",
                                       "--compression-codec", codec, "--property", "parse.key=true",
                                       "--property", "key.separator=:"], input=lines)
    run("kafka-console-consumer", ["--bootstrap-server", bootstrap, "--topic", "rec-java", "--group", "rec-java-g",
                                   "--from-beginning", "--max-messages", "50", "--timeout-ms", "20000"])
    run("kafka-consumer-groups", ["--bootstrap-server", bootstrap, "--describe", "--group", "rec-java-g"])
    run("kafka-configs", ["--bootstrap-server", bootstrap, "--entity-type", "topics", "--entity-name", "rec-java",
                          "--describe"])


def main() -> None:
    java = "--java" in sys.argv
    upstream = harness.free_port()
    tmp = tempfile.mkdtemp(prefix="gregor-record-")
    recorder = Recorder(upstream)
    cmd = [harness.gregor_bin(), "--override", f"listeners=PLAINTEXT://127.0.0.1:{upstream}",
           "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{recorder.port}",
           "--override", f"log.dirs={tmp}/data", "--override", "group.initial.rebalance.delay.ms=0"]
    log = open(os.path.join(tmp, "gregor.log"), "w")
    broker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        harness.wait_until(lambda: socket.create_connection(("127.0.0.1", upstream), 1), 30, "gregor listening")
        bootstrap = f"127.0.0.1:{recorder.port}"
        librdkafka(bootstrap)
        kafka_python(bootstrap)
        if java:
            java_cli(bootstrap)
    finally:
        broker.terminate()
        broker.wait(30)
    counts = {t: len(os.listdir(os.path.join(CORPUS, t))) for t in sorted(os.listdir(CORPUS))}
    print(f"recorded {recorder.frames} frames; corpus now {counts}")


if __name__ == "__main__":
    main()
