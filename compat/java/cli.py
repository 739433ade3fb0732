#!/usr/bin/env python3
"""The official Apache Kafka 4.3.1 command-line tools against the broker.

kafka-topics (--create with and without --partitions/--replication-factor, --list, --describe,
--delete), kafka-console-producer (default producer: idempotent, acks=all) with keys,
kafka-console-consumer --partition N --offset earliest (assign, no group), kafka-get-offsets,
kafka-producer-perf-test. JVM start-up dominates, so independent tools run two at a time.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness   # noqa: E402
from harness import check, check_eq, java_partition, run_cli, parallel  # noqa: E402

DEFAULT_PARTITIONS = 2  # the broker's num.partitions for this scenario
KEYED, KEYED_PARTITIONS = "cli-keyed", 3
PERF = "cli-perf"  # created without --partitions/--replication-factor
DOOMED = "cli-doomed"
PERF_RECORDS = 20000


def body(b: harness.Broker) -> None:
    bs = ["--bootstrap-server", b.bootstrap]

    def topics(*args, **kw):
        return run_cli("kafka-topics", bs + list(args), **kw)

    # ---- create: with --partitions, without flags (broker default), with both flags
    r1, r2, r3 = parallel(
        (topics, "--create", "--topic", KEYED, "--partitions", str(KEYED_PARTITIONS)),
        (topics, "--create", "--topic", PERF),
        (topics, "--create", "--topic", DOOMED, "--partitions", "1", "--replication-factor", "1"),
    )
    for r, t in ((r1, KEYED), (r2, PERF), (r3, DOOMED)):
        check(f"Created topic {t}." in r.stdout, f"kafka-topics --create {t}: unexpected output {r.stdout!r}")
    for t, n in ((KEYED, KEYED_PARTITIONS), (PERF, DEFAULT_PARTITIONS), (DOOMED, 1)):
        b.wait_topic(t, n)

    # ---- console producer (keyed lines), perf test, describe
    lines = []
    for i in range(90):
        key = f"k{i % 7}"
        value = "" if i == 45 else f"value {i} éß€ \t tab"
        lines.append((key, value))
    producer_input = "".join(f"{k}:{v}\n" for k, v in lines)

    def produce():
        return run_cli("kafka-console-producer", bs + ["--topic", KEYED, "--reader-property", "parse.key=true",
                                                       "--reader-property", "key.separator=:"],
                       input=producer_input, timeout=60)

    def perf():
        return run_cli("kafka-producer-perf-test", ["--topic", PERF, "--num-records", str(PERF_RECORDS),
                                                    "--record-size", "100", "--throughput", "-1",
                                                    "--bootstrap-server", b.bootstrap,
                                                    "--command-property", "acks=all"], timeout=120)

    rp, rperf, rdesc = parallel((produce,), (perf,), (topics, "--describe"))
    check("ERROR" not in rp.stderr and "Exception" not in rp.stderr,
          f"kafka-console-producer reported errors:\n{rp.stderr[-2000:]}")
    m = re.search(r"^(\d+) records sent, [\d.]+ records/sec", rperf.stdout, re.M)
    check(m and int(m.group(1)) == PERF_RECORDS,
          f"kafka-producer-perf-test did not report {PERF_RECORDS} records sent:\n{rperf.stdout[-1500:]}\n{rperf.stderr[-1500:]}")

    desc = {}
    for line in rdesc.stdout.splitlines():
        mt = re.match(r"Topic: (\S+)\s+TopicId: \S+\s+PartitionCount: (\d+)\s+ReplicationFactor: (\d+)", line)
        if mt:
            desc[mt.group(1)] = {"pc": int(mt.group(2)), "rf": int(mt.group(3)), "parts": {}}
        mp = re.match(r"\s+Topic: (\S+)\s+Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)", line)
        if mp and mp.group(1) in desc:
            desc[mp.group(1)]["parts"][int(mp.group(2))] = (int(mp.group(3)), mp.group(4), mp.group(5))
    for t, n in ((KEYED, KEYED_PARTITIONS), (PERF, DEFAULT_PARTITIONS), (DOOMED, 1)):
        check(t in desc, f"kafka-topics --describe lacks {t}:\n{rdesc.stdout}")
        check_eq((desc[t]["pc"], desc[t]["rf"]), (n, 1), f"--describe {t} (PartitionCount, ReplicationFactor)")
        check_eq(desc[t]["parts"], {p: (1, "1", "1") for p in range(n)},
                 f"--describe {t} partitions (Leader, Replicas, Isr)")

    # ---- delete one topic; read each partition back with the console consumer (assign, no group)
    expected = {p: [] for p in range(KEYED_PARTITIONS)}
    for k, v in lines:
        expected[java_partition(k.encode(), KEYED_PARTITIONS)].append((k, v))

    def consume_partition(p):
        want = expected[p]
        r = run_cli("kafka-console-consumer", bs + [
            "--topic", KEYED, "--partition", str(p), "--offset", "earliest", "--max-messages", str(len(want)),
            "--timeout-ms", "20000",
            "--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
            "--formatter-property", "print.offset=true", "--formatter-property", "key.separator=|"], timeout=60)
        return r

    rdel, *rcons = parallel((topics, "--delete", "--topic", DOOMED),
                            *[(consume_partition, p) for p in range(KEYED_PARTITIONS)])
    for p, r in enumerate(rcons):
        want = [f"Partition:{p}|Offset:{o}|{k}|{v}" for o, (k, v) in enumerate(expected[p])]
        got = r.stdout.splitlines()
        check_eq(got, want, f"kafka-console-consumer --partition {p} --offset earliest output")
        check(f"Processed a total of {len(want)} messages" in r.stderr,
              f"console consumer partition {p}: {r.stderr[-500:]}")

    # ---- get-offsets (end offsets of every partition) and --list until the deleted topic is gone
    def list_until_gone():
        deadline = time.monotonic() + 30
        while True:
            r = topics("--list")
            names = r.stdout.split()
            if DOOMED not in names or time.monotonic() > deadline:
                return names

    names, roff, roff_early = parallel((list_until_gone,), (run_cli, "kafka-get-offsets", bs),
                                       (run_cli, "kafka-get-offsets", bs + ["--topic", KEYED, "--time", "-2"]))
    check(DOOMED not in names, f"kafka-topics --list still shows deleted {DOOMED} after 30s: {names}")
    check(KEYED in names and PERF in names, f"kafka-topics --list lacks {KEYED}/{PERF}: {names}")
    offsets = {}
    for line in roff.stdout.split():
        t, p, o = line.rsplit(":", 2)
        offsets[(t, int(p))] = int(o)
    for p in range(KEYED_PARTITIONS):
        check_eq(offsets.get((KEYED, p)), len(expected[p]), f"kafka-get-offsets {KEYED}:{p} end offset")
    perf_total = sum(offsets.get((PERF, p), 0) for p in range(DEFAULT_PARTITIONS))
    check_eq(perf_total, PERF_RECORDS, f"kafka-get-offsets: sum of {PERF} end offsets")
    check_eq(sorted(roff_early.stdout.split()), [f"{KEYED}:{p}:0" for p in range(KEYED_PARTITIONS)],
             "kafka-get-offsets --time -2 (earliest)")
    check(not any(t == DOOMED for t, _ in offsets), f"kafka-get-offsets still lists deleted {DOOMED}")


if __name__ == "__main__":
    harness.main(body, overrides={"num.partitions": DEFAULT_PARTITIONS})
