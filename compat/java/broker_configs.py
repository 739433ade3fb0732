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

Group configs (KIP-848, resource type GROUP = 32) with --entity-type groups on a group that does not
exist: --add-config consumer.session.timeout.ms and consumer.heartbeat.interval.ms, --describe (with
the broker's group.consumer.* defaults as DEFAULT_CONFIG synonyms), --describe --all (every group
config), --describe without --entity-name, InvalidConfigurationException for an out-of-range value
and an unknown name, --delete-config one and then the other (the group is gone again).
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
GROUP = "bc-group"  # never joined by anyone: kafka-configs sets its configs all the same
# `kafka-configs --describe --all --entity-type groups` of Apache Kafka 4.3.1, a group without dynamic configs:
# every group config: (default, the name in its DEFAULT_CONFIG synonym: the broker config it defaults to, or
# its own name for the three share.* configs that have none).
KAFKA_GROUP_CONFIGS = {
    "consumer.assignment.interval.ms": ("1000", "group.consumer.assignment.interval.ms"),
    "consumer.heartbeat.interval.ms": ("5000", "group.consumer.heartbeat.interval.ms"),
    "consumer.session.timeout.ms": ("45000", "group.consumer.session.timeout.ms"),
    "share.assignment.interval.ms": ("1000", "group.share.assignment.interval.ms"),
    "share.auto.offset.reset": ("latest", "share.auto.offset.reset"),
    "share.delivery.count.limit": ("5", "group.share.delivery.count.limit"),
    "share.heartbeat.interval.ms": ("5000", "group.share.heartbeat.interval.ms"),
    "share.isolation.level": ("read_uncommitted", "share.isolation.level"),
    "share.partition.max.record.locks": ("2000", "group.share.partition.max.record.locks"),
    "share.record.lock.duration.ms": ("30000", "group.share.record.lock.duration.ms"),
    "share.renew.acknowledge.enable": ("true", "share.renew.acknowledge.enable"),
    "share.session.timeout.ms": ("45000", "group.share.session.timeout.ms"),
    "streams.assignment.interval.ms": ("1000", "group.streams.assignment.interval.ms"),
    "streams.heartbeat.interval.ms": ("5000", "group.streams.heartbeat.interval.ms"),
    "streams.initial.rebalance.delay.ms": ("3000", "group.streams.initial.rebalance.delay.ms"),
    "streams.num.standby.replicas": ("0", "group.streams.num.standby.replicas"),
    "streams.session.timeout.ms": ("45000", "group.streams.session.timeout.ms"),
}


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

    # ------------------------------------------------------------------ group configs (GROUP = 32)
    # Kafka 4.3.1's kafka-configs, word for word (G = the group):
    #   --describe --entity-name G of a group that neither exists (ListGroups) nor has dynamic configs
    #   (ListConfigResources), exit 0 (with --all there is no such check: all the defaults are listed):
    #     The group 'G' doesn't exist and doesn't have dynamic config.
    #   --alter --add-config / --delete-config (also of a config that is not set: no client-side check):
    #     Completed updating config for group G.
    #   --describe --entity-name G:
    #     Dynamic configs for group G are:
    #       consumer.heartbeat.interval.ms=6000 sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:consumer.heartbeat.interval.ms=6000, DEFAULT_CONFIG:group.consumer.heartbeat.interval.ms=5000}
    #       consumer.session.timeout.ms=50000 sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:consumer.session.timeout.ms=50000, DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000}
    #   --describe --all: "All configs for group G are:", then a line per KAFKA_GROUP_CONFIGS name, sorted, e.g.
    #       share.isolation.level=read_uncommitted sensitive=false synonyms={DEFAULT_CONFIG:share.isolation.level=read_uncommitted}
    #   --describe without --entity-name: the --describe block of every group with dynamic configs.
    #   Refused: exit 1, stderr "Error while executing config command with args '...'", the
    #   java.util.concurrent.ExecutionException with its stack trace, then (INVALID_CONFIG):
    #     Caused by: org.apache.kafka.common.errors.InvalidConfigurationException: consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms
    #     Caused by: org.apache.kafka.common.errors.InvalidConfigurationException: Unknown group config name: bogus.name
    #   (70000: "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms";
    #   consumer.heartbeat.interval.ms=1000: "... must be greater than or equal to group.consumer.min.heartbeat.interval.ms";
    #   abc: "Invalid value abc for configuration consumer.session.timeout.ms: Not a number of type INT").
    #   When its last dynamic config is deleted the group is "doesn't exist" again.
    t1 = time.monotonic()
    GE = ["--entity-type", "groups", "--entity-name", GROUP]
    GN = ["--entity-name", GROUP]
    SESSION, HEARTBEAT = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"

    def group_describe(*args):
        """kafka-configs --describe --entity-type groups [args]: {group: {name: full line}}; a group
        with Kafka's "doesn't exist and doesn't have dynamic config" line as {group: None}."""
        r = configs("--describe", "--entity-type", "groups", *args)
        what = f"kafka-configs --describe --entity-type groups {' '.join(args)}"
        head = "All" if "--all" in args else "Dynamic"
        out, cur = {}, None
        for ln in r.stdout.splitlines():
            m = re.fullmatch(r"(\w+) configs for group (\S+) are:", ln)
            gone = re.fullmatch(r"The group '(\S+)' doesn't exist and doesn't have dynamic config\.", ln)
            if m:
                check(m.group(1) == head, f"{what}: {ln!r} (Kafka: {head} configs for group ...)")
                cur = out.setdefault(m.group(2), {})
            elif gone:
                out[gone.group(1)], cur = None, None
            else:
                c = re.match(r"  ([a-z0-9._-]+)=", ln)
                check(c and cur is not None, f"{what}: unexpected line {ln!r} in {r.stdout!r}")
                cur[c.group(1)] = ln
        return out

    def group_line(name, value=None):
        """(value, synonyms) of a group config as Kafka describes it: set to value, or at its default."""
        default, broker_name = KAFKA_GROUP_CONFIGS[name]
        syn = f"DEFAULT_CONFIG:{broker_name}={default}"
        return (default, syn) if value is None else (value, f"DYNAMIC_GROUP_CONFIG:{name}={value}, {syn}")

    def lines_check(lines, want, what):
        """want: {name: (value, synonyms)}, exactly these names. Soft: one mismatch for the names, one
        for the (name=value, source) pairs and one for the full lines, each listing every difference."""
        soft.eq(sorted(lines), sorted(want), f"{what}: configs")
        bad = [f"{n}: got {source_of(lines.get(n))!r}, want {(f'{n}={v}', s.split(':')[0])!r}"
               for n, (v, s) in want.items() if source_of(lines.get(n)) != (f"{n}={v}", s.split(":")[0])]
        soft.true(not bad, f"{what}: (value, source) differ:\n      " + "\n      ".join(bad))
        bad = [f"got {lines.get(n)!r}\n      want {f'  {n}={v} sensitive=false synonyms={{{s}}}'!r}"
               for n, (v, s) in want.items() if lines.get(n) != f"  {n}={v} sensitive=false synonyms={{{s}}}"]
        soft.true(not bad, f"{what}: {len(bad)} line(s) differ:\n      " + "\n      ".join(bad))

    def group_wait(cond, what, *calls):
        """Run the describe calls (in parallel) until cond(first result's configs of GROUP) holds."""
        last = []

        def once():
            last[:] = parallel(*calls)
            return cond(last[0].get(GROUP))
        try:
            wait_until(once, 30, what, interval=0.5)
        except CompatFailure as e:
            raise CompatFailure(f"{e}; last: {last}")
        return last

    soft.eq(group_describe(*GN), {GROUP: None}, f"--describe --entity-name {GROUP} before any --alter")
    r = configs("--alter", *GE, "--add-config", f"{SESSION}=50000,{HEARTBEAT}=6000")
    check_eq(r.stdout.strip(), f"Completed updating config for group {GROUP}.",
             f"kafka-configs --alter --entity-type groups --entity-name {GROUP} --add-config")
    gd, gall = group_wait(lambda g: g and sorted(g) == [HEARTBEAT, SESSION], f"--describe of group {GROUP} to show "
                          f"{SESSION} and {HEARTBEAT}", (group_describe, *GN), (group_describe, *GN, "--all"))
    want_dyn = {SESSION: group_line(SESSION, "50000"), HEARTBEAT: group_line(HEARTBEAT, "6000")}
    lines_check(gd[GROUP], want_dyn, f"--describe --entity-name {GROUP}")
    check_eq(sorted(gall), [GROUP], f"--describe --all --entity-name {GROUP}: groups")
    lines_check(gall[GROUP], {n: group_line(n) for n in KAFKA_GROUP_CONFIGS} | want_dyn,
                f"--describe --all --entity-name {GROUP}")

    refused = [(f"{SESSION}=1000", SESSION, f"{SESSION} must be greater than or equal to group.consumer.min.session.timeout.ms"),
               ("bogus.name=1", "bogus.name", "Unknown group config name: bogus.name")]
    results = parallel(*[(lambda kv=kv: configs("--alter", *GE, "--add-config", kv, check=False),)
                         for kv, _, _ in refused])
    for (kv, key, msg), r in zip(refused, results):
        what = f"kafka-configs --alter --entity-type groups --entity-name {GROUP} --add-config {kv}"
        check(r.returncode != 0, f"{what} was accepted:\n{r.stdout}")
        caused = [ln[len("Caused by: "):] for ln in r.stderr.splitlines() if ln.startswith("Caused by: ")]
        cb = caused[-1] if caused else r.stderr[-500:]
        check(key in cb, f"{what}: the error does not name {key}: {cb!r}")
        check_eq(cb.split(":")[0], "org.apache.kafka.common.errors.InvalidConfigurationException",
                 f"{what}: exception (Kafka: INVALID_CONFIG for a group resource)")
        soft.eq(cb, f"org.apache.kafka.common.errors.InvalidConfigurationException: {msg}", f"{what}: error")

    r = configs("--alter", *GE, "--delete-config", HEARTBEAT)
    check_eq(r.stdout.strip(), f"Completed updating config for group {GROUP}.",
             f"kafka-configs --alter --entity-name {GROUP} --delete-config {HEARTBEAT}")
    gd, listed = group_wait(lambda g: g and sorted(g) == [SESSION], f"--describe of group {GROUP} to show only {SESSION}",
                            (group_describe, *GN), (group_describe,))
    lines_check(gd[GROUP], {SESSION: want_dyn[SESSION]}, f"--describe --entity-name {GROUP} after --delete-config {HEARTBEAT}")
    soft.eq(listed, gd, "--describe --entity-type groups (no --entity-name): the groups with dynamic configs")

    r = configs("--alter", *GE, "--delete-config", SESSION)
    check_eq(r.stdout.strip(), f"Completed updating config for group {GROUP}.",
             f"kafka-configs --alter --entity-name {GROUP} --delete-config {SESSION}")
    gd, = group_wait(lambda g: not g, f"group {GROUP} to have no dynamic config", (group_describe, *GN))
    soft.eq(gd, {GROUP: None}, f"--describe --entity-name {GROUP} after its last config is deleted")
    print(f"  group configs ({time.monotonic() - t1:.1f}s of {time.monotonic() - t0:.1f}s)", flush=True)
    soft.done()


if __name__ == "__main__":
    harness.main(body, overrides={
        "log.retention.check.interval.ms": 1000,
        "log.initial.task.delay.ms": 1000,  # Kafka only: the first retention check 1 s after start-up
    })
