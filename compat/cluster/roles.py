#!/usr/bin/env python3
"""Every KRaft role in one cluster, as a Kafka cluster with dedicated controllers runs: node 1
controller-only, nodes 2 and 3 combined broker,controller, node 4 broker-only, each started from
the same server.properties keys for gregor and for Kafka.

Checks: kafka-metadata-quorum names the nodes with the controller role as voters and the
broker-only node as an observer, asked of a broker and of the controller-only node
(--bootstrap-controller); clients see brokers 2, 3 and 4 only; a topic of replication
factor 3 is placed on them (kafka-topics --describe); an idempotent acks=all producer
(min.insync.replicas=2) loses nothing and duplicates nothing while the broker-only node is
SIGKILLed and restarted (it catches up and rejoins every ISR) and then the metadata leader is
SIGKILLed (another voter takes over; the brokers keep serving and creating topics).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import failover  # noqa: E402

ROLES = ["controller", "broker,controller", "broker,controller", "broker"]
BROKERS = [2, 3, 4]
TOPIC, PARTITIONS = failover.TOPIC, failover.PARTITIONS
OVERRIDES = failover.OVERRIDES


def quorum(bootstrap: str, controller: bool = False) -> tuple[int, list[int], list[int]]:
    """kafka-metadata-quorum describe --status: (leader id, voter ids, observer ids), asked of
    brokers (--bootstrap-server) or of controllers (--bootstrap-controller)."""
    flag = "--bootstrap-controller" if controller else "--bootstrap-server"
    r = run_cli("kafka-metadata-quorum", [flag, bootstrap, "describe", "--status"], check=False)
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "LeaderId" not in fields:
        raise harness.CompatFailure(f"kafka-metadata-quorum describe --status: {r.stdout!r} {r.stderr!r}")

    def ids(v: str) -> list[int]:
        return sorted(int(x) for x in re.findall(r'"id":\s*(\d+)', v))

    return int(fields["LeaderId"]), ids(fields.get("CurrentVoters", "")), ids(fields.get("CurrentObservers", ""))


def replicas(bootstrap: str) -> dict[int, list[int]]:
    """kafka-topics --describe: partition -> replicas."""
    r = run_cli("kafka-topics", ["--bootstrap-server", bootstrap, "--describe", "--topic", TOPIC])
    return {int(m.group(1)): sorted(int(x) for x in m.group(2).split(","))
            for m in re.finditer(r"Partition: (\d+)\s+Leader: \w+\s+Replicas: ([\d,]+)", r.stdout)}


def body(cluster: harness.Cluster) -> None:
    broker4 = cluster.node(4).bootstrap
    for via in BROKERS:
        cluster.wait_brokers(BROKERS, via)

    leader, voters, observers = quorum(broker4)
    print(f"metadata quorum: leader {leader}, voters {voters}, observers {observers}", flush=True)
    check_eq(voters, [1, 2, 3], "voters: the nodes with the controller role")
    check_eq(observers, [4], "observers: the broker-only node")
    check(leader in voters, f"the metadata leader {leader} is a voter")
    # The same through the controller-only node's controller listener (KIP-919).
    by_controller = quorum(cluster.node(1).bootstrap, controller=True)
    print(f"via --bootstrap-controller: leader {by_controller[0]}, voters {by_controller[1]}, "
          f"observers {by_controller[2]}", flush=True)
    check_eq(by_controller[1:], (voters, observers), "the quorum as a controller describes it")

    admin = AdminClient({"bootstrap.servers": broker4})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[TOPIC].result(30)
    wait_until(lambda: all(len(v) == 3 for v in failover.isrs(admin).values()), 30, "every replica in sync")
    check_eq(replicas(cluster.bootstrap), {p: BROKERS for p in range(PARTITIONS)},
             "replicas on the three brokers, none on the controller-only node")

    load = failover.Load(cluster.bootstrap)
    load.thread.start()
    wait_until(lambda: len(load.acks) > 300, 30, "the producer under way")

    # The broker-only node goes and comes back: it catches up and rejoins every ISR.
    t_kill = time.monotonic()
    cluster.node(4).kill()
    admin = AdminClient({"bootstrap.servers": cluster.node(2).bootstrap})
    wait_until(lambda: all(4 not in v for v in failover.isrs(admin).values()), 30, "node 4 out of the ISRs")
    print(f"node 4 (broker-only) out of every ISR {time.monotonic() - t_kill:.1f} s after SIGKILL", flush=True)
    acked = len(load.acks)
    wait_until(lambda: len(load.acks) > acked + 300, 30, "records acknowledged by brokers 2 and 3 alone")
    cluster.node(4).restart()
    wait_until(lambda: all(len(v) == 3 for v in failover.isrs(admin).values()), 60, "node 4 back in every ISR")
    check_eq(quorum(broker4)[2], [4], "node 4 an observer again")

    # The metadata leader goes (a controller-only or a combined node): another voter takes over.
    leader = quorum(broker4)[0]
    survivors = [b for b in BROKERS if b != leader]
    live = ",".join(cluster.node(b).bootstrap for b in survivors)
    cluster.node(leader).kill()
    print(f"metadata leader {leader} SIGKILLed", flush=True)

    def new_leader():
        try:
            now = quorum(live)[0]
        except harness.CompatFailure:
            return False
        return now in (1, 2, 3) and now != leader

    wait_until(new_leader, 60, "another voter leads the metadata quorum")
    print(f"metadata leader now {quorum(live)[0]}", flush=True)
    admin = AdminClient({"bootstrap.servers": live})
    admin.create_topics([NewTopic("after-leader", 1, len(survivors))])["after-leader"].result(30)
    acked = len(load.acks)
    wait_until(lambda: len(load.acks) > acked + 300, 60, "records acknowledged after the metadata leader went")
    cluster.node(leader).restart()
    wait_until(lambda: all(len(v) == 3 for v in failover.isrs(admin).values()), 60, "every ISR whole at the end")

    load.stop.set()
    load.thread.join(150)
    check(not load.thread.is_alive(), "the producer finished flushing")
    check_eq(load.errors, [], "delivery errors")
    check_eq(len(load.acks), load.sent, "every record acknowledged")
    ends, got, values, lost, duplicates, dense = failover.read_back(load, cluster.bootstrap)
    print(f"records sent {load.sent}, acknowledged {len(load.acks)}, read back {len(values)}; "
          f"lost {lost}, duplicates {duplicates}, offsets dense {dense}", flush=True)
    check_eq((lost, duplicates, dense), (0, 0, True), "lost, duplicates, dense offsets")


if __name__ == "__main__":
    harness.cluster_main(body, overrides=OVERRIDES, roles=ROLES)
