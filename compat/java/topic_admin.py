#!/usr/bin/env python3
"""Topic administration with the official Apache Kafka 4.3.1 tools: configs, partitions, record
deletion, log dirs, retention and compaction.

kafka-configs --describe / --alter --add-config / --delete-config on a topic (output lines and
synonyms as Kafka prints them), --describe --all (the set of topic config names, the sources and
synonyms of a few keys); invalid values, an unknown key and a half-invalid batch are refused with
InvalidConfigurationException naming the key, and change nothing. kafka-topics --alter
--partitions: an increase while a console producer (idempotent, keyed, metadata.max.age.ms=1000)
keeps producing: it moves to the new partitions (Java's murmur2 over 2, then over 4 partitions);
fewer or equal partitions are refused with Kafka's message. kafka-delete-records with an offsets
JSON file: the low watermark moves (kafka-get-offsets --time -2, console consumer --offset
earliest), never back; an offset past the high watermark gives OFFSET_OUT_OF_RANGE.
kafka-log-dirs --describe: the log dir, and partition sizes close to what was written.
Retention: retention.bytes=1 MiB with segment.bytes=1 MiB (Kafka's minimum; Kafka deletes whole
closed segments) after 4 MB of records: the log start offset advances, a console consumer and a
confluent-kafka consumer at offset 0 with auto.offset.reset=earliest are reset to it; altering
retention.ms=1000 on a topic empties it. Compaction (cleanup.policy=compact, segment.ms=1000,
min.cleanable.dirty.ratio=0.01, delete.retention.ms=10000): after 40 updates of each of 5 keys and
a tombstone, only the last value per key is left, at its original offset; the tombstone outlives
the compaction of its key and is gone after delete.retention.ms.

kafka-delete-records and kafka-log-dirs have no wrapper in compat/setup: run_tool starts their
main classes the same way. Independent tools run two at a time (JVM start-up dominates).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness   # noqa: E402
from harness import CompatFailure, check, check_eq, java_partition, run_cli, wait_until, Soft, parallel, run_tool, KAFKA_TOPIC_CONFIG_NAMES  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition   # noqa: E402
from confluent_kafka.admin import ConfigResource, OffsetSpec, ResourceType   # noqa: E402

CONFIGS = "ta-configs"      # created with retention.ms=86400000
GROW = "ta-grow"            # 2 partitions, then 4
RECORDS = "ta-records"      # 2 partitions, kafka-delete-records
RETAIN = "ta-retention"     # retention.bytes / segment.bytes
EXPIRE = "ta-expire"        # retention.ms altered to 1000
COMPACT = "ta-compact"      # cleanup.policy=compact
MIB = 1048576
RETAIN_RECORDS, RETAIN_SIZE = 400, 10000
COMPACT_KEYS, COMPACT_ROUNDS, COMPACT_PER_ROUND = 5, 4, 10
DELETE_RETENTION_MS = 10000

def caused_by(r):
    """The last 'Caused by: ...' line of a failed tool's stderr (the broker's error)."""
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("Caused by: ")]
    return lines[-1][len("Caused by: "):] if lines else r.stderr.strip()[-500:]


def body(b: harness.Broker) -> None:
    bs = ["--bootstrap-server", b.bootstrap]
    soft = Soft()

    def topics(*args, **kw):
        return run_cli("kafka-topics", bs + list(args), **kw)

    def configs(*args, **kw):
        return run_cli("kafka-configs", bs + ["--entity-type", "topics"] + list(args), **kw)

    def offsets(topic, time_spec):
        r = run_cli("kafka-get-offsets", bs + ["--topic", topic, "--time", str(time_spec)])
        out = {}
        for line in r.stdout.split():
            t, p, o = line.rsplit(":", 2)
            out[int(p)] = int(o)
        return out

    def list_offset(topic, p, spec):
        # A new client each time: librdkafka's cached metadata would not know added partitions.
        k = TopicPartition(topic, p)
        a = b.admin()  # kept referenced until the result is in (a collected client never completes it)
        return a.list_offsets({k: spec}, request_timeout=15)[k].result(timeout=30).offset

    def console_produce(topic, lines, extra=()):
        r = run_cli("kafka-console-producer", bs + ["--topic", topic, "--reader-property", "parse.key=true",
                                                    "--reader-property", "key.separator=:"] + list(extra),
                    input="".join(f"{k}:{v}\n" for k, v in lines), timeout=90)
        check("ERROR" not in r.stderr and "Exception" not in r.stderr,
              f"kafka-console-producer to {topic} reported errors:\n{r.stderr[-2000:]}")
        return r

    def console_consume(topic, partition, offset, n, extra=(), timeout_ms=20000):
        args = bs + ["--topic", topic, "--timeout-ms", str(timeout_ms),
                     "--formatter-property", "print.key=true", "--formatter-property", "print.offset=true",
                     "--formatter-property", "key.separator=|"] + list(extra)
        if partition is not None:
            args += ["--partition", str(partition), "--offset", str(offset)]
        if n is not None:
            args += ["--max-messages", str(n)]
        r = run_cli("kafka-console-consumer", args, timeout=90)
        out = []
        for line in r.stdout.splitlines():
            m = re.match(r"(?:Partition:(\d+)\|)?Offset:(\d+)\|([^|]*)\|(.*)$", line)
            check(m, f"console consumer {topic}: unexpected line {line!r}")
            out.append((int(m.group(1)) if m.group(1) else partition, int(m.group(2)), m.group(3), m.group(4)))
        return out

    # ------------------------------------------------------------------ topics
    t0 = time.monotonic()
    created = parallel(
        (topics, "--create", "--topic", COMPACT, "--partitions", "1", "--config", "cleanup.policy=compact",
         "--config", "segment.ms=1000", "--config", "min.cleanable.dirty.ratio=0.01",
         "--config", f"delete.retention.ms={DELETE_RETENTION_MS}"),
        (topics, "--create", "--topic", RETAIN, "--partitions", "1", "--config", f"segment.bytes={MIB}",
         "--config", f"retention.bytes={MIB}"),
        (topics, "--create", "--topic", CONFIGS, "--partitions", "1", "--config", "retention.ms=86400000"),
        (topics, "--create", "--topic", GROW, "--partitions", "2"),
    )
    for r, t in zip(created, (COMPACT, RETAIN, CONFIGS, GROW)):
        check(f"Created topic {t}." in r.stdout, f"kafka-topics --create {t}: {r.stdout!r} {r.stderr[-500:]!r}")
    b.create_topic(RECORDS, 2)
    b.create_topic(EXPIRE, 1)
    for t, n in ((COMPACT, 1), (RETAIN, 1), (CONFIGS, 1), (GROW, 2)):
        b.wait_topic(t, n)
    print(f"  topics created ({time.monotonic() - t0:.1f}s)", flush=True)

    # Compaction takes wall-clock time (segment.ms, delete.retention.ms): it runs beside the rest.
    compaction = {}
    compactor = threading.Thread(target=compaction_phase, args=(b, compaction), daemon=True)
    compactor.start()

    # ------------------------------------------------------------------ data for retention and deletion
    rec_lines = [(f"r{i % 10}", f"record-{i}") for i in range(80)]
    rec_parts = {p: [(k, v) for k, v in rec_lines if java_partition(k.encode(), 2) == p] for p in range(2)}
    expire_lines = [(f"e{i}", f"expiring-{i}") for i in range(30)]

    def describe(topic=CONFIGS, all_=False):
        r = configs("--describe", "--entity-name", topic, *(["--all"] if all_ else []))
        lines = r.stdout.splitlines()
        head = f"{'All' if all_ else 'Dynamic'} configs for topic {topic} are:"
        check(lines and lines[0] == head, f"kafka-configs --describe{' --all' if all_ else ''} {topic}: {r.stdout!r}")
        return lines[1:]

    rperf, _, _, got = parallel(
        (run_cli, "kafka-producer-perf-test", ["--topic", RETAIN, "--num-records", str(RETAIN_RECORDS),
                                               "--record-size", str(RETAIN_SIZE), "--throughput", "-1",
                                               "--bootstrap-server", b.bootstrap, "--command-property", "acks=all"]),
        (console_produce, EXPIRE, expire_lines),
        (console_produce, RECORDS, rec_lines),
        (describe,),
    )
    m = re.search(r"^(\d+) records sent, .* 99.9th\.$", rperf.stdout, re.M)
    check(m and int(m.group(1)) == RETAIN_RECORDS, f"perf test to {RETAIN}: {rperf.stdout[-800:]} {rperf.stderr[-800:]}")
    print(f"  data produced ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ kafka-configs on a topic
    soft.eq(got, ["  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}"],
            f"kafka-configs --describe {CONFIGS} (created with --config retention.ms=86400000)")
    check(any(ln.startswith("  retention.ms=86400000 ") for ln in got), f"--describe {CONFIGS}: {got}")

    r, rexp = parallel(
        (configs, "--alter", "--entity-name", CONFIGS, "--add-config",
         "cleanup.policy=[compact,delete],max.message.bytes=2000000,retention.ms=3600000"),
        # retention.ms altered on a topic with data: everything expires (checked further down).
        (configs, "--alter", "--entity-name", EXPIRE, "--add-config", "retention.ms=1000"),
    )
    check_eq(r.stdout.strip(), f"Completed updating config for topic {CONFIGS}.", "kafka-configs --alter --add-config")
    check_eq(rexp.stdout.strip(), f"Completed updating config for topic {EXPIRE}.", "kafka-configs --alter retention.ms=1000")
    want_after_add = [
        "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, "
        "DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "  max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, "
        "DEFAULT_CONFIG:message.max.bytes=1048588}",
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}",
    ]

    # Refused: a bad type, an unknown key, out of range, not one of the valid strings, a batch with
    # one bad value (nothing of it applied), a missing topic.
    bad = [
        ("retention.ms=abc", "InvalidConfigurationException", "retention.ms",
         "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
        ("no.such.key=1", "InvalidConfigurationException", "no.such.key", "Unknown topic config name: no.such.key"),
        ("min.cleanable.dirty.ratio=1.5", "InvalidConfigurationException", "min.cleanable.dirty.ratio",
         "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
        ("cleanup.policy=bogus", "InvalidConfigurationException", "cleanup.policy",
         "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete"),
        ("retention.ms=5000,segment.ms=abc", "InvalidConfigurationException", "segment.ms",
         "Invalid value abc for configuration segment.ms: Not a number of type LONG"),
    ]
    got, *results = parallel(
        (describe,),
        *[(lambda kv=kv: configs("--alter", "--entity-name", CONFIGS, "--add-config", kv, check=False),)
          for kv, *_ in bad],
        (lambda: configs("--alter", "--entity-name", "ta-no-such-topic", "--add-config", "retention.ms=1000",
                         check=False),),
    )
    check_eq([ln.split(" sensitive=")[0] for ln in got], [ln.split(" sensitive=")[0] for ln in want_after_add],
             f"kafka-configs --describe {CONFIGS} after --add-config (name=value)")
    soft.eq(got, want_after_add, f"kafka-configs --describe {CONFIGS} after --add-config (full lines with synonyms)")
    bad.append(("retention.ms=1000 on a missing topic", "UnknownTopicOrPartitionException", "ta-no-such-topic",
                "The topic 'ta-no-such-topic' does not exist."))
    for (kv, exc, key, msg), r in zip(bad, results):
        check(r.returncode != 0, f"kafka-configs --add-config {kv} was accepted:\n{r.stdout}")
        cb = caused_by(r)
        check(cb.startswith(f"org.apache.kafka.common.errors.{exc}: ") and key in cb,
              f"kafka-configs --add-config {kv}: want {exc} naming {key}, got {cb!r}")
        soft.eq(cb, f"org.apache.kafka.common.errors.{exc}: {msg}", f"kafka-configs --add-config {kv}: error")
    res = ConfigResource(ResourceType.TOPIC, CONFIGS)
    a = b.admin()
    now = a.describe_configs([res])[res].result(timeout=30)
    check_eq({k: now[k].value for k in ("cleanup.policy", "max.message.bytes", "retention.ms", "segment.ms",
                                        "min.cleanable.dirty.ratio")},
             {"cleanup.policy": "compact,delete", "max.message.bytes": "2000000", "retention.ms": "3600000",
              "segment.ms": "604800000", "min.cleanable.dirty.ratio": "0.5"},
             f"{CONFIGS} configs after the refused changes (unchanged)")

    r = configs("--alter", "--entity-name", CONFIGS, "--delete-config", "retention.ms,max.message.bytes")
    check_eq(r.stdout.strip(), f"Completed updating config for topic {CONFIGS}.", "kafka-configs --delete-config")
    got, all_lines = parallel((describe,), (describe, CONFIGS, True))
    check_eq([ln.split(" sensitive=")[0] for ln in got], ["  cleanup.policy=compact,delete"],
             f"kafka-configs --describe {CONFIGS} after --delete-config retention.ms,max.message.bytes")
    soft.eq(got, want_after_add[:1], f"kafka-configs --describe {CONFIGS} after --delete-config (full line)")
    entries = {}
    for ln in all_lines:
        mm = re.match(r"  ([a-z0-9.]+)=(.*) sensitive=(true|false) synonyms=\{(.*)\}$", ln)
        check(mm, f"kafka-configs --describe --all {CONFIGS}: unexpected line {ln!r}")
        entries[mm.group(1)] = (mm.group(2), mm.group(4))
    for name, value, synonyms in [
        ("cleanup.policy", "compact,delete", "DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete"),
        ("retention.ms", "604800000", ""),
        ("max.message.bytes", "1048588", "DEFAULT_CONFIG:message.max.bytes=1048588"),
        ("segment.bytes", "1073741824", "DEFAULT_CONFIG:log.segment.bytes=1073741824"),
        ("retention.bytes", "-1", "DEFAULT_CONFIG:log.retention.bytes=-1"),
        ("message.timestamp.type", "CreateTime", "DEFAULT_CONFIG:log.message.timestamp.type=CreateTime"),
    ]:
        check(name in entries, f"--describe --all {CONFIGS} lacks {name}")
        check_eq(entries[name][0], value, f"--describe --all {CONFIGS}: value of {name}")
        soft.eq(entries[name][1], synonyms, f"--describe --all {CONFIGS}: synonyms of {name}")
    soft.eq((sorted(set(KAFKA_TOPIC_CONFIG_NAMES) - set(entries)), sorted(set(entries) - set(KAFKA_TOPIC_CONFIG_NAMES))),
            ([], []), f"--describe --all {CONFIGS}: config names (missing, not in Kafka 4.3.1)")
    print(f"  kafka-configs checked ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ kafka-topics --alter --partitions
    # A console producer (Java client, idempotent) keeps producing keyed lines while partitions are added.
    prod = subprocess.Popen(
        [os.path.join(harness.KAFKA_HOME, "bin", "kafka-console-producer.sh")] + bs +
        ["--topic", GROW, "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
         "--command-property", "metadata.max.age.ms=1000", "--command-property", "linger.ms=0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = []

    def send(n):
        for _ in range(n):
            i = len(sent)
            sent.append((f"g{i % 23}", f"seq-{i}"))
            prod.stdin.write(f"{sent[-1][0]}:{sent[-1][1]}\n")
        prod.stdin.flush()

    try:
        send(40)
        wait_until(lambda: sum(list_offset(GROW, p, OffsetSpec.latest()) for p in range(2)) >= 40, 60,
                   f"the first 40 lines in {GROW}", interval=0.3)
        before_alter = len(sent)
        r = topics("--alter", "--topic", GROW, "--partitions", "4")
        check_eq(r.returncode, 0, "kafka-topics --alter --partitions 4")
        b.wait_topic(GROW, 4)

        def moved():
            send(6)
            return sum(list_offset(GROW, p, OffsetSpec.latest()) for p in (2, 3)) > 0

        wait_until(moved, 60, "the console producer to produce to the new partitions 2 and 3", interval=0.3)
        send(30)
        try:
            _, perr = prod.communicate(timeout=60)  # closes its stdin: the producer flushes and exits
        except subprocess.TimeoutExpired:
            raise CompatFailure("kafka-console-producer did not exit within 60s of the end of its input")
    finally:
        if prod.poll() is None:
            prod.kill()
            prod.wait()
    check(prod.returncode == 0 and "ERROR" not in perr, f"kafka-console-producer: rc={prod.returncode}\n{perr[-2000:]}")

    fewer, same, rdesc, rows = parallel(
        (lambda: topics("--alter", "--topic", GROW, "--partitions", "3", check=False),),
        (lambda: topics("--alter", "--topic", GROW, "--partitions", "4", check=False),),
        (topics, "--describe", "--topic", GROW),
        (console_consume, GROW, None, None, len(sent), ["--from-beginning", "--formatter-property", "print.partition=true"]),
    )
    check(fewer.returncode != 0, f"kafka-topics --alter --partitions 3 (from 4) was accepted: {fewer.stdout}")
    soft.eq(fewer.stdout.strip(), f"Error while executing topic command : The topic {GROW} currently has 4 partition(s); "
            "3 would not be an increase.", "kafka-topics --alter --partitions 3 (from 4)")
    check("InvalidPartitionsException" in fewer.stderr, f"--partitions 3: {fewer.stderr[-800:]}")
    check(same.returncode != 0, f"kafka-topics --alter --partitions 4 (already 4) was accepted: {same.stdout}")
    soft.eq(same.stdout.strip(), "Error while executing topic command : Topic already has 4 partition(s).",
            "kafka-topics --alter --partitions 4 (already 4)")
    check(re.search(rf"Topic: {GROW}\s+TopicId: \S+\s+PartitionCount: 4\s+ReplicationFactor: 1", rdesc.stdout),
          f"kafka-topics --describe after the increase:\n{rdesc.stdout}")
    parts = re.findall(rf"Topic: {GROW}\s+Partition: (\d+)\s+Leader: 1\s+Replicas: 1\s+Isr: 1", rdesc.stdout)
    check_eq(sorted(int(p) for p in parts), [0, 1, 2, 3], f"--describe {GROW}: partitions with leader/replicas/isr 1")

    check_eq(len(rows), len(sent), f"{GROW}: records read back")
    by_part = {}
    for p, o, k, v in rows:
        by_part.setdefault(p, []).append(o)
    for p, offs in by_part.items():
        check_eq(sorted(offs), list(range(len(offs))), f"{GROW} partition {p}: offsets dense from 0")
    seq_part = {int(v.split("-")[1]): (k, p) for p, o, k, v in rows}
    check_eq(sorted(seq_part), list(range(len(sent))), f"{GROW}: every line once")
    switch = min((s for s, (k, p) in seq_part.items() if p != java_partition(k.encode(), 2)), default=None)
    check(switch is not None and switch >= before_alter, f"{GROW}: first record placed by 4 partitions: seq {switch} "
          f"(the alter came after seq {before_alter - 1})")
    for s in sorted(seq_part):
        k, p = seq_part[s]
        want = java_partition(k.encode(), 2 if s < switch else 4)
        check_eq(p, want, f"{GROW}: partition of line {s} key {k} (murmur2 over {2 if s < switch else 4} partitions)")
    print(f"  partitions added, producer moved at line {switch} ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ kafka-delete-records
    n0, n1 = len(rec_parts[0]), len(rec_parts[1])
    check(n0 >= 10 and n1 >= 10, f"{RECORDS}: uneven key spread {n0}/{n1}")
    cut = n0 // 2

    def delete_records(spec, name):
        path = os.path.join(b.tmp, name)
        with open(path, "w") as f:
            json.dump({"partitions": [{"topic": RECORDS, "partition": p, "offset": o} for p, o in spec], "version": 1}, f)
        return run_tool("org.apache.kafka.tools.DeleteRecordsCommand", bs + ["--offset-json-file", path]).stdout

    out = delete_records([(0, cut), (1, -1)], "del1.json")
    check(f"partition: {RECORDS}-0\tlow_watermark: {cut}" in out, f"kafka-delete-records (0 -> {cut}):\n{out}")
    check(f"partition: {RECORDS}-1\tlow_watermark: {n1}" in out, f"kafka-delete-records (1 -> -1 = high watermark {n1}):\n{out}")
    out_past, out_back, early, rows = parallel(
        (delete_records, [(0, n0 + 5)], "del2.json"),
        (delete_records, [(0, cut - 3)], "del3.json"),
        (offsets, RECORDS, -2),
        (console_consume, RECORDS, 0, "earliest", n0 - cut),
    )
    check(f"partition: {RECORDS}-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException: "
          "The requested offset is not within the range of offsets maintained by the server." in out_past,
          f"kafka-delete-records past the high watermark ({n0 + 5} > {n0}):\n{out_past}")
    check(f"partition: {RECORDS}-0\tlow_watermark: {cut}" in out_back,
          f"kafka-delete-records below the low watermark ({cut - 3} < {cut}) must leave it at {cut}:\n{out_back}")
    check_eq(early, {0: cut, 1: n1}, f"kafka-get-offsets {RECORDS} --time -2 after kafka-delete-records")
    check_eq([list_offset(RECORDS, p, OffsetSpec.latest()) for p in range(2)], [n0, n1],
             f"{RECORDS}: end offsets after kafka-delete-records")
    check_eq([(o, k, v) for _, o, k, v in rows], [(cut + i, k, v) for i, (k, v) in enumerate(rec_parts[0][cut:])],
             f"console consumer {RECORDS} partition 0 --offset earliest after kafka-delete-records")
    print(f"  kafka-delete-records checked ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ retention
    wait_until(lambda: list_offset(RETAIN, 0, OffsetSpec.earliest()) > 0, 90,
               f"retention.bytes to advance the log start offset of {RETAIN}", interval=0.5)
    wait_until(lambda: list_offset(EXPIRE, 0, OffsetSpec.earliest()) == len(expire_lines), 90,
               f"retention.ms=1000 to delete every record of {EXPIRE}", interval=0.5)
    check_eq(list_offset(EXPIRE, 0, OffsetSpec.latest()), len(expire_lines), f"{EXPIRE}: end offset after retention")
    start = list_offset(RETAIN, 0, OffsetSpec.earliest())
    check_eq(list_offset(RETAIN, 0, OffsetSpec.latest()), RETAIN_RECORDS, f"{RETAIN}: end offset after retention")
    early, rows, rdirs = parallel(
        (offsets, RETAIN, -2),
        (console_consume, RETAIN, 0, 0, 3, ["--command-property", "auto.offset.reset=earliest"]),
        (run_tool, "org.apache.kafka.tools.LogDirsCommand", bs + ["--describe", "--topic-list", f"{RETAIN},{GROW}"]),
    )
    check(early[0] >= start, f"kafka-get-offsets {RETAIN} --time -2: {early} (admin client saw {start})")
    check(early[0] <= RETAIN_RECORDS - MIB // 2 // RETAIN_SIZE,
          f"{RETAIN}: log start {early[0]} leaves less than half of retention.bytes={MIB} of {RETAIN_SIZE}-byte records")
    first = rows[0][1] if rows else None
    now_start = list_offset(RETAIN, 0, OffsetSpec.earliest())
    check(first is not None and start <= first <= now_start,
          f"console consumer {RETAIN} --offset 0 with auto.offset.reset=earliest: first offset {first}, "
          f"log start {start}..{now_start}")
    check_eq([o for _, o, _, _ in rows], [first, first + 1, first + 2], "console consumer after the reset: offsets")

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ta-unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(RETAIN, 0, 0)])
        msg = wait_until(lambda: next(iter([m for m in c.consume(1, timeout=1.0) if not m.error()]), None), 60,
                         f"confluent-kafka consumer at offset 0 of {RETAIN} to be reset")
        now_start = list_offset(RETAIN, 0, OffsetSpec.earliest())
        check(start <= msg.offset() <= now_start, f"confluent-kafka consumer at offset 0 of {RETAIN} "
              f"(auto.offset.reset=earliest) got offset {msg.offset()}, log start {start}..{now_start}")
        check_eq(len(msg.value()), RETAIN_SIZE, f"{RETAIN}: value size")
    finally:
        c.close()

    # ------------------------------------------------------------------ kafka-log-dirs
    mj = [ln for ln in rdirs.stdout.splitlines() if ln.startswith("{")]
    check(len(mj) == 1 and "Received log directory information from brokers 1" in rdirs.stdout,
          f"kafka-log-dirs --describe:\n{rdirs.stdout}")
    doc = json.loads(mj[0])
    check_eq([br["broker"] for br in doc["brokers"]], [1], "kafka-log-dirs: brokers")
    dirs = doc["brokers"][0]["logDirs"]
    check_eq([(d["logDir"], d["error"]) for d in dirs], [(b.data_dir, None)], "kafka-log-dirs: (logDir, error)")
    sizes = {}
    for pinfo in dirs[0]["partitions"]:
        sizes[pinfo["partition"]] = pinfo["size"]
        check_eq((pinfo["offsetLag"], pinfo["isFuture"]), (0, False), f"kafka-log-dirs {pinfo['partition']}: (offsetLag, isFuture)")
    want_parts = [f"{RETAIN}-0"] + [f"{GROW}-{p}" for p in range(4)]
    check_eq(sorted(sizes), sorted(want_parts), "kafka-log-dirs --topic-list: partitions")
    for p in range(4):
        mine = [(k, f"seq-{s}") for s, (k, pp) in seq_part.items() if pp == p]
        payload = sum(len(k) + len(v) for k, v in mine)
        size = sizes[f"{GROW}-{p}"]
        check(payload <= size <= payload + 100 * len(mine) + 100,
              f"kafka-log-dirs {GROW}-{p}: size {size} for {len(mine)} records of {payload} key+value bytes")
    check(MIB // 2 <= sizes[f"{RETAIN}-0"] <= 2 * MIB + 64 * 1024,
          f"kafka-log-dirs {RETAIN}-0: size {sizes[f'{RETAIN}-0']} (retention.bytes={MIB}, segment.bytes={MIB})")
    print(f"  retention and kafka-log-dirs checked: {RETAIN} starts at {early[0]} ({time.monotonic() - t0:.1f}s)",
          flush=True)

    # ------------------------------------------------------------------ compaction
    compactor.join(timeout=240)
    check(not compactor.is_alive(), f"{COMPACT}: the compaction checks did not finish")
    if "error" in compaction:
        raise compaction["error"]
    rows = console_consume(COMPACT, 0, "earliest", None, timeout_ms=6000)
    data = [(o, k, v) for _, o, k, v in rows if k != "nudge"]
    check_eq(data, compaction["want"], f"console consumer {COMPACT} --offset earliest after compaction (offset, key, value)")
    print(f"  compaction checked ({compaction['summary']}; {time.monotonic() - t0:.1f}s)", flush=True)
    soft.done()


def compaction_phase(b: harness.Broker, result: dict) -> None:
    """40 updates of each of 5 keys and a tombstone for one of them into the compacted topic; then
    wait until only the last value of each key is left (at its offset) and the tombstone outlived
    the compaction of its key, and until the tombstone is gone, not before delete.retention.ms.
    Runs in a thread; stores 'want' (what a reader must see) and 'summary', or 'error'."""
    try:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        last, errors = {}, []

        def dr(err, msg):
            if err is not None:
                errors.append(err)
            else:
                last[msg.key().decode()] = (msg.offset(), msg.value())

        for rnd in range(COMPACT_ROUNDS):
            for i in range(COMPACT_PER_ROUND):
                for k in range(COMPACT_KEYS):
                    p.produce(COMPACT, key=f"c{k}", value=f"c{k}-round{rnd}-update{i}-".encode() * (1 + i),
                              on_delivery=dr)
            check_eq(p.flush(60), 0, f"{COMPACT}: undelivered records")
        p.produce(COMPACT, key="c0", value=None, on_delivery=dr)
        check_eq(p.flush(60), 0, f"{COMPACT}: undelivered tombstone")
        tombstone_at = time.monotonic()
        check(not errors, f"{COMPACT}: delivery errors {errors[:3]}")
        total = COMPACT_ROUNDS * COMPACT_PER_ROUND * COMPACT_KEYS + 1
        check_eq(last["c0"], (total - 1, None), f"{COMPACT}: tombstone offset")
        want_live = {f"c{k}": last[f"c{k}"] for k in range(1, COMPACT_KEYS)}

        def read_all():
            cc = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ta-unused", "enable.auto.commit": False,
                           "enable.partition.eof": True, "fetch.wait.max.ms": 100})
            try:
                cc.assign([TopicPartition(COMPACT, 0, 0)])
                out = []
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    m = cc.poll(1.0)
                    if m is None:
                        continue
                    if m.error():
                        break  # partition EOF
                    out.append((m.offset(), m.key().decode(), m.value()))
                offs = [o for o, _, _ in out]
                check(offs == sorted(set(offs)), f"{COMPACT}: offsets not increasing: {offs[:50]}")
                return [(o, k, v) for o, k, v in out if k != "nudge"]
            finally:
                cc.close()

        nudges = [0]

        def nudge():
            # The active segment (the head of the log) is never cleaned: a record after segment.ms rolls it.
            p.produce(COMPACT, key="nudge", value=str(nudges[0]).encode())
            nudges[0] += 1
            p.flush(10)

        tombstone_alone = [False]

        def compacted():
            nudge()
            data = read_all()
            c0 = [(o, v) for o, k, v in data if k == "c0"]
            if len([1 for _, k, _ in data if k != "c0"]) != COMPACT_KEYS - 1 or c0 not in ([], [last["c0"]]):
                return False
            check_eq({k: (o, v) for o, k, v in data if k != "c0"}, want_live,
                     f"{COMPACT}: compacted keys (offset, last value)")
            tombstone_alone[0] = tombstone_alone[0] or bool(c0)
            return True

        wait_until(compacted, 120, f"{COMPACT}: only the last value of each key (and the tombstone)", interval=0.5)

        def tombstone_gone():
            nudge()
            c0 = [(o, v) for o, k, v in read_all() if k == "c0"]
            if c0:
                check_eq(c0, [last["c0"]], f"{COMPACT}: key c0 after compaction")
                tombstone_alone[0] = True
                return False
            return True

        wait_until(tombstone_gone, 120, f"{COMPACT}: the tombstone of c0 to go after delete.retention.ms", interval=0.5)
        gone_after = time.monotonic() - tombstone_at
        check(tombstone_alone[0], f"{COMPACT}: the tombstone of c0 was never seen after the compaction of its key")
        # (tombstone_at is taken after the flush: a little later than the append)
        check(gone_after >= DELETE_RETENTION_MS / 1000 - 0.5, f"{COMPACT}: the tombstone went {gone_after:.1f}s after it "
              f"was written, before delete.retention.ms={DELETE_RETENTION_MS}")
        result["want"] = sorted((o, k, v.decode()) for k, (o, v) in want_live.items())
        result["summary"] = f"tombstone gone {gone_after:.1f}s after it was written"
    except Exception as e:  # noqa: BLE001 - handed to the main thread
        result["error"] = e

if __name__ == "__main__":
    harness.main(body, overrides={
        "log.retention.check.interval.ms": 1000,
        # Kafka only (gregor ignores them): first retention check 1 s after start-up, not 30 s;
        # the cleaner looks for dirty logs every second, not every 15 s.
        "log.initial.task.delay.ms": 1000,
        "log.cleaner.backoff.ms": 1000,
    })
