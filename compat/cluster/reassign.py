#!/usr/bin/env python3
"""Moving replicas between the nodes of a 3-node cluster with the official tools:
kafka-reassign-partitions (--execute, --verify, --list, --cancel), kafka-topics --describe and
kafka-log-dirs --describe, with an idempotent acks=all producer's records read back afterwards.

  - `moving` has two partitions with two replicas each, [1, 2] and [2, 3]; 2000 records go in,
    and partition 1's first 100 are deleted (its new replica must start at the log start).
  - Reassignment: partition 0 to [3, 2] (its leader 1 leaves: leadership moves to an in-sync
    target replica), partition 1 to [2, 3, 1] (one more replica). --verify is polled until both
    are complete; the replicas and ISRs are then as asked, broker 1 stores only partition 1 and
    broker 3 both (kafka-log-dirs), and every acknowledged record is read back at its offset.
  - Cancellation: with 3 MiB more in partition 0, it is reassigned to [1, 2] with --throttle 1
    (1 byte a second); it stays in progress (--list names it, --verify says so), --cancel takes
    it back to 3 and 2, and broker 1 no longer stores partition 0.
"""

import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

TOPIC, RECORDS = "moving", 2000
# Records of partition 1 deleted before its reassignment (kafka-delete-records).
DELETED = 100
OVERRIDES = {
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
}


def describe(bootstrap: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """kafka-topics --describe: partition -> (leader, replicas, ISR)."""
    r = run_cli("kafka-topics", ["--bootstrap-server", bootstrap, "--describe", "--topic", TOPIC])
    out = {}
    for m in re.finditer(r"Partition: (\d+)\s+Leader: (\w+)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]*)", r.stdout):
        ids = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
        out[int(m.group(1))] = (-1 if m.group(2) == "none" else int(m.group(2)), ids(m.group(3)), ids(m.group(4)))
    return out


def stored(bootstrap: str) -> dict[int, set[int]]:
    """kafka-log-dirs --describe: broker -> the partitions of `moving` it stores."""
    r = run_cli("kafka-log-dirs", ["--bootstrap-server", bootstrap, "--describe", "--broker-list", "1,2,3",
                                   "--topic-list", TOPIC])
    line = next(x for x in r.stdout.splitlines() if x.startswith("{"))
    out = {}
    for b in json.loads(line)["brokers"]:
        parts = {int(p["partition"].rsplit("-", 1)[1]) for d in b["logDirs"] for p in d["partitions"]}
        out[b["broker"]] = parts
    return out


def reassign(bootstrap: str, action: str, plan: dict | None, check_rc: bool = True, extra: list[str] = ()):
    args = ["--bootstrap-server", bootstrap, f"--{action}", *extra]
    path = None
    if plan is not None:
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "partitions": [
                {"topic": TOPIC, "partition": p, "replicas": rs} for p, rs in plan.items()]}, f)
        args += ["--reassignment-json-file", path]
    try:
        return run_cli("kafka-reassign-partitions", args, check=check_rc)
    finally:
        if path:
            os.unlink(path)


def produce(bootstrap: str) -> dict[str, tuple[int, int]]:
    acks, errors = {}, []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acks[msg.value().decode()] = (msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for i in range(RECORDS):
        p.produce(TOPIC, partition=i % 2, value=f"r{i}".encode(), on_delivery=report)
        p.poll(0)
    check_eq(p.flush(60), 0, "records left unflushed")
    check_eq(errors, [], "delivery errors")
    check_eq(len(acks), RECORDS, "acknowledged records")
    return acks


def read_back(bootstrap: str, acks: dict[str, tuple[int, int]]) -> None:
    starts = {p: min(o for q, o in acks.values() if q == p) for p in (0, 1)}
    ends = {p: max(o for q, o in acks.values() if q == p) + 1 for p in (0, 1)}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reassign-check", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, starts[p]) for p in (0, 1)])
    got = {}
    try:
        def done():
            for m in c.consume(500, timeout=0.5):
                if m.error() is None:
                    got[m.value().decode()] = (m.partition(), m.offset())
            return all(sum(1 for q, o in got.values() if q == p) >= ends[p] - starts[p] for p in (0, 1))
        wait_until(done, 60, lambda: f"the records read back ({len(got)} of {len(acks)})")
    finally:
        c.close()
    lost = [v for v, at in acks.items() if got.get(v) != at]
    check_eq(lost[:10], [], f"acknowledged records missing or moved ({len(lost)})")


def body(cluster: harness.Cluster) -> None:
    n2 = cluster.node(2).bootstrap
    for via in (1, 2, 3):
        cluster.wait_brokers([1, 2, 3], via)
    run_cli("kafka-topics", ["--bootstrap-server", n2, "--create", "--topic", TOPIC,
                             "--replica-assignment", "1:2,2:3", "--config", "min.insync.replicas=2"])
    wait_until(lambda: {p: d[2] and sorted(d[2]) for p, d in describe(n2).items()} == {0: [1, 2], 1: [2, 3]},
               30, "both partitions with a full ISR")
    acks = produce(cluster.bootstrap)
    # Partition 1 starts at offset 100 from now on: its new replica starts there too.
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.delete_records([TopicPartition(TOPIC, 1, DELETED)]).values():
        check_eq(f.result(30).low_watermark, DELETED, "partition 1's new log start")
    acks = {v: at for v, at in acks.items() if at[0] != 1 or at[1] >= DELETED}

    # ---- move partition 0 off its leader, give partition 1 a third replica
    r = reassign(n2, "execute", {0: [3, 2], 1: [2, 3, 1]})
    check("Successfully started partition reassignment" in r.stdout, f"--execute: {r.stdout}")

    def verified():
        out = reassign(n2, "verify", {0: [3, 2], 1: [2, 3, 1]}, check_rc=False).stdout
        return all(f"Reassignment of partition {TOPIC}-{p} is completed" in out for p in (0, 1))
    wait_until(verified, 90, "kafka-reassign-partitions --verify: both complete", interval=1)
    d = describe(n2)
    check_eq(d[0][1], [3, 2], "partition 0 replicas")
    check_eq(sorted(d[0][2]), [2, 3], "partition 0 ISR")
    check(d[0][0] in (2, 3), f"partition 0 led by a target replica: {d[0]}")
    check_eq(d[1][1], [2, 3, 1], "partition 1 replicas")
    wait_until(lambda: sorted(describe(n2)[1][2]) == [1, 2, 3], 30, "partition 1 ISR of three")
    wait_until(lambda: stored(n2) == {1: {1}, 2: {0, 1}, 3: {0, 1}}, 60,
               lambda: f"kafka-log-dirs: each broker stores its replicas only ({stored(n2)})", interval=1)
    read_back(cluster.bootstrap, acks)
    print(f"reassigned: {d}")

    # ---- a throttled reassignment, listed while in progress, then cancelled. 3 MiB more in
    # partition 0: its new replica gets the first fetch's worth, then the 1 B/s throttle holds it.
    big = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 20})
    for i in range(3000):
        big.produce(TOPIC, partition=0, value=b"x" * 1024)
        big.poll(0)
    check_eq(big.flush(60), 0, "large records left unflushed")
    r = reassign(n2, "execute", {0: [1, 2]}, extra=["--throttle", "1"])
    check("Successfully started partition reassignment" in r.stdout, f"--execute --throttle: {r.stdout}")
    d = describe(n2)
    check_eq(sorted(d[0][1]), [1, 2, 3], "partition 0 replicas while 1 is being added")
    listed = run_cli("kafka-reassign-partitions", ["--bootstrap-server", n2, "--list"]).stdout
    check(f"{TOPIC}-0" in listed, f"--list names the reassignment in progress:\n{listed}")
    out = reassign(n2, "verify", {0: [1, 2]}, check_rc=False).stdout
    check(f"Reassignment of partition {TOPIC}-0 is still in progress" in out, f"--verify while throttled:\n{out}")
    r = reassign(n2, "cancel", {0: [1, 2]})
    check("Successfully cancelled" in r.stdout, f"--cancel: {r.stdout}")
    d = describe(n2)
    check_eq(sorted(d[0][1]), [2, 3], "partition 0 replicas after the cancellation")
    listed = run_cli("kafka-reassign-partitions", ["--bootstrap-server", n2, "--list"]).stdout
    check(f"{TOPIC}-0" not in listed, f"--list after the cancellation:\n{listed}")
    wait_until(lambda: stored(n2) == {1: {1}, 2: {0, 1}, 3: {0, 1}}, 60,
               lambda: f"kafka-log-dirs after the cancellation ({stored(n2)})", interval=1)
    read_back(cluster.bootstrap, acks)


if __name__ == "__main__":
    harness.cluster_main(body, n=3, overrides=OVERRIDES)
