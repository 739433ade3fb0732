#!/usr/bin/env python3
"""A 3-node cluster (combined broker,controller nodes, the same controller.quorum.voters) with
real clients: kafka-topics --describe, confluent-kafka producers (idempotent, and
transactional across partitions led by different nodes), a read_committed consumer group, the
Java console consumer in a group, and a node that is SIGKILLed and comes back.

Topics have replication factor 1 here, so a dead node's partitions wait for it: Leader none, as
Kafka shows them (compat/cluster/failover covers replicated partitions).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

TOPIC, PARTITIONS, RECORDS = "spread", 6, 3000
TXN_TOPIC = "spread-txn"
# Identical for both brokers: internal topics with one replica, as the data topics have.
OVERRIDES = {
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "6",
    "num.partitions": "1",
}


def describe(bootstrap: str, topic: str) -> dict[int, int]:
    """kafka-topics --describe: partition -> leader (-1 for none)."""
    r = run_cli("kafka-topics", ["--bootstrap-server", bootstrap, "--describe", "--topic", topic])
    leaders = {}
    for m in re.finditer(r"Partition: (\d+)\s+Leader: (\w+)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]*)", r.stdout):
        leaders[int(m.group(1))] = -1 if m.group(2) == "none" else int(m.group(2))
    check_eq(len(leaders), PARTITIONS if topic == TOPIC else len(leaders), f"{topic}: partitions described\n{r.stdout}")
    return leaders


def produce(bootstrap: str, n: int, tag: str) -> dict[int, tuple[int, int]]:
    acks, errors = {}, []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acks[int(msg.value().decode().split(":")[1])] = (msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for i in range(n):
        p.produce(TOPIC, key=f"k{i % 97}".encode(), value=f"{tag}:{i}".encode(), on_delivery=report)
        p.poll(0)
    check_eq(p.flush(60), 0, "records left unflushed")
    check_eq(errors, [], "delivery errors")
    check_eq(len(acks), n, "acknowledged records")
    return acks


def consume_group(bootstrap: str, group: str, want: int, isolation: str = "read_committed") -> list[tuple]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "isolation.level": isolation})
    c.subscribe([TOPIC])
    got = []
    end = time.monotonic() + 60
    while len(got) < want and time.monotonic() < end:
        batch = c.consume(500, timeout=1.0)
        for m in batch:
            if m.error():
                raise KafkaException(m.error())
            got.append((m.partition(), m.offset(), m.value()))
        if batch:
            c.commit(asynchronous=False)  # after processing, as the workload asks
    committed = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    check_eq(len(got), want, f"group {group}: records consumed")
    ends = {}
    for tp in committed:
        check(tp.error is None, f"group {group}: committed offset of {tp.partition}: {tp.error}")
        ends[tp.partition] = tp.offset
    by_part = {}
    for p, o, _ in got:
        by_part[p] = max(by_part.get(p, -1), o)
    for p, last in by_part.items():
        check(ends.get(p, -1) >= last + 1, f"group {group}: committed {ends.get(p)} for partition {p}, read up to {last}")
    return got


def body(cluster: harness.Cluster) -> None:
    boot = cluster.bootstrap
    n1 = cluster.node(1).bootstrap
    for via in (1, 2, 3):
        cluster.wait_brokers([1, 2, 3], via)

    # ---- a topic spread over the nodes, leaders balanced
    run_cli("kafka-topics", ["--bootstrap-server", n1, "--create", "--topic", TOPIC, "--partitions", str(PARTITIONS),
                             "--replication-factor", "1"])
    wait_until(lambda: all(l >= 0 for l in describe(cluster.node(2).bootstrap, TOPIC).values()), 30, "leaders")
    leaders = describe(cluster.node(3).bootstrap, TOPIC)
    counts = {n: list(leaders.values()).count(n) for n in (1, 2, 3)}
    check_eq(counts, {1: 2, 2: 2, 3: 2}, f"leaders per node {leaders}")

    # ---- idempotent producer over all nodes; a group reads it back, committing
    acks = produce(boot, RECORDS, "a")
    per_part = {}
    for p, o in acks.values():
        per_part.setdefault(p, []).append(o)
    for p, offs in per_part.items():
        check_eq(sorted(offs), list(range(len(offs))), f"partition {p}: dense offsets")
    got = consume_group(boot, "cluster-group", RECORDS)
    check_eq(sorted((p, o) for p, o, _ in got), sorted(acks.values()), "consumed = acknowledged")

    # ---- the Java console consumer in a group (its coordinator is one of the three)
    r = run_cli("kafka-console-consumer", ["--bootstrap-server", boot, "--topic", TOPIC, "--group", "java-group",
                                           "--from-beginning", "--max-messages", str(RECORDS),
                                           "--timeout-ms", "60000"], timeout=120)
    check_eq(len(r.stdout.splitlines()), RECORDS, "console consumer lines")

    # ---- a transaction over all six partitions (three leaders), then one aborted
    tp = Producer({"bootstrap.servers": boot, "transactional.id": "cluster-txn", "acks": "all"})
    tp.init_transactions(30)
    for outcome in ("commit", "abort"):
        tp.begin_transaction()
        for part in range(PARTITIONS):
            for i in range(10):
                tp.produce(TOPIC, partition=part, key=b"t", value=f"{outcome}:{part * 10 + i}".encode())
        if outcome == "commit":
            tp.commit_transaction(30)
        else:
            tp.flush(30)
            tp.abort_transaction(30)
    got = consume_group(boot, "txn-reader", RECORDS + 60)
    txn_values = sorted(v.decode() for _, _, v in got if v.decode().split(":")[0] in ("commit", "abort"))
    check_eq(txn_values, sorted(f"commit:{i}" for i in range(60)), "read_committed sees the committed transaction only")

    # ---- SIGKILL node 3: fenced after its session, its partitions wait without a leader
    cluster.node(3).kill()
    t_kill = time.monotonic()
    cluster.wait_brokers([1, 2], via=1, deadline=30)
    print(f"node 3 fenced {time.monotonic() - t_kill:.1f}s after SIGKILL (broker.session.timeout.ms 3000)")
    leaders_now = describe(n1, TOPIC)
    for p, l in leaders.items():
        check_eq(leaders_now[p], -1 if l == 3 else l, f"partition {p} (led by {l}) while node 3 is down")
    # The other nodes' partitions still take records.
    live = [p for p, l in leaders.items() if l != 3]
    pr = Producer({"bootstrap.servers": n1, "acks": "all"})
    delivered = []
    for p in live:
        pr.produce(TOPIC, partition=p, value=b"while-3-down",
                   on_delivery=lambda err, msg: delivered.append(err))
    check_eq(pr.flush(30), 0, "records to live partitions left unflushed")
    check_eq(delivered, [None] * len(live), "records to partitions of live nodes")

    # ---- node 3 back: leads its partitions again, with its records
    cluster.node(3).restart()
    cluster.wait_brokers([1, 2, 3], via=1, deadline=60)
    wait_until(lambda: describe(n1, TOPIC) == leaders, 30, "node 3 leads its partitions again")
    got = consume_group(boot, "after-restart", RECORDS + 60 + len(live))
    check_eq(len({(p, o) for p, o, _ in got}), RECORDS + 60 + len(live), "distinct records after the restart")


if __name__ == "__main__":
    harness.cluster_main(body, n=3, overrides=OVERRIDES)
