#!/usr/bin/env python3
"""Broker restarts with a consumer group in the middle of a rebalance; committed offsets survive.

Group g-restart (range, 4 partitions) has a Java member J and a confluent-kafka member C that
read and commit everything; group g-meta holds offsets only, committed with metadata strings
(assign + commit). Then, twice:
  1. J stops polling (its heartbeat thread keeps it a member) and a membership change starts a
     rebalance that waits for J: the first time kafka-python member K joins, the second time K
     closes (LeaveGroup). DescribeGroups shows PreparingRebalance.
  2. The broker is stopped, the first time with SIGTERM, the second time with SIGKILL right after
     g-meta committed new offsets, and restarted on the same data dir and port.
  3. OffsetFetch gives every committed offset and metadata string exactly as before the restart
     (for g-restart: the log end offsets its members had committed; for g-meta: the last commit).
  4. J polls again: the members rejoin (J's generation is higher than before the restart), the
     group is Stable with every partition owned by exactly one member, more records are produced, and every acknowledged record is consumed by someone
     and committed (committed offsets = log end offsets).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import check, check_eq, wait_until  # noqa: E402

TOPIC, GROUP, META_GROUP, PARTITIONS = "restart-groups", "g-restart", "g-meta", 4


def log(msg: str) -> None:
    print(f"[group_restart] {msg}", flush=True)


def fetch_with_metadata(admin, group: str) -> dict:
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(15)
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in res.topic_partitions if tp.offset >= 0}


def commit_meta(b: harness.Broker, offsets: dict) -> None:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": META_GROUP, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(t, p, o, m) for (t, p), (o, m) in offsets.items()], asynchronous=False)
    finally:
        c.close()


def body(b: harness.Broker) -> None:
    groupkit.java_classes()
    t0 = time.monotonic()
    b.create_topic(TOPIC, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, TOPIC)
    acked = prod.send(400)

    def member(client, name):
        # A session outlives the broker's restart (Kafka takes up to ~8 s here): the members keep
        # their ids across it, as they would in production.
        m = Member(client, name, b.bootstrap, TOPIC, GROUP, "range", {"session.timeout.ms": 15000})
        everyone.append(m)
        return m

    everyone: list[Member] = []
    j = member("java", "J")
    c = member("confluent", "C")
    groupkit.wait_stable_for([j, c], PARTITIONS, 1.0, 40, "J and C")
    groupkit.wait_consumed(everyone, acked, 30, "the first 400 records")
    admin = b.admin()
    ends = groupkit.end_offsets(b.bootstrap, TOPIC, PARTITIONS)
    wait_until(lambda: groupkit.group_offsets(admin, GROUP) == ends, 20, f"{GROUP}: committed = log end {ends}")
    meta = {(TOPIC, p): (10 * p + 1, f"meta-{p}-ü") for p in range(PARTITIONS)}
    commit_meta(b, meta)
    check_eq(fetch_with_metadata(admin, META_GROUP), meta, f"{META_GROUP}: committed offsets and metadata")
    log(f"+{time.monotonic() - t0:4.1f}s J and C stable, offsets committed")
    k = None

    for round_, how in ((1, "SIGTERM"), (2, "SIGKILL")):
        # A rebalance that cannot complete: J does not poll, so it never rejoins.
        j.pause()
        if round_ == 1:
            k = member("kafka-python", "K")
        else:
            k.close()
        wait_until(lambda: groupkit.group_state(admin, GROUP)[0] == "PREPARING_REBALANCING", 30,
                   f"round {round_}: {GROUP} in PreparingRebalance")
        before = {GROUP: groupkit.group_offsets(admin, GROUP)}
        gen_before = j.gens[-1]
        if round_ == 2:
            meta = {(TOPIC, p): (100 + p, f"second-{p}") for p in range(PARTITIONS)}
            commit_meta(b, meta)  # acknowledged just before the SIGKILL
        before_meta = fetch_with_metadata(admin, META_GROUP)
        check_eq(before_meta, meta, f"round {round_}: {META_GROUP} before the restart")
        t1 = time.monotonic()
        if how == "SIGTERM":
            b.stop()
        else:
            b.kill()
        b.restart()
        admin = b.admin()
        log(f"+{time.monotonic() - t0:4.1f}s round {round_}: {how}, restarted in {time.monotonic() - t1:.1f}s "
            "with the group mid-rebalance")
        wait_until(lambda: groupkit.group_offsets(admin, GROUP) == before[GROUP], 30,
                   f"round {round_}: {GROUP} offsets after the {how} restart = before {before[GROUP]}")
        check_eq(fetch_with_metadata(admin, META_GROUP), before_meta,
                 f"round {round_}: {META_GROUP} offsets and metadata after the {how} restart")

        # The members rejoin and carry on.
        j.resume()
        live = [m for m in everyone if m.alive()]
        asg = groupkit.wait_stable_for(live, PARTITIONS, 1.5, 60, f"round {round_}: rejoined after the restart")
        check_eq(groupkit.group_state(admin, GROUP)[0], "STABLE", f"round {round_}: group state after rejoining")
        acked = prod.send(200)
        groupkit.wait_consumed(everyone, acked, 30, f"round {round_}: records produced after the restart")
        ends = groupkit.end_offsets(b.bootstrap, TOPIC, PARTITIONS)
        wait_until(lambda: groupkit.group_offsets(admin, GROUP) == ends, 20,
                   f"round {round_}: {GROUP} committed = log end {ends}")
        check(j.gens[-1] > gen_before, f"round {round_}: J's generation went from {gen_before} (before the restart) "
              f"to {j.gens[-1]} (generations: {j.gens})")
        log(f"+{time.monotonic() - t0:4.1f}s round {round_}: rejoined "
            + ", ".join(f"{m.name}={sorted(p)}" for m, p in asg.items()) + f"; {len(acked)} records consumed")

    for m in everyone:
        if m.alive():
            m.close()


if __name__ == "__main__":
    harness.main(body)
