#!/usr/bin/env python3
"""Dynamic broker configs with kafka-configs (Apache Kafka 4.3.1) and the confluent-kafka AdminClient.

The cluster-wide default (--entity-type brokers --entity-default) and the broker's own (--entity-name
1, the harness's node.id) dynamic configs: --alter --add-config, --describe (each config with its
source and synonyms: DYNAMIC_BROKER_CONFIG over DYNAMIC_DEFAULT_BROKER_CONFIG over STATIC_BROKER_CONFIG
over DEFAULT_CONFIG), --describe --all (static overrides such as node.id and
log.retention.check.interval.ms as STATIC_BROKER_CONFIG), describe_configs of the BROKER resource
(source, is_read_only); a topic without overrides takes its defaults from them (retention.ms,
retention.bytes, max.message.bytes, as DYNAMIC_* synonyms) and the broker acts on them: a 1.5 MB
record is accepted while message.max.bytes=2000000 is set for the broker and refused
(MSG_SIZE_TOO_LARGE) after --delete-config; a cluster default log.retention.ms=1000 deletes a
topic's records. Refused with InvalidRequestException: a read-only config (node.id), a bad type,
out of range, a string not in the valid set. --delete-config removes them again.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness   # noqa: E402
from harness import CompatFailure, check, check_eq, run_cli, wait_until, Soft, parallel  # noqa: E402
from confluent_kafka import Producer, TopicPartition   # noqa: E402
from confluent_kafka.admin import ConfigResource, ConfigSource, OffsetSpec, ResourceType   # noqa: E402

NODE = "1"  # node.id the harness gives both brokers
TOPIC = "bc-plain"  # no topic overrides: its configs come from the broker
RECORDS = 20
BIG = 1_500_000  # over the default message.max.bytes (1048588), under 2000000
KEYS = ("log.retention.ms", "log.retention.bytes", "message.max.bytes")


def body(b: harness.Broker) -> None:
    bs = ["--bootstrap-server", b.bootstrap]
    soft = Soft()
    t0 = time.monotonic()
    DEFAULT = ["--entity-type", "brokers", "--entity-default"]
    BROKER = ["--entity-type", "brokers", "--entity-name", NODE]

    def configs(*args, **kw):
        return run_cli("kafka-configs", bs + list(args), **kw)

    def describe(entity, all_=False):
        """{name: full line} of kafka-configs --describe [--all] of a broker entity or a topic."""
        r = configs("--describe", *entity, *(["--all"] if all_ else []))
        lines = r.stdout.splitlines()
        if entity == DEFAULT:
            head = "Default configs for brokers in the cluster are:"
        elif entity == BROKER:
            head = f"{'All' if all_ else 'Dynamic'} configs for broker {NODE} are:"
        else:
            head = f"{'All' if all_ else 'Dynamic'} configs for topic {entity[-1]} are:"
        check(lines and lines[0] == head, f"kafka-configs --describe {' '.join(entity)}: {r.stdout!r}")
        out = {}
        for ln in lines[1:]:
            m = re.match(r"  ([a-z0-9._-]+)=", ln)
            check(m, f"kafka-configs --describe {' '.join(entity)}: unexpected line {ln!r}")
            out[m.group(1)] = ln
        return out

    def source_of(line):
        """name=value and the source of the first synonym (the one in effect) of a describe line."""
        m = re.match(r"  (\S+?=\S*) sensitive=\w+ synonyms=\{(\w+):", line or "")
        return (m.group(1), m.group(2)) if m else line

    def line_check(lines, name, value, synonyms, what):
        # Output only (later steps do not depend on it): soft, so that every difference is reported.
        if name not in lines:
            soft.eq(None, f"{name}={value}", f"{what}: the line of {name} (missing)")
            return
        first = synonyms.split(", ")[0]
        soft.eq(source_of(lines[name]), (f"{name}={value}", first.split(":")[0]), f"{what}: {name} (value, source)")
        soft.eq(lines[name], f"  {name}={value} sensitive=false synonyms={{{synonyms}}}", f"{what}: {name}")

    admin = b.admin()

    def broker_entries():
        res = ConfigResource(ResourceType.BROKER, NODE)
        cfg = admin.describe_configs([res], request_timeout=30)[res].result(timeout=30)
        return {k: (cfg[k].value, ConfigSource(cfg[k].source).name, cfg[k].is_read_only) for k in
                ("log.retention.ms", "log.retention.bytes", "message.max.bytes", "node.id")}

    def topic_entries():
        res = ConfigResource(ResourceType.TOPIC, TOPIC)
        cfg = admin.describe_configs([res], request_timeout=30)[res].result(timeout=30)
        return {k: (cfg[k].value, ConfigSource(cfg[k].source).name, cfg[k].is_default) for k in
                ("retention.ms", "retention.bytes", "max.message.bytes")}

    def earliest():
        tp = TopicPartition(TOPIC, 0)
        return admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=30)[tp].result(timeout=30).offset

    producer = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.max.bytes": 3_000_000,
                         "enable.idempotence": False, "retries": 0, "linger.ms": 0})

    def produce(value):
        out = []
        producer.produce(TOPIC, value=value, on_delivery=lambda err, msg: out.append(err.name() if err else msg.offset()))
        check_eq(producer.flush(60), 0, f"{TOPIC}: undelivered record")
        return out[0]

    # ------------------------------------------------------------------ before
    b.create_topic(TOPIC, 1)
    for i in range(RECORDS):
        check_eq(produce(f"record-{i}".encode()), i, f"{TOPIC}: offset of record {i}")
    d0, b0 = parallel((describe, DEFAULT), (describe, BROKER))
    check_eq([k for k in KEYS if k in d0 or k in b0], [], "dynamic broker configs before any --alter")
    check_eq(broker_entries()["node.id"], ("1", "STATIC_BROKER_CONFIG", True),
             f"describe_configs BROKER {NODE}: node.id (value, source, is_read_only)")
    print(f"  initial describe ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ --add-config
    rd, rb = parallel(
        (configs, "--alter", *DEFAULT, "--add-config", "log.retention.ms=3600000,log.retention.bytes=1073741824"),
        (configs, "--alter", *BROKER, "--add-config", "log.retention.ms=7200000,message.max.bytes=2000000"),
    )
    check_eq(rd.stdout.strip(), "Completed updating default config for brokers in the cluster.",
             "kafka-configs --alter --entity-default --add-config")
    check_eq(rb.stdout.strip(), f"Completed updating config for broker {NODE}.",
             f"kafka-configs --alter --entity-name {NODE} --add-config")

    def described():
        d, bl, ball, tall = parallel((describe, DEFAULT), (describe, BROKER), (describe, BROKER, True),
                                     (describe, ["--entity-type", "topics", "--entity-name", TOPIC], True))
        return d, bl, ball, tall

    # Dynamic configs reach the broker's own view asynchronously in Kafka: wait until they show.
    d, bl, ball, tall = wait_until(
        lambda: (lambda r: r if source_of(r[2].get("log.retention.ms"))[0] == "log.retention.ms=7200000" else None)(
            described()), 60, "--describe --all to show the new dynamic configs", interval=1)
    line_check(d, "log.retention.ms", "3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000",
               "--describe --entity-default")
    line_check(d, "log.retention.bytes", "1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.bytes=1073741824",
               "--describe --entity-default")
    check("message.max.bytes" not in d, f"--describe --entity-default shows the broker's message.max.bytes: {d}")
    want_broker = {
        "log.retention.ms": ("7200000", "DYNAMIC_BROKER_CONFIG:log.retention.ms=7200000, "
                                        "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, "
                                        "DEFAULT_CONFIG:log.retention.hours=168"),
        "message.max.bytes": ("2000000", "DYNAMIC_BROKER_CONFIG:message.max.bytes=2000000, "
                                         "DEFAULT_CONFIG:message.max.bytes=1048588"),
    }
    check_eq(sorted(bl), sorted(want_broker), f"--describe --entity-name {NODE}: configs")
    for name, (value, syn) in want_broker.items():
        line_check(bl, name, value, syn, f"--describe --entity-name {NODE}")
        line_check(ball, name, value, syn, f"--describe --all --entity-name {NODE}")
    line_check(ball, "log.retention.bytes", "1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.bytes=1073741824, "
               "DEFAULT_CONFIG:log.retention.bytes=-1", f"--describe --all --entity-name {NODE}")
    line_check(ball, "log.retention.check.interval.ms", "1000", "STATIC_BROKER_CONFIG:log.retention.check.interval.ms=1000, "
               "DEFAULT_CONFIG:log.retention.check.interval.ms=300000", f"--describe --all --entity-name {NODE}")
    line_check(ball, "node.id", "1", "STATIC_BROKER_CONFIG:node.id=1", f"--describe --all --entity-name {NODE}")
    line_check(tall, "retention.ms", "7200000", want_broker["log.retention.ms"][1], f"--describe --all topic {TOPIC}")
    line_check(tall, "max.message.bytes", "2000000", want_broker["message.max.bytes"][1], f"--describe --all topic {TOPIC}")
    line_check(tall, "retention.bytes", "1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.bytes=1073741824, "
               "DEFAULT_CONFIG:log.retention.bytes=-1", f"--describe --all topic {TOPIC}")
    check_eq(broker_entries(), {"log.retention.ms": ("7200000", "DYNAMIC_BROKER_CONFIG", False),
                                "log.retention.bytes": ("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG", False),
                                "message.max.bytes": ("2000000", "DYNAMIC_BROKER_CONFIG", False),
                                "node.id": ("1", "STATIC_BROKER_CONFIG", True)},
             f"describe_configs BROKER {NODE} (value, source, is_read_only)")
    check_eq(topic_entries(), {"retention.ms": ("7200000", "DYNAMIC_BROKER_CONFIG", False),
                               "retention.bytes": ("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG", False),
                               "max.message.bytes": ("2000000", "DYNAMIC_BROKER_CONFIG", False)},
             f"describe_configs TOPIC {TOPIC} (value, source, is_default)")
    big_offset = wait_until(lambda: (lambda r: r if isinstance(r, int) else None)(produce(b"x" * BIG)), 60,
                            f"a {BIG}-byte record to be accepted with the broker's message.max.bytes=2000000")
    check_eq(big_offset, RECORDS, f"{TOPIC}: offset of the {BIG}-byte record")
    print(f"  dynamic configs added and described ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ refused
    bad = [
        (BROKER, "node.id=5", "node.id", "Cannot update these configs dynamically: [node.id]"),
        (DEFAULT, "message.max.bytes=-7", "message.max.bytes",
         "Invalid value -7 for configuration message.max.bytes: Value must be at least 0"),
        (DEFAULT, "log.retention.bytes=abc", "log.retention.bytes",
         "Invalid value abc for configuration log.retention.bytes: Not a number of type LONG"),
        (BROKER, "log.cleanup.policy=bogus", "log.cleanup.policy",
         "Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete"),
    ]
    results = parallel(*[(lambda e=e, kv=kv: configs("--alter", *e, "--add-config", kv, check=False),)
                         for e, kv, _, _ in bad])
    for (entity, kv, key, msg), r in zip(bad, results):
        what = f"kafka-configs --alter {' '.join(entity[2:])} --add-config {kv}"
        check(r.returncode != 0, f"{what} was accepted:\n{r.stdout}")
        caused = [ln[len("Caused by: "):] for ln in r.stderr.splitlines() if ln.startswith("Caused by: ")]
        cb = caused[-1] if caused else r.stderr[-500:]
        check(key in cb, f"{what}: the error does not name {key}: {cb!r}")
        soft.eq(cb.split(":")[0], "org.apache.kafka.common.errors.InvalidRequestException",
                f"{what}: exception (Kafka: INVALID_REQUEST for a broker resource)")
        soft.eq(cb, f"org.apache.kafka.common.errors.InvalidRequestException: {msg}", f"{what}: error")
    check_eq(broker_entries(), {"log.retention.ms": ("7200000", "DYNAMIC_BROKER_CONFIG", False),
                                "log.retention.bytes": ("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG", False),
                                "message.max.bytes": ("2000000", "DYNAMIC_BROKER_CONFIG", False),
                                "node.id": ("1", "STATIC_BROKER_CONFIG", True)},
             f"describe_configs BROKER {NODE} after the refused changes (unchanged)")
    print(f"  invalid values refused ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ --delete-config (broker)
    r = configs("--alter", *BROKER, "--delete-config", "log.retention.ms,message.max.bytes")
    check_eq(r.stdout.strip(), f"Completed updating config for broker {NODE}.", f"--delete-config on broker {NODE}")
    bl, tall = wait_until(
        lambda: (lambda r: r if "retention.ms=3600000 " in r[1].get("retention.ms", "") else None)(
            parallel((describe, BROKER), (describe, ["--entity-type", "topics", "--entity-name", TOPIC], True))),
        60, f"topic {TOPIC} to take retention.ms from the cluster default again", interval=1)
    check_eq(sorted(bl), [], f"--describe --entity-name {NODE} after --delete-config")
    line_check(tall, "retention.ms", "3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, "
               "DEFAULT_CONFIG:log.retention.hours=168", f"--describe --all topic {TOPIC} after --delete-config")
    line_check(tall, "max.message.bytes", "1048588", "DEFAULT_CONFIG:message.max.bytes=1048588",
               f"--describe --all topic {TOPIC} after --delete-config")
    check_eq(topic_entries(), {"retention.ms": ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG", False),
                               "retention.bytes": ("1073741824", "DYNAMIC_DEFAULT_BROKER_CONFIG", False),
                               "max.message.bytes": ("1048588", "DEFAULT_CONFIG", True)},
             f"describe_configs TOPIC {TOPIC} after --delete-config on the broker")
    wait_until(lambda: produce(b"y" * BIG) == "MSG_SIZE_TOO_LARGE", 60,
               f"a {BIG}-byte record to be refused again after --delete-config message.max.bytes")
    print(f"  broker configs deleted ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ a cluster default acts on topics
    check_eq(earliest(), 0, f"{TOPIC}: log start before log.retention.ms=1000")
    r = configs("--alter", *DEFAULT, "--add-config", "log.retention.ms=1000")
    check_eq(r.stdout.strip(), "Completed updating default config for brokers in the cluster.",
             "--entity-default --add-config log.retention.ms=1000")
    wait_until(lambda: earliest() == RECORDS + 1, 90,
               f"cluster default log.retention.ms=1000 to delete the {RECORDS + 1} records of {TOPIC}", interval=0.5)
    r = configs("--alter", *DEFAULT, "--delete-config", "log.retention.ms,log.retention.bytes")
    check_eq(r.stdout.strip(), "Completed updating default config for brokers in the cluster.",
             "--entity-default --delete-config")
    d, tall = wait_until(
        lambda: (lambda r: r if "retention.ms=604800000 " in r[1].get("retention.ms", "") else None)(
            parallel((describe, DEFAULT), (describe, ["--entity-type", "topics", "--entity-name", TOPIC], True))),
        60, f"topic {TOPIC} to take retention.ms from the static default again", interval=1)
    check_eq([k for k in KEYS if k in d], [], "--describe --entity-default after --delete-config")
    soft.eq(tall["retention.ms"], "  retention.ms=604800000 sensitive=false synonyms={}",
            f"--describe --all topic {TOPIC} after --delete-config of the cluster default: retention.ms")
    line_check(tall, "retention.bytes", "-1", "DEFAULT_CONFIG:log.retention.bytes=-1",
               f"--describe --all topic {TOPIC} after --delete-config of the cluster default")
    check_eq(topic_entries(), {"retention.ms": ("604800000", "DEFAULT_CONFIG", True),
                               "retention.bytes": ("-1", "DEFAULT_CONFIG", True),
                               "max.message.bytes": ("1048588", "DEFAULT_CONFIG", True)},
             f"describe_configs TOPIC {TOPIC} after every dynamic broker config is deleted")
    print(f"  cluster default acted and deleted ({time.monotonic() - t0:.1f}s)", flush=True)
    soft.done()


if __name__ == "__main__":
    harness.main(body, overrides={
        "log.retention.check.interval.ms": 1000,
        "log.initial.task.delay.ms": 1000,  # Kafka only: the first retention check 1 s after start-up
    })
