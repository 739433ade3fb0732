#!/usr/bin/env python3
"""A dynamic metadata quorum (KIP-853), grown and shrunk with kafka-metadata-quorum: three
combined nodes given the same controller.quorum.bootstrap.servers (node 1 first). Kafka formats
node 1 --standalone and the others --no-initial-controllers; gregor needs no format step (the
node named first starts the quorum alone).

Checks: at first node 1 is the only voter and nodes 2 and 3 observers; `add-controller` (run
with each new controller's own properties, which name its log dir and so its meta.properties
directory id) makes 2 and then 3 voters, each listed with that directory id; adding 2 again
fails with DuplicateVoterException; a topic of replication factor 3 takes an idempotent
producer's records; `remove-controller` with a wrong directory id fails with
VoterNotFoundException, with 3's own it makes 3 an observer again; node 2 (a voter added at run
time) restarts and is still a voter; nothing acknowledged is lost or duplicated. A static
quorum (controller.quorum.voters) refuses add-controller: protocol-tests cluster_roles.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import failover  # noqa: E402
from roles import quorum  # noqa: E402

TOPIC, PARTITIONS = failover.TOPIC, failover.PARTITIONS


def controller(cluster: harness.Cluster, n: int) -> str:
    return f"{cluster.node(n).host}:{cluster.node(n).controller_port}"


def directory_id(node: harness.Broker) -> str:
    with open(os.path.join(node.data_dir, "meta.properties")) as f:
        for line in f:
            if line.startswith("directory.id="):
                return line.split("=", 1)[1].strip()
    raise harness.CompatFailure(f"no directory.id in node {node.node_id}'s meta.properties")


def voter_directories(bootstrap: str) -> dict[int, str]:
    r = run_cli("kafka-metadata-quorum", ["--bootstrap-server", bootstrap, "describe", "--status"])
    line = next((x for x in r.stdout.splitlines() if x.startswith("CurrentVoters:")), "")
    return {int(i): d for i, d in re.findall(r'"id":\s*(\d+),\s*"directoryId":\s*"([^"]+)"', line)}


def metadata_quorum(cluster: harness.Cluster, via: int, args: list[str], node: int | None = None):
    """kafka-metadata-quorum against node `via`'s controller listener, with node `node`'s
    properties as --command-config when given."""
    config = ["--command-config", cluster.node(node).properties_file()] if node else []
    return run_cli("kafka-metadata-quorum", config + ["--bootstrap-controller", controller(cluster, via)] + args,
                   check=False, timeout=120)


def body(cluster: harness.Cluster) -> None:
    brokers = cluster.bootstrap
    for via in (1, 2, 3):
        cluster.wait_brokers([1, 2, 3], via)
    wait_until(lambda: quorum(brokers)[1:] == ([1], [2, 3]), 60, "node 1 the only voter, nodes 2 and 3 observers")
    print(f"at start: leader, voters, observers {quorum(brokers)}", flush=True)

    for n in (2, 3):
        r = metadata_quorum(cluster, 1, ["add-controller"], node=n)
        check(r.returncode == 0, f"add-controller {n}: rc={r.returncode} {r.stdout!r} {r.stderr!r}")
        wait_until(lambda: n in quorum(brokers)[1], 60, f"node {n} a voter")
    leader, voters, observers = quorum(brokers)
    print(f"after add-controller 2 and 3: leader {leader}, voters {voters}, observers {observers}", flush=True)
    check_eq((voters, observers), ([1, 2, 3], []), "three voters")
    dirs = {n: directory_id(cluster.node(n)) for n in (1, 2, 3)}
    check_eq(voter_directories(brokers), dirs, "each voter listed with its meta.properties directory id")

    r = metadata_quorum(cluster, 1, ["add-controller"], node=2)
    print(f"add-controller 2 again: rc={r.returncode} {r.stderr.strip().splitlines()[-1:]}", flush=True)
    check(r.returncode != 0 and "DuplicateVoterException" in r.stdout + r.stderr,
          f"adding a voter twice: {r.stdout!r} {r.stderr!r}")

    admin = AdminClient({"bootstrap.servers": brokers})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[TOPIC].result(30)
    wait_until(lambda: all(len(v) == 3 for v in failover.isrs(admin).values()), 30, "every replica in sync")
    load = failover.Load(brokers)
    load.thread.start()
    wait_until(lambda: len(load.acks) > 300, 30, "the producer under way")

    wrong = dirs[1]
    r = metadata_quorum(cluster, 2, ["remove-controller", "--controller-id", "3", "--controller-directory-id", wrong])
    print(f"remove-controller 3 with node 1's directory id: rc={r.returncode} "
          f"{r.stderr.strip().splitlines()[-1:]}", flush=True)
    check(r.returncode != 0 and "VoterNotFoundException" in r.stdout + r.stderr,
          f"removing with a wrong directory id: {r.stdout!r} {r.stderr!r}")
    r = metadata_quorum(cluster, 2, ["remove-controller", "--controller-id", "3", "--controller-directory-id", dirs[3]])
    check(r.returncode == 0, f"remove-controller 3: rc={r.returncode} {r.stdout!r} {r.stderr!r}")
    wait_until(lambda: quorum(brokers)[1:] == ([1, 2], [3]), 60, "node 3 an observer again")
    print(f"after remove-controller 3: leader, voters, observers {quorum(brokers)}", flush=True)

    cluster.node(2).stop()
    cluster.node(2).restart()
    wait_until(lambda: all(len(v) == 3 for v in failover.isrs(admin).values()), 60, "node 2 back in every ISR")
    check_eq(quorum(brokers)[1], [1, 2], "node 2 still a voter after its restart")
    acked = len(load.acks)
    wait_until(lambda: len(load.acks) > acked + 300, 60, "records acknowledged after the restart")

    load.stop.set()
    load.thread.join(150)
    check(not load.thread.is_alive(), "the producer finished flushing")
    check_eq(load.errors, [], "delivery errors")
    ends, got, values, lost, duplicates, dense = failover.read_back(load, brokers)
    print(f"records sent {load.sent}, acknowledged {len(load.acks)}, read back {len(values)}; "
          f"lost {lost}, duplicates {duplicates}, offsets dense {dense}", flush=True)
    check_eq((lost, duplicates, dense), (0, 0, True), "lost, duplicates, dense offsets")


if __name__ == "__main__":
    harness.cluster_main(body, overrides=failover.OVERRIDES, dynamic=True)
