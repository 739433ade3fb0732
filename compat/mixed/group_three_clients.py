#!/usr/bin/env python3
"""One consumer group, three different clients: the Java consumer (Kafka 4.3.1), librdkafka
(confluent-kafka) and kafka-python, classic group protocol, 6-partition topic.

For each assignment strategy (range, roundrobin: eager; cooperative-sticky: incremental) a fresh
topic and group, a producer at ~150 msg/s throughout, and three members A, B, C (a different
client in each role per strategy) that print each polled batch and then commit it synchronously:
  A alone gets all 6 partitions; B joins (3/3); C joins (2/2/2); kafka-consumer-groups
  --describe --members --verbose shows the same three members and assignments as the clients
  reported, DescribeGroups gives Stable and the strategy; B closes cleanly (3/3 between A and C);
  C is SIGKILLed (session.timeout.ms=6000) and A gets all 6 back.
After each step every partition is owned by exactly one member, and every message acknowledged
so far is consumed by someone (consumption continues). At the end the producer stops, everything
acknowledged was consumed at least once, offsets map to one value each, and the committed
offsets equal the log end offsets. Eager strategies revoke everything on a rebalance;
cooperative-sticky members never lose a partition they keep.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import check, check_eq, wait_until  # noqa: E402

PARTITIONS = 6
# strategy -> (A, B closes, C killed): every client plays every role once
ROLES = {
    "range": ("java", "confluent", "kafka-python"),
    "roundrobin": ("confluent", "kafka-python", "java"),
    "cooperative-sticky": ("kafka-python", "java", "confluent"),
}


def log(msg: str) -> None:
    print(f"[group_three_clients] {msg}", flush=True)


def phase(b: harness.Broker, strategy: str) -> None:
    topic, group = f"three-{strategy}", f"g-three-{strategy}"
    b.create_topic(topic, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, topic, rate=150).start()
    admin = b.admin()
    ca, cb, cc = ROLES[strategy]
    names = {"A": f"A-{ca}", "B": f"B-{cb}", "C": f"C-{cc}"}
    t0 = time.monotonic()
    everyone: list[Member] = []
    history_len = [0]  # A's assignment history up to the last checked step (before its close)

    def member(role, client):
        m = Member(client, names[role], b.bootstrap, topic, group, strategy)
        everyone.append(m)
        return m

    def step(live, what, deadline=30.0):
        asg = groupkit.wait_stable_for(live, PARTITIONS, 1.0, deadline, f"{strategy}: {what}")
        groupkit.wait_consumed(everyone, prod.snapshot(), 30, f"{strategy}: consumption after {what}")
        history_len[0] = len(a.history)
        log(f"{strategy} +{time.monotonic() - t0:4.1f}s {what}: "
            + ", ".join(f"{m.name}={sorted(p)}" for m, p in asg.items()))
        return asg

    a = member("A", ca)
    step([a], "A alone")
    bm = member("B", cb)
    step([a, bm], "B joined")
    c = member("C", cc)
    asg = step([a, bm, c], "C joined")
    check(all(len(p) == 2 for p in asg.values()), f"{strategy}: 3 members but assignment {asg}")

    # The broker's view: DescribeGroups and the CLI agree with what the clients reported.
    state, assignor, members = groupkit.group_state(admin, group)
    check_eq((state, assignor), ("STABLE", strategy), f"{strategy}: DescribeGroups state and protocol (assignor)")
    check_eq(sorted((cid, parts) for cid, _, _, parts in members),
             sorted((m.name, sorted(p)) for m, p in asg.items()), f"{strategy}: DescribeGroups members/assignments")
    cli = groupkit.cli_members(b.bootstrap, group)
    check_eq({k: v[1] for k, v in cli.items()}, {m.name: sorted(p) for m, p in asg.items()},
             f"{strategy}: kafka-consumer-groups --describe --members --verbose client id -> assignment")
    for m in (a, bm, c):
        if m.mid:
            check_eq(cli[m.name][0], m.mid, f"{strategy}: {m.name} member id in --describe --members")

    bm.close()
    step([a, c], "B closed")
    c.kill()
    asg = step([a], "C killed", deadline=30.0)

    acked = prod.stop()
    groupkit.wait_consumed(everyone, acked, 30, f"{strategy}: everything acknowledged consumed")
    ends = groupkit.end_offsets(b.bootstrap, topic, PARTITIONS)
    check_eq(sum(ends.values()), len(acked), f"{strategy}: log end offsets vs acknowledged messages")
    wait_until(lambda: groupkit.group_offsets(admin, group) == ends, 20,
               f"{strategy}: committed offsets = log end offsets {ends}")
    a.close()

    # Each (partition, offset) means one value, whoever read it.
    seen = {}
    for m in everyone:
        for p, o, v in m.recs:
            check(seen.setdefault((p, o), v) == v, f"{strategy}: {p}/{o} read as {seen[(p, o)]!r} and {v!r}")
    check_eq(len(seen), len(acked), f"{strategy}: distinct (partition, offset) pairs consumed")

    # Rebalance protocol as the clients saw it.
    hist = [p for _, _, p in a.history[:history_len[0]]]
    first = next(i for i, p in enumerate(hist) if p)
    if strategy == "cooperative-sticky":
        # A never gives up all of its partitions after its first assignment (incremental).
        check(all(hist[first:]), f"{strategy}: A's assignment went empty: {hist}")
    else:
        check(any(not p for p in hist[first:]), f"{strategy}: A never revoked everything (eager): {hist}")
    log(f"{strategy}: {len(acked)} messages, {sum(len(m.recs) for m in everyone)} deliveries, "
        f"{sum(m.commits for m in everyone)} commits in {time.monotonic() - t0:.1f}s")


def body(b: harness.Broker) -> None:
    groupkit.java_classes()
    # The three strategies run side by side (own topic, group and producer each).
    with ThreadPoolExecutor(max_workers=len(ROLES)) as ex:
        futs = [ex.submit(phase, b, s) for s in ROLES]
        for f in futs:
            f.result()


if __name__ == "__main__":
    harness.main(body)
