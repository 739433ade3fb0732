#!/usr/bin/env python3
"""The group and transaction coordinators through the loss of their nodes: a 3-node cluster
whose `__consumer_offsets` and `__transaction_state` have 3 replicas (min.insync.replicas 2
for the transaction log), and a consume-transform-produce job (confluent-kafka: a read_committed
consumer in group `ctp`, a transactional producer that sends its offsets with each transaction)
copying numbered records from `ctp-in` to `ctp-out` (3000, and 1000 more after each kill). While it runs, the node leading the
group's partition of `__consumer_offsets` is SIGKILLed and restarted, then the node leading the
transactional id's partition of `__transaction_state`.

Checks, with the counts printed: `ctp-out` read with read_committed holds every input record
exactly once (lost 0, duplicates 0); the group's committed offsets end at the input's end
offsets and never went backwards as seen after each transaction; every ISR of the two topics
and of the internal partitions is whole at the end; the time from each SIGKILL to the job's next
committed transaction.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

# 3000 records first, 1000 more after each kill.
IN, OUT, PARTITIONS, COUNT, EXTRA = "ctp-in", "ctp-out", 3, 3000, 1000
GROUP, TXN_ID = "ctp", "ctp-job"
INTERNAL_PARTITIONS = 3
OVERRIDES = {
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": str(INTERNAL_PARTITIONS),
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": str(INTERNAL_PARTITIONS),
    "replica.lag.time.max.ms": "10000",
}


def java_hash(s: str) -> int:
    """Java's String.hashCode: over UTF-16 code units, in 32-bit arithmetic."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def internal_partition(key: str) -> int:
    """Kafka's placement of a group or transactional id: Utils.abs(hashCode) % partitions."""
    h = java_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % INTERNAL_PARTITIONS


def leader(admin: AdminClient, topic: str, partition: int) -> int:
    return admin.list_topics(topic=topic, timeout=5).topics[topic].partitions[partition].leader


def isrs_whole(admin: AdminClient) -> bool:
    for topic in (IN, OUT, "__consumer_offsets", "__transaction_state"):
        md = admin.list_topics(topic=topic, timeout=5).topics[topic]
        if md.error is not None or any(len(p.isrs) != 3 for p in md.partitions.values()):
            return False
    return True


class Job:
    """The consume-transform-produce loop in a thread: each transaction copies what one poll
    returned and commits the consumer's positions with it. An abortable error aborts and rewinds
    the consumer to the committed offsets; a retriable one retries the commit."""

    def __init__(self, bootstrap: str, source: str = IN, sink: str = OUT):
        self.source, self.sink = source, sink
        # COMPAT_JOB_DEBUG: librdkafka debug contexts for both clients (e.g. eos,cgrp).
        debug = {"debug": os.environ["COMPAT_JOB_DEBUG"]} if os.environ.get("COMPAT_JOB_DEBUG") else {}
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest", "isolation.level": "read_committed", **debug})
        # connections.max.idle.ms: librdkafka 2.16 can wait forever in send_offsets_to_transaction
        # once its cached group coordinator was dropped from the metadata during a restart
        # (confluentinc/librdkafka#5511, fix pending in #5512): it looks for the coordinator
        # again only on some broker's state change, and idle connections closing give it one.
        self.producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": TXN_ID,
                                  "transaction.timeout.ms": 60000, "linger.ms": 5,
                                  "connections.max.idle.ms": 10000, **debug})
        self.commit_times: list[float] = []
        self.committed: dict[int, int] = {}
        self.backwards: list[str] = []
        self.aborts = 0
        self.retries = 0
        self.error: str | None = None
        # What the job does now and the last error it got, for a failure's message.
        self.stage = "starting"
        self.last_error = ""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _rewind(self) -> None:
        parts = self.consumer.assignment()
        for tp in self.consumer.committed(parts, timeout=30):
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))

    def _commit(self) -> None:
        deadline = time.monotonic() + 90
        while True:
            try:
                self.producer.commit_transaction(30)
                return
            except KafkaException as e:
                err = e.args[0]
                self.last_error = str(err)
                if err.retriable() and time.monotonic() < deadline:
                    self.retries += 1
                    continue
                raise

    def _run(self) -> None:
        try:
            self.producer.init_transactions(60)
            self.consumer.subscribe([self.source])
            while not self.stop.is_set():
                self.stage = "consume"
                msgs = [m for m in self.consumer.consume(100, timeout=0.5) if m.error() is None]
                if not msgs:
                    continue
                try:
                    self.producer.begin_transaction()
                    for m in msgs:
                        self.producer.produce(self.sink, key=m.key(), value=m.value(), partition=m.partition())
                    positions = self.consumer.position(self.consumer.assignment())
                    self.stage = "send_offsets_to_transaction"
                    self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
                    self.stage = "commit_transaction"
                    self._commit()
                except KafkaException as e:
                    err = e.args[0]
                    self.last_error = str(err)
                    if not err.txn_requires_abort():
                        raise
                    self.aborts += 1
                    self.stage = "abort_transaction"
                    self.producer.abort_transaction(60)
                    self.stage = "rewind"
                    self._rewind()
                    continue
                self.commit_times.append(time.monotonic())
                for tp in positions:
                    if tp.offset < 0:
                        continue
                    if tp.offset < self.committed.get(tp.partition, -1):
                        self.backwards.append(f"{tp.partition}: {self.committed[tp.partition]} -> {tp.offset}")
                    self.committed[tp.partition] = tp.offset
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)
        finally:
            self.consumer.close()

    def state(self) -> str:
        return (f"job: {self.stage}, {len(self.commit_times)} committed, {self.aborts} aborted, "
                f"{self.retries} commit retries, last error {self.last_error!r}")

    def first_commit_after(self, t: float) -> float | None:
        later = [x for x in self.commit_times if x > t]
        return min(later) - t if later else None


def read_committed(bootstrap: str, topic: str = OUT) -> list[bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ctp-check", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    ends = {}
    for p in range(PARTITIONS):
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = high
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got: list[bytes] = []
    done = {p: ends[p] == 0 for p in range(PARTITIONS)}
    deadline = time.monotonic() + 60
    while not all(done.values()):
        check(time.monotonic() < deadline, f"{topic} not read to its end in 60 s ({len(got)} read)")
        for m in c.consume(1000, timeout=1.0):
            if m.error():
                continue
            got.append(m.value())
        for tp in c.position([TopicPartition(topic, p) for p in range(PARTITIONS)]):
            done[tp.partition] = tp.offset >= ends[tp.partition]
    c.close()
    return got


def body(cluster: harness.Cluster) -> None:
    for via in (1, 2, 3):
        cluster.wait_brokers([1, 2, 3], via)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    fs = admin.create_topics([NewTopic(t, PARTITIONS, 3, config={"min.insync.replicas": "2"}) for t in (IN, OUT)])
    for f in fs.values():
        f.result(30)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all"})
    produced = 0

    def produce(n: int) -> None:
        """n more input records (the job has work after each kill)."""
        nonlocal produced
        for i in range(produced, produced + n):
            p.produce(IN, partition=i % PARTITIONS, key=str(i).encode(), value=str(i).encode())
            if i % 500 == 0:
                p.poll(0)
        check_eq(p.flush(90), 0, "input records not delivered")
        produced += n

    produce(COUNT)

    job = Job(cluster.bootstrap)
    job.thread.start()
    wait_until(lambda: job.error is not None or len(job.commit_times) >= 5, 90, "the job under way")
    check(job.error is None, f"the job failed: {job.error}")
    wait_until(lambda: isrs_whole(admin), 60, "the internal topics created and in sync")
    for what, topic, key in (("group", "__consumer_offsets", GROUP), ("transaction", "__transaction_state", TXN_ID)):
        partition = internal_partition(key)
        victim = leader(admin, topic, partition)
        check(victim in (1, 2, 3), f"{topic}-{partition} has a leader ({victim})")
        t_kill = time.monotonic()
        cluster.node(victim).kill()
        produce(EXTRA)
        wait_until(lambda: job.error is not None or job.first_commit_after(t_kill) is not None, 150,
                   lambda: f"a transaction committed after the {what} coordinator's node {victim} was killed ({job.state()})")
        check(job.error is None, f"the job failed: {job.error}")
        moved = leader(admin, topic, partition)
        print(f"{what} coordinator: node {victim} ({topic}-{partition}) SIGKILLed; {topic}-{partition} now led by "
              f"{moved}; the job committed again {job.first_commit_after(t_kill):.2f} s later", flush=True)
        cluster.node(victim).restart()
        wait_until(lambda: isrs_whole(admin), 60, "every ISR whole again")

    ends = {}
    probe = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "ctp-probe"})
    for part in range(PARTITIONS):
        ends[part] = probe.get_watermark_offsets(TopicPartition(IN, part), timeout=10)[1]
    probe.close()
    wait_until(lambda: job.error is not None or all(job.committed.get(q, -1) >= ends[q] for q in ends), 120,
               lambda: f"the job through the input (ends {ends}, {job.committed}; {job.state()})")
    job.stop.set()
    job.thread.join(60)
    check(job.error is None, f"the job failed: {job.error}")

    admin_committed = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": GROUP})
    final = {tp.partition: tp.offset
             for tp in admin_committed.committed([TopicPartition(IN, q) for q in range(PARTITIONS)], timeout=30)}
    admin_committed.close()
    values = read_committed(cluster.bootstrap)
    want = {str(i).encode() for i in range(produced)}
    lost = len(want - set(values))
    duplicates = len(values) - len(set(values))
    print(f"input {produced}, output read_committed {len(values)}; lost {lost}, duplicates {duplicates}; "
          f"transactions committed {len(job.commit_times)}, aborted {job.aborts}, commit retries {job.retries}; "
          f"committed offsets {final} (input ends {ends}), went backwards {len(job.backwards)}", flush=True)
    check_eq((lost, duplicates, len(job.backwards)), (0, 0, 0), "lost, duplicates, offsets going backwards")
    check_eq(final, ends, "the group's committed offsets")
    wait_until(lambda: isrs_whole(admin), 60, "every ISR whole at the end")


if __name__ == "__main__":
    harness.cluster_main(body, n=3, overrides=OVERRIDES)
