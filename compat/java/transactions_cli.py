#!/usr/bin/env python3
"""kafka-transactions (org.apache.kafka.tools.TransactionsCommand, no wrapper in compat/setup).

Topic cli-txn, 2 partitions; a plain (non-idempotent) confluent-kafka producer writes 3 records
to partition 0 and 2 to partition 1 first, so transactions start at offsets 3 and 2.

- A confluent-kafka transactional producer (transactional.id cli-open, transaction.timeout.ms
  60000) holds an open transaction with records in partition 0: `list` shows the id with
  coordinator 1, its producer id and state Ongoing; `describe --transactional-id` shows
  coordinator, producer id/epoch, Ongoing, the timeout, a start time and the partition
  cli-txn-0; `describe-producers --topic cli-txn --partition 0` shows the producer with
  CurrentTransactionStartOffset 3, LastSequence 3, a LastTimestamp of about now and
  LatestCoordinatorEpoch -1 (no marker yet). After the commit, `describe` and `list` show
  CompleteCommit, no partitions and (as Kafka does) the same transaction start time;
  `describe-producers` shows CurrentTransactionStartOffset None and a coordinator epoch >= 0.
- A hanging transaction: a producer process (transaction.timeout.ms 600000) writes 2 records to
  partition 1 and is SIGKILLed; a later plain record sits behind it, and ListOffsets with
  read_committed (the LSO) stays at 2. `describe-producers` shows the start offset 2;
  `abort --topic cli-txn --partition 1 --start-offset 2` writes the abort marker: the LSO moves to
  the log end, and a read_committed consumer reads the 2 + 1 plain records and not the aborted ones.

Every table's header line must equal Kafka 4.3.1's; values are checked by column (ids, epochs and
timestamps only for their shape).
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until  # noqa: E402
from confluent_kafka import Consumer, IsolationLevel, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import OffsetSpec  # noqa: E402

TOPIC = "cli-txn"
MAIN = "org.apache.kafka.tools.TransactionsCommand"
TIMEOUT = 30

LIST_HDR = ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
DESCRIBE_HDR = ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions"]
PRODUCERS_HDR = ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
                 "CurrentTransactionStartOffset"]

HANG_SRC = r"""
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "cli-hang",
              "transaction.timeout.ms": 600000})
p.init_transactions(30)
p.begin_transaction()
for i in range(2):
    p.produce(sys.argv[2], key=b"h", value=f"hang-{i}".encode(), partition=1)
p.flush(30)
print("written", flush=True)
sys.stdin.read()
"""


def tool(b, *args, timeout=90.0, check_rc=True):
    home = harness.KAFKA_HOME
    cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
           "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={home}/config/tools-log4j2.properties",
           "-cp", f"{home}/libs/*", MAIN, "--bootstrap-server", b.bootstrap] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CompatFailure(f"kafka-transactions {' '.join(args)} timed out after {timeout}s\n{e.stdout}\n{e.stderr}")
    print(f"  $ kafka-transactions {' '.join(args)}  (rc={r.returncode})\n" +
          "".join(f"    | {ln}\n" for ln in r.stdout.splitlines()), end="", flush=True)
    if check_rc and r.returncode != 0:
        raise CompatFailure(f"kafka-transactions {' '.join(args)} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n"
                            f"stderr:\n{r.stderr[-3000:]}")
    return r


def table(r, header, what):
    """Splits the tool's output into rows (dicts by header) after checking the header line."""
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    check(lines, f"{what}: no output (stderr: {r.stderr[-1000:]})")
    check_eq([c.strip() for c in lines[0].rstrip("\t").split("\t")], header, f"{what}: header line (tab-separated)")
    rows = []
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.split("\t")]
        if len(cells) == len(header) + 1 and cells[-1] == "":
            cells.pop()  # Kafka ends each line with a tab
        check_eq(len(cells), len(header), f"{what}: tab-separated cells in {ln!r}")
        rows.append(dict(zip(header, cells)))
    return rows


def is_int(s):
    return re.fullmatch(r"-?\d+", s) is not None


def lso(b, partition):
    admin = b.admin()
    tp = TopicPartition(TOPIC, partition)
    committed = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=IsolationLevel.READ_COMMITTED,
                                   request_timeout=TIMEOUT)[tp].result(TIMEOUT).offset
    end = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=IsolationLevel.READ_UNCOMMITTED,
                             request_timeout=TIMEOUT)[tp].result(TIMEOUT).offset
    return committed, end


def read_committed(b, partition, want):
    """Reads the partition with read_committed until `want` values arrived, then 1.5 s more."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"cli-rc-{time.monotonic_ns()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, partition, 0)])
    got, deadline, idle = [], time.monotonic() + 30, None
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(got) >= want:
                idle = idle or time.monotonic()
                if time.monotonic() - idle > 1.5:
                    break
            continue
        if m.error():
            raise CompatFailure(f"consumer error: {m.error()}")
        idle = None
        got.append(m.value().decode())
    c.close()
    return got


def body(b):
    b.create_topic(TOPIC, 2)
    plain = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": False, "acks": "all"})
    for i in range(3):
        plain.produce(TOPIC, value=f"plain0-{i}".encode(), partition=0)
    for i in range(2):
        plain.produce(TOPIC, value=f"plain1-{i}".encode(), partition=1)
    check_eq(plain.flush(TIMEOUT), 0, "plain records not delivered")

    # ---- an open transaction
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "cli-open", "transaction.timeout.ms": 60000})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    for i in range(4):
        p.produce(TOPIC, key=b"k", value=f"open-{i}".encode(), partition=0)
    check_eq(p.flush(TIMEOUT), 0, "transactional records not delivered")

    rows = [r for r in table(tool(b, "list"), LIST_HDR, "list (open)") if r["TransactionalId"] == "cli-open"]
    check_eq(len(rows), 1, "list (open): rows of cli-open")
    pid = rows[0]["ProducerId"]
    check(is_int(pid) and int(pid) >= 0, f"list: producer id {pid!r}")
    check_eq((rows[0]["Coordinator"], rows[0]["TransactionState"]), ("1", "Ongoing"), "list (open): coordinator, state")

    d = table(tool(b, "describe", "--transactional-id", "cli-open"), DESCRIBE_HDR, "describe (open)")
    check_eq(len(d), 1, "describe (open): rows")
    d = d[0]
    check_eq({k: d[k] for k in ("CoordinatorId", "TransactionalId", "ProducerId", "TransactionState",
                                "TransactionTimeoutMs", "TopicPartitions")},
             {"CoordinatorId": "1", "TransactionalId": "cli-open", "ProducerId": pid, "TransactionState": "Ongoing",
              "TransactionTimeoutMs": "60000", "TopicPartitions": f"{TOPIC}-0"}, "describe (open)")
    check(is_int(d["ProducerEpoch"]) and int(d["ProducerEpoch"]) >= 0, f"describe: epoch {d['ProducerEpoch']!r}")
    start = int(d["CurrentTransactionStartTimeMs"]) if is_int(d["CurrentTransactionStartTimeMs"]) else None
    check(start is not None and abs(start - time.time() * 1000) < 120_000,
          f"describe (open): CurrentTransactionStartTimeMs {d['CurrentTransactionStartTimeMs']!r} is not about now")
    check(is_int(d["TransactionDurationMs"]) and 0 <= int(d["TransactionDurationMs"]) < 120_000,
          f"describe (open): TransactionDurationMs {d['TransactionDurationMs']!r}")

    pr = table(tool(b, "describe-producers", "--topic", TOPIC, "--partition", "0"), PRODUCERS_HDR,
               "describe-producers (open)")
    check_eq([r["ProducerId"] for r in pr], [pid], "describe-producers (open): producer ids")
    pr = pr[0]
    check_eq(pr["CurrentTransactionStartOffset"], "3", "describe-producers (open): CurrentTransactionStartOffset")
    check_eq((pr["LastSequence"], pr["LatestCoordinatorEpoch"]), ("3", "-1"),
             "describe-producers (open): LastSequence (4 records), LatestCoordinatorEpoch (no marker yet)")
    check(is_int(pr["LastTimestamp"]) and abs(int(pr["LastTimestamp"]) - time.time() * 1000) < 120_000,
          f"describe-producers (open): LastTimestamp {pr['LastTimestamp']!r}")
    check(is_int(pr["ProducerEpoch"]), f"describe-producers: epoch {pr['ProducerEpoch']!r}")
    check(is_int(pr["LatestCoordinatorEpoch"]), f"describe-producers: coordinator epoch {pr['LatestCoordinatorEpoch']!r}")

    # ---- commit
    p.commit_transaction(TIMEOUT)
    d = table(tool(b, "describe", "--transactional-id", "cli-open"), DESCRIBE_HDR, "describe (committed)")[0]
    # Kafka keeps the last transaction's start time (and counts its duration on) after the commit.
    check_eq((d["ProducerId"], d["TransactionState"], d["TopicPartitions"], d["CurrentTransactionStartTimeMs"]),
             (pid, "CompleteCommit", "", str(start)), "describe (committed): producer id, state, partitions, start time")
    check(is_int(d["TransactionDurationMs"]), f"describe (committed): TransactionDurationMs {d['TransactionDurationMs']!r}")
    pr = table(tool(b, "describe-producers", "--topic", TOPIC, "--partition", "0"), PRODUCERS_HDR,
               "describe-producers (committed)")
    check_eq([(r["ProducerId"], r["CurrentTransactionStartOffset"]) for r in pr], [(pid, "None")],
             "describe-producers (committed): producer, open transaction start")
    check(is_int(pr[0]["LatestCoordinatorEpoch"]) and int(pr[0]["LatestCoordinatorEpoch"]) >= 0,
          f"describe-producers (committed): LatestCoordinatorEpoch {pr[0]['LatestCoordinatorEpoch']!r} (a marker was written)")
    rows = [r for r in table(tool(b, "list"), LIST_HDR, "list (committed)") if r["TransactionalId"] == "cli-open"]
    check_eq([(r["ProducerId"], r["TransactionState"]) for r in rows], [(pid, "CompleteCommit")], "list (committed)")

    # ---- a hanging transaction: its producer is SIGKILLed with the transaction open
    hang = subprocess.Popen([sys.executable, "-c", HANG_SRC, b.bootstrap, TOPIC], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = hang.stdout.readline()
        check_eq(line.strip(), "written", "hanging producer")
    finally:
        os.killpg(hang.pid, signal.SIGKILL)
        hang.wait()
    plain.produce(TOPIC, value=b"plain1-after", partition=1)
    check_eq(plain.flush(TIMEOUT), 0, "plain record after the hanging transaction not delivered")
    check_eq(lso(b, 1), (2, 5), "partition 1 (LSO, log end) behind the hanging transaction")
    got = read_committed(b, 1, 2)
    check_eq(got, ["plain1-0", "plain1-1"], "read_committed behind the hanging transaction")

    pr = table(tool(b, "describe-producers", "--topic", TOPIC, "--partition", "1"), PRODUCERS_HDR,
               "describe-producers (hanging)")
    check_eq([r["CurrentTransactionStartOffset"] for r in pr], ["2"], "describe-producers (hanging): start offsets")
    check_eq(pr[0]["LastSequence"], "1", "describe-producers (hanging): LastSequence (2 records)")
    rows = [r for r in table(tool(b, "list"), LIST_HDR, "list (hanging)") if r["TransactionalId"] == "cli-hang"]
    check_eq([r["TransactionState"] for r in rows], ["Ongoing"], "list (hanging): state of cli-hang")
    check_eq(rows[0]["ProducerId"], pr[0]["ProducerId"], "list (hanging) and describe-producers: producer id")

    r = tool(b, "abort", "--topic", TOPIC, "--partition", "1", "--start-offset", "2")
    check_eq(r.stdout.strip(), "", "abort: stdout")
    wait_until(lambda: lso(b, 1) == (6, 6), 30, "partition 1: LSO = log end (6) after the abort marker")
    got = read_committed(b, 1, 3)
    check_eq(got, ["plain1-0", "plain1-1", "plain1-after"], "read_committed after the abort")
    pr = table(tool(b, "describe-producers", "--topic", TOPIC, "--partition", "1"), PRODUCERS_HDR,
               "describe-producers (aborted)")
    check_eq([r["CurrentTransactionStartOffset"] for r in pr], ["None"], "describe-producers (aborted): start offsets")


if __name__ == "__main__":
    harness.main(body)
