#!/usr/bin/env python3
"""The Kafka 4.3.1 console consumer in its group modes, and kafka-consumer-groups.

Needs the group coordinator (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit,
OffsetFetch, ListGroups, DescribeGroups): `kafka-console-consumer --from-beginning
--max-messages K` (subscribes with a generated group), the same with `--group`, then
`kafka-consumer-groups --list` and `--describe` (committed offset = log end offset, lag 0).
The records are written first with confluent-kafka (fast), keyed, to a 2-partition topic.
"""

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import check, check_eq, run_cli  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

TOPIC, PARTITIONS, N = "console-group", 2, 200
GROUP = "compat-console-group"


def body(b: harness.Broker) -> None:
    b.create_topic(TOPIC, PARTITIONS)
    acks = {}
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(N):
        p.produce(TOPIC, key=f"k{i % 5}".encode(), value=f"line {i} ü".encode(),
                  on_delivery=lambda err, m, i=i: acks.__setitem__(i, None if err else (m.partition(), m.offset())))
    check_eq(p.flush(30), 0, "undelivered messages")
    check(all(acks.get(i) for i in range(N)), "some messages were not acknowledged")
    want = {(pa, o): f"k{i % 5}|line {i} ü" for i, (pa, o) in acks.items()}
    ends = {pa: 1 + max(o for (q, o) in want if q == pa) for pa in range(PARTITIONS)}

    bs = ["--bootstrap-server", b.bootstrap]
    fmt = ["--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
           "--formatter-property", "print.offset=true", "--formatter-property", "key.separator=|"]

    def console(extra):
        return run_cli("kafka-console-consumer", bs + ["--topic", TOPIC, "--from-beginning", "--max-messages", str(N),
                                                       "--timeout-ms", "30000"] + fmt + extra, timeout=90)

    with ThreadPoolExecutor(max_workers=2) as ex:
        anon, named = ex.map(console, [[], ["--group", GROUP]])
    for label, r in (("no --group", anon), (f"--group {GROUP}", named)):
        got = {}
        last = {}
        for line in r.stdout.splitlines():
            m = re.match(r"Partition:(\d+)\|Offset:(\d+)\|(.*)$", line)
            check(m, f"console consumer ({label}): unexpected line {line!r}")
            pa, o = int(m.group(1)), int(m.group(2))
            check(o > last.get(pa, -1), f"console consumer ({label}): partition {pa} offset {o} out of order")
            last[pa] = o
            got[(pa, o)] = m.group(3)
        check_eq(got, want, f"console consumer --from-beginning ({label}) records")

    groups = run_cli("kafka-consumer-groups", bs + ["--list"]).stdout.split()
    check(GROUP in groups, f"kafka-consumer-groups --list lacks {GROUP}: {groups}")
    r = run_cli("kafka-consumer-groups", bs + ["--describe", "--group", GROUP])
    rows = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == GROUP and f[1] == TOPIC:
            rows[int(f[2])] = (int(f[3]), int(f[4]), int(f[5]))
    check_eq(rows, {pa: (ends[pa], ends[pa], 0) for pa in range(PARTITIONS)},
             f"kafka-consumer-groups --describe (CURRENT-OFFSET, LOG-END-OFFSET, LAG) per partition:\n{r.stdout}")


if __name__ == "__main__":
    harness.main(body)
