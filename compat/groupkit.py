"""Helpers for the consumer-group scenarios: group members as separate processes (so they can
be SIGKILLed) for three clients, a background producer, and group-state checks.

A member is the Java consumer (compat/GroupMember.java, compiled here on first use), confluent-kafka
(librdkafka) or kafka-python (compat/group_member.py). All speak one line protocol: JSON events on
stdout (assignment after each rebalance callback, generation, each batch before its commit,
commits), commands on stdin (pause, resume, close). `Member` keeps what a member reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import CompatFailure, check, run_cli, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_SRC = os.path.join(HERE, "GroupMember.java")
PY_MEMBER = os.path.join(HERE, "group_member.py")
CLIENTS = ("java", "confluent", "kafka-python")
JAVA_ASSIGNORS = {
    "range": "org.apache.kafka.clients.consumer.RangeAssignor",
    "roundrobin": "org.apache.kafka.clients.consumer.RoundRobinAssignor",
    "cooperative-sticky": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
}

_java_lock = threading.Lock()


def java_classes(src_path: str = JAVA_SRC) -> str:
    """Compile a compat Java source (GroupMember.java by default; once per source version) with
    javac against kafka-4.3.1/libs and return its class directory,
    ~/.cache/gregor/compat-java/<hash of the source>/."""
    main = os.path.splitext(os.path.basename(src_path))[0]
    with _java_lock:
        src = open(src_path, "rb").read()
        out = os.path.join(harness.CACHE, "compat-java", hashlib.sha256(src).hexdigest()[:16])
        if os.path.exists(os.path.join(out, main + ".class")):
            return out
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="javac-", dir=os.path.dirname(out))
        r = subprocess.run(["javac", "-nowarn", "-cp", os.path.join(harness.KAFKA_HOME, "libs", "*"), "-d", tmp, src_path],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CompatFailure(f"javac {os.path.basename(src_path)} failed:\n{r.stdout}{r.stderr}")
        try:
            os.rename(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # compiled concurrently by someone else
        return out


def java_cmd(src_path: str, *args: str) -> list[str]:
    """The command line running the main class of a compat Java source (compiled by java_classes)."""
    main = os.path.splitext(os.path.basename(src_path))[0]
    return ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
            f"-Dlog4j2.configurationFile={os.path.join(harness.KAFKA_HOME, 'config', 'tools-log4j2.properties')}",
            "-cp", java_classes(src_path) + os.pathsep + os.path.join(harness.KAFKA_HOME, "libs", "*"),
            main, *args]


class Member:
    """One group member process and everything it reported."""

    def __init__(self, client: str, name: str, bootstrap: str, topic: str, group: str, strategy: str,
                 extra: dict | None = None, logdir: str | None = None):
        if client not in CLIENTS:
            raise ValueError(client)
        self.client, self.name, self.topic, self.group, self.strategy = client, name, topic, group, strategy
        props = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
                 "group.protocol": "classic", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
        props.update({k: str(v) for k, v in (extra or {}).items()})
        if props["group.protocol"] == "consumer":
            # KIP-848: the broker assigns (strategy names a server assignor) and owns the timeouts.
            for k in ("session.timeout.ms", "heartbeat.interval.ms"):
                props.pop(k)
            props["group.remote.assignor"] = strategy
        elif client == "java":
            props["partition.assignment.strategy"] = JAVA_ASSIGNORS[strategy]
        else:
            props["partition.assignment.strategy"] = strategy
        if client == "java":
            cmd = java_cmd(JAVA_SRC, topic)
        else:
            cmd = [sys.executable, PY_MEMBER, client, topic]
        cmd += [f"{k}={v}" for k, v in props.items()]
        self.props = props
        self.lock = threading.Lock()
        self.parts: frozenset[int] = frozenset()
        self.history: list[tuple[float, str, frozenset]] = []  # (time, cause, assignment)
        self.gens: list = []  # generation ids the member reported (java, kafka-python)
        self.mid = None
        self.recs: list[tuple[int, int, str]] = []
        self.commits = 0
        self.commit_errs: list[str] = []
        self.errors: list[str] = []
        self.closed = False
        self.paused = False
        self.killed = False
        logdir = logdir or _logdir()
        self.err_path = os.path.join(logdir, f"member-{name}-{os.getpid()}-{int(time.time() * 1000)}.err")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     start_new_session=True)
        self.started = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _live.append(self)

    def __repr__(self):
        return f"{self.name}({self.client})"

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                with self.lock:
                    self.errors.append(f"unparsable line {raw[:200]!r}")
                continue
            with self.lock:
                kind = ev.get("ev")
                if kind == "asg":
                    self.parts = frozenset(ev["parts"])
                    self.history.append((time.monotonic(), ev["cause"], self.parts))
                    if ev.get("gen") is not None:
                        self.gens.append(ev["gen"])
                    if ev.get("mid"):
                        self.mid = ev["mid"]
                elif kind == "gen":
                    if ev.get("gen") is not None and ev["gen"] >= 0:
                        self.gens.append(ev["gen"])
                    if ev.get("mid"):
                        self.mid = ev["mid"]
                elif kind == "recs":
                    self.recs.extend((p, o, v) for p, o, v in ev["recs"])
                elif kind == "commit":
                    self.commits += 1
                elif kind == "commit_err":
                    self.commit_errs.append(ev["err"])
                elif kind == "closed":
                    self.closed = True
                elif kind == "paused":
                    self.paused = True
                elif kind == "error":
                    self.errors.append(ev["err"])
                    print(f"[groupkit] {self.name}: {ev['err']}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ control
    def send(self, cmd: str) -> None:
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def pause(self, deadline: float = 10.0) -> None:
        """Stop polling (the Java consumer's heartbeat thread keeps it in the group); waits until
        the member says it stopped, after finishing (and committing) the batch it had."""
        with self.lock:
            self.paused = False
        self.send("pause")
        wait_until(lambda: self.paused, deadline, f"{self} to pause")

    def resume(self) -> None:
        self.send("resume")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, deadline: float = 30.0) -> None:
        """Ask for a clean close() and wait for the process to exit 0."""
        self.send("close")
        try:
            rc = self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            raise CompatFailure(f"{self} did not close within {deadline:.0f}s\n{self.stderr_tail()}")
        self._reader.join(5)
        check(rc == 0 and self.closed, f"{self} close: rc={rc}, closed event={self.closed}\n{self.stderr_tail()}")

    def kill(self) -> None:
        """SIGKILL: no LeaveGroup, no commit."""
        self.killed = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._reader.join(5)

    def stderr_tail(self, n: int = 25) -> str:
        try:
            self._err.flush()
            with open(self.err_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return f"--- {self} stderr ({self.err_path}) ---\n" + "\n".join(lines[-n:])

    def snapshot(self):
        with self.lock:
            return self.parts, list(self.gens), len(self.recs)

    def consumed_values(self) -> set[str]:
        with self.lock:
            return {v for _, _, v in self.recs}


_live: list[Member] = []
_logdirs: list[str] = []


def _logdir() -> str:
    """Members' stderr files go to one temp dir per scenario run, removed at exit unless --keep."""
    if not _logdirs:
        _logdirs.append(tempfile.mkdtemp(prefix="compat-members-"))
    return _logdirs[0]


def _kill_members() -> None:
    for m in _live:
        if m.proc.poll() is None:
            try:
                os.killpg(m.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if "--keep" in sys.argv:
        for d in _logdirs:
            print(f"[groupkit] kept member logs in {d}", file=sys.stderr)
    else:
        for d in _logdirs:
            shutil.rmtree(d, ignore_errors=True)


import atexit  # noqa: E402

atexit.register(_kill_members)


def dump_python_stacks(members: list[Member]) -> None:
    """Asks the live Python members (group_member.py) to write every thread's stack to their
    stderr, so that a member that stalled shows where."""
    asked = False
    for m in members:
        if m.client != "java" and m.alive():
            try:
                os.kill(m.proc.pid, signal.SIGUSR1)
                asked = True
            except ProcessLookupError:
                pass
    if asked:
        time.sleep(0.5)


def describe_members(members: list[Member]) -> str:
    out = []
    for m in members:
        with m.lock:
            out.append(f"{m}: alive={m.alive()} parts={sorted(m.parts)} gens={m.gens[-5:]} recs={len(m.recs)} "
                       f"commits={m.commits} commit_errs={len(m.commit_errs)} history="
                       f"{[(c, sorted(p)) for _, c, p in m.history[-6:]]}")
    return "\n".join(out)


def wait_balanced(members: list[Member], partitions: int, deadline: float, what: str) -> dict:
    """Wait until the live members' reported assignments are disjoint, cover every partition,
    and are balanced (sizes differ by at most one, none empty when members <= partitions).
    Returns {member: partitions}."""

    def ok():
        asg = {m: m.snapshot()[0] for m in members}
        allp = [p for s in asg.values() for p in s]
        sizes = [len(s) for s in asg.values()]
        if sorted(allp) != list(range(partitions)):
            return None
        if max(sizes) - min(sizes) > 1 or (len(members) <= partitions and min(sizes) == 0):
            return None
        return asg

    try:
        return wait_until(ok, deadline, what, interval=0.05)
    except CompatFailure as e:
        dump_python_stacks(members)
        raise CompatFailure(f"{e}\n{describe_members(members)}\n" + "\n".join(m.stderr_tail(40) for m in members))


def wait_stable_for(members: list[Member], partitions: int, settle: float, deadline: float, what: str) -> dict:
    """wait_balanced, then require the assignment to stay the same for `settle` seconds (a rebalance
    already under way would change it). Returns the assignment."""
    end = time.monotonic() + deadline
    while True:
        asg = wait_balanced(members, partitions, max(0.1, end - time.monotonic()), what)
        t0 = time.monotonic()
        while time.monotonic() - t0 < settle:
            if {m: m.snapshot()[0] for m in members} != asg:
                break
            time.sleep(0.05)
        else:
            return asg
        if time.monotonic() > end:
            raise CompatFailure(f"{what}: assignment did not settle\n{describe_members(members)}")


def wait_consumed(members: list[Member], values: set[str], deadline: float, what: str) -> None:
    """Wait until every value in `values` was reported by at least one member (at-least-once)."""

    def missing():
        seen = set()
        for m in members:
            seen |= m.consumed_values()
        return values - seen

    try:
        wait_until(lambda: not missing(), deadline, what)
    except CompatFailure as e:
        miss = sorted(missing(), key=lambda v: int(v) if v and v.isdigit() else 0)
        raise CompatFailure(f"{e}: {len(miss)} of {len(values)} never consumed, e.g. {miss[:10]}\n"
                            f"{describe_members(members)}")


class Producer:
    """Background confluent-kafka producer: value = decimal sequence number, key = 'k<n>',
    at about `rate` messages/s; `acked` is the set of acknowledged values."""

    def __init__(self, bootstrap: str, topic: str, rate: float = 200.0):
        from confluent_kafka import Producer as P

        self.topic = topic
        self.p = P({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
        self.rate = rate
        self.acked: set[str] = set()
        self.errors: list[str] = []
        self.n = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Producer":
        self._t.start()
        return self

    def _cb(self, err, msg):
        with self._lock:
            if err:
                self.errors.append(str(err))
            else:
                self.acked.add(msg.value().decode())

    def produce(self, count: int) -> None:
        for _ in range(count):
            v = str(self.n)
            self.n += 1
            self.p.produce(self.topic, key=f"k{v}".encode(), value=v.encode(), on_delivery=self._cb)
        self.p.poll(0)

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate) - self.n
            if due > 0:
                self.produce(due)
            self.p.poll(0.02)

    def send(self, count: int, deadline: float = 30.0) -> set[str]:
        """Produce `count` more (without the background thread), wait for their acks; returns all acked."""
        self.produce(count)
        left = self.p.flush(deadline)
        check(left == 0, f"producer: {left} messages not delivered after {deadline:.0f}s")
        check(not self.errors, f"producer delivery errors: {self.errors[:5]}")
        return self.snapshot()

    def stop(self, deadline: float = 30.0) -> set[str]:
        self._stop.set()
        if self._t.is_alive():
            self._t.join(10)
        left = self.p.flush(deadline)
        check(left == 0, f"producer: {left} messages not delivered after {deadline:.0f}s")
        check(not self.errors, f"producer delivery errors: {self.errors[:5]}")
        return self.snapshot()

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self.acked)


def group_offsets(admin, group: str, timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """Committed offsets of a group via the AdminClient (OffsetFetch): {(topic, partition): offset}."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    fs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    res = fs[group].result(timeout)
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions if tp.offset >= 0}


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[tuple[str, int], int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-end-offsets-probe"})
    try:
        out = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out[(topic, p)] = hi
        return out
    finally:
        c.close()


def group_state(admin, group: str, timeout: float = 10.0):
    """(state name, assignor, [(client_id, member_id, group_instance_id, sorted partitions)]) via DescribeGroups."""
    fs = admin.describe_consumer_groups([group], request_timeout=timeout)
    d = fs[group].result(timeout)
    members = []
    for m in d.members:
        parts = sorted(tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []))
        members.append((m.client_id, m.member_id, m.group_instance_id, parts))
    return d.state.name, d.partition_assignor, sorted(members)


def parse_table(text: str, first: str = "GROUP") -> list[dict]:
    """Rows of a kafka-consumer-groups table, sliced at the header's column starts (the tool pads
    each column to its widest value, so slicing keeps empty cells such as GROUP-INSTANCE-ID)."""
    rows, cols = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(first + " "):
            labels = re.findall(r"\S+(?: \(ID\))?", line)
            starts, pos = [], 0
            for lab in labels:
                pos = line.index(lab, pos)
                starts.append(pos)
                pos += len(lab)
            cols = list(zip(labels, starts, starts[1:] + [None]))
            continue
        if cols:
            rows.append({lab: line[a:b].strip() if b else line[a:].strip() for lab, a, b in cols})
    return rows


def cli_members(bootstrap: str, group: str) -> dict[str, tuple[str, list[int]]]:
    """kafka-consumer-groups --describe --members --verbose: {client id: (consumer id, partitions)}."""
    r = run_cli("kafka-consumer-groups", ["--bootstrap-server", bootstrap, "--describe", "--members", "--verbose",
                                          "--group", group], timeout=60)
    out = {}
    for row in parse_table(r.stdout):
        parts = []
        for m in re.finditer(r"[^\s:;]+:([\d,]+)", row.get("CURRENT-ASSIGNMENT", "")):
            parts += [int(x) for x in m.group(1).split(",") if x]
        out[row["CLIENT-ID"]] = (row["CONSUMER-ID"], sorted(parts))
    return out
