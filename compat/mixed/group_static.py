#!/usr/bin/env python3
"""Static membership (KIP-345): three members with group.instance.id, one per client (Java
consumer, confluent-kafka, kafka-python), range assignor, session.timeout.ms=10000, a 6-partition
topic and a producer at ~150 msg/s.

Each member in turn restarts within the session timeout (confluent-kafka: SIGKILL; Java: clean
close(), which leaves no group for a static member; kafka-python: SIGKILL) and then:
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import check, check_eq, wait_until  # noqa: E402

TOPIC, GROUP, PARTITIONS = "static", "g-static", 6
SESSION_MS = 10000


def log(msg: str) -> None:
    print(f"[group_static] {msg}", flush=True)


def body(b: harness.Broker) -> None:
    groupkit.java_classes()
    b.create_topic(TOPIC, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, TOPIC, rate=150).start()
    admin = b.admin()
    t0 = time.monotonic()
    everyone: list[Member] = []

    def start(client: str) -> Member:
        m = Member(client, f"{client}-{sum(x.client == client for x in everyone)}", b.bootstrap, TOPIC, GROUP,
                   "range", {"group.instance.id": f"inst-{client}", "session.timeout.ms": SESSION_MS,
                             "client.id": client})  # a restarted process has the same config
        everyone.append(m)
        return m

    live = {c: start(c) for c in groupkit.CLIENTS}
    asg = groupkit.wait_stable_for(list(live.values()), PARTITIONS, 1.5, 40, "three static members")
    owned = {m.client: p for m, p in asg.items()}
    log(f"+{time.monotonic() - t0:4.1f}s stable: {owned}")
    check(all(len(p) == 2 for p in owned.values()), f"three members, assignment {owned}")
    groupkit.wait_consumed(everyone, prod.snapshot(), 30, "consumption with three static members")

    def broker_view():
        state, _, members = groupkit.group_state(admin, GROUP)
        return state, {inst: (mid, parts) for _, mid, inst, parts in members}

    state, view = broker_view()
    check_eq(state, "STABLE", "group state")
    check_eq({i: p for i, (_, p) in view.items()}, {f"inst-{c}": sorted(p) for c, p in owned.items()},
             "DescribeGroups: instance id -> assignment")
    gens = {c: live[c].gens[-1] for c in ("java", "kafka-python")}
    check(all(g > 0 for g in gens.values()), f"generations reported: {gens}")
    check_eq(gens["java"], gens["kafka-python"], "generation seen by the Java and kafka-python members")
    gen = gens["java"]

    for client, how in (("confluent", "kill"), ("java", "close"), ("kafka-python", "kill")):
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
        groupkit.wait_stable_for(list(live.values()), PARTITIONS, 1.5, SESSION_MS / 1000 + 20,
                                 f"restarted {client} member's assignment")
        log(f"+{time.monotonic() - t0:4.1f}s {client} ({how}) back after {time.monotonic() - t1:.1f}s "
            f"with {sorted(new.parts)}")
        check_eq(new.parts, owned[client], f"partitions of the restarted static {client} member")
        groupkit.wait_consumed(everyone, prod.snapshot(), 30, f"consumption after {client} restarted")
        state, view = broker_view()
        check_eq(state, "STABLE", f"group state after {client} restarted")
        check_eq({i: p for i, (_, p) in view.items()}, {f"inst-{c}": sorted(p) for c, p in owned.items()},
                 f"DescribeGroups after {client} restarted: instance id -> assignment")
        check(view[f"inst-{client}"][0] != old_mid, f"restarted {client}: member id unchanged ({old_mid})")
        for m in others:
            check_eq(m.history[marks[m]:], [], f"{m}: rebalance callbacks while static {client} restarted")
            check_eq([g for g in m.gens[gen_marks[m]:] if g != gen], [],
                     f"{m}: generations reported while {client} restarted (was {gen})")
            check_eq(m.parts, owned[m.client], f"{m}: assignment while {client} restarted")
        if client in ("java", "kafka-python"):
            wait_until(lambda: new.gens and new.gens[-1] > 0, 10, f"restarted {client}: generation")
            check_eq(new.gens[-1], gen, f"generation reported by the restarted static {client} member")

    cli = groupkit.parse_table(groupkit.run_cli("kafka-consumer-groups", [
        "--bootstrap-server", b.bootstrap, "--describe", "--members", "--verbose", "--group", GROUP]).stdout)
    check_eq(sorted((r["GROUP-INSTANCE-ID"], r["CLIENT-ID"], r["#PARTITIONS"], r["CURRENT-ASSIGNMENT"]) for r in cli),
             sorted((f"inst-{c}", c, "2", f"{TOPIC}:" + ",".join(map(str, sorted(p))))
                    for c, p in owned.items()),
             "kafka-consumer-groups --describe --members --verbose (instance, client id, #partitions, assignment)")

    # An instance that stays away longer than the session timeout is removed: now a rebalance.
    live["confluent"].kill()
    t1 = time.monotonic()
    rest = [live["java"], live["kafka-python"]]
    asg = groupkit.wait_stable_for(rest, PARTITIONS, 1.0, SESSION_MS / 1000 + 25, "rebalance after the session timeout")
    waited = time.monotonic() - t1
    log(f"+{time.monotonic() - t0:4.1f}s confluent gone: rebalanced after {waited:.1f}s to "
        + ", ".join(f"{m.name}={sorted(p)}" for m, p in asg.items()))
    check(waited > SESSION_MS / 1000 - 2, f"rebalanced {waited:.1f}s after the kill, before the session timeout")
    wait_until(lambda: live["java"].gens[-1] > gen, 10, "a new generation after the static member expired")
    acked = prod.stop()
    groupkit.wait_consumed(everyone, acked, 30, "everything acknowledged consumed")
    for m in rest:
        m.close()
    log(f"{len(acked)} messages, {sum(len(m.recs) for m in everyone)} deliveries")


if __name__ == "__main__":
    harness.main(body)
