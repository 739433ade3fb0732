#!/usr/bin/env python3
"""Replication under the loss of leaders: a 3-node cluster, a topic of 3 partitions with
replication factor 3 and min.insync.replicas=2, an idempotent acks=all producer (confluent-kafka)
sending numbered records throughout while the leader of a partition is SIGKILLed, restarted,
and then another leader is SIGKILLed and restarted.

Checks, Jepsen-style, with the counts printed: every acknowledged record is read back at its
acknowledged partition and offset (lost 0), no record is stored twice (duplicates 0), offsets are
dense, every partition ends with its whole ISR again, and the time from a leader's SIGKILL to
the next acknowledged write on its partition. Then kafka-leader-election --election-type
preferred gives every partition back to its first replica.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC, PARTITIONS = "failover", 3
OVERRIDES = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    # Followers of a killed leader are fenced within the session; lag does not need to decide.
    "replica.lag.time.max.ms": "10000",
}


class Load:
    """An idempotent acks=all producer in a thread, recording every delivery report."""

    def __init__(self, bootstrap: str):
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                           "linger.ms": 5, "delivery.timeout.ms": 120000, "request.timeout.ms": 10000,
                           "message.timeout.ms": 120000})
        self.acks: dict[int, tuple[int, int]] = {}
        self.errors: list[str] = []
        self.ack_times: dict[int, list[float]] = {p: [] for p in range(PARTITIONS)}
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
            return
        i = int(msg.value().decode())
        self.acks[i] = (msg.partition(), msg.offset())
        self.ack_times[msg.partition()].append(time.monotonic())

    def _run(self):
        while not self.stop.is_set():
            i = self.sent
            self.p.produce(TOPIC, partition=i % PARTITIONS, value=str(i).encode(), on_delivery=self._report)
            self.sent += 1
            self.p.poll(0)
            time.sleep(0.002)
        self.p.flush(120)

    def first_ack_after(self, partition: int, t: float) -> float | None:
        later = [x for x in self.ack_times[partition] if x > t]
        return min(later) - t if later else None


def leader_of(admin: AdminClient, partition: int) -> int:
    md = admin.list_topics(topic=TOPIC, timeout=5).topics[TOPIC]
    return md.partitions[partition].leader


def isrs(admin: AdminClient) -> dict[int, list[int]]:
    md = admin.list_topics(topic=TOPIC, timeout=5).topics[TOPIC]
    return {p: sorted(v.isrs) for p, v in md.partitions.items()}


def read_all(bootstrap: str, ends: dict[int, int]) -> dict[int, list[tuple[int, bytes]]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-check", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 90
    while any((got[p][-1][0] + 1 if got[p] else 0) < ends[p] for p in range(PARTITIONS)):
        check(time.monotonic() < deadline, f"read back not complete in 90 s: {[(p, len(got[p]), ends[p]) for p in got]}")
        for m in c.consume(1000, timeout=1.0):
            if m.error():
                continue
            got[m.partition()].append((m.offset(), m.value()))
    c.close()
    return got


def read_back(load: Load, bootstrap: str):
    """Reads every partition up to the end of what `load` got acknowledged: (ends, the records
    read by partition, all values, lost, duplicates, offsets dense). Lost: an acknowledged record
    missing or not at its acknowledged partition and offset."""
    ends = {p: 0 for p in range(PARTITIONS)}
    for p, o in load.acks.values():
        ends[p] = max(ends[p], o + 1)
    got = read_all(bootstrap, ends)
    lost = sum(1 for i, (p, o) in load.acks.items()
               if not any(off == o and v == str(i).encode() for off, v in got[p][o:o + 1] or []))
    values = [v for p in got for _, v in got[p]]
    dense = all([o for o, _ in got[p]] == list(range(len(got[p]))) for p in got)
    return ends, got, values, lost, len(values) - len(set(values)), dense


def body(cluster: harness.Cluster) -> None:
    for via in (1, 2, 3):
        cluster.wait_brokers([1, 2, 3], via)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    fs = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])
    fs[TOPIC].result(30)
    wait_until(lambda: all(len(v) == 3 for v in isrs(admin).values()), 30, "every replica in sync")

    load = Load(cluster.bootstrap)
    load.thread.start()
    wait_until(lambda: len(load.acks) > 500, 30, "the producer under way")
    for round_, partition in enumerate((0, 1)):
        victim = leader_of(admin, partition)
        check(victim in (1, 2, 3), f"partition {partition} has a leader ({victim})")
        t_kill = time.monotonic()
        cluster.node(victim).kill()
        wait_until(lambda: load.first_ack_after(partition, t_kill) is not None, 60,
                   f"partition {partition} writable again after its leader {victim} was killed")
        print(f"round {round_}: node {victim} (leader of partition {partition}) SIGKILLed; the partition took a "
              f"write again {load.first_ack_after(partition, t_kill):.2f} s later", flush=True)
        time.sleep(1)
        cluster.node(victim).restart()
        wait_until(lambda: all(len(v) == 3 for v in isrs(admin).values()), 60, "the ISRs whole again")
    wait_until(lambda: len(load.acks) > load.sent // 2 + 500, 30, "more records after the faults")
    load.stop.set()
    load.thread.join(150)
    check(not load.thread.is_alive(), "the producer finished flushing")

    check_eq(load.errors, [], "delivery errors")
    check_eq(len(load.acks), load.sent, "every record acknowledged")
    ends, got, values, lost, duplicates, dense = read_back(load, cluster.bootstrap)
    print(f"records sent {load.sent}, acknowledged {len(load.acks)}, read back {len(values)}; "
          f"lost {lost}, duplicates {duplicates}, offsets dense {dense}", flush=True)
    check_eq((lost, duplicates, dense), (0, 0, True), "lost, duplicates, dense offsets")
    wait_until(lambda: all(len(v) == 3 for v in isrs(admin).values()), 60, "every ISR whole at the end")

    # kafka-leader-election: every partition back to its preferred (first) replica.
    r = run_cli("kafka-leader-election", ["--bootstrap-server", cluster.bootstrap, "--election-type", "preferred",
                                          "--all-topic-partitions"])
    print(" ".join(r.stdout.split()), flush=True)
    check("Successfully completed leader election" in r.stdout or "Valid replica already elected" in r.stdout,
          f"kafka-leader-election output: {r.stdout!r} {r.stderr!r}")

    def preferred_lead():
        md = admin.list_topics(topic=TOPIC, timeout=5).topics[TOPIC]
        return all(p.leader == p.replicas[0] for p in md.partitions.values())

    wait_until(preferred_lead, 30, "every partition led by its preferred replica")


if __name__ == "__main__":
    harness.cluster_main(body, n=3, overrides=OVERRIDES)
