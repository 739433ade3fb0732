#!/usr/bin/env python3
"""Topic configs and administration with the confluent-kafka (librdkafka) AdminClient.

describe_configs on a topic: values, source, is_default / read-only / sensitive, synonyms, the
set of config names of Kafka 4.3.1; a missing topic gives UNKNOWN_TOPIC_OR_PART.
incremental_alter_configs: SET, DELETE, APPEND and SUBTRACT (on the list cleanup.policy: append
to the default, no duplicate, subtract what is there and what is not, down to empty), validate_only,
two resources in one request (one refused, the other applied); refused with INVALID_CONFIG: an
unknown name, a bad type, out-of-range values, a string not in the valid set, APPEND/SUBTRACT on a
non-list, a batch with one bad value (nothing applied); DELETE of an unknown name is accepted.
Legacy alter_configs replaces the whole topic config (unlisted keys go back to their defaults).
create_partitions: an increase (validate_only changes nothing), fewer or the same is
INVALID_PARTITIONS, a missing topic UNKNOWN_TOPIC_OR_PART. delete_records: low watermarks, never
back, -1 = high watermark, past it OFFSET_OUT_OF_RANGE; a consumer from the beginning starts at it.
list_offsets: earliest, latest, max_timestamp, by timestamp with CreateTime (also past the last
record: offset -1) and LogAppendTime (the broker's append time, per batch; delivery reports and the
consumer see timestamp type LogAppendTime). max.message.bytes on a topic refuses a larger record
(MSG_SIZE_TOO_LARGE, also lz4-compressed) until it is raised with incremental_alter_configs.
compression.type=gzip on a topic: records produced uncompressed, lz4 and zstd read back intact.
"""

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness   # noqa: E402
from harness import CompatFailure, check, check_eq, wait_until, Soft, KAFKA_TOPIC_CONFIG_NAMES  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer, TopicPartition,   # noqa: E402
                             TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, OFFSET_BEGINNING)
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,   # noqa: E402
                                   NewPartitions, OffsetSpec, ResourceType)

CONFIGS = "ac-configs"
OTHER = "ac-other"
PARTS = "ac-parts"
RECORDS = "ac-records"
CREATE_TIME = "ac-create-time"
LOG_APPEND = "ac-log-append"
MAX_BYTES = "ac-max-bytes"
GZIP = "ac-gzip"
MISSING = "ac-no-such-topic"
BASE_TS = 1_700_000_000_000

def outcome(fut, timeout=30):
    """('ok', result) or ('err', code name, message) of an admin future."""
    try:
        return ("ok", fut.result(timeout=timeout))
    except KafkaException as e:
        err = e.args[0]
        return ("err", err.name(), err.str())


def body(b: harness.Broker) -> None:
    soft = Soft()
    admin = b.admin()
    b.create_topic(CONFIGS, 1, config={"retention.ms": "86400000"})
    b.create_topic(OTHER, 1)
    b.create_topic(PARTS, 2)
    b.create_topic(RECORDS, 2)
    b.create_topic(CREATE_TIME, 1)
    b.create_topic(LOG_APPEND, 1, config={"message.timestamp.type": "LogAppendTime"})
    b.create_topic(MAX_BYTES, 1, config={"max.message.bytes": "20000"})
    b.create_topic(GZIP, 1, config={"compression.type": "gzip"})

    def describe(topic=CONFIGS):
        r = ConfigResource(ResourceType.TOPIC, topic)
        return admin.describe_configs([r], request_timeout=30)[r].result(timeout=30)

    def entry(cfg, name):
        e = cfg[name]
        return (e.value, ConfigSource(e.source).name, e.is_default, e.is_read_only, e.is_sensitive)

    def synonyms(cfg, name):
        return [(s.name, s.value, ConfigSource(s.source).name) for s in cfg[name].synonyms.values()]

    def values(*names, topic=CONFIGS):
        cfg = describe(topic)
        return {n: (cfg[n].value, ConfigSource(cfg[n].source).name) for n in names}

    def settled(want, what, topic=CONFIGS):
        """Check the (value, source) of configs. Kafka applies a change on its controller and the
        broker's view follows a moment later: wait for it a little before checking."""
        try:
            wait_until(lambda: values(*want, topic=topic) == want, 20, what, interval=0.2)
        except CompatFailure:
            pass
        check_eq(values(*want, topic=topic), want, what)

    def inc(ops, topic=CONFIGS, validate_only=False):
        r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry(n, v, incremental_operation=op) for n, v, op in ops])
        return outcome(admin.incremental_alter_configs([r], validate_only=validate_only, request_timeout=30)[r])

    # ------------------------------------------------------------------ describe_configs
    cfg = describe()
    check_eq(entry(cfg, "retention.ms"), ("86400000", "DYNAMIC_TOPIC_CONFIG", False, False, False),
             "describe_configs retention.ms (value, source, is_default, is_read_only, is_sensitive)")
    check_eq(entry(cfg, "cleanup.policy"), ("delete", "DEFAULT_CONFIG", True, False, False), "describe_configs cleanup.policy")
    check_eq(entry(cfg, "max.message.bytes"), ("1048588", "DEFAULT_CONFIG", True, False, False),
             "describe_configs max.message.bytes")
    check_eq(entry(cfg, "segment.bytes"), ("1073741824", "DEFAULT_CONFIG", True, False, False), "describe_configs segment.bytes")
    check_eq(entry(cfg, "message.timestamp.type"), ("CreateTime", "DEFAULT_CONFIG", True, False, False),
             "describe_configs message.timestamp.type")
    soft.eq(synonyms(cfg, "retention.ms"), [("retention.ms", "86400000", "DYNAMIC_TOPIC_CONFIG")],
            "describe_configs synonyms of retention.ms (set on the topic)")
    soft.eq(synonyms(cfg, "cleanup.policy"), [("log.cleanup.policy", "delete", "DEFAULT_CONFIG")],
            "describe_configs synonyms of cleanup.policy")
    soft.eq(synonyms(cfg, "max.message.bytes"), [("message.max.bytes", "1048588", "DEFAULT_CONFIG")],
            "describe_configs synonyms of max.message.bytes")
    soft.eq(synonyms(cfg, "segment.ms"), [], "describe_configs synonyms of segment.ms (Kafka: none, log.roll.ms is unset)")
    soft.eq((sorted(set(KAFKA_TOPIC_CONFIG_NAMES) - set(cfg)), sorted(set(cfg) - set(KAFKA_TOPIC_CONFIG_NAMES))),
            ([], []), "describe_configs: config names (missing, not in Kafka 4.3.1)")
    r = ConfigResource(ResourceType.TOPIC, MISSING)
    got = outcome(admin.describe_configs([r], request_timeout=30)[r])
    check_eq(got[:2], ("err", "UNKNOWN_TOPIC_OR_PART"), "describe_configs of a missing topic")
    print("  describe_configs checked", flush=True)

    # ------------------------------------------------------------------ incremental_alter_configs
    SET, DELETE, APPEND, SUBTRACT = (AlterConfigOpType.SET, AlterConfigOpType.DELETE, AlterConfigOpType.APPEND,
                                     AlterConfigOpType.SUBTRACT)
    check_eq(inc([("retention.ms", "3600000", SET), ("max.message.bytes", "2000000", SET)]), ("ok", None),
             "incremental SET retention.ms, max.message.bytes")
    settled({"retention.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG"), "max.message.bytes": ("2000000", "DYNAMIC_TOPIC_CONFIG")},
            "after incremental SET")
    for ops, want, what in [
        ([("cleanup.policy", "compact", APPEND)], "delete,compact", "APPEND compact to the default delete"),
        ([("cleanup.policy", "compact", APPEND)], "delete,compact", "APPEND compact again (no duplicate)"),
        ([("cleanup.policy", "delete", SUBTRACT)], "compact", "SUBTRACT delete"),
        ([("cleanup.policy", "delete", SUBTRACT)], "compact", "SUBTRACT delete again (not there)"),
        ([("cleanup.policy", "compact", SUBTRACT)], "", "SUBTRACT compact (empty list)"),
        ([("cleanup.policy", "delete", APPEND)], "delete", "APPEND delete to the empty list"),
    ]:
        check_eq(inc(ops), ("ok", None), f"incremental {what}")
        settled({"cleanup.policy": (want, "DYNAMIC_TOPIC_CONFIG")}, f"after incremental {what}")
    check_eq(inc([("retention.ms", None, DELETE)]), ("ok", None), "incremental DELETE retention.ms")
    settled({"retention.ms": ("604800000", "DEFAULT_CONFIG")}, "retention.ms after DELETE")
    cfg = describe()
    check_eq(entry(cfg, "retention.ms"), ("604800000", "DEFAULT_CONFIG", True, False, False), "retention.ms after DELETE")
    soft.eq(inc([("no.such.config", None, DELETE)]), ("ok", None), "incremental DELETE of an unknown config name")
    check_eq(inc([("retention.ms", "1234", SET)], validate_only=True), ("ok", None), "incremental SET validate_only")
    settled({"retention.ms": ("604800000", "DEFAULT_CONFIG")}, "retention.ms after validate_only")

    refused = [
        ([("no.such.config", "1", SET)], "Unknown topic config name: no.such.config"),
        ([("retention.ms", "abc", SET)], "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
        ([("retention.ms", "-5", SET)], "Invalid value -5 for configuration retention.ms: Value must be at least -1"),
        ([("max.message.bytes", "-5", SET)], "Invalid value -5 for configuration max.message.bytes: Value must be at least 0"),
        ([("min.cleanable.dirty.ratio", "2", SET)],
         "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
        ([("segment.bytes", "1000", SET)], "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576"),
        ([("compression.type", "bogus", SET)], "Invalid value bogus for configuration compression.type: String must be one "
                                               "of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        ([("message.timestamp.type", "Bogus", SET)],
         "Invalid value Bogus for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"),
        ([("cleanup.policy", "bogus", APPEND)],
         "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete"),
        ([("retention.ms", "1000", APPEND)], "Can't APPEND to key retention.ms because its type is not LIST."),
        ([("retention.ms", "1000", SUBTRACT)], "Can't SUBTRACT to key retention.ms because its type is not LIST."),
        ([("retention.ms", "5000", SET), ("segment.ms", "abc", SET)],
         "Invalid value abc for configuration segment.ms: Not a number of type LONG"),
    ]
    for ops, msg in refused:
        what = "incremental " + ", ".join(f"{op.name} {n}={v}" for n, v, op in ops)
        got = inc(ops)
        check_eq(got[:2], ("err", "INVALID_CONFIG"), what)
        key = ops[-1][0]
        check(key in got[2], f"{what}: the error does not name {key}: {got[2]!r}")
        soft.eq(got[2], msg, f"{what}: error message")
    settled({"retention.ms": ("604800000", "DEFAULT_CONFIG"), "cleanup.policy": ("delete", "DYNAMIC_TOPIC_CONFIG"),
             "segment.ms": ("604800000", "DEFAULT_CONFIG"), "max.message.bytes": ("2000000", "DYNAMIC_TOPIC_CONFIG")},
            "configs after the refused changes (unchanged)")

    # Two resources in one request: each has its own result.
    r1 = ConfigResource(ResourceType.TOPIC, OTHER, incremental_configs=[
        ConfigEntry("retention.ms", "5555", incremental_operation=SET)])
    r2 = ConfigResource(ResourceType.TOPIC, MISSING, incremental_configs=[
        ConfigEntry("retention.ms", "5555", incremental_operation=SET)])
    fs = admin.incremental_alter_configs([r1, r2], request_timeout=30)
    check_eq(outcome(fs[r1]), ("ok", None), f"incremental SET on {OTHER} beside a missing topic")
    got = outcome(fs[r2])
    check_eq(got[:2], ("err", "UNKNOWN_TOPIC_OR_PART"), "incremental SET on a missing topic")
    soft.eq(got[2], f"The topic '{MISSING}' does not exist.", "incremental SET on a missing topic: error message")
    settled({"retention.ms": ("5555", "DYNAMIC_TOPIC_CONFIG")}, f"{OTHER} retention.ms after the two-resource request",
            topic=OTHER)
    print("  incremental_alter_configs checked", flush=True)

    # ------------------------------------------------------------------ legacy alter_configs
    warnings.filterwarnings("ignore", "alter_configs has been deprecated", DeprecationWarning)

    def legacy(topic, conf):
        r = ConfigResource(ResourceType.TOPIC, topic, set_config=conf)
        return outcome(admin.alter_configs([r], request_timeout=30)[r])

    check_eq(legacy(CONFIGS, {"retention.bytes": "123456789", "segment.ms": "3600000"}), ("ok", None),
             "alter_configs retention.bytes, segment.ms")
    settled({"retention.bytes": ("123456789", "DYNAMIC_TOPIC_CONFIG"), "segment.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG"),
             "cleanup.policy": ("delete", "DEFAULT_CONFIG"), "max.message.bytes": ("1048588", "DEFAULT_CONFIG"),
             "retention.ms": ("604800000", "DEFAULT_CONFIG")},
            "after alter_configs (it replaces the whole topic config)")
    for conf, code, msg in [
        ({"retention.bytes": "x"}, "INVALID_CONFIG", "Invalid value x for configuration retention.bytes: Not a number of type LONG"),
        ({"nope.nope": "x"}, "INVALID_CONFIG", "Unknown topic config name: nope.nope"),
    ]:
        got = legacy(CONFIGS, conf)
        check_eq(got[:2], ("err", code), f"alter_configs {conf}")
        soft.eq(got[2], msg, f"alter_configs {conf}: error message")
    got = legacy(MISSING, {"retention.ms": "1000"})
    check_eq(got[:2], ("err", "UNKNOWN_TOPIC_OR_PART"), "alter_configs on a missing topic")
    settled({"retention.bytes": ("123456789", "DYNAMIC_TOPIC_CONFIG"), "segment.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG")},
            "after the refused alter_configs (unchanged)")
    print("  alter_configs checked", flush=True)

    # ------------------------------------------------------------------ create_partitions
    def partitions(topic, n, validate_only=False):
        return outcome(admin.create_partitions([NewPartitions(topic, n)], validate_only=validate_only,
                                               request_timeout=30)[topic])

    check_eq(partitions(PARTS, 5), ("ok", None), f"create_partitions {PARTS} 2 -> 5")
    b.wait_topic(PARTS, 5)
    got = partitions(PARTS, 3)
    check_eq(got[:2], ("err", "INVALID_PARTITIONS"), f"create_partitions {PARTS} 5 -> 3")
    soft.eq(got[2], f"The topic {PARTS} currently has 5 partition(s); 3 would not be an increase.",
            f"create_partitions {PARTS} 5 -> 3: error message")
    got = partitions(PARTS, 5)
    check_eq(got[:2], ("err", "INVALID_PARTITIONS"), f"create_partitions {PARTS} 5 -> 5")
    soft.eq(got[2], "Topic already has 5 partition(s).", f"create_partitions {PARTS} 5 -> 5: error message")
    check_eq(partitions(MISSING, 3)[:2], ("err", "UNKNOWN_TOPIC_OR_PART"), "create_partitions of a missing topic")
    check_eq(partitions(PARTS, 9, validate_only=True), ("ok", None), f"create_partitions {PARTS} 5 -> 9 validate_only")
    md = admin.list_topics(topic=PARTS, timeout=10).topics[PARTS]
    check_eq(len(md.partitions), 5, f"{PARTS} partitions after validate_only")
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5, "acks": "all"})
    got_parts = set()

    def where(err, msg):
        if err is None:
            got_parts.add(msg.partition())

    for i in range(100):
        p.produce(PARTS, key=f"key-{i}".encode(), value=b"v", on_delivery=where)
    check_eq(p.flush(30), 0, f"{PARTS}: undelivered records")
    check_eq(got_parts, set(range(5)), f"{PARTS}: partitions of 100 keyed records after the increase")
    print("  create_partitions checked", flush=True)

    # ------------------------------------------------------------------ delete_records
    for i in range(20):
        p.produce(RECORDS, partition=0, value=f"r{i}".encode(), timestamp=BASE_TS + i * 1000)
        p.produce(CREATE_TIME, partition=0, value=f"t{i}".encode(), timestamp=BASE_TS + i * 1000)
    check_eq(p.flush(30), 0, "undelivered records")

    def delete(part, offset):
        tp = TopicPartition(RECORDS, part, offset)
        got = outcome(admin.delete_records([tp], request_timeout=30)[tp])
        return ("ok", got[1].low_watermark) if got[0] == "ok" else got[:2]

    def offsets(topic, part, spec):
        tp = TopicPartition(topic, part)
        got = outcome(admin.list_offsets({tp: spec}, request_timeout=30)[tp])
        check(got[0] == "ok", f"list_offsets {topic}/{part}: {got}")
        return got[1].offset, got[1].timestamp, got[1].leader_epoch

    check_eq(delete(0, 5), ("ok", 5), "delete_records 0@5 (low watermark)")
    check_eq(delete(0, 3), ("ok", 5), "delete_records 0@3 (below the low watermark: stays)")
    check_eq(delete(0, 50), ("err", "OFFSET_OUT_OF_RANGE"), "delete_records 0@50 (past the high watermark 20)")
    check_eq(delete(1, -1), ("ok", 0), "delete_records 1@-1 (empty partition)")
    check_eq(offsets(RECORDS, 0, OffsetSpec.earliest())[0], 5, "list_offsets earliest after delete_records")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ac-unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(RECORDS, 0, OFFSET_BEGINNING)])
        ms = wait_until(lambda: [m for m in c.consume(5, timeout=1.0) if not m.error()], 30,
                        f"records of {RECORDS} from the beginning")
        check_eq((ms[0].offset(), ms[0].value()), (5, b"r5"), "first record read from the beginning after delete_records")
    finally:
        c.close()
    check_eq(delete(0, -1), ("ok", 20), "delete_records 0@-1 (the high watermark)")
    check_eq([offsets(RECORDS, 0, s)[0] for s in (OffsetSpec.earliest(), OffsetSpec.latest())], [20, 20],
             "list_offsets earliest, latest after delete_records to the high watermark")
    print("  delete_records checked", flush=True)

    # ------------------------------------------------------------------ list_offsets by timestamp, CreateTime
    check_eq(offsets(CREATE_TIME, 0, OffsetSpec.earliest())[0], 0, "list_offsets earliest (CreateTime topic)")
    check_eq(offsets(CREATE_TIME, 0, OffsetSpec.latest())[0], 20, "list_offsets latest (CreateTime topic)")
    check_eq(offsets(CREATE_TIME, 0, OffsetSpec.max_timestamp())[:2], (19, BASE_TS + 19000), "list_offsets max_timestamp")
    for ts, want in [(BASE_TS - 5, 0), (BASE_TS, 0), (BASE_TS + 500, 1), (BASE_TS + 7000, 7), (BASE_TS + 19000, 19)]:
        check_eq(offsets(CREATE_TIME, 0, OffsetSpec.for_timestamp(ts))[:2], (want, BASE_TS + want * 1000),
                 f"list_offsets for_timestamp base+{ts - BASE_TS} (offset, timestamp)")
    got = offsets(CREATE_TIME, 0, OffsetSpec.for_timestamp(BASE_TS + 19001))
    check_eq(got[:2], (-1, -1), "list_offsets for_timestamp after the last record (offset, timestamp)")
    soft.eq(got[2], None, "list_offsets for_timestamp after the last record: leader_epoch (Kafka: -1, shown as None)")

    # ------------------------------------------------------------------ LogAppendTime
    reports = []

    def report(err, msg):
        reports.append((err, msg.offset(), msg.timestamp()))

    # A long linger: each group of three records goes out as one batch when flush() is called.
    lp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 1000, "acks": "all"})
    before = int(time.time() * 1000)
    for i in range(3):
        lp.produce(LOG_APPEND, partition=0, value=f"first-{i}".encode(), timestamp=BASE_TS + i, on_delivery=report)
    check_eq(lp.flush(30), 0, f"{LOG_APPEND}: undelivered")
    first_ts = reports[0][2][1]
    wait_until(lambda: int(time.time() * 1000) > first_ts + 20, 5, "the clock to move on")
    for i in range(3):
        lp.produce(LOG_APPEND, partition=0, value=f"second-{i}".encode(), timestamp=BASE_TS + 10 + i, on_delivery=report)
    check_eq(lp.flush(30), 0, f"{LOG_APPEND}: undelivered")
    after = int(time.time() * 1000)
    check(all(e is None for e, _, _ in reports), f"{LOG_APPEND}: delivery errors {reports}")
    check_eq([o for _, o, _ in reports], list(range(6)), f"{LOG_APPEND}: offsets")
    check_eq({t[0] for _, _, t in reports}, {TIMESTAMP_LOG_APPEND_TIME}, f"{LOG_APPEND}: delivery report timestamp types")
    ts1, ts2 = reports[0][2][1], reports[3][2][1]
    check_eq([t[1] for _, _, t in reports], [ts1] * 3 + [ts2] * 3, f"{LOG_APPEND}: delivery report timestamps (per batch)")
    check(before - 1000 <= ts1 < ts2 <= after + 1000, f"{LOG_APPEND}: append times {ts1}, {ts2} not within "
          f"[{before}, {after}] (producer timestamps were {BASE_TS}+i)")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ac-unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(LOG_APPEND, 0, OFFSET_BEGINNING)])
        seen = []
        wait_until(lambda: seen.extend(m for m in c.consume(10, timeout=1.0) if not m.error()) or len(seen) >= 6, 30,
                   f"6 records of {LOG_APPEND}")
        check_eq([(m.offset(), m.timestamp()) for m in seen],
                 [(i, (TIMESTAMP_LOG_APPEND_TIME, ts1 if i < 3 else ts2)) for i in range(6)],
                 f"{LOG_APPEND}: consumed (offset, (timestamp type, timestamp))")
    finally:
        c.close()
    check_eq(offsets(LOG_APPEND, 0, OffsetSpec.for_timestamp(ts1))[:2], (0, ts1), f"{LOG_APPEND}: for_timestamp(first)")
    check_eq(offsets(LOG_APPEND, 0, OffsetSpec.for_timestamp(ts1 + 1))[:2], (3, ts2), f"{LOG_APPEND}: for_timestamp(first+1)")
    check_eq(offsets(LOG_APPEND, 0, OffsetSpec.for_timestamp(BASE_TS))[:2], (0, ts1),
             f"{LOG_APPEND}: for_timestamp(the producer's timestamp)")
    check_eq(offsets(LOG_APPEND, 0, OffsetSpec.max_timestamp())[:2], (3, ts2), f"{LOG_APPEND}: max_timestamp")
    print("  list_offsets and LogAppendTime checked", flush=True)

    # ------------------------------------------------------------------ max.message.bytes on a topic
    big = os.urandom(30000)
    results = []

    def sized(err, msg):
        results.append((err.name() if err else None, msg.offset()))

    for codec in ("none", "lz4"):
        pp = Producer({"bootstrap.servers": b.bootstrap, "compression.type": codec, "enable.idempotence": False,
                       "retries": 0, "linger.ms": 0, "acks": "all"})
        del results[:]
        pp.produce(MAX_BYTES, value=big, on_delivery=sized)
        check_eq(pp.flush(30), 0, f"{MAX_BYTES}: undelivered")
        pp.produce(MAX_BYTES, value=big[:1000], on_delivery=sized)
        check_eq(pp.flush(30), 0, f"{MAX_BYTES}: undelivered")
        check_eq([r[0] for r in results], ["MSG_SIZE_TOO_LARGE", None],
                 f"{MAX_BYTES} (max.message.bytes=20000), {codec}: a 30000-byte record, then a 1000-byte one")
    check_eq(inc([("max.message.bytes", "40000", SET)], topic=MAX_BYTES), ("ok", None), "SET max.message.bytes=40000")
    pp = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": False, "retries": 0, "acks": "all"})

    def accepted():
        # Kafka's broker applies the new topic config a moment after the controller took it.
        del results[:]
        pp.produce(MAX_BYTES, value=big, on_delivery=sized)
        check_eq(pp.flush(30), 0, f"{MAX_BYTES}: undelivered")
        return results[0][0] is None

    wait_until(accepted, 20, f"{MAX_BYTES}: a 30000-byte record to be accepted after max.message.bytes=40000", interval=0.2)
    check_eq(results, [(None, 2)], f"{MAX_BYTES}: the 30000-byte record after max.message.bytes=40000 (error, offset)")

    # ------------------------------------------------------------------ compression.type=gzip on a topic
    settled({"compression.type": ("gzip", "DYNAMIC_TOPIC_CONFIG")}, f"{GZIP} compression.type", topic=GZIP)
    sent = []
    for codec in ("none", "lz4", "zstd"):
        pp = Producer({"bootstrap.servers": b.bootstrap, "compression.type": codec, "linger.ms": 5, "acks": "all",
                       "enable.idempotence": True})
        for i in range(20):
            key = f"{codec}-{i % 4}".encode()
            value = (f"{codec} record {i} " * (1 + i * 7)).encode() if i % 5 else os.urandom(200 + i)
            sent.append((key, value, [("h", codec.encode())] if i % 3 == 0 else None))
            pp.produce(GZIP, key=key, value=value, headers=sent[-1][2], timestamp=BASE_TS + len(sent))
        check_eq(pp.flush(30), 0, f"{GZIP} ({codec}): undelivered")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ac-unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(GZIP, 0, OFFSET_BEGINNING)])
        seen = []

        def more():
            for m in c.consume(100, timeout=1.0):
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise CompatFailure(f"{GZIP}: consumer error {m.error()}")
                    continue
                seen.append(m)
            return len(seen) >= len(sent)

        wait_until(more, 30, f"{len(sent)} records of {GZIP}")
        check_eq([m.offset() for m in seen], list(range(len(sent))), f"{GZIP}: offsets")
        for m, (k, v, h) in zip(seen, sent):
            check_eq((m.key(), m.value(), m.headers()), (k, v, h), f"{GZIP} offset {m.offset()}: key, value, headers")
            check_eq(m.timestamp(), (TIMESTAMP_CREATE_TIME, BASE_TS + m.offset() + 1), f"{GZIP} offset {m.offset()}: timestamp")
    finally:
        c.close()
    print("  max.message.bytes and compression.type checked", flush=True)
    soft.done()


if __name__ == "__main__":
    harness.main(body)
