#!/usr/bin/env python3
"""The consumer group protocol of KIP-848 (group.protocol=consumer): a Java consumer and two
confluent-kafka (librdkafka) consumers in one group on a 6-partition topic, with the broker's
uniform assignor. Every partition is owned by exactly one member, the load is balanced, and
everything produced is consumed; when a member closes, and when one is SIGKILLed (its session
ends), the others take over its partitions and go on; kafka-consumer-groups --describe lists the
group as a consumer-protocol group with its members; after a broker restart the committed offsets
are all there and the members rejoin. Committed offsets reach the log end.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import check, check_eq, run_cli  # noqa: E402

TOPIC = "kip848"
PARTITIONS = 6
GROUP = "kip848-group"
# Short member sessions so a killed member is noticed quickly; Kafka needs its minimums lowered.
OVERRIDES = {
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "1000",
    "group.consumer.min.heartbeat.interval.ms": "1000",
}


def body(b):
    b.create_topic(TOPIC, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, TOPIC).start()
    extra = {"group.protocol": "consumer"}
    members = [
        Member("java", "kip848-java", b.bootstrap, TOPIC, GROUP, "uniform", extra=extra),
        Member("confluent", "kip848-rdk-a", b.bootstrap, TOPIC, GROUP, "uniform", extra=extra),
        Member("confluent", "kip848-rdk-b", b.bootstrap, TOPIC, GROUP, "uniform", extra=extra),
    ]
    try:
        groupkit.wait_balanced(members, PARTITIONS, 60, "three members share the six partitions")
        groupkit.wait_consumed(members, prod.send(300), 60, "the first 300 messages")
        out = run_cli("kafka-consumer-groups", ["--bootstrap-server", b.bootstrap, "--describe", "--group", GROUP,
                                                "--members"]).stdout
        rows = groupkit.parse_table(out)
        check_eq(len(rows), 3, f"members listed by kafka-consumer-groups --describe --members:\n{out}")
        check_eq(sum(int(r["#PARTITIONS"]) for r in rows), PARTITIONS, f"partitions over the members:\n{out}")
        state = run_cli("kafka-consumer-groups", ["--bootstrap-server", b.bootstrap, "--describe", "--group", GROUP,
                                                  "--state"]).stdout
        check("uniform" in state and "Stable" in state, f"--describe --state:\n{state}")

        # A broker restart: the committed offsets are all there and the members rejoin.
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        before = harness.wait_until(lambda: groupkit.group_offsets(admin, GROUP) or None, 30,
                                    "offsets committed before the restart")
        b.stop()
        b.restart()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        after = groupkit.group_offsets(admin, GROUP)
        check(all(after.get(tp, -1) >= off for tp, off in before.items()),
              f"committed offsets survive the broker restart: before {before}, after {after}")
        groupkit.wait_balanced(members, PARTITIONS, 90, "the members rejoin after the broker restart")
        groupkit.wait_consumed(members, prod.send(200), 90, "messages after the broker restart")

        members[2].close()
        alive = members[:2]
        groupkit.wait_balanced(alive, PARTITIONS, 60, "after a member closed, two members own everything")
        groupkit.wait_consumed(members, prod.send(200), 60, "messages after the close")

        members[1].kill()
        alive = members[:1]
        groupkit.wait_balanced(alive, PARTITIONS, 60, "after a member was killed, the last one owns everything")
        groupkit.wait_consumed(members, prod.send(200), 60, "messages after the kill")
        acked = prod.stop()
        groupkit.wait_consumed(members, acked, 60, "everything acknowledged")
        ends = groupkit.end_offsets(b.bootstrap, TOPIC, PARTITIONS)
        harness.wait_until(lambda: groupkit.group_offsets(admin, GROUP) == ends, 30,
                           "committed offsets reach the log end")
    finally:
        for m in members:
            if m.alive():
                m.close()


if __name__ == "__main__":
    harness.main(body, overrides=OVERRIDES)
