#!/usr/bin/env python3
"""kcat (librdkafka, Debian's package) produce and consume, one topic per compression codec.

Produce keyed lines with `kcat -P -K: -z CODEC`, then read every partition back with
`kcat -C -e -o beginning -f '%k:%s:%o:%p\\n'`: byte-exact, in input order within each partition,
offsets dense from 0, each key in one partition (librdkafka's default partitioner,
consistent_random = CRC32(key) % partitions, is checked too).
"""

import os
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
N = 3000


def kcat(args, input_bytes=None, timeout=60):
    try:
        r = subprocess.run(["kcat"] + args, input=input_bytes, capture_output=True, timeout=timeout,
                           stdin=None if input_bytes is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CompatFailure(f"kcat {' '.join(args)} timed out after {timeout}s")
    if r.returncode != 0:
        raise CompatFailure(f"kcat {' '.join(args)} exited {r.returncode}:\n{r.stderr.decode(errors='replace')[-2000:]}")
    return r


def make_lines(codec: str):
    lines = []
    for i in range(N):
        key = f"key-{i % 23}".encode()
        if i % 500 == 7:
            value = (f"{codec}-big-{i}-".encode() + bytes(range(32, 127)) * 200)  # ~19 KB, compressible
        elif i % 3 == 0:
            value = f"{codec} value {i} ü€".encode() + bytes([0xFF, 0xFE, 0x80, 0x01, 0x7F]) + b" x:y:z"
        else:
            value = f"{codec}-{i}".encode()
        lines.append((key, value))
    return lines


def run_codec(b: harness.Broker, codec: str):
    topic = f"kcat-{codec}"
    lines = make_lines(codec)
    data = b"".join(k + b":" + v + b"\n" for k, v in lines)
    kcat(["-P", "-b", b.bootstrap, "-t", topic, "-K:", "-z", codec,
          "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=5"], data)
    r = kcat(["-C", "-b", b.bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
              "-f", "%k:%s:%o:%p\n"])
    got = {p: [] for p in range(PARTITIONS)}
    for raw in r.stdout.split(b"\n")[:-1]:
        key, rest = raw.split(b":", 1)
        value, off, part = rest.rsplit(b":", 2)
        got[int(part)].append((int(off), key, value))
    key_part = {}
    for p, recs in got.items():
        check_eq([o for o, _, _ in recs], list(range(len(recs))), f"{topic} partition {p}: offsets in consumed order")
        for _, k, _ in recs:
            check(key_part.setdefault(k, p) == p, f"{topic}: key {k!r} found in partitions {key_part[k]} and {p}")
    for k, p in key_part.items():
        check_eq(p, zlib.crc32(k) % PARTITIONS, f"{topic}: partition of key {k!r} (consistent_random)")
    for p in range(PARTITIONS):
        want = [(k, v) for k, v in lines if key_part.get(k, zlib.crc32(k) % PARTITIONS) == p]
        have = [(k, v) for _, k, v in got[p]]
        if have != want:
            for i, (h, w) in enumerate(zip(have, want)):
                if h != w:
                    raise CompatFailure(f"{topic} partition {p} record {i}: got {h!r:.200}, want {w!r:.200}")
            raise CompatFailure(f"{topic} partition {p}: got {len(have)} records, want {len(want)}")
    return sum(len(v) for v in got.values())


def body(b: harness.Broker) -> None:
    for codec in CODECS:
        b.create_topic(f"kcat-{codec}", PARTITIONS)
    md = kcat(["-L", "-b", b.bootstrap, "-t", "kcat-none"]).stdout.decode()
    check(f'topic "kcat-none" with {PARTITIONS} partitions' in md, f"kcat -L output unexpected:\n{md}")
    with ThreadPoolExecutor(max_workers=2) as ex:
        counts = list(ex.map(lambda c: run_codec(b, c), CODECS))
    check_eq(counts, [N] * len(CODECS), "records read back per codec")


if __name__ == "__main__":
    harness.main(body)
