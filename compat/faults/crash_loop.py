#!/usr/bin/env python3
"""A crash loop: the broker SIGKILLed at random moments under load, and restarted, N times.

The load, all librdkafka (confluent-kafka), all running through every kill:
- two idempotent producers (acks=all) send numbered, keyed records to the 3-partition topic
  `crash`, recording where each was acknowledged;
- a consumer group member reads `crash` and commits synchronously every 200 records, recording
  every commit the broker confirmed;
- a transactional producer commits (or, every fifth, aborts) transactions of 10 records to
  `crash-txn`, one after the other, so a kill often falls inside one.

Each round waits for the load to make progress, sleeps a random 0-1.5 s, SIGKILLs the broker and
restarts it on the same data and port. After each restart the group's committed offsets are read
back: none may be below an offset whose commit the broker confirmed. At the end, with the load
stopped: every acknowledged record is at the partition and offset it was acknowledged with,
none is there twice, nothing unacknowledged was written; a read_committed consumer of
`crash-txn` sees every committed transaction whole, no aborted one, and each transaction whose
outcome the kill hid either whole or not at all.

  compat/faults/crash_loop.py [--broker gregor|kafka] [--long]   10 rounds, or 100 with --long
Bounded: at most ROUNDS kills, each round's waits have deadlines, the producers stop at a count.
"""

import logging
import os
import random
import sys
import threading
import time

LONG = "--long" in sys.argv
if LONG:
    sys.argv.remove("--long")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,  # noqa: E402
                             TopicPartition, OFFSET_BEGINNING)

ROUNDS = 100 if LONG else 10
TOPIC, TXN_TOPIC, GROUP = "crash", "crash-txn", "crash-group"
PARTITIONS = 3
RATE = 1500                 # records per second per producer
MAX_RECORDS = 400_000       # per producer: a hard bound on the load
TXN_RECORDS = 10
PROGRESS = 300              # acknowledged records wanted after each restart before the next kill
QUIET = logging.getLogger("crash-loop")
QUIET.setLevel(logging.CRITICAL)
CLIENT = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 100,
          "retry.backoff.max.ms": 500, "logger": QUIET}


class Producing(threading.Thread):
    """An idempotent producer of records `p<id>-<seq>`; keeps every acknowledgement."""

    def __init__(self, bootstrap, pid):
        super().__init__(daemon=True)
        self.pid, self.stop_evt, self.lock = pid, threading.Event(), threading.Lock()
        self.acks, self.errors, self.sent = {}, [], 0
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 5, "message.timeout.ms": 300000, **CLIENT})

    def value(self, seq):
        return f"p{self.pid}-{seq:08d}".encode()

    def _report(self, err, msg):
        seq = int(msg.value().split(b"-")[1])
        with self.lock:
            if err is not None:
                self.errors.append((seq, str(err)))
            else:
                self.acks[seq] = (msg.partition(), msg.offset())

    def acked(self):
        with self.lock:
            return len(self.acks)

    def run(self):
        tokens, last = 0.0, time.monotonic()
        while not self.stop_evt.is_set() and self.sent < MAX_RECORDS:
            now = time.monotonic()
            tokens, last = min(tokens + (now - last) * RATE, RATE / 20), now
            while tokens >= 1 and self.sent - self.acked() < 20_000 and self.sent < MAX_RECORDS:
                try:
                    self.p.produce(TOPIC, key=f"k{self.sent % 23}".encode(), value=self.value(self.sent),
                                   on_delivery=self._report)
                except BufferError:
                    break
                self.sent += 1
                tokens -= 1
            self.p.poll(0)
            time.sleep(0.005)

    def finish(self):
        self.stop_evt.set()
        self.join(10)
        return self.p.flush(180)


class Committing(threading.Thread):
    """A group member that commits what it read every 200 records; keeps confirmed commits."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.stop_evt, self.lock = threading.Event(), threading.Lock()
        self.confirmed = {}   # partition -> highest offset whose commit the broker confirmed
        self.commits = 0
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                           "enable.auto.commit": False, "session.timeout.ms": 10000, **CLIENT})

    def run(self):
        self.c.subscribe([TOPIC])
        since = 0
        while not self.stop_evt.is_set():
            m = self.c.poll(0.2)
            if m is None or m.error():
                continue
            since += 1
            if since < 200:
                continue
            try:
                done = self.c.commit(asynchronous=False)
            except KafkaException:
                continue  # the broker is down or the group rebalances: try again later
            since = 0
            with self.lock:
                self.commits += 1
                for tp in done or []:
                    if tp.error is None and tp.offset >= 0:
                        self.confirmed[tp.partition] = max(self.confirmed.get(tp.partition, -1), tp.offset)

    def snapshot(self):
        with self.lock:
            return dict(self.confirmed)

    def finish(self):
        self.stop_evt.set()
        self.join(30)
        self.c.close()


class Transacting(threading.Thread):
    """Transactions of TXN_RECORDS records, one after the other; keeps each one's outcome."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap, self.stop_evt = bootstrap, threading.Event()
        self.outcome = {}     # txn number -> "committed" | "aborted" | "unknown"
        self.p = None

    def _producer(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": "crash-txn-1",
                      "transaction.timeout.ms": 10000, **CLIENT})
        p.init_transactions(60)
        return p

    def run(self):
        n = 0
        while not self.stop_evt.is_set() and n < 100_000:
            try:
                if self.p is None:
                    self.p = self._producer()
                self.p.begin_transaction()
                self.outcome[n] = "unknown"
                for i in range(TXN_RECORDS):
                    self.p.produce(TXN_TOPIC, key=f"t{n}".encode(), value=f"txn-{n:06d}-{i}".encode())
                if n % 5 == 4:
                    self.p.abort_transaction(60)
                    self.outcome[n] = "aborted"
                else:
                    self.p.commit_transaction(60)
                    self.outcome[n] = "committed"
            except KafkaException as e:
                err = e.args[0]
                try:
                    if err.txn_requires_abort():
                        self.p.abort_transaction(60)
                        self.outcome[n] = "aborted"
                    elif not err.retriable():
                        self.p = None  # fatal: a new producer fences this one
                except KafkaException:
                    self.p = None
                time.sleep(0.1)
            n += 1

    def finish(self):
        self.stop_evt.set()
        self.join(120)


def committed_offsets(b):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP, **CLIENT})
    try:
        tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def read(b, topic, isolation):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "crash-reader", "enable.auto.commit": False,
                  "isolation.level": isolation, "enable.partition.eof": True, **CLIENT})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got, eof, end = [], set(), time.monotonic() + 120
        while len(eof) < PARTITIONS:
            check(time.monotonic() < end, f"reading {topic} took over 120 s")
            for m in c.consume(1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise CompatFailure(f"consumer error {m.error()}")
                eof.discard(m.partition())
                got.append((m.partition(), m.offset(), m.value()))
        return got
    finally:
        c.close()


def body(b: harness.Broker) -> None:
    b.create_topic(TOPIC, PARTITIONS)
    b.create_topic(TXN_TOPIC, PARTITIONS)
    rnd = random.Random(int(os.environ.get("CRASH_LOOP_SEED", time.time())))
    producers = [Producing(b.bootstrap, i) for i in range(2)]
    member, txns = Committing(b.bootstrap), Transacting(b.bootstrap)
    for t in producers + [member, txns]:
        t.start()
    total = lambda: sum(p.acked() for p in producers)  # noqa: E731
    went_back = []
    t0 = time.monotonic()
    try:
        for r in range(ROUNDS):
            before = total()
            wait_until(lambda: total() >= before + PROGRESS, 120, f"round {r}: {PROGRESS} more acks")
            time.sleep(rnd.uniform(0, 1.5))
            confirmed = member.snapshot()
            b.kill()
            b.restart()
            now = committed_offsets(b)
            for p, off in confirmed.items():
                if now.get(p, -1) < off:
                    went_back.append((r, p, off, now.get(p)))
        print(f"  {ROUNDS} kills in {time.monotonic() - t0:.0f}s; the last round {total()} acks", flush=True)
    finally:
        txns.finish()
        member.finish()
        left = [p.finish() for p in producers]
    check(not went_back, f"committed offsets went back (round, partition, confirmed, read): {went_back[:5]}")
    check_eq(left, [0, 0], "records still undelivered after the final flush")
    for p in producers:
        check(not p.errors, f"producer {p.pid}: {len(p.errors)} delivery errors, first {p.errors[:3]}")
        check_eq(len(p.acks), p.sent, f"producer {p.pid}: acknowledged vs sent")

    # Every acknowledged record where it was acknowledged, once; nothing else.
    where = {}
    for part, off, value in read(b, TOPIC, "read_uncommitted"):
        check(value not in where, f"{value!r} twice: at {where.get(value)} and {(part, off)}")
        where[value] = (part, off)
    acked = {p.value(seq): pos for p in producers for seq, pos in p.acks.items()}
    for value, pos in acked.items():
        if where.get(value) != pos:
            raise CompatFailure(f"{value!r} acknowledged at {pos}, found at {where.get(value)}")
    check_eq(len(where), len(acked), "records in the log vs acknowledged")

    # Transactions: whole or absent, as their outcome says.
    seen = {}
    for _, _, value in read(b, TXN_TOPIC, "read_committed"):
        n = int(value.split(b"-")[1])
        seen.setdefault(n, []).append(value)
    counts = {"committed": 0, "aborted": 0, "unknown": 0}
    for n, outcome in txns.outcome.items():
        counts[outcome] += 1
        got = sorted(seen.pop(n, []))
        whole = sorted(f"txn-{n:06d}-{i}".encode() for i in range(TXN_RECORDS))
        if outcome == "committed":
            check_eq(got, whole, f"committed transaction {n}")
        elif outcome == "aborted":
            check_eq(got, [], f"aborted transaction {n}")
        else:
            check(got in ([], whole), f"transaction {n} (outcome hidden by a kill) is half visible: {len(got)}")
    check(not seen, f"records of transactions never begun: {sorted(seen)[:5]}")
    check(counts["committed"] > 0, "no transaction committed")
    print(f"  {len(acked)} records acknowledged and found in place; {sum(m.commits for m in [member])} group "
          f"commits, none went back; transactions {counts}", flush=True)


if __name__ == "__main__":
    harness.main(body)
