#!/usr/bin/env python3
"""A consumer-group member for the compat group scenarios, driven by compat/groupkit.py:
confluent-kafka (librdkafka) or kafka-python, classic group protocol, subscribed to one topic.

    group_member.py confluent|kafka-python TOPIC key=value...   (librdkafka-style property names)

Speaks the same line protocol as GroupMember.java: JSON events on stdout ("asg", "gen",
"recs", "commit", "commit_err", "paused", "closed"), commands on stdin ("pause", "resume", "close").
Each polled batch is printed (and flushed) before its offsets are committed synchronously.
"""

import faulthandler
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402,F401  (re-executes under the compat venv when needed)

_out = threading.Lock()
owned: set[int] = set()
state = {"paused": False, "closing": False}


def emit(obj) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def stdin_loop() -> None:
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "pause":
            state["paused"] = True
        elif cmd == "resume":
            state["paused"] = False
        elif cmd == "close":
            state["closing"] = True


def run_confluent(topic: str, props: dict) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    conf = {"group.protocol": "classic", "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    conf.update(props)

    def on_assign(c, parts):
        owned.update(tp.partition for tp in parts)
        emit({"ev": "asg", "cause": "assign", "parts": sorted(owned), "gen": None})

    def on_revoke(c, parts):
        owned.difference_update(tp.partition for tp in parts)
        emit({"ev": "asg", "cause": "revoke", "parts": sorted(owned), "gen": None})

    def on_lost(c, parts):
        owned.difference_update(tp.partition for tp in parts)
        emit({"ev": "asg", "cause": "lost", "parts": sorted(owned), "gen": None})

    c = Consumer(conf)
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    while not state["closing"]:
        if state["paused"]:
            if not state.get("acked"):
                state["acked"] = True
                emit({"ev": "paused"})
            time.sleep(0.05)
            continue
        state["acked"] = False
        msgs = c.consume(num_messages=500, timeout=0.2)
        recs, offs = [], {}
        for m in msgs:
            if m.error():
                emit({"ev": "error", "err": str(m.error())})
                continue
            v = m.value()
            recs.append([m.partition(), m.offset(), None if v is None else v.decode("utf-8", "replace")])
            offs[m.partition()] = m.offset() + 1
        if not recs:
            continue
        emit({"ev": "recs", "recs": recs})
        try:
            c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offs.items()], asynchronous=False)
            emit({"ev": "commit", "offs": sorted(offs.items())})
        except KafkaException as e:
            emit({"ev": "commit_err", "err": str(e)})
    c.close()
    emit({"ev": "closed"})


def keep_finished_joins() -> None:
    """kafka-python 3.0.12 caches its JoinGroup -> SyncGroup task across polls, but a task that
    finished while no poll was waiting on it (the poll's timer ran out first, as it does on a busy
    machine) is dropped and a new JoinGroup sent: the member rejoins right after being assigned,
    and as the leader that rebalances the whole group (seen in compat/mixed/group_static, about one
    run in eight under load). Here a finished task is taken for its result or error, as a task
    still running is; every branch after the wait already clears it."""
    import inspect
    import textwrap

    from kafka.coordinator import base

    src = textwrap.dedent(inspect.getsource(base.BaseCoordinator.join_group_async))
    dropped = "if self._join_task is None or self._join_task.is_done:"
    if dropped not in src:
        raise SystemExit("kafka-python member: join_group_async changed; review keep_finished_joins()")
    ns: dict = {}
    exec(compile(src.replace(dropped, "if self._join_task is None:"), base.__file__, "exec"), base.__dict__, ns)
    base.BaseCoordinator.join_group_async = ns["join_group_async"]


def run_kafka_python(topic: str, props: dict) -> None:
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    # The coordinator's own account of joins, syncs and heartbeats goes to stderr, which groupkit
    # prints when a scenario fails (one run stalled with no other trace of why).
    import logging
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)

    class LeaderSyncWatch(logging.Handler):
        """When this member leads, kafka-python logs "Elected group leader" and sends SyncGroup,
        which the coordinator answers at once. In about one run in eight kafka-python 3.0.12 never
        took that answer in (the broker's log shows it answered within a millisecond; no request
        timeout fires, as the request is no longer in flight): no later coordinator line, the
        member stuck until its session expired. This notes when that line came; any later one
        means the sync went on."""

        def __init__(self):
            super().__init__(level=logging.INFO)
            self.elected_at = None

        def emit(self, record):
            self.elected_at = time.monotonic() if record.getMessage().startswith("Elected group leader") else None

        def stalled_for(self) -> float:
            at = self.elected_at
            return 0.0 if at is None else time.monotonic() - at

    sync_watch = LeaderSyncWatch()
    logging.getLogger("kafka.coordinator").addHandler(sync_watch)

    keep_finished_joins()
    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                 "cooperative-sticky": CooperativeStickyAssignor}
    kw = {"enable_auto_commit": False, "auto_offset_reset": "earliest"}
    for k, v in props.items():
        if k == "bootstrap.servers":
            kw["bootstrap_servers"] = v
        elif k == "partition.assignment.strategy":
            kw["partition_assignment_strategy"] = [assignors[s.strip()] for s in v.split(",")]
        elif k in ("session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms"):
            kw[k.replace(".", "_")] = int(v)
        elif k in ("group.id", "group.instance.id", "client.id"):
            kw[k.replace(".", "_")] = v
        elif k == "group.protocol":
            if v != "classic":
                raise SystemExit(f"kafka-python: group.protocol={v} not supported")
        else:
            raise SystemExit(f"kafka-python member: no mapping for property {k}")
    c = KafkaConsumer(**kw)

    def gen():
        try:
            return c._coordinator.group_metadata().generation_id
        except Exception:  # noqa: BLE001
            return None

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            owned.difference_update(tp.partition for tp in revoked)
            emit({"ev": "asg", "cause": "revoke", "parts": sorted(owned), "gen": gen()})

        def on_partitions_assigned(self, assigned):
            owned.update(tp.partition for tp in assigned)
            emit({"ev": "asg", "cause": "assign", "parts": sorted(owned), "gen": gen()})

        def on_partitions_lost(self, lost):
            owned.difference_update(tp.partition for tp in lost)
            emit({"ev": "asg", "cause": "lost", "parts": sorted(owned), "gen": gen()})

    c.subscribe(topics=[topic], listener=Listener())
    last_gen = -2
    while not state["closing"]:
        if state["paused"]:
            if not state.get("acked"):
                state["acked"] = True
                emit({"ev": "paused"})
            time.sleep(0.05)
            continue
        state["acked"] = False
        try:
            batches = c.poll(timeout_ms=200)
        except Exception as e:  # noqa: BLE001 - e.g. KafkaConnectionError while the broker restarts
            emit({"ev": "error", "err": repr(e)})
            time.sleep(0.2)
            continue
        if sync_watch.stalled_for() > 15:
            # Start the join over (the client's own next attempt, as after a failed one); the
            # event shows in the scenario's output.
            emit({"ev": "error", "err": "kafka-python: no answer taken in 15 s after its leader SyncGroup; joining again"})
            sync_watch.elected_at = None
            c._coordinator._join_task = None
        g = gen()
        if g != last_gen:
            last_gen = g
            emit({"ev": "gen", "gen": g})
        recs, offs = [], {}
        for tp, ms in batches.items():
            for m in ms:
                recs.append([tp.partition, m.offset, None if m.value is None else m.value.decode("utf-8", "replace")])
                offs[tp.partition] = m.offset + 1
        if not recs:
            continue
        emit({"ev": "recs", "recs": recs})
        try:
            c.commit(offsets={TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offs.items()})
            emit({"ev": "commit", "offs": sorted(offs.items())})
        except Exception as e:  # noqa: BLE001 - CommitFailedError, RebalanceInProgressError, ...
            emit({"ev": "commit_err", "err": repr(e)})
    c.close()
    emit({"ev": "closed"})


def main() -> None:
    client, topic = sys.argv[1], sys.argv[2]
    props = dict(a.split("=", 1) for a in sys.argv[3:])
    threading.Thread(target=stdin_loop, daemon=True).start()
    if client == "confluent":
        run_confluent(topic, props)
    elif client == "kafka-python":
        run_kafka_python(topic, props)
    else:
        raise SystemExit(f"unknown client {client}")


if __name__ == "__main__":
    # groupkit sends SIGUSR1 when a scenario times out: every thread's stack goes to stderr.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    main()
