#!/usr/bin/env python3
"""Durability across broker restarts, with confluent-kafka (librdkafka).

A producer (acks=all, enable.idempotence=true) sends keyed, numbered messages to a 3-partition
topic without pause and records every delivery report (partition, offset). Meanwhile the broker
is SIGKILLed and restarted on the same data dir and port, later SIGTERMed and restarted again;
the producer keeps retrying through both. At the end everything is read back: every
acknowledged message is at exactly the offset it was acknowledged with, no value appears twice,
nothing unacknowledged appears, and there were no delivery errors. Bounded in count and time.
"""

import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING  # noqa: E402

TOPIC = "durable"
PARTITIONS = 3
MAX_MESSAGES = 150_000   # hard bound on what the producer sends
RATE = 3000              # messages per second
MAX_OUTSTANDING = 10_000  # sent but not yet acknowledged (grows while the broker is down)
QUIET = logging.getLogger("rdkafka-restart")
QUIET.setLevel(logging.CRITICAL)
STEP = 1500              # acknowledged messages wanted before each fault and after each restart


class Load(threading.Thread):
    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.stop_evt = threading.Event()
        self.acks = {}          # seq -> (partition, offset)
        self.errors = []        # (seq, error)
        self.client_errors = []
        self.sent = 0
        self.lock = threading.Lock()
        self.p = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": 120000, "retry.backoff.ms": 100,
            "retry.backoff.max.ms": 500, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
            "error_cb": self._on_error,
            "logger": QUIET,  # the connection-refused noise while the broker is down
        })

    def _on_error(self, err):
        with self.lock:
            self.client_errors.append(err)

    def acked(self):
        with self.lock:
            return len(self.acks)

    def _report(self, err, msg):
        seq = int(msg.value()[4:12])
        with self.lock:
            if err is not None:
                self.errors.append((seq, err))
            else:
                self.acks[seq] = (msg.partition(), msg.offset())

    def run(self):
        seq = 0
        tokens, last = 0.0, time.monotonic()
        while not self.stop_evt.is_set() and seq < MAX_MESSAGES:
            now = time.monotonic()
            tokens = min(tokens + (now - last) * RATE, RATE / 20)  # paced, bursts of at most 50 ms
            last = now
            outstanding = seq - self.acked()
            while tokens >= 1 and outstanding < MAX_OUTSTANDING and seq < MAX_MESSAGES:
                v = f"msg-{seq:08d}-" + "x" * (seq % 50)
                try:
                    self.p.produce(TOPIC, key=f"k{seq % 17}".encode(), value=v.encode(), on_delivery=self._report)
                except BufferError:
                    break
                seq += 1
                tokens -= 1
                outstanding += 1
            self.sent = seq
            self.p.poll(0)
            time.sleep(0.005)

    def finish(self, timeout=120):
        self.stop_evt.set()
        self.join(10)
        left = self.p.flush(timeout)
        return left


def read_all(b):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
                  "enable.auto.offset.store": False, "fetch.wait.max.ms": 100})
    try:
        ends = {}
        for p in range(PARTITIONS):
            lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
            check_eq(lo, 0, f"partition {p} log start offset")
            ends[p] = hi
        c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = {p: [] for p in range(PARTITIONS)}
        total = sum(ends.values())
        n = 0
        end = time.monotonic() + 60
        while n < total:
            if time.monotonic() > end:
                raise CompatFailure(f"read {n} of {total} records in 60s")
            for m in c.consume(1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise CompatFailure(f"consumer error {m.error()}")
                got[m.partition()].append((m.offset(), m.key(), m.value()))
                n += 1
        return ends, got
    finally:
        c.close()


def body(b: harness.Broker) -> None:
    b.create_topic(TOPIC, PARTITIONS)
    load = Load(b.bootstrap)
    load.start()
    try:
        for fault in ("SIGKILL", "SIGTERM"):
            before = load.acked()
            wait_until(lambda: load.acked() >= before + STEP, 60, f"{STEP} more acks before {fault}")
            at_fault = load.acked()
            t0 = time.monotonic()
            if fault == "SIGKILL":
                b.kill()
            else:
                b.stop(timeout=60)
            b.restart()
            print(f"  {fault} at {at_fault} acks (sent {load.sent}); broker back in {time.monotonic() - t0:.1f}s",
                  flush=True)
            wait_until(lambda: load.acked() >= at_fault + STEP, 90,
                       f"{STEP} more acks after {fault} + restart (producer resumed)")
    finally:
        left = load.finish()
    check(left == 0, f"{left} messages still undelivered after the final flush")
    check(not load.errors, f"{len(load.errors)} delivery errors, first: {load.errors[:5]}")
    fatal = [e for e in load.client_errors if e.fatal()]
    check(not fatal, f"fatal producer errors: {fatal}")
    check_eq(len(load.acks), load.sent, "acknowledged messages vs sent")
    print(f"  {load.sent} messages sent and acknowledged; {len(load.client_errors)} transient client errors",
          flush=True)

    ends, got = read_all(b)
    seen = {}
    for p, recs in got.items():
        check_eq([r[0] for r in recs], list(range(ends[p])), f"partition {p}: offsets read")
        for off, key, value in recs:
            seq = int(value[4:12])
            check(seq not in seen, f"value {value[:12]!r} appears twice: {seen.get(seq)} and {(p, off)}")
            seen[seq] = (p, off)
            check_eq(key, f"k{seq % 17}".encode(), f"key of message {seq}")
            check_eq(value, (f"msg-{seq:08d}-" + "x" * (seq % 50)).encode(), f"value at {p}/{off}")
    for seq, pos in load.acks.items():
        if seen.get(seq) != pos:
            raise CompatFailure(f"message {seq} acknowledged at partition/offset {pos}, found at {seen.get(seq)}")
    check_eq(len(seen), len(load.acks), "messages in the log vs acknowledged")


if __name__ == "__main__":
    harness.main(body)
