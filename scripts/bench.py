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


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v else default


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="200,000 records per produce run and 10 s latency runs (~2 min in all)")
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
    a = p.parse_args(argv)
    if a.records is None:
        a.records = env_int("BENCH_RECORDS", 200_000 if a.quick else 1_000_000)
    if a.latency_seconds is None:
        a.latency_seconds = env_int("BENCH_LAT_SECONDS", 10 if a.quick else 30)
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


def rdk_consume(runner, rdk, bootstrap, topic, partitions, records, name, timeout) -> dict:
    cmd = [rdk, "-C", "-t", topic, "-b", bootstrap, "-o", "beginning", "-e", "-c", str(records), "-i", "5000"]
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


def render(a, results, problems, infos, meta) -> str:
    kinds = a.brokers
    L = []
    L.append(f"# gregor vs Apache Kafka {meta['kafka_version']}: scripts/bench{' --quick' if a.quick else ''}")
    L.append("")
    L.append(f"{meta['date']} · {meta['host']} · gregor {meta['gregor_rev']} ({meta['gregor_bin']}, built {meta['gregor_built']})")
    L.append(f"{a.records:,} records × {a.record_size} B per produce run (payload {a.records * a.record_size / GiB:.2f} GiB), "
             f"{a.partitions} partitions per topic; latency: {a.latency_rate} msg/s for {a.latency_seconds} s, acks=all, linger.ms=0")
    L.append("")
    head = ["metric"] + kinds
    if kinds == ["gregor", "kafka"]:
        head += ["gregor/kafka", "better"]
    else:
        head += ["better"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|")
    for key, label, better, f in METRICS:
        vals = [results.get(k, {}).get(key) for k in kinds]
        row = [label] + [fmt(v, f) for v in vals]
        if kinds == ["gregor", "kafka"]:
            row.append(ratio(vals[0], vals[1]))
        row.append(better)
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Notes:")
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
        res, probs, info = bench_broker(kind, a, harness, runner, spawn_times)
        results[kind], infos[kind] = res, info
        problems += probs
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
