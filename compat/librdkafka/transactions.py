#!/usr/bin/env python3
"""Transactions with confluent-kafka (librdkafka): commits and aborts across partitions.

A transactional producer runs 20 transactions of 30 keyed records over a 3-partition topic,
committing the even ones and aborting the odd ones (after flushing, so the aborted records do
reach the log). A read_committed consumer then sees exactly the committed records, each
partition in produce order; a read_uncommitted consumer sees every record, aborted ones too,
and neither sees a control batch. A second producer with the same transactional.id fences the
first (its next transaction fails as fenced). A transaction left open holds back read_committed
readers until it commits. Consume-transform-produce: a transactional copy from the input topic
to an output topic with send_offsets_to_transaction, after which the group's committed offsets
equal the input's end offsets and the output holds each input record once.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "txn-in"
OUT = "txn-out"
PARTITIONS = 3
TXNS = 20
PER_TXN = 30
TIMEOUT = 30


def create(b, *topics):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    futs = admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    for f in futs.values():
        f.result(TIMEOUT)


def read_all(b, topic, isolation, expect_at_least, group=None):
    """Reads everything from the beginning until `expect_at_least` values arrived and then
    the consumer is idle; returns {partition: [value, ...]}."""
    c = Consumer({
        "bootstrap.servers": b.bootstrap, "group.id": group or f"reader-{isolation}-{time.monotonic_ns()}",
        "isolation.level": isolation, "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 60
    idle_since = None
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            n = sum(len(v) for v in got.values())
            if n >= expect_at_least:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.5:
                    break
            continue
        if m.error():
            raise CompatFailure(f"consumer error: {m.error()}")
        idle_since = None
        got[m.partition()].append(m.value().decode())
    c.close()
    return got


def body(b):
    create(b, TOPIC, OUT)
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "compat-txn", "linger.ms": 5})
    p.init_transactions(TIMEOUT)
    committed, everything = {q: [] for q in range(PARTITIONS)}, {q: [] for q in range(PARTITIONS)}
    placed = {}

    def on_delivery(err, msg):
        if err is not None:
            raise CompatFailure(f"delivery failed: {err}")
        placed[msg.value().decode()] = msg.partition()

    for t in range(TXNS):
        p.begin_transaction()
        values = [f"t{t:02d}-r{i:02d}" for i in range(PER_TXN)]
        for i, v in enumerate(values):
            p.produce(TOPIC, key=f"k{i % 7}", value=v, on_delivery=on_delivery)
        p.flush(TIMEOUT)  # aborted records too must reach the log
        if t % 2 == 0:
            p.commit_transaction(TIMEOUT)
        else:
            p.abort_transaction(TIMEOUT)
        for v in values:
            everything[placed[v]].append(v)
            if t % 2 == 0:
                committed[placed[v]].append(v)

    got = read_all(b, TOPIC, "read_committed", TXNS // 2 * PER_TXN)
    for q in range(PARTITIONS):
        check_eq(got[q], committed[q], f"read_committed partition {q}")
    got = read_all(b, TOPIC, "read_uncommitted", TXNS * PER_TXN)
    for q in range(PARTITIONS):
        check_eq(got[q], everything[q], f"read_uncommitted partition {q}")
    print(f"  {TXNS} transactions: read_committed saw {TXNS // 2 * PER_TXN} records, read_uncommitted {TXNS * PER_TXN}",
          flush=True)

    # An open transaction holds read_committed readers back until it commits.
    p.begin_transaction()
    p.produce(TOPIC, key="open", value="open-1", on_delivery=on_delivery)
    p.flush(TIMEOUT)
    got = read_all(b, TOPIC, "read_committed", TXNS // 2 * PER_TXN)
    check("open-1" not in sum(got.values(), []), "a read_committed reader saw a record of an open transaction")
    p.commit_transaction(TIMEOUT)
    got = read_all(b, TOPIC, "read_committed", TXNS // 2 * PER_TXN + 1)
    check("open-1" in sum(got.values(), []), "the committed record is visible after the commit")

    # A second instance with the same transactional.id fences the first.
    p2 = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "compat-txn"})
    p2.init_transactions(TIMEOUT)
    fenced = False
    try:
        p.begin_transaction()
        p.produce(TOPIC, value="zombie")
        p.commit_transaction(TIMEOUT)
    except KafkaException as e:
        fenced = e.args[0].fatal() or "fenc" in str(e).lower()
    check(fenced, "the first producer was not fenced by a newer one with the same transactional.id")

    # Consume-transform-produce with the offsets in the transaction.
    group = "txn-copy"
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([TOPIC])
    source = sum(read_all(b, TOPIC, "read_committed", TXNS // 2 * PER_TXN + 1).values(), [])
    p2.begin_transaction()
    copied, deadline = 0, time.monotonic() + 60
    while copied < len(source) and time.monotonic() < deadline:
        for m in c.consume(500, 0.5):
            if m.error():
                raise CompatFailure(f"consumer error: {m.error()}")
            p2.produce(OUT, key=m.key(), value=m.value().upper())
            copied += 1
    p2.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT)
    p2.commit_transaction(TIMEOUT)
    check_eq(copied, len(source), "records copied")
    ends = {}
    for q in range(PARTITIONS):
        _, hi = c.get_watermark_offsets(TopicPartition(TOPIC, q), TIMEOUT)
        ends[q] = hi
    commits = {tp.partition: tp.offset for tp in c.committed([TopicPartition(TOPIC, q) for q in range(PARTITIONS)], TIMEOUT)}
    c.close()
    for q in range(PARTITIONS):
        check_eq(commits[q], ends[q], f"committed offset of partition {q} (the end, past the last marker)")
    out = sum(read_all(b, OUT, "read_committed", len(source)).values(), [])
    check_eq(sorted(out), sorted(v.upper() for v in source), "output of the transactional copy")


if __name__ == "__main__":
    harness.main(body)
