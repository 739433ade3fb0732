#!/usr/bin/env python3
"""A full disk: the data dir on a small tmpfs, filled up under acks=all load, then given space back.

What a Kafka user should see, and what this checks, with librdkafka (confluent-kafka):
- while the disk is full, a produce fails with KAFKA_STORAGE_ERROR (the producer here does not
  retry, so the code reaches the delivery report) and the broker stays up;
- metadata and fetch keep working: every record acknowledged before is read back in place;
- once space returns, produce succeeds again by itself, with no restart;
- nothing acknowledged is damaged: after a clean restart every acknowledged record is at its
  offset, once.

Apache Kafka takes a full log dir offline and, with one log dir, stops; this scenario is about
gregor's promise (keep serving reads, resume writes) and runs against gregor only.

  compat/faults/disk_full.py [--keep]
Needs root (mount -t tmpfs). Bounded: the filesystem is TMPFS_MB, every wait has a deadline.
"""

import errno
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

TMPFS_MB = 256
LEFT_FREE_MB = 24           # what the ballast leaves for the broker to fill
TOPIC = "full"
VALUE = 1024


class Acked:
    """A producer that does not retry: each record's delivery is final, and every error code kept."""

    def __init__(self, bootstrap):
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                           "retries": 0, "linger.ms": 5, "message.timeout.ms": 30000,
                           "queue.buffering.max.messages": 20000})
        self.acks, self.errors, self.n = {}, {}, 0

    def _report(self, err, msg):
        key = msg.key()
        if err is None:
            self.acks[key] = msg.offset()
        else:
            self.errors[err.code()] = self.errors.get(err.code(), 0) + 1

    def send(self, count):
        for _ in range(count):
            key = f"r{self.n:08d}".encode()
            value = key * (VALUE // len(key))
            while True:
                try:
                    self.p.produce(TOPIC, key=key, value=value, on_delivery=self._report)
                    break
                except BufferError:
                    self.p.poll(0.05)
            self.n += 1
        left = self.p.flush(60)
        check_eq(left, 0, "records without a delivery report after 60 s")


def free_mb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / (1 << 20)


def fill(ballast, leave_mb):
    """Writes a ballast file until at most `leave_mb` MiB are free (or the disk is full)."""
    chunk = b"\0" * (1 << 20)
    with open(ballast, "ab") as f:
        try:
            while free_mb(os.path.dirname(ballast)) > leave_mb + 1:
                f.write(chunk)
                f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def read_back(b, want):
    """Reads the topic from the start; checks every acknowledged record is at its offset, once."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "disk-full-reader", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(TOPIC, 0, 0)])
        seen, end = {}, time.monotonic() + 60
        while True:
            check(time.monotonic() < end, f"reading {TOPIC} back took over 60 s ({len(seen)} records)")
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise CompatFailure(f"fetch failed: {m.error()}")
            check(m.key() not in seen, f"{m.key()!r} twice, at {seen.get(m.key())} and {m.offset()}")
            check_eq(m.value(), m.key() * (VALUE // len(m.key())), f"value of {m.key()!r}")
            seen[m.key()] = m.offset()
        for key, off in want.items():
            if seen.get(key) != off:
                raise CompatFailure(f"{key!r} acknowledged at offset {off}, read at {seen.get(key)}")
        return len(seen)
    finally:
        c.close()


def body(b: harness.Broker, ballast: str) -> None:
    b.create_topic(TOPIC, 1)
    prod = Acked(b.bootstrap)
    prod.send(2000)
    check_eq(len(prod.acks), 2000, f"acknowledged before the disk filled (errors {prod.errors})")
    before = dict(prod.acks)

    fill(ballast, LEFT_FREE_MB)
    print(f"  ballast written: {free_mb(b.data_dir):.0f} MiB free of {TMPFS_MB}", flush=True)
    storage = KafkaError.KAFKA_STORAGE_ERROR
    end = time.monotonic() + 180
    while storage not in prod.errors:
        check(time.monotonic() < end, f"no KAFKA_STORAGE_ERROR after {prod.n} records ({prod.errors})")
        check(b.proc.poll() is None, f"the broker exited (rc={b.proc.returncode}) on a full disk")
        prod.send(2000)
    other = {code: n for code, n in prod.errors.items() if code != storage}
    check(not other, f"errors other than KAFKA_STORAGE_ERROR while the disk filled: {other}")
    print(f"  disk full after {prod.n} records: {len(prod.acks)} acknowledged, "
          f"{prod.errors[storage]} refused with KAFKA_STORAGE_ERROR", flush=True)

    # Reads and metadata go on.
    md = b.admin().list_topics(timeout=10)
    check(TOPIC in md.topics and not md.topics[TOPIC].error, f"metadata while full: {md.topics.get(TOPIC)}")
    n = read_back(b, prod.acks)
    print(f"  while full: metadata answers, {n} records read back in place", flush=True)

    # Space returns: produce resumes without a restart.
    os.remove(ballast)
    acked_at_full = len(prod.acks)
    wait_until(lambda: prod.send(1) or len(prod.acks) > acked_at_full, 120,
               "a produce to succeed after space returned", interval=0.5)
    resumed = len(prod.acks) - acked_at_full
    prod.send(2000)
    check(len(prod.acks) >= acked_at_full + resumed + 2000, f"after space returned: errors {prod.errors}")
    print(f"  space returned: produce resumed by itself; {len(prod.acks)} acknowledged in all", flush=True)

    check_eq(b.stop(), 0, "exit code of a clean stop")
    b.restart()
    n = read_back(b, prod.acks)
    check(all(prod.acks[k] == v for k, v in before.items()), "records acknowledged before the disk filled")
    print(f"  after a restart: {n} records, every acknowledged one in place", flush=True)


def main() -> None:
    args = harness.parse_args()
    if args.broker != "gregor":
        print("disk_full: gregor only (Apache Kafka stops when its only log dir fills)", file=sys.stderr)
        sys.exit(2)
    b = harness.Broker("gregor", keep=args.keep)
    mounted = []

    def start():
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", b.data_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise CompatFailure(f"mount -t tmpfs failed (this scenario needs root): {r.stderr.strip()}")
        mounted.append(b.data_dir)
        b.start()
        b.wait_ready()

    def cleanup():
        b.kill()
        for d in mounted:
            subprocess.run(["umount", d], check=False)
        b.cleanup()

    harness.run_scenario("disk_full", "gregor", start, lambda: f"gregor on a {TMPFS_MB} MB tmpfs at {b.bootstrap}",
                          lambda: body(b, os.path.join(b.data_dir, "ballast")),
                          lambda: f"--- gregor log tail ({b.log_path}) ---\n{b.log_tail()}", cleanup)


if __name__ == "__main__":
    main()
