#!/usr/bin/env python3
"""Static membership (KIP-345): three members with group.instance.id, one per client (Java
consumer, confluent-kafka, kafka-python), session.timeout.ms=10000, a 6-partition topic and a
producer at ~150 msg/s. Three such groups run side by side: range with the Java member joining
first (so it is the leader), range with kafka-python first, cooperative-sticky with
confluent-kafka first.

Each member in turn, the leader last, restarts within the session timeout (confluent-kafka and
kafka-python: SIGKILL; Java: clean close(), which sends no LeaveGroup for a static member), and:
  - the new process gets exactly the partitions the instance had;
  - the other members see no rebalance: no revoke/assign callback, the generation the Java and
    kafka-python members report is unchanged (a restarted Java member reports the same generation);
  - DescribeGroups: Stable, the same three instance ids with the same assignments, only the
    restarted instance's member id changed;
  - everything produced so far is consumed.
kafka-consumer-groups --describe --members --verbose lists the instance ids and assignments.
Finally one instance stays away: after the session timeout the group does rebalance (the others
get its partitions and a new generation), and nothing acknowledged is left unconsumed.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402

PARTITIONS = 6
SESSION_MS = 10000
# Three groups side by side, each with its own topic. The first client listed joins first and so
# is the group leader; it restarts last. Java's JoinGroup is v9 (a restarted leader is answered
# with skipAssignment), kafka-python's v7 (the answer names the old leader id). With
# cooperative-sticky a member's subscription carries its owned partitions, so a restarted
# member's metadata differs from what it sent before, which alone must not cause a rebalance.
# label -> (strategy, leader, {client: how it restarts})
RUNS = {
    "java-leader": ("range", "java", {"confluent": "kill", "kafka-python": "kill", "java": "close"}),
    "kafka-python-leader": ("range", "kafka-python", {"java": "close", "confluent": "kill", "kafka-python": "kill"}),
    "cooperative": ("cooperative-sticky", "confluent", {"java": "close", "kafka-python": "kill", "confluent": "kill"}),
}


def log(msg: str) -> None:
    print(f"[group_static] {msg}", flush=True)


def run(b: harness.Broker, label: str) -> None:
    strategy, leader, restarts = RUNS[label]
    topic, group = f"static-{label}", f"g-static-{label}"
    b.create_topic(topic, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, topic, rate=150).start()
    admin = b.admin()
    t0 = time.monotonic()
    everyone: list[Member] = []

    def start(client: str) -> Member:
        m = Member(client, f"{label}-{client}-{sum(x.client == client for x in everyone)}", b.bootstrap, topic, group,
                   strategy, {"group.instance.id": f"inst-{client}", "session.timeout.ms": SESSION_MS,
                             "client.id": client})  # a restarted process has the same config
        everyone.append(m)
        return m

    def say(msg):
        log(f"{label} +{time.monotonic() - t0:4.1f}s {msg}")

    live = {leader: start(leader)}
    groupkit.wait_stable_for([live[leader]], PARTITIONS, 0.5, 40, f"{label}: {leader} alone (the leader)")
    for c in groupkit.CLIENTS:
        if c != leader:
            live[c] = start(c)
    asg = groupkit.wait_stable_for(list(live.values()), PARTITIONS, 1.5, 40, f"{label}: three static members")
    owned = {m.client: p for m, p in asg.items()}
    say(f"stable: { {c: sorted(p) for c, p in owned.items()} }")
    check(all(len(p) == 2 for p in owned.values()), f"{label}: three members, assignment {owned}")
    groupkit.wait_consumed(everyone, prod.snapshot(), 30, f"{label}: consumption with three static members")

    def broker_view():
        state, _, members = groupkit.group_state(admin, group)
        return state, {inst: (mid, parts) for _, mid, inst, parts in members}

    state, view = broker_view()
    check_eq(state, "STABLE", f"{label}: group state")
    check_eq({i: p for i, (_, p) in view.items()}, {f"inst-{c}": sorted(p) for c, p in owned.items()},
             f"{label}: DescribeGroups: instance id -> assignment")
    gens = {c: live[c].gens[-1] for c in ("java", "kafka-python")}
    check(all(g > 0 for g in gens.values()), f"{label}: generations reported: {gens}")
    check_eq(gens["java"], gens["kafka-python"], f"{label}: generation seen by the Java and kafka-python members")
    gen = gens["java"]

    for client, how in restarts.items():
        role = "leader" if client == leader else "follower"
        what = f"{label}: static {role} {client} restarted ({how})"
        others = [m for c, m in live.items() if c != client]
        marks = {m: len(m.history) for m in others}
        gen_marks = {m: len(m.gens) for m in others}
        old = live[client]
        old_mid = view[f"inst-{client}"][0]
        if how == "kill":
            old.kill()
        else:
            old.close()
        t1 = time.monotonic()
        new = live[client] = start(client)
        # Balanced again and unchanged for 1.5 s (a rebalance the join started would show).
        groupkit.wait_stable_for(list(live.values()), PARTITIONS, 1.5, SESSION_MS / 1000 + 20, what)
        say(f"{client} ({role}, {how}) back after {time.monotonic() - t1:.1f}s with {sorted(new.parts)}")
        check_eq(new.parts, owned[client], f"{what}: its partitions")
        for m in others:
            check_eq([(c, sorted(p)) for _, c, p in m.history[marks[m]:]], [], f"{what}: {m}'s rebalance callbacks")
            check_eq([g for g in m.gens[gen_marks[m]:] if g != gen], [], f"{what}: generations {m} reported (was {gen})")
            check_eq(m.parts, owned[m.client], f"{what}: {m}'s assignment")
        if client in ("java", "kafka-python"):
            wait_until(lambda: new.gens and new.gens[-1] > 0, 10, f"{what}: its generation")
            check_eq(new.gens[-1], gen, f"{what}: the generation it reports")
        groupkit.wait_consumed(everyone, prod.snapshot(), 30, f"{what}: consumption")
        state, view = broker_view()
        check_eq(state, "STABLE", f"{what}: group state")
        check_eq({i: p for i, (_, p) in view.items()}, {f"inst-{c}": sorted(p) for c, p in owned.items()},
                 f"{what}: DescribeGroups instance id -> assignment")
        check(view[f"inst-{client}"][0] != old_mid, f"{what}: member id unchanged ({old_mid})")

    cli = groupkit.parse_table(groupkit.run_cli("kafka-consumer-groups", [
        "--bootstrap-server", b.bootstrap, "--describe", "--members", "--verbose", "--group", group]).stdout)
    check_eq(sorted((r["GROUP-INSTANCE-ID"], r["CLIENT-ID"], r["#PARTITIONS"], r["CURRENT-ASSIGNMENT"]) for r in cli),
             sorted((f"inst-{c}", c, "2", f"{topic}:" + ",".join(map(str, sorted(p)))) for c, p in owned.items()),
             f"{label}: kafka-consumer-groups --describe --members --verbose (instance, client id, #partitions, assignment)")

    # An instance that stays away longer than the session timeout is removed: now a rebalance.
    gone = "confluent"
    live[gone].kill()
    t1 = time.monotonic()
    rest = [m for c, m in live.items() if c != gone]
    asg = groupkit.wait_stable_for(rest, PARTITIONS, 1.0, SESSION_MS / 1000 + 25,
                                   f"{label}: rebalance after the session timeout")
    waited = time.monotonic() - t1
    say(f"{gone} gone: rebalanced after {waited:.1f}s to " + ", ".join(f"{m.name}={sorted(p)}" for m, p in asg.items()))
    check(waited > SESSION_MS / 1000 - 2, f"{label}: rebalanced {waited:.1f}s after the kill, before the session timeout")
    wait_until(lambda: live["java"].gens[-1] > gen, 10, f"{label}: a new generation after the static member expired")
    acked = prod.stop()
    groupkit.wait_consumed(everyone, acked, 30, f"{label}: everything acknowledged consumed")
    for m in rest:
        m.close()
    say(f"{len(acked)} messages, {sum(len(m.recs) for m in everyone)} deliveries")


def body(b: harness.Broker) -> None:
    groupkit.java_classes()
    with ThreadPoolExecutor(max_workers=len(RUNS)) as ex:
        futs = {label: ex.submit(run, b, label) for label in RUNS}
        errors = [f"{label}: {f.exception()}" for label, f in futs.items() if f.exception()]
    if errors:
        raise CompatFailure(f"{len(errors)} of {len(RUNS)} groups failed:\n" + "\n".join(errors))


if __name__ == "__main__":
    harness.main(body)
