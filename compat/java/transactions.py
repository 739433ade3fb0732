#!/usr/bin/env python3
"""Transactions with the Kafka 4.3.1 Java client (compat/TxnApp.java).

A Java transactional producer (transactional.id, acks=all) runs 30 transactions of 20 keyed
records over a 3-partition topic, committing the even ones and aborting the odd ones after a
flush (so the aborted records reach the log). A Java read_committed consumer (assign, no group)
sees exactly the committed records, each partition in produce order at the offsets the producer
got; a read_uncommitted one sees every data record (aborted ones too) and nothing else, so no
control record. A second producer with the same transactional.id calls initTransactions, and the
first one's next transaction fails with ProducerFencedException (or InvalidProducerEpochException);
the second one commits. Consume-transform-produce: a read_committed group consumer and a
transactional producer copy the input to an output topic in transactions of 50 records with
sendOffsetsToTransaction(offsets, consumer.groupMetadata()); then the group's committed offsets
equal the input's end offsets and the output (read_committed) holds each input record once.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
import groupkit  # noqa: E402
from harness import CompatFailure, check, check_eq  # noqa: E402

SRC = os.path.join(groupkit.HERE, "TxnApp.java")
TOPIC = "jtxn-in"
OUT = "jtxn-out"
PARTITIONS = 3
TXNS = 30
PER_TXN = 20
COPY_PER_TXN = 50
FENCE_OK = ("ProducerFencedException", "InvalidProducerEpochException")


def app(*args, timeout=90):
    """Runs TxnApp with args; returns its JSON events (fails on an error event or exit code)."""
    cmd = groupkit.java_cmd(SRC, *[str(a) for a in args])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CompatFailure(f"TxnApp {args[0]} timed out after {timeout}s\nstdout:\n{(e.stdout or '')[-2000:]}\n"
                            f"stderr:\n{(e.stderr or '')[-3000:]}")
    evs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    errs = [e["err"] for e in evs if e.get("ev") == "error"]
    if r.returncode != 0 or errs:
        raise CompatFailure(f"TxnApp {' '.join(map(str, args))} exited {r.returncode}: {errs}\n"
                            f"stderr:\n{r.stderr[-4000:]}")
    return evs


def read(b, topic, isolation):
    """{partition: [(offset, value), ...]} read from the beginning with the given isolation level."""
    evs = app("read", b.bootstrap, topic, PARTITIONS, isolation)
    got = {p: [] for p in range(PARTITIONS)}
    for e in evs:
        if e["ev"] == "recs":
            for p, o, v in e["recs"]:
                got[p].append((o, v))
    end = [e for e in evs if e["ev"] == "end"][0]
    check(all(p >= e for p, e in zip(end["pos"], end["ends"])),
          f"{isolation} reader of {topic} did not reach the end offsets: {end}")
    return got


def body(b):
    groupkit.java_classes(SRC)
    b.create_topic(TOPIC, PARTITIONS)
    b.create_topic(OUT, PARTITIONS)

    # 1. Commits and aborts; 2. fencing.
    evs = app("produce", b.bootstrap, TOPIC, "compat-java-txn", TXNS, PER_TXN)
    txns = [e for e in evs if e["ev"] == "txn"]
    check_eq(len(txns), TXNS, "transactions the producer finished")
    committed = {p: [] for p in range(PARTITIONS)}
    everything = {p: [] for p in range(PARTITIONS)}
    for t in txns:
        for p, o, v in t["recs"]:
            everything[p].append((o, v))
            if t["commit"]:
                committed[p].append((o, v))
    for p in range(PARTITIONS):
        offs = [o for o, _ in everything[p]]
        check(offs == sorted(offs) and len(set(offs)) == len(offs), f"producer offsets of partition {p} increase")
    fenced = [e for e in evs if e["ev"] == "fenced"][0]
    print(f"  fencing: send -> {fenced['send'][:160]}\n           commit -> {fenced['commit'][:160]}", flush=True)
    check(fenced["commit"] != "ok", f"the fenced producer committed a transaction: {fenced}")
    first = fenced["commit"].split(":")[0].rsplit(".", 1)[-1]
    check(first in FENCE_OK or (first == "KafkaException" and any(x in fenced["commit"] for x in FENCE_OK)),
          f"commitTransaction of the fenced producer failed with {fenced['commit']!r}, "
          f"want ProducerFencedException or InvalidProducerEpochException")
    committed[fenced["second_p"]].append((fenced["second_o"], "second-ok"))

    got = read(b, TOPIC, "read_committed")
    n_committed = sum(len(v) for v in committed.values())
    for p in range(PARTITIONS):
        check_eq(got[p], committed[p], f"read_committed partition {p} (offset, value)")
    got = read(b, TOPIC, "read_uncommitted")
    zombie = []
    for p in range(PARTITIONS):
        data = [x for x in got[p] if x[1] != "zombie"]  # the fenced send may or may not have been written
        zombie += [x for x in got[p] if x[1] == "zombie"]
        want = sorted(everything[p] + [x for x in committed[p] if x[1] == "second-ok"])
        check_eq(data, want, f"read_uncommitted partition {p} (offset, value)")
    print(f"  {TXNS} transactions: read_committed saw {n_committed} records, read_uncommitted "
          f"{sum(len(v) for v in got.values())} (zombie records: {len(zombie)})", flush=True)

    # 3. Consume-transform-produce with the offsets in the transactions.
    source = [v for p in range(PARTITIONS) for _, v in committed[p]]
    evs = app("copy", b.bootstrap, TOPIC, OUT, PARTITIONS, "jtxn-copy", "compat-java-copy", COPY_PER_TXN, len(source))
    done = [e for e in evs if e["ev"] == "done"][0]
    ntx = [e["n"] for e in evs if e["ev"] == "txn"]
    check_eq(done["copied"], len(source), "records copied")
    check(max(ntx) <= COPY_PER_TXN, f"transaction sizes {ntx}")
    check_eq(done["committed"], done["ends"], "the group's committed offsets (TxnOffsetCommit) = input end offsets")
    offs = groupkit.group_offsets(b.admin(), "jtxn-copy")
    check_eq([offs.get((TOPIC, p)) for p in range(PARTITIONS)], done["ends"], "committed offsets via OffsetFetch")
    out = read(b, OUT, "read_committed")
    check_eq(sorted(v for p in range(PARTITIONS) for _, v in out[p]), sorted(v.upper() for v in source),
             "output of the transactional copy (each input record once)")
    print(f"  copy: {len(source)} records in {len(ntx)} transactions {ntx}, committed offsets {done['committed']}",
          flush=True)


if __name__ == "__main__":
    harness.main(body)
