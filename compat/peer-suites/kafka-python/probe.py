#!/usr/bin/env python3
"""Side-by-side answers of Apache Kafka 4.3.1 and gregor to what kafka-python's failing
integration tests ask (the evidence behind ../FINDINGS.md, ## kafka-python).

  python3 compat/peer-suites/kafka-python/probe.py            # both brokers
  python3 compat/peer-suites/kafka-python/probe.py --broker gregor

Starts each broker with run's OVERRIDES (node.id 0 as the suite's), then with kafka-python's
KafkaAdminClient prints: the ApiVersions ranges that differ, the broker version kafka-python infers,
the versions it would use for the admin APIs of the suite, DescribeConfigs entries the suite checks,
and the results of the admin calls gregor lacks.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, COMPAT)
import harness  # noqa: E402  (re-execs under the compat venv)

from kafka import KafkaAdminClient, KafkaProducer  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions  # noqa: E402
from kafka.protocol.api_key import ApiKey  # noqa: E402
from kafka.protocol.broker_version_data import infer_broker_version_from_api_versions  # noqa: E402
from kafka.structs import TopicPartition, TopicPartitionReplica  # noqa: E402

sys.path.insert(0, HERE)
run_overrides = {}
with open(os.path.join(HERE, "run")) as f:  # OVERRIDES from run without executing its setup
    src = f.read()
    start = src.index("OVERRIDES = {")
    exec(src[start:src.index("}\n", start) + 2], {}, run_overrides)
OVERRIDES = run_overrides["OVERRIDES"]


def start(kind):
    b = harness.Broker(kind, overrides=dict(OVERRIDES))
    if kind == "kafka":
        b.overrides["controller.quorum.voters"] = f"{OVERRIDES.get('node.id', '1')}@{b.host}:{b.controller_port}"
    b.start()
    b.wait_ready(180)
    return b


def attempt(label, fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


def probe(kind):
    b = start(kind)
    out = {}
    try:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, client_id="probe")
        versions = admin.api_versions()
        out["api_versions"] = {k.name: v for k, v in versions.items()}
        out["inferred"] = infer_broker_version_from_api_versions({k.value: v for k, v in versions.items()})
        topic = "probe-topic"
        admin.create_topics({topic: {"num_partitions": 4, "replication_factor": 1}})
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        p.send(topic, b"x", partition=0).get(30)
        p.close()
        node = admin._client.least_loaded_node()
        cfg = attempt("dc", lambda: admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, node), ConfigResource(ConfigResourceType.TOPIC, topic)],
            config_filter="all"))
        if isinstance(cfg, dict):
            out["broker advertised.listeners"] = cfg["broker"][str(node)].get("advertised.listeners")
            out["topic retention.bytes"] = cfg["topic"][topic].get("retention.bytes")
            types = {}
            for name, e in cfg["topic"][topic].items():
                types[name] = e.get("config_type")
            out["topic config_types"] = types
        else:
            out["describe_configs"] = cfg
        tp = TopicPartition(topic, 0)
        out["create_partitions(6, [[0],[0]])"] = attempt("cp", lambda: admin.create_partitions(
            {topic: NewPartitions(6, [[0], [0]])}))
        out["elect_leaders(preferred)"] = attempt("el", lambda: admin.elect_leaders(0, {topic: [0, 1, 2, 3]}))
        dirs = attempt("dld", admin.describe_log_dirs)
        out["describe_log_dirs"] = dirs
        if isinstance(dirs, list) and dirs:
            target = dirs[0]["log_dirs"][0]["log_dir"]
            out["alter_replica_log_dirs(same dir)"] = attempt("arld", lambda: admin.alter_replica_log_dirs(
                {TopicPartitionReplica(topic, 0, dirs[0]["broker"]): target}))
        out["describe_metadata_quorum"] = attempt("dq", admin.describe_metadata_quorum)
        brokers = [x.node_id for x in admin._manager.cluster.brokers()]
        out["alter_partition_reassignments(same)"] = attempt("apr", lambda: admin.alter_partition_reassignments(
            {tp: brokers}))
        out["list_partition_reassignments()"] = attempt("lpr", admin.list_partition_reassignments)
        out["list_config_resources()"] = attempt("lcr", admin.list_config_resources)
        admin.close()
    except Exception:  # noqa: BLE001
        out["probe error"] = traceback.format_exc()
    finally:
        b.stop()
        b.cleanup()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", choices=["kafka", "gregor"])
    a = ap.parse_args()
    kinds = [a.broker] if a.broker else ["kafka", "gregor"]
    res = {k: probe(k) for k in kinds}
    if len(kinds) == 2:
        ka, ga = res["kafka"].get("api_versions", {}), res["gregor"].get("api_versions", {})
        print("== ApiVersions where gregor differs from Kafka 4.3.1 (min, max) ==")
        for name in sorted(set(ka) | set(ga)):
            if ka.get(name) != ga.get(name):
                print(f"  {name:32} kafka {ka.get(name)!s:10} gregor {ga.get(name)}")
    for key in [k for k in res[kinds[0]] if k != "api_versions"]:
        print(f"== {key} ==")
        for k in kinds:
            print(f"  {k:6}: {res[k].get(key)!r}")


if __name__ == "__main__":
    main()
