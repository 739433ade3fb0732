#!/usr/bin/env python3
"""Resource pressure from clients, measured (not asserted): the broker's RSS and whether it still
answers, for gregor and, with --kafka, Apache Kafka 4.3.1 after it on the same machine.

Runs, each bounded in count and time:
  idle      10,000 connections that each send one ApiVersions request and then stay idle;
  big       100 clients that each send 100 MB frames (Produce v9 header, junk body) over and over
            for --seconds; the broker must read every frame to its end before it can refuse it;
  flood     one client opening and closing connections as fast as it can for --seconds;
  unread    a client that pipelines 2,000 Fetch requests of up to 1 MiB each and reads nothing.
After each run: the broker's RSS (peak during the run and after), and the time an ApiVersions
request on a new connection takes.

  scripts/pressure [--kafka] [--only idle,big,flood,unread] [--seconds 20]
"""

import argparse
import os
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IDLE_CONNECTIONS = 10_000
BIG_CLIENTS = 100
BIG_FRAME = 100_000_000
UNREAD_REQUESTS = 2_000


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Peak(threading.Thread):
    """Samples a process's RSS every 100 ms and keeps the highest."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except OSError:
                return
            time.sleep(0.1)

    def done(self):
        self.stop.set()
        self.join()
        return self.peak


def frame(api_key, version, corr, body=b""):
    client = b"pressure"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def api_versions(sock, corr=1):
    sock.sendall(frame(18, 0, corr))
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)


def recv_exact(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return bytes(out)


def answer_ms(b):
    """Milliseconds for an ApiVersions round trip on a new connection (None: no answer in 10 s)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((b.host, b.port), timeout=10) as s:
            api_versions(s)
        return (time.monotonic() - t0) * 1000
    except OSError:
        return None


def run_idle(b, seconds):
    socks = []
    try:
        for i in range(IDLE_CONNECTIONS):
            s = socket.create_connection((b.host, b.port), timeout=10)
            api_versions(s, i)
            socks.append(s)
        time.sleep(1)
        return f"{len(socks)} connections open and answered"
    finally:
        for s in socks:
            s.close()


def run_big(b, seconds):
    junk = b"\xab" * (1 << 20)
    header = frame(0, 9, 7)[4:]
    prefix = struct.pack(">i", BIG_FRAME) + header
    sent, refused = [0], [0]
    lock, end = threading.Lock(), time.monotonic() + seconds

    def client():
        while time.monotonic() < end:
            try:
                with socket.create_connection((b.host, b.port), timeout=30) as s:
                    while time.monotonic() < end:
                        s.sendall(prefix)
                        left = BIG_FRAME - len(header)
                        while left > 0 and time.monotonic() < end:
                            n = min(left, len(junk))
                            s.sendall(junk[:n])
                            left -= n
                        if left == 0:
                            with lock:
                                sent[0] += 1
            except OSError:
                with lock:
                    refused[0] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(BIG_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return f"{sent[0]} frames of 100 MB sent whole, {refused[0]} connections closed by the broker"


def run_flood(b, seconds):
    n, failed, end = 0, 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            s = socket.create_connection((b.host, b.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            n += 1
        except OSError:
            failed += 1
    return f"{n} connections in {seconds} s ({n / seconds:.0f}/s), {failed} failed"


def run_unread(b, seconds):
    from confluent_kafka import Producer
    topic = "pressure-unread"
    b.create_topic(topic, 1)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 20})
    for i in range(8_000):
        p.produce(topic, value=os.urandom(1024))
        if i % 1000 == 0:
            p.poll(0)
    p.flush(60)
    # Fetch v4: replica -1, max wait 0, min bytes 0, max bytes 50 MiB, read_uncommitted, one
    # partition from offset 0 with up to 1 MiB.
    name = topic.encode()
    body = struct.pack(">iiiib", -1, 0, 0, 50 << 20, 0) + struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiqi", 1, 0, 0, 1 << 20)
    s = socket.create_connection((b.host, b.port), timeout=5)
    s.setblocking(False)
    sent, end = 0, time.monotonic() + seconds
    pending = b""
    while sent < UNREAD_REQUESTS and time.monotonic() < end:
        if not pending:
            pending = frame(1, 4, sent, body)
        try:
            k = s.send(pending)
            pending = pending[k:]
            if not pending:
                sent += 1
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(2)
    s.close()
    return f"{sent} Fetch requests written before the broker stopped reading (answers up to 1 MiB each, none read)"


RUNS = {"idle": run_idle, "big": run_big, "flood": run_flood, "unread": run_unread}


def measure(kind, names, seconds):
    overrides = {"max.connections": 20000} if kind == "gregor" else {}
    b = harness.Broker(kind, overrides=overrides)
    rows = []
    try:
        b.start()
        b.wait_ready()
        pid = b.proc.pid
        time.sleep(1)
        rows.append((kind, "started", "", rss_mb(pid), rss_mb(pid), answer_ms(b)))
        for name in names:
            peak = Peak(pid)
            peak.start()
            t0 = time.monotonic()
            try:
                what = RUNS[name](b, seconds)
            except Exception as e:  # noqa: BLE001
                what = f"client stopped: {e!r}"
            alive = b.proc.poll() is None
            top = peak.done()
            after = rss_mb(pid) if alive else 0.0
            what += f" ({time.monotonic() - t0:.0f} s)" + ("" if alive else f"; BROKER EXITED rc={b.proc.returncode}")
            rows.append((kind, name, what, top, after, answer_ms(b) if alive else None))
            print(f"  {kind} {name}: {what}; RSS peak {top:.0f} MB, after {after:.0f} MB", flush=True)
            if not alive:
                break
    finally:
        b.cleanup()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kafka", action="store_true", help="also run Apache Kafka 4.3.1 after gregor")
    ap.add_argument("--only", default=",".join(RUNS), help="comma-separated runs (default all)")
    ap.add_argument("--seconds", type=int, default=20, help="length of the big and flood runs (default 20)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        ap.error(f"unknown runs {unknown}; known: {', '.join(RUNS)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < IDLE_CONNECTIONS + 1000 and "idle" in names:
        print(f"open files limit {hard} is too low for {IDLE_CONNECTIONS} connections", file=sys.stderr)
        return 2
    rows = []
    for kind in ["gregor"] + (["kafka"] if args.kafka else []):
        rows += measure(kind, names, args.seconds)
    print("\n| broker | run | what happened | RSS peak MB | RSS after MB | ApiVersions after, ms |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for kind, name, what, top, after, ms in rows:
        shown = "no answer" if ms is None else f"{ms:.1f}"
        print(f"| {kind} | {name} | {what} | {top:.0f} | {after:.0f} | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
