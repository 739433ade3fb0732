#!/usr/bin/env python3
"""Kafka Streams 4.3.1 with processing.guarantee=exactly_once_v2 (compat/StreamsEosApp.java),
SIGKILLed while it processes.

An idempotent producer (confluent-kafka, acks=all) writes N keyed records "g<k>:<number>" to a
4-partition input topic. The Streams application (2 stream threads, no record cache) regroups
them by g<k> through a repartition topic, aggregates count and sum per group in a RocksDB store
with a compacted changelog topic, and writes every update "count,sum,number" to a 3-partition
output topic (commit.interval.ms 500, producer linger.ms 10); so every commit is a transaction
over output, repartition and changelog records plus the group's offsets
(sendOffsetsToTransaction with the consumer group metadata). The app is SIGKILLed three times
at random points while it aggregates and restarted each time, mostly with the same state dir,
so the same transactional ids fence the dead instance (its store is wiped and restored from the
changelog); but after the second kill the state dir is removed, so the next instance has new
transactional ids and the dead one's open transaction only ends when the broker aborts it after
transaction.timeout.ms (10 s). The last run goes on until every group's committed output
reaches its count and is stopped with SIGTERM (clean close).

Then, read_committed: each group's updates in the output, in offset order, are counts 1, 2, ..,
n (each exactly once), each sum is the previous one plus the update's number, the numbers are
exactly the group's input numbers (a multiset), and the last sum is the input's sum; every
group is in the partition murmur2 gives it; no transaction is left open (the read_committed
end = log end) while a read_uncommitted reader sees more (the killed instances' aborted
records); the changelog's last committed value per group is the final aggregate; the
changelog is compacted and the group's committed offsets are the input's and the repartition
topic's end offsets. Set COMPAT_SEED to repeat a run's kill points.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
import groupkit  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import ConfigResource  # noqa: E402

SRC = os.path.join(groupkit.HERE, "StreamsEosApp.java")
STREAMS_LIBS = os.path.join(harness.CACHE, f"kafka-streams-{harness.KAFKA_VERSION}", "libs")
APP_ID = "compat-streams-eos"
IN, OUT = "seos-in", "seos-out"
IN_PARTS, OUT_PARTS = 4, 3
REPARTITION = f"{APP_ID}-regroup-repartition"
CHANGELOG = f"{APP_ID}-agg-changelog"
N = 6000
GROUPS = 12
KILLS = 3
THREADS = 2
SLEEP_EVERY = 2  # the app sleeps 1 ms every 2 input records per thread
WIPE_AFTER = 1  # the state dir is removed after this run's SIGKILL


def java_cmd(*args) -> list[str]:
    """Compile StreamsEosApp.java against the kafka-streams libs (once per source version) and
    return the command line running it."""
    src = open(SRC, "rb").read()
    out = os.path.join(harness.CACHE, "compat-java", "streams-" + hashlib.sha256(src).hexdigest()[:16])
    if not os.path.exists(os.path.join(out, "StreamsEosApp.class")):
        if not os.path.isdir(STREAMS_LIBS):
            raise CompatFailure(f"{STREAMS_LIBS} missing: run compat/setup")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="javac-", dir=os.path.dirname(out))
        r = subprocess.run(["javac", "-nowarn", "-cp", os.path.join(STREAMS_LIBS, "*"), "-d", tmp, SRC],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CompatFailure(f"javac StreamsEosApp.java failed:\n{r.stdout}{r.stderr}")
        try:
            os.rename(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # compiled concurrently
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
            f"-Dlog4j2.configurationFile={os.path.join(harness.KAFKA_HOME, 'config', 'tools-log4j2.properties')}",
            "-cp", out + os.pathsep + os.path.join(STREAMS_LIBS, "*"), "StreamsEosApp", *map(str, args)]


class App:
    """One run of the Streams application as its own process group."""

    def __init__(self, b, run: int, state_dir: str, logdir: str):
        self.run = run
        self.err_path = os.path.join(logdir, f"app-run{run}.err")
        self._err = open(self.err_path, "wb")
        cmd = java_cmd(b.bootstrap, IN, OUT, APP_ID, state_dir, THREADS, SLEEP_EVERY)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err,
                                     start_new_session=True)
        self.lock = threading.Lock()
        self.aggs = 0
        self.states: list[str] = []
        self.errors: list[str] = []
        self.closed = None
        self.t0 = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                if ev["ev"] == "agg":
                    self.aggs = max(self.aggs, ev["n"])
                elif ev["ev"] == "state":
                    self.states.append(ev["to"])
                elif ev["ev"] == "error":
                    self.errors.append(ev["err"])
                elif ev["ev"] == "closed":
                    self.closed = ev["clean"]

    def alive(self):
        """Raise if the app stopped by itself or reported a dead stream thread."""
        if self.errors or self.proc.poll() is not None:
            self._reader.join(5)
            raise CompatFailure(f"Streams app (run {self.run}) stopped by itself (rc={self.proc.poll()}), "
                                f"errors {self.errors}, states {self.states}\n{self.stderr_tail()}")

    def stderr_tail(self, n=60) -> str:
        if not self._err.closed:
            self._err.flush()
        lines = open(self.err_path, "rb").read().decode("utf-8", "replace").splitlines()
        return f"--- app run {self.run} stderr tail ({self.err_path}) ---\n" + "\n".join(lines[-n:])

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self._err.close()

    def terminate(self, deadline: float) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CompatFailure(f"Streams app did not exit within {deadline:.0f}s of SIGTERM\n{self.stderr_tail()}")
        self._reader.join(5)
        self._err.close()
        return rc


def produce_input(b, rnd):
    """N records with an idempotent producer; returns {group: [numbers in produce order]}."""
    want = {f"g{k:02d}": [] for k in range(GROUPS)}
    errors = []
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "partitioner": "murmur2_random"})
    for i in range(N):
        g = f"g{rnd.randrange(GROUPS):02d}"
        n = rnd.randint(1, 999)
        want[g].append(n)
        p.produce(IN, key=f"s{i % 50}".encode(), value=f"{g}:{n}".encode(),
                  on_delivery=lambda err, msg: err is not None and errors.append(str(err)))
        if i % 500 == 499:
            p.poll(0)
    left = p.flush(60)
    check_eq(left, 0, "input records still unacknowledged after flush(60)")
    check_eq(errors, [], "input delivery errors")
    return want


def consumer(b, isolation: str) -> Consumer:
    return Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"compat-seos-reader-{time.monotonic_ns()}",
                     "isolation.level": isolation, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "enable.partition.eof": True})


class Reader:
    """A consumer of a whole topic (assign at 0); poll() adds what arrived."""

    def __init__(self, b, topic, parts, isolation):
        self.topic, self.parts = topic, parts
        self.c = consumer(b, isolation)
        self.c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
        self.recs = {p: [] for p in range(parts)}  # partition -> [(offset, key, value)]
        self.eof = {}  # partition -> offset of the last EOF since the last record

    def poll(self, max_s=0.5):
        end = time.monotonic() + max_s
        while time.monotonic() < end:
            m = self.c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    self.eof[m.partition()] = m.offset()
                    continue
                raise CompatFailure(f"consumer of {self.topic}: {m.error()}")
            self.eof.pop(m.partition(), None)
            self.recs[m.partition()].append((m.offset(), m.key().decode(), m.value().decode()))

    def at_end(self):
        """Every partition reported EOF at its high watermark (so no open transaction holds it back)."""
        if len(self.eof) < self.parts:
            return False
        for p in range(self.parts):
            lo, hi = self.c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            if self.eof.get(p) != hi:
                return False
        return True

    def read_to_end(self, deadline, what):
        def done():
            self.poll(0.5)
            return self.at_end()
        wait_until(done, deadline, what, interval=0)
        self.c.close()
        return self.recs

    def counts(self):
        """group -> highest count seen."""
        top = {}
        for recs in self.recs.values():
            for _, k, v in recs:
                top[k] = max(top.get(k, 0), int(v.split(",")[0]))
        return top


def body(b):
    seed = int(os.environ.get("COMPAT_SEED", time.time_ns() % 1_000_000))
    rnd = random.Random(seed)
    print(f"  seed {seed} (COMPAT_SEED={seed} repeats the input and the kill points)", flush=True)
    java_cmd()  # compile before the clock matters
    logdir = os.path.join(b.tmp, "streams")  # kept with the broker's dir by --keep
    state_dir = os.path.join(logdir, "state")
    os.makedirs(state_dir)
    b.create_topic(IN, IN_PARTS)
    b.create_topic(OUT, OUT_PARTS)
    want = produce_input(b, rnd)
    print(f"  produced {N} records over {GROUPS} groups into {IN} ({IN_PARTS} partitions)", flush=True)

    apps = []
    try:
        # SIGKILL while processing, KILLS times.
        for run in range(KILLS):
            at = rnd.randint(300, 1400)
            app = App(b, run, state_dir, logdir)
            apps.append(app)

            def busy():
                app.alive()
                return app.aggs >= at
            wait_until(busy, 150, f"Streams app run {run} to aggregate {at} records in this process",
                       interval=0.01)
            app.kill()
            print(f"  run {run}: SIGKILLed once at {at}+ aggregations ({app.aggs} reported), "
                  f"{time.monotonic() - app.t0:.1f}s (states {app.states})", flush=True)
            if run == WIPE_AFTER:
                # As if the instance came back on another machine: a new process id, so new
                # transactional ids; the dead instance's open transaction stays until the
                # broker aborts it (transaction.timeout.ms, 10 s in Streams), holding back the
                # read_committed consumers of the repartition topic and the changelog.
                shutil.rmtree(state_dir)
                os.makedirs(state_dir)
                print("  state dir wiped", flush=True)

        # The last run goes to the end: wait until every group's committed output has its count.
        app = App(b, KILLS, state_dir, logdir)
        apps.append(app)
        progress = Reader(b, OUT, OUT_PARTS, "read_committed")
        goal = {g: len(v) for g, v in want.items()}

        def complete():
            app.alive()
            progress.poll(0.5)
            top = progress.counts()
            return all(top.get(g, 0) >= n for g, n in goal.items())
        try:
            wait_until(complete, 180, "every group's committed output to reach its input count", interval=0)
        except CompatFailure as e:
            raise CompatFailure(f"{e}\ncommitted counts so far {progress.counts()}, want {goal}; app states "
                                f"{app.states}\n{app.stderr_tail()}")
        finally:
            progress.c.close()
        rc = app.terminate(60)
        check(rc in (0, 143), f"Streams app exit code after SIGTERM: {rc}\n{app.stderr_tail()}")
        check(app.closed is True,
              f"KafkaStreams.close() after SIGTERM was not clean ({app.closed})\n{app.stderr_tail()}")
        print(f"  run {KILLS}: to the end in {time.monotonic() - app.t0:.1f}s ({app.aggs} aggregations), "
              f"closed cleanly", flush=True)
    except CompatFailure:
        for a in apps[:-1]:
            print(a.stderr_tail(25), file=sys.stderr)
        raise
    finally:
        for a in apps:
            a.kill()

    # Exactly once, read_committed.
    out = Reader(b, OUT, OUT_PARTS, "read_committed").read_to_end(
        60, f"a read_committed reader of {OUT} to reach the log end (no transaction left open)")
    seq = {g: [] for g in want}
    for p in range(OUT_PARTS):
        for _, g, v in out[p]:
            check(g in seq, f"unexpected key {g!r} in {OUT}")
            check_eq(p, harness.java_partition(g.encode(), OUT_PARTS), f"partition of group {g} in {OUT}")
            seq[g].append(tuple(int(x) for x in v.split(",")))
    for g, nums in want.items():
        counts = [c for c, _, _ in seq[g]]
        check_eq(counts, list(range(1, len(nums) + 1)), f"group {g}: counts of its committed updates in offset order")
        prev = 0
        for c, s, n in seq[g]:
            check_eq(s, prev + n, f"group {g} update {c}: sum = previous sum + number")
            prev = s
        check_eq(sorted(n for _, _, n in seq[g]), sorted(nums), f"group {g}: numbers aggregated (each input once)")
        check_eq(prev, sum(nums), f"group {g}: final sum")
    n_committed = sum(len(v) for v in out.values())
    check_eq(n_committed, N, f"committed records in {OUT}")
    raw = Reader(b, OUT, OUT_PARTS, "read_uncommitted").read_to_end(60, f"a read_uncommitted reader of {OUT}")
    n_raw = sum(len(v) for v in raw.values())
    # The kills left aborted records in the log (transactions of ~0.5 s, records sent within
    # ~10 ms): read_uncommitted sees them, read_committed above did not.
    check(n_raw > N, f"read_uncommitted saw {n_raw} records in {OUT}: not more than the {N} committed, "
                     "so no SIGKILL left an aborted transaction with records behind")

    # The changelog: compacted, last committed value per group = the final aggregate.
    admin = b.admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, CHANGELOG)
    cfg = admin.describe_configs([res])[res].result(30)
    check_eq(cfg["cleanup.policy"].value, "compact", f"{CHANGELOG} cleanup.policy")
    md = admin.list_topics(timeout=10).topics
    check(CHANGELOG in md and REPARTITION in md, f"internal topics {CHANGELOG}, {REPARTITION} in {sorted(md)}")
    cl_parts = len(md[CHANGELOG].partitions)
    rp_parts = len(md[REPARTITION].partitions)
    cl = Reader(b, CHANGELOG, cl_parts, "read_committed").read_to_end(60, f"a read_committed reader of {CHANGELOG}")
    last = {}
    for recs in cl.values():
        for _, g, v in recs:
            last[g] = v
    check_eq({g: tuple(int(x) for x in v.split(",")[:2]) for g, v in last.items()},
             {g: (len(v), sum(v)) for g, v in want.items()}, f"last committed (count, sum) per group in {CHANGELOG}")

    # The group's committed offsets: the ends of the input and of the repartition topic.
    offs = groupkit.group_offsets(admin, APP_ID)
    ends = groupkit.end_offsets(b.bootstrap, IN, IN_PARTS)
    ends.update(groupkit.end_offsets(b.bootstrap, REPARTITION, rp_parts))
    ends = {tp: e for tp, e in ends.items() if e > 0 or tp in offs}  # nothing to commit in an empty partition
    check_eq(offs, ends, f"committed offsets of group {APP_ID} (OffsetFetch) = end offsets of {IN} and {REPARTITION}")
    print(f"  {OUT}: {n_committed} committed updates (read_uncommitted: {n_raw}, so {n_raw - n_committed} aborted), "
          f"counts 1..n once each for {GROUPS} groups; {CHANGELOG} ({cl_parts} partitions) and offsets agree",
          flush=True)


if __name__ == "__main__":
    harness.main(body)
