#!/usr/bin/env python3
"""Mixed groups during an upgrade (KIP-848 online migration): two classic members (Java and
confluent-kafka, cooperative-sticky) form a classic group; a Java consumer with
group.protocol=consumer joins it and the group becomes a consumer-protocol group in which the
classic members stay (they keep joining, syncing and heartbeating with the classic APIs while the
broker assigns); every partition is owned by exactly one member and consumption goes on. When the
consumer-protocol member leaves, only classic members are left and the group goes back to the
classic protocol. Everything produced is consumed; committed offsets reach the log end.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import check, run_cli  # noqa: E402

TOPIC = "migrate"
PARTITIONS = 6
GROUP = "migrate-group"
OVERRIDES = {
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "1000",
    "group.consumer.min.heartbeat.interval.ms": "1000",
    "group.initial.rebalance.delay.ms": "0",
}


def group_type(bootstrap: str) -> str:
    """The group's type as `kafka-consumer-groups --list --type` prints it ("Classic", "Consumer")."""
    out = run_cli("kafka-consumer-groups", ["--bootstrap-server", bootstrap, "--list", "--type"]).stdout
    for row in groupkit.parse_table(out):
        if row.get("GROUP") == GROUP:
            return row.get("TYPE", "")
    return ""


def body(b):
    b.create_topic(TOPIC, PARTITIONS)
    prod = groupkit.Producer(b.bootstrap, TOPIC).start()
    classic = [
        Member("java", "mig-java-classic", b.bootstrap, TOPIC, GROUP, "cooperative-sticky"),
        Member("confluent", "mig-rdk-classic", b.bootstrap, TOPIC, GROUP, "cooperative-sticky"),
    ]
    members = list(classic)
    try:
        groupkit.wait_balanced(classic, PARTITIONS, 60, "two classic members share the six partitions")
        groupkit.wait_consumed(members, prod.send(200), 60, "messages read by the classic group")
        harness.wait_until(lambda: group_type(b.bootstrap).lower() == "classic", 30, "the group is a classic group")

        new = Member("java", "mig-java-consumer", b.bootstrap, TOPIC, GROUP, "uniform",
                     extra={"group.protocol": "consumer"})
        members.append(new)
        harness.wait_until(lambda: group_type(b.bootstrap).lower() == "consumer", 60,
                           "the group is upgraded to a consumer-protocol group")
        groupkit.wait_balanced(members, PARTITIONS, 90, "classic and consumer-protocol members share the partitions")
        check(all(m.parts for m in members), f"every member owns partitions: {groupkit.describe_members(members)}")
        groupkit.wait_consumed(members, prod.send(200), 60, "messages read by the mixed group")

        new.close()
        harness.wait_until(lambda: group_type(b.bootstrap).lower() == "classic", 60,
                           "with only classic members left the group is classic again")
        groupkit.wait_balanced(classic, PARTITIONS, 90, "the classic members own everything again")
        groupkit.wait_consumed(members, prod.send(200), 60, "messages read after the downgrade")
        acked = prod.stop()
        groupkit.wait_consumed(members, acked, 60, "everything acknowledged")
        ends = groupkit.end_offsets(b.bootstrap, TOPIC, PARTITIONS)
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        harness.wait_until(lambda: groupkit.group_offsets(admin, GROUP) == ends, 30,
                           "committed offsets reach the log end")
    finally:
        for m in members:
            if m.alive():
                m.close()


if __name__ == "__main__":
    harness.main(body, overrides=OVERRIDES)
