#!/usr/bin/env python3
"""Faults against a 3-node cluster under load, checked the way Jepsen's Kafka checkers do.

Each node runs in its own network namespace on a bridge (harness.Cluster(netns=True)), so that
links can be cut with nftables. Throughout the run:
  - an idempotent acks=all producer (confluent-kafka) writes numbered records to `failover`
    (3 partitions, replication factor 3, min.insync.replicas=2);
  - a consume-transform-produce job (a read_committed consumer in group `ctp` and a
    transactional producer that sends its offsets with each transaction) copies them to
    `faults-out`.
Faults, one after the other, each `--runs` times (default 1) with a random choice of victims
from a seed printed at the start (`--seed` repeats a run):
  kill-leader      SIGKILL the leader of a partition; restart it
  kill-controller  SIGKILL the metadata (raft / KRaft) leader; once the others have created a
                   topic (a metadata write), restart it
  kill-two         SIGKILL two nodes at once; restart them
  pause            SIGSTOP the leader of a partition for longer than broker.session.timeout.ms
                   and replica.lag.time.max.ms; SIGCONT
  partition        cut a node off from the two others (clients still reach it); heal
  rolling          SIGTERM and restart every node in turn
  wipe             SIGKILL a node, delete its data dir, restart it empty
  wipe-controller  the same to the metadata (raft / KRaft) leader: the others must elect a leader
                   among themselves, not with the empty node's vote
After each fault the run waits until every ISR (the internal topics' too) is whole again.
`--long MINUTES` runs faults picked at random until that time has passed.

Checks at the end, with the counts printed: every acknowledged record is read back at its
acknowledged partition and offset (lost 0), no record is stored twice (duplicates 0), offsets are
dense; the same offsets read again after each node in turn was stopped (other leaders) give the
same records (diverging 0); the job's read_committed output holds every acknowledged record
exactly once; the group's committed offsets never went backwards and end at the input's end;
every ISR whole. Also printed: the time from each SIGKILL of a leader to the next acknowledged
write on its partition, and from each SIGKILL of the metadata leader to the next metadata write
(a topic created through the two others, before the killed node restarts).
"""

import argparse
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, check_eq, run_cli, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import coordinators  # noqa: E402
import failover  # noqa: E402
from failover import PARTITIONS, TOPIC, Load, read_all  # noqa: E402

SINK = "faults-out"
SESSION_MS, LAG_MS = 3000, 6000
OVERRIDES = dict(coordinators.OVERRIDES)
OVERRIDES.update({
    "replica.lag.time.max.ms": str(LAG_MS),
    "broker.session.timeout.ms": str(SESSION_MS),
})
FAULTS = ["kill-leader", "kill-controller", "kill-two", "pause", "partition", "rolling", "wipe", "wipe-controller"]
NODES = [1, 2, 3]
# Whether the transactional job runs (--no-job leaves the producer alone).
WITH_JOB = True


def args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", choices=["gregor", "kafka"], default=os.environ.get("COMPAT_BROKER", "gregor"))
    p.add_argument("--keep", action="store_true", help="keep the brokers' temp dirs (data and logs)")
    p.add_argument("--runs", type=int, default=1, help="how many times each fault runs")
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated faults to run")
    p.add_argument("--long", type=float, default=0, metavar="MINUTES", help="random faults for this long instead")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-job", action="store_true", help="only the idempotent producer, not the transactional job")
    return p


def all_isrs_whole(admin: AdminClient) -> bool:
    topics = [TOPIC] + ([SINK, "__consumer_offsets", "__transaction_state"] if WITH_JOB else [])
    for topic in topics:
        md = admin.list_topics(topic=topic, timeout=5).topics[topic]
        if md.error is not None or any(len(p.isrs) != 3 or p.leader < 0 for p in md.partitions.values()):
            return False
    return True


def metadata_written(bootstrap: str, topic: str) -> bool:
    """Whether creating `topic` (one partition, one replica) succeeds now, or did before. A new
    client each time: librdkafka waits on the controller id it was told (Kafka names a random
    live broker, which may be the node just killed) until its next metadata refresh."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=5)[topic].result(10)
        return True
    except KafkaException as e:
        return e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def metadata_leader(cluster: harness.Cluster, live: list[int]) -> int:
    bootstrap = ",".join(cluster.node(n).bootstrap for n in live)
    r = run_cli("kafka-metadata-quorum", ["--bootstrap-server", bootstrap, "describe", "--status"], check=False)
    for line in r.stdout.splitlines():
        if line.strip().startswith("LeaderId:"):
            return int(line.split(":", 1)[1])
    raise harness.CompatFailure(f"kafka-metadata-quorum describe --status: {r.stdout!r} {r.stderr!r}")


class Faults:
    def __init__(self, cluster: harness.Cluster, rng: random.Random, load: Load, job: coordinators.Job):
        self.cluster, self.rng, self.load, self.job = cluster, rng, load, job
        self.admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        self.recoveries: list[float] = []
        self.metadata_recoveries: list[float] = []
        self.counts: dict[str, int] = {}

    def check_workloads(self) -> None:
        if self.job is not None:
            check(self.job.error is None, f"the job failed: {self.job.error} ({self.job.state()})")
        check_eq(self.load.errors, [], "delivery errors")

    def job_state(self) -> str:
        return self.job.state() if self.job is not None else "no job"

    def settle(self, what: str) -> None:
        wait_until(lambda: all_isrs_whole(self.admin), 120, lambda: f"every ISR whole again after {what}")
        acked = len(self.load.acks)
        wait_until(lambda: len(self.load.acks) > acked + 100, 60, f"the producer going on after {what}")
        self.check_workloads()

    def leader(self, partition: int) -> int:
        return failover.leader_of(self.admin, partition)

    def kill_leader(self) -> str:
        partition = self.rng.randrange(PARTITIONS)
        victim = self.leader(partition)
        t = time.monotonic()
        self.cluster.node(victim).kill()
        wait_until(lambda: self.load.first_ack_after(partition, t) is not None, 90,
                   f"partition {partition} writable again after its leader {victim} was killed")
        took = self.load.first_ack_after(partition, t)
        self.recoveries.append(took)
        time.sleep(self.rng.uniform(0, 2))
        self.cluster.node(victim).restart()
        return f"node {victim} (leader of {TOPIC}-{partition}) killed; writable again in {took:.2f} s"

    def kill_controller(self) -> str:
        victim = metadata_leader(self.cluster, NODES)
        survivors = [n for n in NODES if n != victim]
        bootstrap = ",".join(self.cluster.node(n).bootstrap for n in survivors)
        t = time.monotonic()
        self.cluster.node(victim).kill()
        probe = f"probe-{victim}-{int(t * 1000)}"
        wait_until(lambda: metadata_written(bootstrap, probe), 60,
                   f"a metadata write (create {probe}) after the metadata leader {victim} was killed")
        took = time.monotonic() - t
        self.metadata_recoveries.append(took)
        new = metadata_leader(self.cluster, survivors)
        self.cluster.node(victim).restart()
        return f"metadata leader {victim} killed; metadata writable again in {took:.2f} s (leader {new})"

    def kill_two(self) -> str:
        victims = sorted(self.rng.sample(NODES, 2))
        for v in victims:
            self.cluster.node(v).kill()
        time.sleep(self.rng.uniform(2, 5))
        for v in victims:
            self.cluster.node(v).start()
        for v in victims:
            self.cluster.node(v).wait_ready(120)
        return f"nodes {victims} killed together; restarted"

    def pause(self) -> str:
        partition = self.rng.randrange(PARTITIONS)
        victim = self.leader(partition)
        hold = (max(SESSION_MS, LAG_MS) + 2000) / 1000
        self.cluster.node(victim).pause()
        time.sleep(hold)
        self.cluster.node(victim).resume()
        return f"node {victim} (leader of {TOPIC}-{partition}) paused {hold:.0f} s"

    def partition(self) -> str:
        victim = self.rng.choice(NODES)
        others = [n for n in NODES if n != victim]
        hold = self.rng.uniform(6, 10)
        self.cluster.cut(victim, others)
        try:
            time.sleep(hold)
        finally:
            self.cluster.heal(victim)
        return f"node {victim} cut off from {others} for {hold:.1f} s"

    def rolling(self) -> str:
        order = self.rng.sample(NODES, len(NODES))
        for n in order:
            self.cluster.node(n).stop()
            self.cluster.node(n).restart()
            wait_until(lambda: all_isrs_whole(self.admin), 120, f"every ISR whole after node {n} restarted")
        return f"rolling restart {order}"

    def wipe(self) -> str:
        victim = self.rng.choice(NODES)
        self.cluster.node(victim).kill()
        self.cluster.node(victim).wipe()
        self.cluster.node(victim).restart(120)
        return f"node {victim} killed, its data wiped, restarted empty"

    def wipe_controller(self) -> str:
        victim = metadata_leader(self.cluster, NODES)
        self.cluster.node(victim).kill()
        self.cluster.node(victim).wipe()
        self.cluster.node(victim).restart(120)
        return f"metadata leader {victim} killed, its data wiped, restarted empty"

    def run(self, fault: str) -> None:
        t = time.monotonic()
        what = getattr(self, fault.replace("-", "_"))()
        self.settle(fault)
        self.counts[fault] = self.counts.get(fault, 0) + 1
        print(f"  {fault}: {what}; whole again after {time.monotonic() - t:.1f} s "
              f"({len(self.load.acks)} acknowledged; {self.job_state()})", flush=True)


def reread_from_each_leader(cluster: harness.Cluster, admin: AdminClient, ends: dict[int, int],
                            reference: dict[int, list[tuple[int, bytes]]]) -> int:
    """Stops each node in turn (its leaderships move to the others), reads everything again and
    counts offsets whose record differs from the reference read."""
    diverging = 0
    for n in NODES:
        cluster.node(n).stop()
        live = [x for x in NODES if x != n]
        bootstrap = ",".join(cluster.node(x).bootstrap for x in live)
        wait_until(lambda: all(failover.leader_of(admin, p) in live for p in range(PARTITIONS)), 60,
                   f"every partition led by {live}")
        got = read_all(bootstrap, ends)
        for p in range(PARTITIONS):
            diverging += sum(1 for a, b in zip(got[p], reference[p]) if a != b)
            diverging += abs(len(got[p]) - len(reference[p]))
        cluster.node(n).restart()
        wait_until(lambda: all_isrs_whole(admin), 120, f"every ISR whole after node {n} came back")
    return diverging


def body(cluster: harness.Cluster, args: argparse.Namespace) -> None:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    for via in NODES:
        cluster.wait_brokers(NODES, via)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    fs = admin.create_topics([NewTopic(t, PARTITIONS, 3, config={"min.insync.replicas": "2"}) for t in (TOPIC, SINK)])
    for f in fs.values():
        f.result(30)
    load = Load(cluster.bootstrap)
    load.thread.start()
    job = None
    if WITH_JOB:
        job = coordinators.Job(cluster.bootstrap, TOPIC, SINK)
        job.thread.start()
        wait_until(lambda: job.error is not None or len(job.commit_times) >= 3, 90, "the job under way")
    wait_until(lambda: all_isrs_whole(admin), 60, "the topics created and in sync")
    faults = Faults(cluster, rng, load, job)
    chosen = [f for f in args.faults.split(",") if f]
    for f in chosen:
        check(f in FAULTS, f"unknown fault {f!r} (known: {FAULTS})")
    if args.long > 0:
        end = time.monotonic() + args.long * 60
        while time.monotonic() < end:
            faults.run(rng.choice(chosen))
    else:
        for run in range(args.runs):
            order = rng.sample(chosen, len(chosen))
            print(f"run {run + 1}/{args.runs}: {order}", flush=True)
            for f in order:
                faults.run(f)

    load.stop.set()
    load.thread.join(150)
    check(not load.thread.is_alive(), "the producer finished flushing")
    faults.check_workloads()
    check_eq(len(load.acks), load.sent, "every record acknowledged")
    ends, got, values, lost, duplicates, dense = failover.read_back(load, cluster.bootstrap)
    job_line, job_checks, final = "no job", (0, 0, 0), ends
    if job is not None:
        wait_until(lambda: job.error is not None or all(job.committed.get(p, -1) >= ends[p] for p in ends), 120,
                   lambda: f"the job through the input (ends {ends}, {job.committed}; {job.state()})")
        job.stop.set()
        job.thread.join(60)
        check(job.error is None, f"the job failed: {job.error}")
        out = coordinators.read_committed(cluster.bootstrap, SINK)
        acked = {str(i).encode() for i in load.acks}
        job_checks = (len(acked - set(out)), len(out) - len(set(out)), len(job.backwards))
        committed_c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": coordinators.GROUP})
        final = {tp.partition: tp.offset
                 for tp in committed_c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)}
        committed_c.close()
        job_line = (f"job: transactions {len(job.commit_times)}, aborted {job.aborts}, output {len(out)}: lost "
                    f"{job_checks[0]}, duplicates {job_checks[1]}, committed offsets backwards {job_checks[2]}")
        if job_checks[1]:
            twice = sorted(int(v) for v, n in collections.Counter(out).items() if n > 1)
            job_line += f" (records out twice: {len(twice)}, from {twice[0]} to {twice[-1]}, first {twice[:5]})"
    diverging = reread_from_each_leader(cluster, admin, ends, got)
    def span(xs: list[float]) -> str:
        return f"{min(xs):.2f}-{max(xs):.2f} s" if xs else "n/a"
    print(f"faults {faults.counts}; records acknowledged {len(load.acks)}, read back {len(values)}: lost {lost}, "
          f"duplicates {duplicates}, offsets dense {dense}, diverging {diverging}; {job_line}; "
          f"leader kill to next write {span(faults.recoveries)}; metadata leader kill to next metadata write "
          f"{span(faults.metadata_recoveries)}", flush=True)
    check_eq((lost, duplicates, dense, diverging), (0, 0, True, 0), "lost, duplicates, dense offsets, diverging")
    check_eq(job_checks, (0, 0, 0), "job: lost, duplicates, offsets backwards")
    check_eq(final, ends, "the group's committed offsets")
    wait_until(lambda: all_isrs_whole(admin), 60, "every ISR whole at the end")


def main(argv=None) -> None:
    global WITH_JOB
    parsed = args_parser().parse_args(argv)
    WITH_JOB = not parsed.no_job
    overrides = OVERRIDES
    harness.cluster_main(lambda c: body(c, parsed), n=3, overrides=overrides, netns=True, args=parsed,
                         name=os.path.splitext(os.path.basename(sys.argv[0]))[0])


if __name__ == "__main__":
    main()
