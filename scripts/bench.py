#!/usr/bin/env python3
"""gregor vs Apache Kafka 4.3.1, one broker after the other, same clients and flags.

Run through scripts/bench (which builds gregor, runs compat/setup and builds rdkafka_performance);
it execs this file with the compat venv's Python and sets GREGOR_BIN and RDKAFKA_PERFORMANCE.

Per broker (fresh data dir, free port, topics created with the same partition count first):
  start-up    process spawn -> first Metadata v4 answer that lists a broker (raw socket, polled every 5 ms);
              median of --startup-samples starts (the extra ones on throw-away instances)
  produce     kafka-producer-perf-test (Java 4.3.1 client) acks=1 and acks=all, --throughput -1;
              rdkafka_performance (librdkafka 2.12.1) acks=all; broker CPU (utime+stime of the broker
              process, /proc/PID/stat) around each run, per GiB of record payload
  consume     rdkafka_performance -C, assign partitions 0..P-1 from offset 0 (no group), until EOF;
              the acks=1 topic is timed, the other two produce topics are read back to check the counts
  latency     rdkafka_performance -P -l -A at a fixed rate, acks=all, linger.ms=0: one latency per
              message (produce() to delivery report, microseconds); first second dropped as warm-up.
              Second opinion: kafka-producer-perf-test at the same rate/acks/linger (ms resolution).
  memory      VmRSS after start-up, VmHWM (peak) and VmRSS at the end
  (the sections above are "core"; --only picks sections, default all: core,rebalance,soak,txn)

rebalance (fresh broker, group.consumer.heartbeat.interval.ms = --rebalance-heartbeat-ms on both):
  a group of --rebalance-members Java consumers in one JVM (scripts/bench-java/RebalanceBench.java) on a
  --rebalance-partitions topic, per protocol (classic range, classic cooperative-sticky, consumer/KIP-848):
  time from a member joining / one member closing until every member's rebalance callbacks show it holding
  its share, all partitions owned exactly once; then commitSync of N offsets vs producing N records of
  an offset record's size in one batch (acks=all), latency and rate
soak (fresh broker, retention checked every 5 s, Kafka's cleaner prompt): scripts/bench-java/SoakProducer.java
  produces for --soak-seconds into 3 topics with retention.bytes=16 MiB, segment.bytes=4 MiB and a compacted
  topic with 10,000 keys; every --soak-interval: the data dir on disk, throughput, latency p50/p99, broker
  RSS/CPU (logs/<broker>-soak-samples.tsv); table: disk at start/max/end, first vs last third
txn (fresh broker): scripts/bench-java/TxnBench.java, one transactional Java producer (acks=all, idempotent)
  runs --txn-count transactions of --txn-records records (--record-size bytes) back to back on a
  --partitions topic: transactions/s, MiB/s, commitTransaction() latency p50/p99, broker CPU per GiB;
  then rdkafka_performance reads the topic back with isolation.level=read_committed (count check, MiB/s)
cluster (three fresh combined broker,controller nodes on 127.0.0.1, compat/harness.py's Cluster; for Kafka the
  same KRaft properties): a topic of --partitions partitions, replication factor 3, min.insync.replicas=2;
  rdkafka_performance acks=all throughput (--cluster-records) and broker CPU (all three nodes) per GiB, the
  fixed-rate latency run of core on it; then an idempotent acks=all producer (compat/cluster/failover.py's Load)
  writes throughout while the leader of a partition is SIGKILLed --cluster-kills times (restarted, ISRs whole
  again in between): the time from the SIGKILL to the next acknowledged write on that partition, median and max
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1024 * 1024
GiB = 1024 * MiB


SECTIONS = ("core", "rebalance", "soak", "txn", "cluster")
# name -> (label, consumer properties); classic members also get heartbeat.interval.ms.
REBALANCE_PROTOCOLS = {
    "range": ("classic protocol, range (eager)",
              {"group.protocol": "classic",
               "partition.assignment.strategy": "org.apache.kafka.clients.consumer.RangeAssignor"}),
    "cooperative-sticky": ("classic protocol, cooperative-sticky",
                           {"group.protocol": "classic",
                            "partition.assignment.strategy": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}),
    "consumer": ("group.protocol=consumer (KIP-848), uniform", {"group.protocol": "consumer",
                                                               "group.remote.assignor": "uniform"}),
}


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v else default


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short runs: core 200,000 records per produce run and 10 s latency runs, rebalance "
                        "1 round and 3 s commit runs, soak 60 s, txn 300 transactions (~13 min in all for both brokers)")
    p.add_argument("--records", type=int, default=None,
                   help="records per produce run (env BENCH_RECORDS; default 1,000,000, --quick 200,000)")
    p.add_argument("--record-size", type=int, default=env_int("BENCH_RECORD_SIZE", 1024),
                   help="record value size in bytes (env BENCH_RECORD_SIZE; default 1024)")
    p.add_argument("--partitions", type=int, default=env_int("BENCH_PARTITIONS", 3),
                   help="partitions per topic (env BENCH_PARTITIONS; default 3)")
    p.add_argument("--latency-rate", type=int, default=env_int("BENCH_LAT_RATE", 1000),
                   help="messages/s in the latency runs (env BENCH_LAT_RATE; default 1000)")
    p.add_argument("--latency-seconds", type=int, default=None,
                   help="length of each latency run (env BENCH_LAT_SECONDS; default 30, --quick 10)")
    p.add_argument("--startup-samples", type=int, default=env_int("BENCH_STARTUP_SAMPLES", 3),
                   help="broker starts timed per broker, median shown (env BENCH_STARTUP_SAMPLES; default 3)")
    p.add_argument("--brokers", default="gregor,kafka", help="which brokers, in order (default gregor,kafka)")
    p.add_argument("--out", default=os.environ.get("BENCH_OUT"),
                   help="directory for bench-results.md/.json and logs (env BENCH_OUT; default a new temp dir)")
    p.add_argument("--wait-idle", type=float, default=float(os.environ.get("BENCH_WAIT_IDLE", "0")),
                   help="before each broker, wait up to this many seconds until no other rustc/cargo/java/"
                        "gregor process has run for 10 s (env BENCH_WAIT_IDLE; default 0)")
    p.add_argument("--keep", action="store_true", help="keep the brokers' data dirs")
    p.add_argument("--no-build", action="store_true", help="(scripts/bench) do not build gregor first")
    p.add_argument("--only", default=os.environ.get("BENCH_ONLY", ",".join(SECTIONS)),
                   help="comma-separated sections to run, of " + ", ".join(SECTIONS)
                        + " (env BENCH_ONLY; default all): core = start-up, produce, consume, latency, memory; "
                          "rebalance = 100-member group on 1,000 partitions, and offset commit vs produce; "
                          "soak = minutes of produce into retention.bytes and compacted topics; "
                          "txn = transactions of --txn-records records, transactional Java producer; "
                          "cluster = three nodes, replication factor 3: acks=all throughput and latency, "
                          "time from a leader's SIGKILL to the next acknowledged write")
    g = p.add_argument_group("rebalance section")
    g.add_argument("--rebalance-members", type=int, default=env_int("BENCH_RB_MEMBERS", 100),
                   help="group members after the join (env BENCH_RB_MEMBERS; default 100)")
    g.add_argument("--rebalance-partitions", type=int, default=env_int("BENCH_RB_PARTITIONS", 1000),
                   help="partitions of the group's topic (env BENCH_RB_PARTITIONS; default 1000)")
    g.add_argument("--rebalance-rounds", type=int, default=None,
                   help="join + leave rounds per protocol, median shown (default 3, --quick 1)")
    g.add_argument("--rebalance-protocols", default=",".join(REBALANCE_PROTOCOLS),
                   help="comma-separated, of " + ", ".join(REBALANCE_PROTOCOLS) + " (default all)")
    g.add_argument("--rebalance-heartbeat-ms", type=int, default=env_int("BENCH_RB_HEARTBEAT_MS", 500),
                   help="heartbeat.interval.ms of the classic members and group.consumer.heartbeat.interval.ms "
                        "of both brokers (default 500; Kafka's defaults are 3000 and 5000)")
    g.add_argument("--commit-seconds", type=float, default=None,
                   help="length of each commit / produce run (default 10, --quick 3)")
    g.add_argument("--commit-offsets", default="10,1000",
                   help="offsets per commitSync, comma-separated (default 10,1000)")
    g = p.add_argument_group("soak section")
    g.add_argument("--soak-seconds", type=int, default=None,
                   help="produce time per broker (env BENCH_SOAK_SECONDS; default 300, --quick 60)")
    g.add_argument("--soak-interval", type=float, default=None,
                   help="sampling interval in seconds (default 5, --quick 3)")
    g.add_argument("--soak-rate", type=int, default=env_int("BENCH_SOAK_RATE", 0),
                   help="records/s in all (env BENCH_SOAK_RATE; default 0 = as fast as the producer goes)")
    g.add_argument("--soak-value-size", type=int, default=1024, help="record value size (default 1024)")
    g = p.add_argument_group("txn section")
    g.add_argument("--txn-count", type=int, default=None,
                   help="transactions timed (env BENCH_TXN_COUNT; default 2,000, --quick 300), after 20 warm-up ones")
    g.add_argument("--txn-records", type=int, default=env_int("BENCH_TXN_RECORDS", 100),
                   help="records per transaction, of --record-size bytes (env BENCH_TXN_RECORDS; default 100)")
    g = p.add_argument_group("cluster section")
    g.add_argument("--cluster-records", type=int, default=None,
                   help="records of the acks=all produce run on the 3-node cluster (env BENCH_CLUSTER_RECORDS; "
                        "default 300,000, --quick 100,000)")
    g.add_argument("--cluster-kills", type=int, default=None,
                   help="leader SIGKILLs timed (default 5, --quick 2)")
    a = p.parse_args(argv)
    if a.cluster_records is None:
        a.cluster_records = env_int("BENCH_CLUSTER_RECORDS", 100_000 if a.quick else 300_000)
    if a.cluster_kills is None:
        a.cluster_kills = 2 if a.quick else 5
    if a.txn_count is None:
        a.txn_count = env_int("BENCH_TXN_COUNT", 300 if a.quick else 2000)
    if a.records is None:
        a.records = env_int("BENCH_RECORDS", 200_000 if a.quick else 1_000_000)
    if a.latency_seconds is None:
        a.latency_seconds = env_int("BENCH_LAT_SECONDS", 10 if a.quick else 30)
    if a.rebalance_rounds is None:
        a.rebalance_rounds = env_int("BENCH_RB_ROUNDS", 1 if a.quick else 3)
    if a.commit_seconds is None:
        a.commit_seconds = 3.0 if a.quick else 10.0
    if a.soak_seconds is None:
        a.soak_seconds = env_int("BENCH_SOAK_SECONDS", 60 if a.quick else 300)
    if a.soak_interval is None:
        a.soak_interval = 3.0 if a.quick else 5.0
    a.only = [s.strip() for s in a.only.split(",") if s.strip()]
    for s in a.only:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r} (of {', '.join(SECTIONS)})")
    a.rebalance_protocols = [s.strip() for s in a.rebalance_protocols.split(",") if s.strip()]
    for s in a.rebalance_protocols:
        if s not in REBALANCE_PROTOCOLS:
            p.error(f"unknown rebalance protocol {s!r} (of {', '.join(REBALANCE_PROTOCOLS)})")
    a.commit_offsets = [int(x) for x in a.commit_offsets.split(",") if x.strip()]
    if max(a.commit_offsets, default=0) > a.rebalance_partitions:
        p.error("--commit-offsets larger than --rebalance-partitions")
    if a.rebalance_members < 2:
        p.error("--rebalance-members must be at least 2")
    a.brokers = [b.strip() for b in a.brokers.split(",") if b.strip()]
    for b in a.brokers:
        if b not in ("gregor", "kafka"):
            p.error(f"unknown broker {b!r}")
    return a


# ---------------------------------------------------------------------------- /proc
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def thread_cpu(pid: int, top: int = 6) -> list[tuple[str, float]]:
    """CPU seconds of the live threads, grouped by thread name with digits folded to '#', largest first."""
    groups: dict[str, float] = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = re.sub(r"\d+", "#", raw[raw.index("(") + 1:raw.rindex(")")])
        fields = raw.rsplit(")", 1)[1].split()
        groups[name] = groups.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return sorted(groups.items(), key=lambda kv: -kv[1])[:top]


def proc_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


BUSY_COMMS = ("rustc", "cargo", "cc1", "cc1plus", "ld", "java", "gregor", "rdkafka_perform")


def _ppid(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def busy_builders() -> list[str]:
    """Other CPU-heavy processes that would skew the numbers (a cargo build, another JVM), not ours."""
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
            if comm not in BUSY_COMMS:
                continue
            p, ours = int(d), False
            for _ in range(50):  # our brokers and clients descend from this process
                if p == me:
                    ours = True
                    break
                if p <= 1:
                    break
                p = _ppid(str(p))
        except (OSError, ValueError, IndexError):
            continue
        if not ours:
            found.append(f"{comm}({d})")
    return found


class BusyWatcher(threading.Thread):
    """Samples busy_builders() every 0.5 s and notes which bench steps ran alongside them."""

    def __init__(self):
        super().__init__(daemon=True)
        self.phase = "setup"
        self.hits: dict[str, set] = {}
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(0.5):
            found = busy_builders()
            if found:
                self.hits.setdefault(self.phase, set()).update(x.split("(")[0] for x in found)


WATCHER = BusyWatcher()


def wait_idle(max_s: float) -> None:
    """Waits (up to max_s) until no foreign CPU-heavy process has been seen for 10 s."""
    if max_s <= 0:
        return
    end, quiet_since = time.monotonic() + max_s, time.monotonic()
    while time.monotonic() < end:
        if busy_builders():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 10:
            return
        time.sleep(1)
    print(f"[bench] still busy after waiting {max_s:.0f}s; going on", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- start-up probe
def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def metadata_brokers(host: str, port: int, timeout: float = 1.0) -> int:
    """One Metadata v4 request (all topics) on a fresh connection; returns the answer's broker count."""
    client_id = b"gregor-bench"
    msg = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(msg)) + msg)
        (n,) = struct.unpack(">i", _recv_exact(s, 4))
        resp = _recv_exact(s, n)
    corr, _throttle, nbrokers = struct.unpack(">iii", resp[:12])
    if corr != 1:
        raise ValueError(f"correlation id {corr}")
    return nbrokers


def wait_first_metadata(b, deadline_s: float = 120.0) -> float:
    """Polls every 5 ms until a Metadata answer lists a broker; returns time.monotonic() of that answer."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        if b.proc.poll() is not None:
            raise RuntimeError(f"{b.kind} exited rc={b.proc.returncode} before answering Metadata")
        try:
            if metadata_brokers(b.host, b.port) > 0:
                return time.monotonic()
            last = "no brokers in the answer"
        except (OSError, ValueError, struct.error) as e:
            last = repr(e)
        time.sleep(0.005)
    raise RuntimeError(f"{b.kind}: no Metadata answer listing a broker within {deadline_s:.0f}s ({last})")


# ---------------------------------------------------------------------------- clients
class StepFailed(Exception):
    pass


class Runner:
    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.seq = 0

    def run(self, name: str, cmd: list[str], timeout: float) -> tuple[int, str, str, float]:
        """Runs cmd, saves its stdout/stderr under out_dir/logs; returns (rc, stdout, stderr, seconds)."""
        self.seq += 1
        base = os.path.join(self.out_dir, "logs", f"{self.seq:02d}-{name}")
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                               errors="replace")
            rc, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            rc = "timeout"
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        dt = time.monotonic() - t0
        with open(base + ".log", "w") as f:
            f.write(f"$ {' '.join(cmd)}\n# rc={rc} seconds={dt:.1f}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n")
        if rc == "timeout":
            raise StepFailed(f"{name}: timed out after {timeout:.0f}s (log {base}.log)\n{tail(out, 15)}\n{tail(err, 15)}")
        return rc, out, err, dt


def tail(s: str, n: int) -> str:
    return "\n".join(s.rstrip().splitlines()[-n:])


PERF_RE = re.compile(
    r"^(\d+)( steady state)? records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th", re.M)
RDK_PROD_RE = re.compile(r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset -?\d+, (\d+) failed\) "
                         r"in (\d+)ms")
RDK_CONS_RE = re.compile(r"% (\d+) messages \((\d+) bytes\) consumed in (\d+)ms")


def java_perf(runner, kafka_home, bootstrap, topic, records, size, throughput, props, name, timeout,
              warmup=0) -> dict:
    """kafka-producer-perf-test; with warmup, latencies are from its steady-state summary line."""
    exe = os.path.join(kafka_home, "bin", "kafka-producer-perf-test.sh")
    cmd = [exe, "--topic", topic, "--num-records", str(records), "--record-size", str(size),
           "--throughput", str(throughput), "--bootstrap-server", bootstrap, "--command-property", *props]
    if warmup:
        cmd += ["--warmup-records", str(warmup)]
    rc, out, err, dt = runner.run(name, cmd, timeout)
    m = steady = None
    for x in PERF_RE.finditer(out):
        if x.group(2):
            steady = x
        else:
            m = x
    problems = [ln for ln in (out + "\n" + err).splitlines() if re.search(r"ERROR|Exception", ln)]
    if rc != 0 or m is None or int(m.group(1)) != records or problems:
        raise StepFailed(f"{name}: kafka-producer-perf-test rc={rc}, "
                         f"{'sent ' + m.group(1) if m else 'no summary line'} (want {records})\n"
                         + tail("\n".join(problems) or out, 12) + "\n" + tail(err, 8))
    lat = steady if (warmup and steady) else m
    return {"records_s": float(m.group(3)), "mib_s": float(m.group(3)) * size / MiB,
            "p50_ms": int(lat.group(7)), "p99_ms": int(lat.group(9)), "p999_ms": int(lat.group(10)),
            "avg_ms": float(lat.group(5)), "max_ms": float(lat.group(6)), "seconds": dt}


def rdk_produce(runner, rdk, bootstrap, topic, records, size, extra, name, timeout) -> dict:
    cmd = [rdk, "-P", "-t", topic, "-b", bootstrap, "-s", str(size), "-c", str(records), "-a", "-1",
           "-i", "5000", *extra]
    rc, out, err, dt = runner.run(name, cmd, timeout)
    m = None
    for m in RDK_PROD_RE.finditer(out):
        pass
    if rc != 0 or m is None or int(m.group(3)) != records or int(m.group(4)) != 0:
        errs = [ln for ln in (out + "\n" + err).splitlines() if "fail" in ln.lower() or "error" in ln.lower()]
        raise StepFailed(f"{name}: rdkafka_performance rc={rc}, "
                         f"{'delivered ' + m.group(3) + ' failed ' + m.group(4) if m else 'no summary line'} "
                         f"(want {records})\n" + tail("\n".join(errs) or out, 12) + "\n" + tail(err, 8))
    ms = max(int(m.group(5)), 1)
    return {"records_s": records * 1000 / ms, "mib_s": records * size * 1000 / ms / MiB, "seconds": dt}


def rdk_consume(runner, rdk, bootstrap, topic, partitions, records, name, timeout, extra=()) -> dict:
    cmd = [rdk, "-C", "-t", topic, "-b", bootstrap, "-o", "beginning", "-e", "-c", str(records), "-i", "5000",
           *extra]
    for p in range(partitions):
        cmd += ["-p", str(p)]
    rc, out, err, dt = runner.run(name, cmd, timeout)
    m = None
    for m in RDK_CONS_RE.finditer(out):
        pass
    errs = [ln for ln in (out + "\n" + err).splitlines() if "error" in ln.lower()]
    if rc != 0 or m is None or int(m.group(1)) != records or errs:
        raise StepFailed(f"{name}: rdkafka_performance -C rc={rc}, "
                         f"{'consumed ' + m.group(1) if m else 'no summary line'} (want {records})\n"
                         + tail("\n".join(errs) or out, 12) + "\n" + tail(err, 8))
    ms = max(int(m.group(3)), 1)
    return {"records_s": int(m.group(1)) * 1000 / ms, "mib_s": int(m.group(2)) * 1000 / ms / MiB,
            "bytes": int(m.group(2)), "seconds": dt}


def percentile(sorted_vals: list[int], q: float) -> float:
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def rdk_latency(runner, rdk, bootstrap, topic, rate, seconds, size, out_file, name) -> dict:
    count = rate * seconds
    cmd = [rdk, "-P", "-t", topic, "-b", bootstrap, "-s", str(size), "-c", str(count), "-r", str(rate),
           "-a", "-1", "-X", "linger.ms=0", "-l", "-A", out_file, "-i", "5000"]
    rc, out, err, dt = runner.run(name, cmd, seconds * 3 + 60)
    with open(out_file) as f:
        lat = [int(x) for x in f.read().split()]
    if rc != 0 or len(lat) != count:
        raise StepFailed(f"{name}: rdkafka_performance rc={rc}, {len(lat)} latencies (want {count})\n"
                         + tail(out, 12) + "\n" + tail(err, 8))
    vals = sorted(lat[rate:])  # first second: connection and metadata set-up
    achieved = None
    for m in RDK_PROD_RE.finditer(out):
        achieved = int(m.group(3)) * 1000 / max(int(m.group(5)), 1)
    return {"p50_us": percentile(vals, 50), "p99_us": percentile(vals, 99), "p999_us": percentile(vals, 99.9),
            "max_us": vals[-1], "mean_us": sum(vals) / len(vals), "n": len(vals), "rate": achieved}


# ---------------------------------------------------------------------------- one broker
def bench_broker(kind: str, a, harness, runner: Runner, spawn_times: dict) -> tuple[dict, list[str], dict]:
    """Returns (metrics, problems, info)."""
    res: dict = {}
    problems: list[str] = []
    info: dict = {}
    rdk = os.environ["RDKAFKA_PERFORMANCE"]
    N, S, P = a.records, a.record_size, a.partitions
    payload_gib = N * S / GiB
    tput_timeout = max(300, N * S / (5 * MiB))  # fail a run slower than ~5 MiB/s

    # Extra start-up samples on throw-away instances (fresh dir each); the table shows the median.
    samples = []
    for i in range(a.startup_samples - 1):
        sb = harness.Broker(kind)
        try:
            print(f"[bench] {kind}: start-up sample {i + 1}", file=sys.stderr, flush=True)
            WATCHER.phase = f"{kind} start-up"
            sb.start()
            samples.append((wait_first_metadata(sb) - spawn_times[sb.proc.pid]) * 1000)
            sb.stop(timeout=60)
        except Exception as e:  # noqa: BLE001
            problems.append(f"{kind}: start-up sample {i + 1}: {type(e).__name__}: {e}")
        finally:
            sb.cleanup()

    b = harness.Broker(kind, keep=a.keep)
    log_copy = os.path.join(runner.out_dir, "logs", f"{kind}-broker.log")
    try:
        print(f"[bench] {kind}: starting", file=sys.stderr, flush=True)
        WATCHER.phase = f"{kind} start-up"
        b.start()
        pid = b.proc.pid
        t_ready = wait_first_metadata(b)
        samples.append((t_ready - spawn_times[pid]) * 1000)
        res["startup_ms"] = sorted(samples)[len(samples) // 2]
        info["startup_samples_ms"] = [round(x) for x in samples]
        with open(f"/proc/{pid}/comm") as f:
            info["comm"] = f.read().strip()
        b.wait_ready(60)
        topics = {"acks1": "bench-acks1", "acksall": "bench-acksall", "rdk": "bench-rdk",
                  "lat": "bench-lat-rdk", "latj": "bench-lat-java"}
        for t in topics.values():
            b.create_topic(t, P)
        time.sleep(1)
        res["rss_start_mib"] = proc_status_kib(pid, "VmRSS") / 1024
        cpu_start = cpu_seconds(pid)

        def step(key, fn):
            if b.proc.poll() is not None:
                problems.append(f"{kind}: skipped {key}: broker exited rc={b.proc.returncode}")
                return None
            print(f"[bench] {kind}: {key}", file=sys.stderr, flush=True)
            WATCHER.phase = f"{kind} {key}"
            c0 = cpu_seconds(pid)
            try:
                r = fn()
            except StepFailed as e:
                problems.append(f"{kind}: {e}")
                return None
            r["cpu_s"] = cpu_seconds(pid) - c0
            return r

        kh = harness.KAFKA_HOME
        bs = b.bootstrap
        produced_cpu = 0.0
        produced_gib = 0.0
        for key, acks in (("acks1", "1"), ("acksall", "all")):
            r = step(f"produce-java-acks{acks}", lambda: java_perf(
                runner, kh, bs, topics[key], N, S, -1, [f"acks={acks}"], f"{kind}-produce-java-acks{acks}",
                tput_timeout))
            if r:
                res[f"prod_{key}_rps"] = r["records_s"]
                res[f"prod_{key}_mibs"] = r["mib_s"]
                res[f"cpu_{key}"] = r["cpu_s"] / payload_gib
                produced_cpu += r["cpu_s"]
                produced_gib += payload_gib
        r = step("produce-librdkafka-acksall", lambda: rdk_produce(
            runner, rdk, bs, topics["rdk"], N, S, ["-X", "linger.ms=5"], f"{kind}-produce-rdk-acksall",
            tput_timeout))
        if r:
            res["prod_rdk_rps"] = r["records_s"]
            res["prod_rdk_mibs"] = r["mib_s"]
            res["cpu_rdk"] = r["cpu_s"] / payload_gib
            produced_cpu += r["cpu_s"]
            produced_gib += payload_gib
        if produced_gib:
            res["cpu_produce"] = produced_cpu / produced_gib

        for key in ("acks1", "acksall", "rdk"):
            if f"prod_{key}_rps" not in res:
                continue
            r = step(f"consume-{key}", lambda: rdk_consume(
                runner, rdk, bs, topics[key], P, N, f"{kind}-consume-{key}", tput_timeout))
            if r and key == "acks1":
                res["cons_mibs"] = r["mib_s"]
                res["cons_rps"] = r["records_s"]
                res["cpu_consume"] = r["cpu_s"] / (r["bytes"] / GiB)

        lat_file = os.path.join(runner.out_dir, "logs", f"{kind}-latency-us.txt")
        r = step("latency-librdkafka", lambda: rdk_latency(
            runner, rdk, bs, topics["lat"], a.latency_rate, a.latency_seconds, S, lat_file,
            f"{kind}-latency-rdk"))
        if r:
            res.update({"lat_p50": r["p50_us"], "lat_p99": r["p99_us"], "lat_p999": r["p999_us"],
                        "lat_max": r["max_us"], "lat_mean": r["mean_us"]})
            info["latency_rate_achieved"] = r["rate"]
            if r["rate"] and r["rate"] < 0.9 * a.latency_rate:
                problems.append(f"{kind}: latency run achieved only {r['rate']:.0f} of {a.latency_rate} msg/s "
                                "(client stalled or broker slow; see its log): latencies not at the intended rate")
        r = step("latency-java", lambda: java_perf(
            runner, kh, bs, topics["latj"], a.latency_rate * a.latency_seconds, S, a.latency_rate,
            ["acks=all", "linger.ms=0"], f"{kind}-latency-java", a.latency_seconds * 3 + 60,
            warmup=a.latency_rate))
        if r:
            res.update({"jlat_p50": r["p50_ms"], "jlat_p99": r["p99_ms"], "jlat_p999": r["p999_ms"]})

        if b.proc.poll() is None:
            res["rss_peak_mib"] = proc_status_kib(pid, "VmHWM") / 1024
            res["rss_end_mib"] = proc_status_kib(pid, "VmRSS") / 1024
            res["cpu_total_s"] = cpu_seconds(pid) - cpu_start
            info["threads"] = thread_cpu(pid)
            rc = b.stop(timeout=60)
            info["exit_rc"] = rc
            if rc not in (0, 143, -15):
                problems.append(f"{kind}: exited rc={rc} after SIGTERM")
        else:
            problems.append(f"{kind}: broker process exited early rc={b.proc.returncode}\n{b.log_tail(30)}")
    except Exception as e:  # noqa: BLE001 - report and go on with the next broker
        problems.append(f"{kind}: {type(e).__name__}: {e}")
    finally:
        try:
            shutil.copy(b.log_path, log_copy)
        except OSError:
            pass
        info["log"] = log_copy
        info.update(scan_log(kind, log_copy))
        b.cleanup()
    return res, problems, info


# ---------------------------------------------------------------------------- Java helpers
BENCH_JAVA = os.path.join(HERE, "bench-java")
_java_lock = threading.Lock()


def java_classes(harness, src_path: str) -> str:
    """Compiles a scripts/bench-java source (once per source version) with javac against the Kafka
    jars; returns its class directory ~/.cache/gregor/bench-java/<hash of the source>/."""
    import hashlib

    main_cls = os.path.splitext(os.path.basename(src_path))[0]
    with _java_lock:
        src = open(src_path, "rb").read()
        out = os.path.join(harness.CACHE, "bench-java", hashlib.sha256(src).hexdigest()[:16])
        if os.path.exists(os.path.join(out, main_cls + ".class")):
            return out
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="javac-", dir=os.path.dirname(out))
        r = subprocess.run(["javac", "-nowarn", "-cp", os.path.join(harness.KAFKA_HOME, "libs", "*"), "-d", tmp,
                            src_path], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StepFailed(f"javac {os.path.basename(src_path)} failed:\n{r.stdout}{r.stderr}")
        try:
            os.rename(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # compiled concurrently
        return out


def java_cmd(harness, name: str, heap: str, c1_only: bool, *args: str) -> list[str]:
    src = os.path.join(BENCH_JAVA, name + ".java")
    cmd = ["java", f"-Xmx{heap}", "-XX:+UseSerialGC", "-Xss512k"]
    if c1_only:
        cmd.append("-XX:TieredStopAtLevel=1")
    return cmd + [f"-Dlog4j2.configurationFile={os.path.join(harness.KAFKA_HOME, 'config', 'tools-log4j2.properties')}",
                  "-cp", java_classes(harness, src) + os.pathsep + os.path.join(harness.KAFKA_HOME, "libs", "*"),
                  name, *args]


def json_lines(text: str) -> list[dict]:
    evs = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                evs.append(json.loads(ln))
            except ValueError:
                pass
    return evs


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def dir_bytes(path: str) -> int:
    """Bytes allocated on disk under path (st_blocks, as du), files vanishing meanwhile skipped."""
    total = 0
    for root, dirs, files in os.walk(path):
        for n in files + dirs:
            try:
                total += os.lstat(os.path.join(root, n)).st_blocks * 512
            except OSError:
                pass
    return total


def start_section_broker(kind: str, a, harness, section: str, overrides: dict):
    b = harness.Broker(kind, overrides=overrides, keep=a.keep)
    print(f"[bench] {kind}: {section}: starting broker", file=sys.stderr, flush=True)
    WATCHER.phase = f"{kind} {section} start-up"
    b.start()
    b.wait_ready(120)
    return b


def finish_section_broker(kind: str, b, runner, section: str, problems: list, info: dict) -> None:
    """Stops the broker (if running), keeps its log, counts its error lines, removes its dir."""
    try:
        if b.proc is not None and b.proc.poll() is None:
            rc = b.stop(timeout=60)
            if rc not in (0, 143, -15):
                problems.append(f"{kind} {section}: exited rc={rc} after SIGTERM")
        elif b.proc is not None:
            problems.append(f"{kind} {section}: broker exited early rc={b.proc.returncode}\n{b.log_tail(30)}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"{kind} {section}: stop: {type(e).__name__}: {e}")
    finally:
        log_copy = os.path.join(runner.out_dir, "logs", f"{kind}-{section}-broker.log")
        try:
            shutil.copy(b.log_path, log_copy)
        except OSError:
            pass
        sl = scan_log(kind, log_copy)
        info["log"] = log_copy
        info["log_errors"] = sl["log_errors"][:5]
        info["log_error_count"] = len(sl["log_errors"])
        info["log_warnings"] = sl["log_warnings"]
        info["log_warning_kinds"] = sl.get("warning_kinds", [])
        b.cleanup()


# ---------------------------------------------------------------------------- rebalance section
RB_TOPIC = "bench-rebalance"
COMMIT_PRODUCE_TOPIC = "bench-commit-produce"


def rebalance_overrides(kind: str, a) -> dict:
    hb = str(a.rebalance_heartbeat_ms)
    o = {"group.consumer.heartbeat.interval.ms": hb}
    if kind == "kafka":
        o["group.consumer.min.heartbeat.interval.ms"] = str(min(a.rebalance_heartbeat_ms, 5000))
    return o


def bench_rebalance(kind: str, a, harness, runner: Runner) -> tuple[dict, list[str], dict]:
    """A group of --rebalance-members Java consumers (one JVM) on a --rebalance-partitions topic: time
    from a member joining / leaving until every member holds its share (RebalanceBench.java), per
    protocol; then commitSync of N offsets vs a produce of N records of the same size."""
    res: dict = {}
    problems: list[str] = []
    info: dict = {"protocols": {}}
    b = None
    try:
        b = start_section_broker(kind, a, harness, "rebalance", rebalance_overrides(kind, a))
        pid = b.proc.pid
        b.create_topic(RB_TOPIC, a.rebalance_partitions, timeout=120)
        b.create_topic(COMMIT_PRODUCE_TOPIC, 1)
        cpu0 = cpu_seconds(pid)
        settle_ms = max(2000, 3 * a.rebalance_heartbeat_ms)
        phase_timeout_ms = 60_000
        for proto in a.rebalance_protocols:
            if b.proc.poll() is not None:
                problems.append(f"{kind}: rebalance {proto} skipped: broker exited rc={b.proc.returncode}")
                break
            label, props = REBALANCE_PROTOCOLS[proto]
            props = dict(props)
            if props["group.protocol"] == "classic":
                props["heartbeat.interval.ms"] = str(a.rebalance_heartbeat_ms)
            print(f"[bench] {kind}: rebalance {proto}", file=sys.stderr, flush=True)
            WATCHER.phase = f"{kind} rebalance {proto}"
            cmd = java_cmd(harness, "RebalanceBench", "1g", True, "rebalance", b.bootstrap, RB_TOPIC,
                           str(a.rebalance_partitions), f"bench-rb-{proto}", str(a.rebalance_members),
                           str(a.rebalance_rounds), str(settle_ms), str(phase_timeout_ms),
                           *[f"{k}={v}" for k, v in props.items()])
            timeout = 240 + a.rebalance_rounds * (2 * phase_timeout_ms / 1000 + 10) + 60
            c0 = cpu_seconds(pid)
            try:
                rc, out, err, dt = runner.run(f"{kind}-rebalance-{proto}", cmd, timeout)
            except StepFailed as e:
                problems.append(f"{kind}: rebalance {proto}: {e}")
                continue
            evs = json_lines(out)
            joins = [e["ms"] for e in evs if e.get("ev") == "join"]
            leaves = [e["ms"] for e in evs if e.get("ev") == "leave"]
            formed = next((e["ms"] for e in evs if e.get("ev") == "formed"), None)
            errs = [e for e in evs if e.get("ev") in ("error", "timeout")]
            pinfo = {"formed_ms": None if formed is None else round(formed), "join_ms": [round(x) for x in joins],
                     "leave_ms": [round(x) for x in leaves], "seconds": round(dt, 1),
                     "broker_cpu_s": round(cpu_seconds(pid) - c0, 1),
                     "errors": [json.dumps(e)[:300] for e in errs[:5]], "error_count": len(errs)}
            info["protocols"][proto] = pinfo
            if joins:
                res[f"rb_{proto}_join_ms"] = median(joins)
            if leaves:
                res[f"rb_{proto}_leave_ms"] = median(leaves)
            if rc != 0 or errs or len(joins) < a.rebalance_rounds or len(leaves) < a.rebalance_rounds:
                problems.append(f"{kind}: rebalance {proto}: rc={rc}, {len(joins)} joins and {len(leaves)} leaves "
                                f"timed (want {a.rebalance_rounds} each)\n"
                                + "\n".join(json.dumps(e)[:300] for e in errs[:8]) + "\n" + tail(err, 8))

        if b.proc.poll() is None and a.commit_offsets:
            print(f"[bench] {kind}: offset commit vs produce", file=sys.stderr, flush=True)
            WATCHER.phase = f"{kind} commit-vs-produce"
            cmd = java_cmd(harness, "RebalanceBench", "512m", False, "commit", b.bootstrap, RB_TOPIC,
                           "bench-commit", COMMIT_PRODUCE_TOPIC, str(a.commit_seconds),
                           ",".join(str(n) for n in a.commit_offsets))
            try:
                rc, out, err, dt = runner.run(f"{kind}-commit-vs-produce", cmd,
                                              2 * len(a.commit_offsets) * (a.commit_seconds + 40) + 60)
                evs = json_lines(out)
                for e in evs:
                    if e.get("ev") in ("commit", "produce") and e.get("ops"):
                        n, pre = e["n"], e["ev"]
                        res[f"{pre}{n}_p50"] = e["p50_us"] / 1000
                        res[f"{pre}{n}_p99"] = e["p99_us"] / 1000
                        res[f"{pre}{n}_rps"] = n * e["ops"] / max(e["secs"], 1e-9)
                    elif e.get("ev") == "sizes":
                        info["commit_record_sizes"] = e
                errs = [e for e in evs if e.get("ev") == "error"]
                if rc != 0 or errs:
                    problems.append(f"{kind}: commit vs produce rc={rc}\n"
                                    + "\n".join(json.dumps(e)[:300] for e in errs[:5]) + "\n" + tail(err, 8))
            except StepFailed as e:
                problems.append(f"{kind}: commit vs produce: {e}")
        if b.proc.poll() is None:
            info["broker_cpu_s"] = round(cpu_seconds(pid) - cpu0, 1)
            info["rss_peak_mib"] = round(proc_status_kib(pid, "VmHWM") / 1024)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{kind}: rebalance section: {type(e).__name__}: {e}")
    finally:
        if b is not None:
            finish_section_broker(kind, b, runner, "rebalance", problems, info)
    return res, problems, info


# ---------------------------------------------------------------------------- soak section
SOAK_RET_TOPICS = ["soak-ret-0", "soak-ret-1", "soak-ret-2"]
SOAK_COMPACT_TOPIC = "soak-compact"
SOAK_PARTITIONS = 3
SOAK_KEYS = 10_000
SOAK_RETENTION_BYTES = 16 * MiB
SOAK_SEGMENT_BYTES = 4 * MiB
SOAK_CHECK_MS = 5000


def soak_warmup(a) -> float:
    """Seconds at the start of a soak run left out of its thirds (connections, JIT)."""
    return min(10.0, a.soak_seconds / 10)


def soak_overrides(kind: str) -> dict:
    o = {"log.retention.check.interval.ms": str(SOAK_CHECK_MS)}
    if kind == "kafka":
        o.update({"log.initial.task.delay.ms": "1000",       # default: retention and cleaner start after 30 s
                  "log.cleaner.backoff.ms": "1000",          # default 15 s between cleaner passes
                  "log.segment.delete.delay.ms": "1000",      # default 60 s before a deleted segment's files go
                  "log.cleaner.dedupe.buffer.size": str(64 * MiB)})
    return o


def soak_topic_configs() -> tuple[dict, dict]:
    ret = {"retention.bytes": str(SOAK_RETENTION_BYTES), "segment.bytes": str(SOAK_SEGMENT_BYTES),
           "file.delete.delay.ms": "1000"}
    comp = {"cleanup.policy": "compact", "segment.bytes": str(SOAK_SEGMENT_BYTES), "segment.ms": "30000",
            "min.cleanable.dirty.ratio": "0.1", "min.compaction.lag.ms": "0", "delete.retention.ms": "60000",
            "file.delete.delay.ms": "1000"}
    return ret, comp


def bench_soak(kind: str, a, harness, runner: Runner) -> tuple[dict, list[str], dict]:
    """SoakProducer.java writes for --soak-seconds into retention.bytes topics and a compacted topic with
    a bounded key space; every --soak-interval: throughput and latency of that interval (from the
    producer), the broker's data dir on disk, its RSS and CPU."""
    res: dict = {}
    problems: list[str] = []
    info: dict = {}
    b = None
    proc = None
    try:
        b = start_section_broker(kind, a, harness, "soak", soak_overrides(kind))
        pid = b.proc.pid
        ret_cfg, comp_cfg = soak_topic_configs()
        for t in SOAK_RET_TOPICS:
            b.create_topic(t, SOAK_PARTITIONS, config=ret_cfg)
        b.create_topic(SOAK_COMPACT_TOPIC, SOAK_PARTITIONS, config=comp_cfg)
        time.sleep(1)
        du0 = dir_bytes(b.data_dir)
        cpu0 = cpu_seconds(pid)
        print(f"[bench] {kind}: soak for {a.soak_seconds}s", file=sys.stderr, flush=True)
        WATCHER.phase = f"{kind} soak"
        warmup = soak_warmup(a)
        cmd = java_cmd(harness, "SoakProducer", "512m", False, b.bootstrap, str(a.soak_seconds), str(warmup),
                       str(int(a.soak_interval * 1000)), ",".join(SOAK_RET_TOPICS), SOAK_COMPACT_TOPIC,
                       str(SOAK_KEYS), str(a.soak_value_size), str(a.soak_rate))
        runner.seq += 1
        base = os.path.join(runner.out_dir, "logs", f"{runner.seq:02d}-{kind}-soak")
        errf = open(base + ".stderr", "w")
        t_start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL, text=True,
                                errors="replace")
        killer = threading.Timer(a.soak_seconds + 180, proc.kill)
        killer.daemon = True
        killer.start()
        samples, evs, lines = [], [], []
        last_cpu, last_t = cpu0, time.monotonic()
        for ln in proc.stdout:
            lines.append(ln)
            try:
                e = json.loads(ln)
            except ValueError:
                continue
            evs.append(e)
            if e.get("ev") != "iv":
                continue
            now = time.monotonic()
            s = {"t": e["t"], "mibs": e["bytes"] / max(e["secs"], 1e-9) / MiB, "recs": e["recs"],
                 "p50_ms": e["p50_us"] / 1000, "p99_ms": e["p99_us"] / 1000, "max_ms": e["max_us"] / 1000,
                 "errs": e["errs"], "du_mib": dir_bytes(b.data_dir) / MiB}
            if b.proc.poll() is None:
                c = cpu_seconds(pid)
                s["rss_mib"] = proc_status_kib(pid, "VmRSS") / 1024
                s["cpu_pct"] = 100 * (c - last_cpu) / max(now - last_t, 1e-9)
                last_cpu, last_t = c, now
            samples.append(s)
        rc = proc.wait()
        killer.cancel()
        errf.close()
        dt = time.monotonic() - t_start
        with open(base + ".log", "w") as f:
            f.write(f"$ {' '.join(cmd)}\n# rc={rc} seconds={dt:.1f}\n--- stdout ---\n{''.join(lines)}\n")
        tsv = os.path.join(runner.out_dir, "logs", f"{kind}-soak-samples.tsv")
        with open(tsv, "w") as f:
            f.write("t_s\tMiB_s\tp50_ms\tp99_ms\tmax_ms\terrors\tdata_dir_MiB\trss_MiB\tbroker_cpu_pct\n")
            for s in samples:
                f.write(f"{s['t']:.1f}\t{s['mibs']:.2f}\t{s['p50_ms']:.2f}\t{s['p99_ms']:.2f}\t{s['max_ms']:.1f}\t"
                        f"{s['errs']}\t{s['du_mib']:.1f}\t{s.get('rss_mib', 0):.0f}\t{s.get('cpu_pct', 0):.0f}\n")
        info["samples_tsv"] = tsv
        info["samples"] = [{k: round(v, 2) if isinstance(v, float) else v for k, v in s.items()} for s in samples]
        done = next((e for e in evs if e.get("ev") == "done"), None)
        thirds = {e["i"]: e for e in evs if e.get("ev") == "third"}
        info["done"] = done
        info["written_gib"] = sum(e["bytes"] for e in evs if e.get("ev") == "iv") / GiB
        if rc != 0 or done is None or done.get("errs"):
            problems.append(f"{kind}: soak producer rc={rc}, "
                            + (f"sent {done['sent']} acked {done['acked']} errors {done['errs']} "
                               f"(first: {done.get('first_err')})" if done else "no summary line")
                            + f" (log {base}.log)\n" + tail(open(base + ".stderr", errors="replace").read(), 8))
        if b.proc.poll() is not None:
            problems.append(f"{kind}: soak: broker exited rc={b.proc.returncode}\n{b.log_tail(30)}")
        du = [s["du_mib"] for s in samples]
        res["soak_du_start"] = du0 / MiB
        if du:
            res["soak_du_max"] = max(du)
            res["soak_du_end"] = du[-1]
            w, third = warmup, (a.soak_seconds - warmup) / 3
            mid = [s["du_mib"] for s in samples if w + third <= s["t"] < w + 2 * third]
            last = [s["du_mib"] for s in samples if s["t"] >= w + 2 * third]
            if mid and last:
                res["soak_du_max_mid"] = max(mid)
                res["soak_du_max_last"] = max(last)
        for i, key in ((0, "first"), (2, "last")):
            th = thirds.get(i)
            if th and th["secs"] > 0:
                res[f"soak_mibs_{key}"] = th["bytes"] / th["secs"] / MiB
                res[f"soak_p99_{key}"] = th["p99_us"] / 1000
                res[f"soak_p50_{key}"] = th["p50_us"] / 1000
        if info["written_gib"] and b.proc.poll() is None:
            res["soak_cpu_per_gib"] = (cpu_seconds(pid) - cpu0) / info["written_gib"]
        if b.proc.poll() is None:
            res["soak_rss_peak"] = proc_status_kib(pid, "VmHWM") / 1024
    except Exception as e:  # noqa: BLE001
        problems.append(f"{kind}: soak section: {type(e).__name__}: {e}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if b is not None:
            finish_section_broker(kind, b, runner, "soak", problems, info)
    return res, problems, info


# ---------------------------------------------------------------------------- txn section
TXN_TOPIC = "bench-txn"
TXN_WARMUP = 20


def bench_txn(kind: str, a, harness, runner: Runner) -> tuple[dict, list[str], dict]:
    """TxnBench.java: --txn-count transactions of --txn-records records back to back (acks=all,
    idempotent, one transactional.id); then the topic read back with isolation.level=read_committed."""
    res: dict = {}
    problems: list[str] = []
    info: dict = {}
    b = None
    try:
        b = start_section_broker(kind, a, harness, "txn", {})
        pid = b.proc.pid
        b.create_topic(TXN_TOPIC, a.partitions)
        time.sleep(1)
        print(f"[bench] {kind}: txn: {a.txn_count} transactions of {a.txn_records} records", file=sys.stderr,
              flush=True)
        WATCHER.phase = f"{kind} txn"
        cmd = java_cmd(harness, "TxnBench", "512m", False, b.bootstrap, TXN_TOPIC, str(a.txn_count),
                       str(a.txn_records), str(a.record_size), str(TXN_WARMUP))
        total = (a.txn_count + TXN_WARMUP) * a.txn_records
        timeout = 120 + total * a.record_size / MiB  # fail a run slower than ~1 MiB/s
        c0 = cpu_seconds(pid)
        try:
            rc, out, err, dt = runner.run(f"{kind}-txn-produce", cmd, timeout)
            cpu = cpu_seconds(pid) - c0
            evs = json_lines(out)
            init = next((e for e in evs if e.get("ev") == "init"), None)
            done = next((e for e in evs if e.get("ev") == "done"), None)
            errs = [e for e in evs if e.get("ev") == "error"]
            info["init_ms"] = init and round(init["ms"], 1)
            info["done"] = done
            if rc != 0 or done is None or errs or done.get("errs"):
                problems.append(f"{kind}: txn producer rc={rc}, "
                                + (f"{done['errs']} send errors (first: {done.get('first_err')})" if done
                                   else "no summary line") + "\n"
                                + "\n".join(json.dumps(e)[:300] for e in errs[:5]) + "\n" + tail(err, 10))
            if done and done["secs"] > 0:
                res["txn_tps"] = done["txns"] / done["secs"]
                res["txn_rps"] = done["records"] / done["secs"]
                res["txn_mibs"] = done["bytes"] / done["secs"] / MiB
                res["txn_commit_p50"] = done["commit_p50_us"] / 1000
                res["txn_commit_p99"] = done["commit_p99_us"] / 1000
                res["txn_p50"] = done["txn_p50_us"] / 1000
                res["txn_p99"] = done["txn_p99_us"] / 1000
                # CPU over the whole client run, warm-up included: per GiB of all records written
                res["txn_cpu_per_gib"] = cpu / (total * a.record_size / GiB)
        except StepFailed as e:
            problems.append(f"{kind}: txn: {e}")
        if "txn_tps" in res and b.proc.poll() is None:
            WATCHER.phase = f"{kind} txn read_committed"
            print(f"[bench] {kind}: txn: read back, read_committed", file=sys.stderr, flush=True)
            try:
                r = rdk_consume(runner, os.environ["RDKAFKA_PERFORMANCE"], b.bootstrap, TXN_TOPIC, a.partitions,
                                total, f"{kind}-txn-consume-read-committed", 120 + total * a.record_size / MiB,
                                extra=["-X", "isolation.level=read_committed"])
                res["txn_cons_mibs"] = r["mib_s"]
            except StepFailed as e:
                problems.append(f"{kind}: txn read_committed read-back: {e}")
        if b.proc.poll() is None:
            res["txn_rss_peak"] = proc_status_kib(pid, "VmHWM") / 1024
    except Exception as e:  # noqa: BLE001
        problems.append(f"{kind}: txn section: {type(e).__name__}: {e}")
    finally:
        if b is not None:
            finish_section_broker(kind, b, runner, "txn", problems, info)
    return res, problems, info


# ---------------------------------------------------------------------------- cluster section
CLUSTER_TOPIC = "bench-cluster"


def bench_cluster(kind: str, a, harness, runner: Runner) -> tuple[dict, list[str], dict]:
    """Three nodes, replication factor 3, min.insync.replicas=2: acks=all throughput and broker CPU,
    fixed-rate latency, and the time from a partition leader's SIGKILL to the next acknowledged write."""
    res: dict = {}
    problems: list[str] = []
    info: dict = {}
    sys.path.insert(0, os.path.join(ROOT, "compat", "cluster"))
    import failover  # the harness's idempotent producer and leader lookup

    rdk = os.environ["RDKAFKA_PERFORMANCE"]
    N, S = a.cluster_records, a.record_size
    cluster = None
    load = None
    try:
        print(f"[bench] {kind}: cluster: starting three nodes", file=sys.stderr, flush=True)
        WATCHER.phase = f"{kind} cluster start-up"
        cluster = harness.Cluster(kind, 3, dict(failover.OVERRIDES), keep=a.keep)
        cluster.start()
        cluster.wait_brokers([1, 2, 3], via=1)
        admin = cluster.node(1).admin()
        for topic in (CLUSTER_TOPIC, failover.TOPIC):
            cluster.node(1).create_topic(topic, a.partitions if topic == CLUSTER_TOPIC else failover.PARTITIONS, 3,
                                         {"min.insync.replicas": "2"})

        def whole(topic: str) -> bool:
            md = admin.list_topics(topic=topic, timeout=5).topics[topic]
            return all(len(p.isrs) == 3 for p in md.partitions.values())

        harness.wait_until(lambda: whole(CLUSTER_TOPIC) and whole(failover.TOPIC), 60, "every replica in sync")
        pids = [n.proc.pid for n in cluster.nodes]
        WATCHER.phase = f"{kind} cluster produce"
        print(f"[bench] {kind}: cluster: {N:,} records, acks=all, replication factor 3", file=sys.stderr, flush=True)
        c0 = sum(cpu_seconds(p) for p in pids)
        try:
            r = rdk_produce(runner, rdk, cluster.bootstrap, CLUSTER_TOPIC, N, S, [], f"{kind}-cluster-produce",
                            max(300, N * S / (2 * MiB)))
            res["cl_prod_mibs"] = r["mib_s"]
            res["cl_prod_cpu_per_gib"] = (sum(cpu_seconds(p) for p in pids) - c0) / (N * S / GiB)
        except StepFailed as e:
            problems.append(f"{kind}: cluster produce: {e}")
        WATCHER.phase = f"{kind} cluster latency"
        try:
            # Followers may still be catching up on the throughput run: the ISRs whole first.
            harness.wait_until(lambda: whole(CLUSTER_TOPIC), 60, "every replica in sync after the produce run")
            time.sleep(2)
            lat = rdk_latency(runner, rdk, cluster.bootstrap, CLUSTER_TOPIC, a.latency_rate, a.latency_seconds, S,
                              os.path.join(runner.out_dir, "logs", f"{kind}-cluster-latency.txt"),
                              f"{kind}-cluster-latency")
            res["cl_lat_p50"] = lat["p50_us"] / 1000
            res["cl_lat_p99"] = lat["p99_us"] / 1000
            res["cl_lat_p999"] = lat["p999_us"] / 1000
        except StepFailed as e:
            problems.append(f"{kind}: cluster latency: {e}")

        WATCHER.phase = f"{kind} cluster leader kills"
        load = failover.Load(cluster.bootstrap)
        load.thread.start()
        harness.wait_until(lambda: len(load.acks) > 500, 30, "the producer under way")
        took = []
        for round_ in range(a.cluster_kills):
            partition = round_ % failover.PARTITIONS
            victim = failover.leader_of(admin, partition)
            t_kill = time.monotonic()
            cluster.node(victim).kill()
            harness.wait_until(lambda: load.first_ack_after(partition, t_kill) is not None, 90,
                               f"partition {partition} writable again after its leader {victim} was killed")
            took.append(load.first_ack_after(partition, t_kill))
            print(f"[bench] {kind}: cluster: node {victim} (leader of partition {partition}) SIGKILLed; "
                  f"a write acknowledged {took[-1]:.2f} s later", file=sys.stderr, flush=True)
            cluster.node(victim).restart()
            harness.wait_until(lambda: whole(failover.TOPIC), 120, "the ISRs whole again")
        res["cl_failover_median"] = median(took)
        res["cl_failover_max"] = max(took)
        info["failover_s"] = [round(t, 2) for t in took]
        load.stop.set()
        load.thread.join(150)
        if load.errors:
            problems.append(f"{kind}: cluster: {len(load.errors)} delivery errors, first {load.errors[0]}")
        info["acked"] = len(load.acks)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{kind}: cluster section: {type(e).__name__}: {e}")
    finally:
        if load is not None:
            load.stop.set()
        if cluster is not None:
            for n in cluster.nodes:
                log_copy = os.path.join(runner.out_dir, "logs", f"{kind}-cluster-node{n.node_id}.log")
                try:
                    shutil.copy(n.log_path, log_copy)
                except OSError:
                    pass
            info["logs"] = os.path.join(runner.out_dir, "logs", f"{kind}-cluster-node*.log")
            cluster.cleanup()
    return res, problems, info


def cluster_metrics(a) -> list:
    return [
        ("cl_prod_mibs", f"cluster: produce acks=all, rf=3, {a.partitions} partitions, librdkafka (MiB/s)", "higher",
         "{:.1f}"),
        ("cl_prod_cpu_per_gib", "cluster: CPU s of all three nodes per GiB produced", "lower", "{:.2f}"),
        ("cl_lat_p50", f"cluster: produce latency p50 at {a.latency_rate} msg/s, acks=all (ms)", "lower", "{:.2f}"),
        ("cl_lat_p99", "cluster: produce latency p99 (ms)", "lower", "{:.2f}"),
        ("cl_lat_p999", "cluster: produce latency p99.9 (ms)", "lower", "{:.2f}"),
        ("cl_failover_median", f"cluster: leader SIGKILL → next acknowledged write, median of {a.cluster_kills} (s)",
         "lower", "{:.2f}"),
        ("cl_failover_max", "cluster: leader SIGKILL → next acknowledged write, max (s)", "lower", "{:.2f}"),
    ]


def scan_log(kind: str, path: str) -> dict:
    """gregor's own startup_ms, and the broker's error/warning lines."""
    out = {"log_errors": [], "log_warnings": 0}
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for ln in lines:
        ln = re.sub(r"\x1b\[[0-9;]*m", "", ln)
        m = re.search(r"gregor ready.*startup_ms=(\d+)|startup_ms=(\d+).*gregor ready", ln)
        if m:
            out["self_startup_ms"] = int(m.group(1) or m.group(2))
        if re.search(r"\b(ERROR|FATAL)\b|panicked", ln):
            out["log_errors"].append(ln)
        elif re.search(r"\bWARN(ING)?\b", ln):
            out["log_warnings"] += 1
            kinds = out.setdefault("warning_kinds", [])
            # one example per kind of warning: the line with numbers, ids and timestamps folded
            shape = re.sub(r"\d+", "#", re.sub(r"^\S+\s+|^\[[^]]*\]\s*", "", ln))[:120]
            if len(kinds) < 5 and all(k[0] != shape for k in kinds):
                kinds.append((shape, ln))
    return out


# ---------------------------------------------------------------------------- report
METRICS = [
    # key, label, better, format
    ("startup_ms", "start-up: spawn → first Metadata answer, median (ms)", "lower", "{:.0f}"),
    ("prod_acks1_rps", "produce acks=1, Java perf-test (records/s)", "higher", "{:,.0f}"),
    ("prod_acks1_mibs", "produce acks=1, Java perf-test (MiB/s)", "higher", "{:.1f}"),
    ("prod_acksall_rps", "produce acks=all, Java perf-test (records/s)", "higher", "{:,.0f}"),
    ("prod_acksall_mibs", "produce acks=all, Java perf-test (MiB/s)", "higher", "{:.1f}"),
    ("prod_rdk_rps", "produce acks=all, librdkafka (records/s)", "higher", "{:,.0f}"),
    ("prod_rdk_mibs", "produce acks=all, librdkafka (MiB/s)", "higher", "{:.1f}"),
    ("cons_rps", "consume from offset 0, librdkafka assign (records/s)", "higher", "{:,.0f}"),
    ("cons_mibs", "consume from offset 0, librdkafka assign (MiB/s)", "higher", "{:.1f}"),
    ("cpu_produce", "broker CPU s per GiB produced, all produce runs", "lower", "{:.2f}"),
    ("cpu_acks1", "broker CPU s per GiB, Java acks=1", "lower", "{:.2f}"),
    ("cpu_acksall", "broker CPU s per GiB, Java acks=all", "lower", "{:.2f}"),
    ("cpu_rdk", "broker CPU s per GiB, librdkafka acks=all", "lower", "{:.2f}"),
    ("cpu_consume", "broker CPU s per GiB consumed", "lower", "{:.2f}"),
    ("lat_p50", "produce latency p50, librdkafka (µs)", "lower", "{:,.0f}"),
    ("lat_p99", "produce latency p99, librdkafka (µs)", "lower", "{:,.0f}"),
    ("lat_p999", "produce latency p99.9, librdkafka (µs)", "lower", "{:,.0f}"),
    ("lat_max", "produce latency max, librdkafka (µs)", "lower", "{:,.0f}"),
    ("jlat_p50", "produce latency p50, Java perf-test (ms)", "lower", "{:.0f}"),
    ("jlat_p99", "produce latency p99, Java perf-test (ms)", "lower", "{:.0f}"),
    ("jlat_p999", "produce latency p99.9, Java perf-test (ms)", "lower", "{:.0f}"),
    ("rss_start_mib", "RSS after start-up and topic creation (MiB)", "lower", "{:.0f}"),
    ("rss_peak_mib", "peak RSS, VmHWM (MiB)", "lower", "{:.0f}"),
    ("rss_end_mib", "RSS after the run (MiB)", "lower", "{:.0f}"),
    ("cpu_total_s", "broker CPU s, whole run after start-up", "lower", "{:.1f}"),
]


def fmt(v, f):
    return "—" if v is None else f.format(v)


def ratio(g, k):
    if g is None or k is None:
        return "—"
    if k == 0 or g == 0:
        return "—"
    return f"{g / k:.2f}"


def rebalance_metrics(a) -> list:
    M, P = a.rebalance_members, a.rebalance_partitions
    rows = []
    for proto in a.rebalance_protocols:
        label = REBALANCE_PROTOCOLS[proto][0]
        rows.append((f"rb_{proto}_join_ms", f"rebalance, {label}: member {M} joins → all {M} hold their share of {P:,} (ms)",
                     "lower", "{:,.0f}"))
        rows.append((f"rb_{proto}_leave_ms", f"rebalance, {label}: 1 of {M} leaves → the other {M - 1} hold all {P:,} (ms)",
                     "lower", "{:,.0f}"))
    for n in a.commit_offsets:
        rows += [
            (f"commit{n}_p50", f"commitSync of {n:,} offsets, p50 (ms)", "lower", "{:.2f}"),
            (f"commit{n}_p99", f"commitSync of {n:,} offsets, p99 (ms)", "lower", "{:.2f}"),
            (f"commit{n}_rps", f"commitSync of {n:,} offsets back to back (offsets/s)", "higher", "{:,.0f}"),
            (f"produce{n}_p50", f"produce {n:,} records of an offset record's size, one batch, acks=all, p50 (ms)",
             "lower", "{:.2f}"),
            (f"produce{n}_p99", f"produce {n:,} records of an offset record's size, one batch, acks=all, p99 (ms)",
             "lower", "{:.2f}"),
            (f"produce{n}_rps", f"produce {n:,} records of an offset record's size back to back (records/s)",
             "higher", "{:,.0f}"),
        ]
    return rows


SOAK_METRICS = [
    ("soak_du_start", "soak: data dir on disk at the start (MiB)", "lower", "{:,.0f}"),
    ("soak_du_max", "soak: data dir on disk, max (MiB)", "lower", "{:,.0f}"),
    ("soak_du_max_mid", "soak: data dir on disk, max in the middle third (MiB)", "lower", "{:,.0f}"),
    ("soak_du_max_last", "soak: data dir on disk, max in the last third (MiB)", "lower", "{:,.0f}"),
    ("soak_du_end", "soak: data dir on disk at the end (MiB)", "lower", "{:,.0f}"),
    ("soak_mibs_first", "soak: produce throughput, first third (MiB/s)", "higher", "{:.1f}"),
    ("soak_mibs_last", "soak: produce throughput, last third (MiB/s)", "higher", "{:.1f}"),
    ("soak_p50_first", "soak: produce latency p50, first third (ms)", "lower", "{:.1f}"),
    ("soak_p50_last", "soak: produce latency p50, last third (ms)", "lower", "{:.1f}"),
    ("soak_p99_first", "soak: produce latency p99, first third (ms)", "lower", "{:.1f}"),
    ("soak_p99_last", "soak: produce latency p99, last third (ms)", "lower", "{:.1f}"),
    ("soak_cpu_per_gib", "soak: broker CPU s per GiB produced", "lower", "{:.2f}"),
    ("soak_rss_peak", "soak: broker peak RSS, VmHWM (MiB)", "lower", "{:,.0f}"),
]


def txn_metrics(a) -> list:
    n = f"{a.txn_records}-record"
    return [
        ("txn_tps", f"txn: {n} transactions, acks=all, idempotent, Java (transactions/s)", "higher", "{:,.0f}"),
        ("txn_rps", f"txn: {n} transactions (records/s)", "higher", "{:,.0f}"),
        ("txn_mibs", f"txn: {n} transactions (MiB/s)", "higher", "{:.1f}"),
        ("txn_commit_p50", "txn: commitTransaction() latency p50 (ms)", "lower", "{:.2f}"),
        ("txn_commit_p99", "txn: commitTransaction() latency p99 (ms)", "lower", "{:.2f}"),
        ("txn_p50", "txn: beginTransaction() → commit returned, p50 (ms)", "lower", "{:.2f}"),
        ("txn_p99", "txn: beginTransaction() → commit returned, p99 (ms)", "lower", "{:.2f}"),
        ("txn_cpu_per_gib", "txn: broker CPU s per GiB produced in transactions", "lower", "{:.2f}"),
        ("txn_cons_mibs", "txn: consume from offset 0, read_committed, librdkafka (MiB/s)", "higher", "{:.1f}"),
        ("txn_rss_peak", "txn: broker peak RSS, VmHWM (MiB)", "lower", "{:,.0f}"),
    ]


def render(a, results, problems, infos, meta) -> str:
    kinds = a.brokers
    L = []
    only = "" if list(a.only) == list(SECTIONS) else f" --only {','.join(a.only)}"
    L.append(f"# gregor vs Apache Kafka {meta['kafka_version']}: scripts/bench{' --quick' if a.quick else ''}{only}")
    L.append("")
    L.append(f"{meta['date']} · {meta['host']} · gregor {meta['gregor_rev']} ({meta['gregor_bin']}, built {meta['gregor_built']})")
    metrics = []
    if "core" in a.only:
        L.append(f"core: {a.records:,} records × {a.record_size} B per produce run (payload {a.records * a.record_size / GiB:.2f} GiB), "
                 f"{a.partitions} partitions per topic; latency: {a.latency_rate} msg/s for {a.latency_seconds} s, acks=all, linger.ms=0")
        metrics += METRICS
    if "rebalance" in a.only:
        L.append(f"rebalance: {a.rebalance_members} Kafka {meta['kafka_version']} Java consumers in one JVM on a "
                 f"{a.rebalance_partitions:,}-partition topic; heartbeat {a.rebalance_heartbeat_ms} ms (the classic "
                 f"members' heartbeat.interval.ms, and group.consumer.heartbeat.interval.ms on both brokers); median of "
                 f"{a.rebalance_rounds} join + leave round(s) per protocol; commit vs produce: {a.commit_seconds:g} s each")
        metrics += rebalance_metrics(a)
    if "soak" in a.only:
        rate = f"{a.soak_rate:,} records/s" if a.soak_rate else "as fast as it goes"
        L.append(f"soak: {a.soak_seconds} s per broker, one Java producer (acks=all, linger.ms=5, buffer.memory 2 MiB, "
                 f"{rate}), {a.soak_value_size} B random values, round-robin over {len(SOAK_RET_TOPICS)} topics × "
                 f"{SOAK_PARTITIONS} partitions (retention.bytes={SOAK_RETENTION_BYTES // MiB} MiB, "
                 f"segment.bytes={SOAK_SEGMENT_BYTES // MiB} MiB) and 1 compacted topic × {SOAK_PARTITIONS} partitions "
                 f"({SOAK_KEYS:,} keys, segment.bytes={SOAK_SEGMENT_BYTES // MiB} MiB); sampled every {a.soak_interval:g} s")
        metrics += SOAK_METRICS
    if "txn" in a.only:
        L.append(f"txn: {a.txn_count:,} transactions (after {TXN_WARMUP} warm-up ones) × {a.txn_records} records × "
                 f"{a.record_size} B, back to back, one Kafka {meta['kafka_version']} Java producer (acks=all, "
                 f"enable.idempotence=true, one transactional.id, client defaults otherwise: linger.ms=5, "
                 f"batch.size=16 KiB), {a.partitions} partitions")
        metrics += txn_metrics(a)
    if "cluster" in a.only:
        L.append(f"cluster: three combined broker,controller nodes on this machine (Kafka: the same KRaft properties, "
                 f"JVMs as compat/harness.py starts them), {a.cluster_records:,} records × {a.record_size} B acks=all "
                 f"into {a.partitions} partitions of replication factor 3, min.insync.replicas=2; latency as in core; "
                 f"{a.cluster_kills} SIGKILLs of a partition leader under an idempotent acks=all producer")
        metrics += cluster_metrics(a)
    L.append("")
    head = ["metric"] + kinds
    if kinds == ["gregor", "kafka"]:
        head += ["gregor/kafka", "better"]
    else:
        head += ["better"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|")
    for key, label, better, f in metrics:
        vals = [results.get(k, {}).get(key) for k in kinds]
        row = [label] + [fmt(v, f) for v in vals]
        if kinds == ["gregor", "kafka"]:
            row.append(ratio(vals[0], vals[1]))
        row.append(better)
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Notes:")
    if "core" in a.only:
        for k in kinds:
            inf = infos.get(k, {})
            extra = []
            if inf.get("startup_samples_ms"):
                extra.append(f"start-up samples {inf['startup_samples_ms']} ms")
            if "self_startup_ms" in inf:
                extra.append(f"its own log says startup_ms={inf['self_startup_ms']}")
            if inf.get("latency_rate_achieved"):
                extra.append(f"latency run achieved {inf['latency_rate_achieved']:.0f} msg/s")
            extra.append(f"log: {len(inf.get('log_errors', []))} error lines, {inf.get('log_warnings', 0)} warning lines")
            if "exit_rc" in inf:
                extra.append(f"exit rc after SIGTERM {inf['exit_rc']}")
            L.append(f"- {k} ({inf.get('comm', '?')}): " + "; ".join(extra) + f" ({inf.get('log', '')})")
            if inf.get("threads"):
                L.append("  - busiest threads (CPU s, whole life): "
                         + ", ".join(f"{n} {c:.1f}" for n, c in inf["threads"]))
            for ln in inf.get("log_errors", [])[:5]:
                L.append(f"  - `{ln[:300]}`")
        L.append("- Brokers ran one at a time with fresh data dirs; clients ran on the same 2 cores, so broker CPU s/GiB "
                 "(utime+stime from /proc/PID/stat, all threads) is the fairest throughput figure. GiB/MiB = 2^30/2^20 bytes of record values.")
        L.append("- Kafka: KRaft combined node from compat/harness.py (JVM -Xmx1g G1); its start-up excludes `kafka-storage format`. "
                 "Start-up probe: raw Metadata v4 request on a new connection every 5 ms until the answer lists a broker.")
        L.append("- Latency (librdkafka): produce() → delivery report per message, first second dropped; "
                 "Java perf-test latencies (steady state after --warmup-records = 1 s of records) are ms-resolution, a second opinion.")
    if "rebalance" in a.only:
        L.append("- Rebalance (scripts/bench-java/RebalanceBench.java): each protocol has its own group; the group of "
                 f"{a.rebalance_members - 1} forms first, then per round one member joins (clock from its first poll, "
                 "its consumer already constructed) and then one closes (clock from close(), which sends LeaveGroup). "
                 "Done = the last rebalance callback (onPartitionsAssigned/Revoked/Lost) after which every live member "
                 "owns a share, every partition is owned exactly once and shares differ by at most one; that state must "
                 "then hold for the settle time (max(2 s, 3 heartbeats)). Classic members learn of a rebalance from "
                 "their next heartbeat, so the heartbeat interval is part of what is measured.")
        L.append("- Commit vs produce: commitSync of N offsets (assign(), no group membership) back to back, then a "
                 "producer (acks=all) sending N records of an offset record's key and value size to one partition and "
                 "flushing (one batch, one Produce request), back to back; 1 s warm-up dropped.")
        for k in kinds:
            rinf = infos.get(k, {}).get("rebalance", {})
            parts = []
            for proto, pi in rinf.get("protocols", {}).items():
                parts.append(f"{proto}: formed in {pi.get('formed_ms')} ms, joins {pi.get('join_ms')} ms, leaves "
                             f"{pi.get('leave_ms')} ms, broker CPU {pi.get('broker_cpu_s')} s, {pi.get('error_count', 0)} "
                             "client errors")
            L.append(f"- {k} rebalance: " + "; ".join(parts)
                     + f"; broker log {rinf.get('log_error_count', 0)} error lines ({rinf.get('log', '')})")
            for ln in rinf.get("log_errors", [])[:3]:
                L.append(f"  - `{ln[:300]}`")
            for _shape, ln in rinf.get("log_warning_kinds", [])[:3]:
                L.append(f"  - warning: `{ln[:300]}`")
    if "soak" in a.only:
        bound = len(SOAK_RET_TOPICS) * SOAK_PARTITIONS * (SOAK_RETENTION_BYTES + SOAK_SEGMENT_BYTES) / MiB
        L.append(f"- Soak (scripts/bench-java/SoakProducer.java): latency = send() → completion callback; thirds by "
                 f"time. Retained data should stay near {len(SOAK_RET_TOPICS) * SOAK_PARTITIONS} partitions × "
                 f"(retention.bytes + about a segment) ≈ {bound:,.0f} MiB plus the compacted topic's live "
                 f"{SOAK_KEYS:,} keys (≈ {SOAK_KEYS * a.soak_value_size / MiB:,.0f} MiB) and its uncleaned head, plus what "
                 f"arrives between two retention checks ({SOAK_CHECK_MS / 1000:g} s × throughput). "
                 f"Both brokers: log.retention.check.interval.ms={SOAK_CHECK_MS} (gregor also compacts on that timer); "
                 "Kafka also log.initial.task.delay.ms=1000, log.cleaner.backoff.ms=1000, log.segment.delete.delay.ms=1000; topics file.delete.delay.ms=1000, "
                 "compacted: min.cleanable.dirty.ratio=0.1, segment.ms=30000. \"max in the last third\" well above "
                 "\"max in the middle third\" means unbounded growth. The small segments cost Kafka a segment roll "
                 "(new files, an fsync of the old segment) about every 4 MiB per partition.")
        for k in kinds:
            sinf = infos.get(k, {}).get("soak", {})
            d = sinf.get("done") or {}
            L.append(f"- {k} soak: {d.get('acked', 0):,} records acknowledged ({sinf.get('written_gib', 0):.2f} GiB), "
                     f"{d.get('errs', 0)} errors; per-interval samples {sinf.get('samples_tsv', '')}; broker log "
                     f"{sinf.get('log_error_count', 0)} error and {sinf.get('log_warnings', 0)} warning lines "
                     f"({sinf.get('log', '')})")
            for ln in sinf.get("log_errors", [])[:3]:
                L.append(f"  - `{ln[:300]}`")
            for _shape, ln in sinf.get("log_warning_kinds", [])[:3]:
                L.append(f"  - warning: `{ln[:300]}`")
    if "txn" in a.only:
        L.append("- Txn (scripts/bench-java/TxnBench.java): records without key, so the sticky partitioner spreads a "
                 "transaction's batches over the partitions (AddPartitionsToTxn as it goes); commitTransaction() "
                 "flushes what is unsent, sends EndTxn and returns when the markers are written. The topic is then "
                 "read back by rdkafka_performance with isolation.level=read_committed; its count must equal every "
                 "record sent, warm-up included. CPU per GiB is over the whole producer run, warm-up included.")
        for k in kinds:
            tinf = infos.get(k, {}).get("txn", {})
            d = tinf.get("done") or {}
            L.append(f"- {k} txn: initTransactions() {tinf.get('init_ms')} ms; {d.get('records', 0):,} records timed "
                     f"in {d.get('secs', 0):.1f} s; commit max {d.get('commit_max_us', 0) / 1000:.1f} ms; "
                     f"{d.get('errs', 0)} send errors; broker log {tinf.get('log_error_count', 0)} error and "
                     f"{tinf.get('log_warnings', 0)} warning lines ({tinf.get('log', '')})")
            for ln in tinf.get("log_errors", [])[:3]:
                L.append(f"  - `{ln[:300]}`")
    if "cluster" in a.only:
        for k in kinds:
            cinf = infos.get(k, {}).get("cluster", {})
            L.append(f"- {k} cluster: SIGKILL → next acknowledged write {cinf.get('failover_s')} s; "
                     f"{cinf.get('acked', 0):,} records acknowledged by the failover producer; logs {cinf.get('logs', '')}")
    if meta.get("busy"):
        L.append(f"- WARNING: other CPU-heavy processes (not the bench's) ran during: {meta['busy']}; "
                 "those numbers are skewed.")
    if problems:
        L.append("")
        L.append("Problems:")
        for p in problems:
            lines = p.rstrip().splitlines()
            L.append(f"- {lines[0]}")
            if len(lines) > 1:
                L.append("  ```")
                L.extend("  " + ln for ln in lines[1:40])
                L.append("  ```")
    return "\n".join(L) + "\n"


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty src" if dirty else "")
    except OSError:
        return "?"


def main() -> int:
    a = parse_args()
    sys.path.insert(0, os.path.join(ROOT, "compat"))
    import harness

    out = a.out or tempfile.mkdtemp(prefix="gregor-bench-")
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)

    # Record each broker's spawn time: wrap the Popen that harness.Broker.start uses (only harness's
    # view of the subprocess module; run_cli and everything else keep the real one).
    spawn_times: dict = {}
    real_popen = subprocess.Popen

    def timed_popen(*args, **kw):
        t = time.monotonic()
        p = real_popen(*args, **kw)
        spawn_times[p.pid] = t
        return p

    shim = types.SimpleNamespace(**{k: getattr(subprocess, k) for k in dir(subprocess) if not k.startswith("__")})
    shim.Popen = timed_popen
    harness.subprocess = shim

    gbin = harness.gregor_bin()
    wait_idle(a.wait_idle)
    busy = busy_builders()
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "host": f"{os.cpu_count()} CPUs ({cpu_model()}), {mem_gib():.0f} GiB, {platform.system()} {platform.release()}",
        "gregor_rev": git_rev(),
        "gregor_bin": gbin,
        "gregor_built": datetime.datetime.fromtimestamp(os.path.getmtime(gbin)).strftime("%Y-%m-%d %H:%M")
        if os.path.exists(gbin) else "missing",
        "kafka_version": harness.KAFKA_VERSION,
        "busy": "",
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    if busy:
        print(f"[bench] WARNING: CPU-heavy processes running: {', '.join(busy)}; results will be skewed",
              file=sys.stderr, flush=True)
    WATCHER.start()

    runner = Runner(out)
    results, infos, problems = {}, {}, []
    t0 = time.monotonic()
    for kind in a.brokers:
        t = time.monotonic()
        WATCHER.phase = "between brokers"
        wait_idle(a.wait_idle)
        results[kind], infos[kind] = {}, {}
        if "core" in a.only:
            res, probs, info = bench_broker(kind, a, harness, runner, spawn_times)
            results[kind].update(res)
            infos[kind].update(info)
            problems += probs
        for section, fn in (("rebalance", bench_rebalance), ("soak", bench_soak), ("txn", bench_txn),
                            ("cluster", bench_cluster)):
            if section not in a.only:
                continue
            WATCHER.phase = "between brokers"
            wait_idle(a.wait_idle)
            t_s = time.monotonic()
            res, probs, info = fn(kind, a, harness, runner)
            results[kind].update(res)
            infos[kind][section] = info
            problems += probs
            print(f"[bench] {kind}: {section} done in {time.monotonic() - t_s:.0f}s", file=sys.stderr, flush=True)
        print(f"[bench] {kind}: done in {time.monotonic() - t:.0f}s", file=sys.stderr, flush=True)
    meta["seconds"] = round(time.monotonic() - t0)
    WATCHER.stop_event.set()
    meta["busy"] = "; ".join(f"{ph} ({', '.join(sorted(c))})" for ph, c in WATCHER.hits.items()
                             if ph != "between brokers")

    md = render(a, results, problems, infos, meta)
    with open(os.path.join(out, "bench-results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "bench-results.json"), "w") as f:
        json.dump({"args": vars(a), "meta": meta, "results": results, "infos": infos, "problems": problems},
                  f, indent=2, default=str)
    print(md)
    print(f"[bench] {meta['seconds']}s; written to {out}/bench-results.md (logs in {out}/logs)", file=sys.stderr)
    return 1 if problems else 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_gib() -> float:
    return proc_meminfo_kib("MemTotal") / (1024 * 1024)


def proc_meminfo_kib(key: str) -> int:
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
