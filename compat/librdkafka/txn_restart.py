#!/usr/bin/env python3
"""Transactions across broker restarts, with confluent-kafka (librdkafka).

Twice, first with SIGTERM (b.stop()) and then with SIGKILL (b.kill()), each time with new
transactional ids on the 3-partition topic txr:
- two transactional producers (A, B) commit 2 transactions of 12 records each;
- producer C (transaction.timeout.ms 60000) writes 6 records and leaves its transaction open;
- producer D, its own process (transaction.timeout.ms 10000), writes 6 records in a transaction
  and is SIGKILLed;
- an idempotent producer (acks=all) keeps sending numbered records to txr-idem.
The broker is stopped or killed and restarted (same dir and port). Then A and B commit one more
transaction each, C commits its open one, and within a deadline the coordinator aborts D's (its
timeout): the read_committed LSO of every partition reaches the log end, and a read_committed
consumer sees every committed record (of both rounds) exactly once and none of D's; a
read_uncommitted one sees D's records in the log too. The idempotent producer got no delivery
error, every record it sent was acknowledged, and txr-idem holds each one exactly once at the
partition/offset it was acknowledged with (no duplicates across the restart, no gaps).
The coordinator's scan for timed-out transactions runs every second
(transaction.abort.timed.out.transaction.cleanup.interval.ms=1000).
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, IsolationLevel, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import OffsetSpec  # noqa: E402

TOPIC = "txr"
IDEM = "txr-idem"
PARTITIONS = 3
TIMEOUT = 60
QUIET = logging.getLogger("rdkafka-txn-restart")
QUIET.setLevel(logging.CRITICAL)

DEAD_SRC = r"""
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": sys.argv[2],
              "transaction.timeout.ms": 10000})
p.init_transactions(60)
p.begin_transaction()
for i in range(6):
    p.produce(sys.argv[3], key=f"d{i}".encode(), value=f"{sys.argv[2]}-{i}".encode())
p.flush(60)
print("written", flush=True)
sys.stdin.read()
"""


def txn_producer(b, tid, timeout_ms=60000):
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid, "transaction.timeout.ms": timeout_ms,
                  "linger.ms": 5, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                  "retry.backoff.ms": 100, "retry.backoff.max.ms": 500, "logger": QUIET})
    p.init_transactions(TIMEOUT)
    return p


def one_txn(p, tag, n=12):
    p.begin_transaction()
    values = [f"{tag}-{i}" for i in range(n)]
    for i, v in enumerate(values):
        p.produce(TOPIC, key=f"k{i % 5}".encode(), value=v.encode())
    p.commit_transaction(TIMEOUT)
    return values


class Idem(threading.Thread):
    """An idempotent producer sending numbered records at ~1000/s until finish()."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.stop_evt = threading.Event()
        self.acks, self.errors, self.sent = {}, [], 0
        self.lock = threading.Lock()
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 5, "message.timeout.ms": 120000, "retry.backoff.ms": 100,
                           "retry.backoff.max.ms": 500, "reconnect.backoff.ms": 50,
                           "reconnect.backoff.max.ms": 500, "logger": QUIET})

    def _report(self, err, msg):
        seq = int(msg.value().decode().split("-")[1])
        with self.lock:
            if err is not None:
                self.errors.append((seq, str(err)))
            else:
                self.acks[seq] = (msg.partition(), msg.offset())

    def acked(self):
        with self.lock:
            return len(self.acks)

    def run(self):
        while not self.stop_evt.is_set() and self.sent < 100_000:
            if self.sent - self.acked() < 5000:
                for _ in range(5):
                    try:
                        self.p.produce(IDEM, key=f"i{self.sent % 11}".encode(), value=f"idem-{self.sent:07d}".encode(),
                                       on_delivery=self._report)
                    except BufferError:
                        break
                    self.sent += 1
            self.p.poll(0)
            time.sleep(0.005)

    def finish(self):
        self.stop_evt.set()
        self.join(10)
        return self.p.flush(TIMEOUT)


def offsets(b, topic, isolation):
    admin = b.admin()
    tps = [TopicPartition(topic, q) for q in range(PARTITIONS)]
    fs = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, isolation_level=isolation,
                            request_timeout=10)
    return [fs[tp].result(10).offset for tp in tps]


def read_all(b, topic, isolation):
    """Every record up to the (isolation's) end offsets: {partition: [(offset, value), ...]}."""
    ends = offsets(b, topic, IsolationLevel.READ_COMMITTED if isolation == "read_committed"
                   else IsolationLevel.READ_UNCOMMITTED)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"txr-{time.monotonic_ns()}",
                  "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, q, 0) for q in range(PARTITIONS)])
    got = {q: [] for q in range(PARTITIONS)}
    done = {q for q in range(PARTITIONS) if ends[q] == 0}
    deadline = time.monotonic() + 60
    while len(done) < PARTITIONS:
        if time.monotonic() > deadline:
            raise CompatFailure(f"{topic} {isolation}: not at the end offsets {ends} in 60s "
                                f"(read {[len(v) for v in got.values()]})")
        for m in c.consume(1000, 0.3):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                raise CompatFailure(f"consumer error: {m.error()}")
            got[m.partition()].append((m.offset(), m.value().decode()))
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    c.close()
    return got


def body(b):
    b.create_topic(TOPIC, PARTITIONS)
    b.create_topic(IDEM, PARTITIONS)
    committed, dead_values = [], []
    idem = Idem(b.bootstrap)
    idem.start()
    try:
        for how in ("SIGTERM", "SIGKILL"):
            r = how.lower()
            a, bb = txn_producer(b, f"txr-a-{r}"), txn_producer(b, f"txr-b-{r}")
            for t in range(2):
                committed += one_txn(a, f"A-{r}-{t}") + one_txn(bb, f"B-{r}-{t}")
            c = txn_producer(b, f"txr-c-{r}")
            c.begin_transaction()
            open_values = [f"C-{r}-{i}" for i in range(6)]
            for i, v in enumerate(open_values):
                c.produce(TOPIC, key=f"c{i}".encode(), value=v.encode())
            check_eq(c.flush(TIMEOUT), 0, "C's records not delivered")
            dead = subprocess.Popen([sys.executable, "-c", DEAD_SRC, b.bootstrap, f"txr-d-{r}", TOPIC],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
            try:
                check_eq(dead.stdout.readline().strip(), "written", f"producer D ({how} round)")
            finally:
                os.killpg(dead.pid, signal.SIGKILL)
                dead.wait()
            dead_values += [f"txr-d-{r}-{i}" for i in range(6)]
            ends = offsets(b, TOPIC, IsolationLevel.READ_UNCOMMITTED)
            lso = offsets(b, TOPIC, IsolationLevel.READ_COMMITTED)
            check(lso != ends, f"{how} round: LSO {lso} is at the log end {ends} with two open transactions")

            before = idem.acked()
            wait_until(lambda: idem.acked() >= before + 1000, 60, "1000 more idempotent acks before the restart")
            t0 = time.monotonic()
            if how == "SIGTERM":
                b.stop(timeout=60)
            else:
                b.kill()
            b.restart()
            at = idem.acked()
            print(f"  {how}: broker back in {time.monotonic() - t0:.1f}s ({at} idempotent acks)", flush=True)

            c.commit_transaction(TIMEOUT)
            committed += open_values
            committed += one_txn(a, f"A-{r}-after") + one_txn(bb, f"B-{r}-after")
            wait_until(lambda: idem.acked() >= at + 1000, 90, f"1000 more idempotent acks after {how} + restart")

            def lso_at_end():
                e = offsets(b, TOPIC, IsolationLevel.READ_UNCOMMITTED)
                return offsets(b, TOPIC, IsolationLevel.READ_COMMITTED) == e

            t1 = time.monotonic()
            wait_until(lso_at_end, 60, f"{how} round: read_committed LSO = log end (D's transaction aborted "
                                       "by its 10 s timeout)", interval=0.5)
            print(f"  {how}: LSO at the log end {time.monotonic() - t1:.1f}s after C's commit", flush=True)
            got = sum(read_all(b, TOPIC, "read_committed").values(), [])
            values = [v for _, v in got]
            check_eq(sorted(values), sorted(committed),
                     f"{how} round: read_committed values (each committed record exactly once, none of D's)")
            every = [v for _, v in sum(read_all(b, TOPIC, "read_uncommitted").values(), [])]
            check(set(dead_values) <= set(every), f"{how} round: read_uncommitted lacks some of D's records")
            for p in (a, bb, c):
                p.flush(TIMEOUT)
    finally:
        left = idem.finish()
    check_eq(left, 0, "idempotent records still undelivered after the final flush")
    check(not idem.errors, f"idempotent producer: {len(idem.errors)} delivery errors, first {idem.errors[:5]}")
    check_eq(sorted(idem.acks), list(range(idem.sent)), "idempotent producer: acknowledged sequence numbers")
    got = read_all(b, IDEM, "read_uncommitted")
    seen = {}
    for q, recs in got.items():
        check_eq([o for o, _ in recs], list(range(len(recs))), f"{IDEM} partition {q}: offsets dense from 0")
        for o, v in recs:
            seq = int(v.split("-")[1])
            check(seq not in seen, f"{IDEM}: {v} twice, at {seen.get(seq)} and {(q, o)}")
            seen[seq] = (q, o)
    check_eq(len(seen), idem.sent, f"{IDEM}: records in the log vs acknowledged")
    for seq, at in idem.acks.items():
        check_eq(seen.get(seq), at, f"{IDEM}: position of idem-{seq:07d}")
    print(f"  {idem.sent} idempotent records acknowledged once each; {len(committed)} committed transactional "
          "records read once each", flush=True)


if __name__ == "__main__":
    harness.main(body, overrides={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"})
