#!/usr/bin/env python3
"""kafka-consumer-groups (Kafka 4.3.1) against three classic groups, output compared with Kafka's.

Set-up: topics cg-a (3 partitions: 10, 20, 30 records) and cg-b (2 partitions: 5, 15), record i
of a partition stamped 2023-11-14T22:13:20Z + i seconds.
  cg-active  a Java consumer (client.id cg-member, range) subscribed to cg-a; it reads and
             commits everything, stops polling (still a member), then 4 more records go to cg-a/0;
  cg-closed  a confluent-kafka consumer read all of cg-b, committed and closed (Empty, "consumer");
  cg-idle    offsets committed without joining (assign + commit): cg-a 3/7/0, cg-b 5/2.
Commands: --list (plain, --state, --type, --state stable), --describe (offsets, --state,
--members, --members --verbose, a group with no members, --all-groups, an unknown group);
--reset-offsets on cg-idle: --to-earliest (default dry run), --to-latest --dry-run,
--to-datetime --execute, --shift-by on chosen partitions and past the end, --to-offset past the
end, --to-earliest --all-topics, and on the active group (refused); --delete-offsets (inactive
group, then the subscribed topic of the active group: refused per partition); --delete (the
active group: refused; two inactive groups; an unknown group); --list at the end.

Each command's stdout, exit code and the Error/Warn lines of its stderr, normalised (member-id
UUIDs, the port, whitespace runs; line order within one output ignored), must equal
java/consumer_groups_cli.expected, which was recorded from Apache Kafka 4.3.1 (COMPAT_RECORD=1
with --broker kafka rewrites it). Independently of the text, the committed offsets after each
--execute / --delete-offsets / --delete are checked with OffsetFetch (AdminClient).
"""

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import groupkit  # noqa: E402
import harness  # noqa: E402
from groupkit import Member  # noqa: E402
from harness import CompatFailure, check, check_eq, run_cli, wait_until  # noqa: E402

EXPECTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "consumer_groups_cli.expected")
RECORD = os.environ.get("COMPAT_RECORD") == "1"
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SIZES = {"cg-a": [10, 20, 30], "cg-b": [5, 15]}
IDLE = {("cg-a", 0): 3, ("cg-a", 1): 7, ("cg-a", 2): 0, ("cg-b", 0): 5, ("cg-b", 1): 2}
EXTRA_A0 = 4  # records produced to cg-a/0 after cg-active stopped polling


def normalise(text: str, port: int) -> list[str]:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = text.replace(f":{port}", ":<port>")
    lines = [re.sub(r"\s+", " ", ln).strip() for ln in text.splitlines()]
    return sorted(ln for ln in lines if ln)


def stderr_lines(text: str) -> str:
    """The tool's own messages on stderr (not log lines or stack traces)."""
    keep = [ln for ln in text.splitlines() if re.match(r"(Error|Warn|WARN|Consumer group|Caused by)", ln)]
    return "\n".join(keep)


def load_expected() -> dict[str, list[str]]:
    out, cur = {}, None
    with open(EXPECTED) as f:
        for line in f.read().splitlines():
            if line.startswith("### "):
                cur = line[4:]
                out[cur] = []
            elif cur is not None and line:
                out[cur].append(line)
    return out


def body(b: harness.Broker) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    groupkit.java_classes()
    for t, sizes in SIZES.items():
        # The records are stamped in 2023: without retention.ms=-1 the broker's retention check
        # (Kafka: 30 s after start-up) would delete them as older than 7 days.
        b.create_topic(t, len(sizes), config={"retention.ms": "-1"})
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})

    def produce(topic, part, first, n):
        for i in range(first, first + n):
            p.produce(topic, value=f"{topic}/{part}/{i}".encode(), key=f"k{i}".encode(), partition=part,
                      timestamp=T0 + i * 1000)

    for t, sizes in SIZES.items():
        for part, n in enumerate(sizes):
            produce(t, part, 0, n)
    check_eq(p.flush(30), 0, "undelivered records")
    admin = b.admin()

    # cg-idle: offsets only.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "cg-idle", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(t, part, o) for (t, part), o in IDLE.items()], asynchronous=False)
    c.close()
    check_eq(groupkit.group_offsets(admin, "cg-idle"), IDLE, "cg-idle committed offsets")

    # cg-active and cg-closed.
    ends = {(t, part): n for t, sizes in SIZES.items() for part, n in enumerate(sizes)}
    active = Member("java", "cg-member", b.bootstrap, "cg-a", "cg-active", "range")
    closer = Member("confluent", "cg-closer", b.bootstrap, "cg-b", "cg-closed", "range")
    for m, g, t in ((active, "cg-active", "cg-a"), (closer, "cg-closed", "cg-b")):
        want = {k: v for k, v in ends.items() if k[0] == t}
        wait_until(lambda g=g, want=want: groupkit.group_offsets(admin, g) == want, 40,
                   f"{g}: committed offsets = log end offsets {want}")
    closer.close()
    active.pause()
    produce("cg-a", 0, SIZES["cg-a"][0], EXTRA_A0)
    check_eq(p.flush(30), 0, "undelivered records")
    ends[("cg-a", 0)] += EXTRA_A0

    bs = ["--bootstrap-server", b.bootstrap]
    results: dict[str, list[str]] = {}

    def cg(label, *args):
        r = run_cli("kafka-consumer-groups", bs + list(args), timeout=60, check=False)
        out = normalise(r.stdout, b.port) + [f"rc={r.returncode}"]
        err = stderr_lines(r.stderr)
        if err:
            out += ["stderr: " + ln for ln in normalise(err, b.port)]
        results[label] = out
        return out

    def parallel(cmds):
        with ThreadPoolExecutor(max_workers=3) as ex:  # three JVMs at a time on two cores
            list(ex.map(lambda c: cg(*c), cmds))

    def offsets(group, want, what):
        got = groupkit.group_offsets(admin, group)
        check_eq(got, want, f"{what}: committed offsets of {group} (OffsetFetch)")

    # Read-only: lists and describes.
    parallel([
        ("list", "--list"),
        ("list --state", "--list", "--state"),
        ("list --type", "--list", "--type"),
        ("list --state stable", "--list", "--state", "stable"),
        ("describe cg-active", "--describe", "--group", "cg-active"),
        ("describe cg-active --state", "--describe", "--group", "cg-active", "--state"),
        ("describe cg-active --members", "--describe", "--group", "cg-active", "--members"),
        ("describe cg-active --members --verbose", "--describe", "--group", "cg-active", "--members", "--verbose"),
        ("describe cg-idle", "--describe", "--group", "cg-idle"),
        ("describe cg-idle --state", "--describe", "--group", "cg-idle", "--state"),
        ("describe cg-closed --members", "--describe", "--group", "cg-closed", "--members"),
        ("describe cg-closed --state", "--describe", "--group", "cg-closed", "--state"),
        ("describe --all-groups", "--describe", "--all-groups"),
        ("describe unknown", "--describe", "--group", "no-such-group"),
    ])

    active_offsets = {k: v for k, v in ends.items() if k[0] == "cg-a"}
    active_offsets[("cg-a", 0)] -= EXTRA_A0

    def idle_chain():
        # --reset-offsets on the inactive cg-idle (one at a time: each changes it), then --delete-offsets.
        cur = dict(IDLE)
        cg("reset to-earliest (default dry run)", "--reset-offsets", "--group", "cg-idle", "--topic", "cg-a",
           "--to-earliest")
        cg("reset to-latest --dry-run", "--reset-offsets", "--group", "cg-idle", "--all-topics", "--to-latest",
           "--dry-run")
        offsets("cg-idle", cur, "after two dry runs")
        cg("reset to-datetime --execute", "--reset-offsets", "--group", "cg-idle", "--topic", "cg-a",
           "--to-datetime", "2023-11-14T22:13:25.000Z", "--execute")
        cur.update({("cg-a", 0): 5, ("cg-a", 1): 5, ("cg-a", 2): 5})
        offsets("cg-idle", cur, "after --to-datetime (first record at or after +5 s)")
        cg("reset shift-by -3 partitions 0,2", "--reset-offsets", "--group", "cg-idle", "--topic", "cg-a:0,2",
           "--shift-by", "-3", "--execute")
        cur.update({("cg-a", 0): 2, ("cg-a", 2): 2})
        offsets("cg-idle", cur, "after --shift-by -3 on cg-a:0,2")
        cg("reset shift-by past the end", "--reset-offsets", "--group", "cg-idle", "--topic", "cg-b",
           "--shift-by", "100", "--execute")
        cur.update({("cg-b", 0): 5, ("cg-b", 1): 15})
        offsets("cg-idle", cur, "after --shift-by 100 (clamped to the log end)")
        cg("reset to-offset 25", "--reset-offsets", "--group", "cg-idle", "--topic", "cg-a", "--to-offset", "25",
           "--execute")
        cur.update({("cg-a", 0): ends[("cg-a", 0)], ("cg-a", 1): 20, ("cg-a", 2): 25})
        offsets("cg-idle", cur, "after --to-offset 25 (clamped to the log end)")
        cg("reset to-earliest --all-topics --execute", "--reset-offsets", "--group", "cg-idle", "--all-topics",
           "--to-earliest", "--execute")
        cur = {k: 0 for k in cur}
        offsets("cg-idle", cur, "after --to-earliest --all-topics")
        cg("describe cg-idle after resets", "--describe", "--group", "cg-idle")
        cg("delete-offsets cg-idle cg-b", "--delete-offsets", "--group", "cg-idle", "--topic", "cg-b")
        offsets("cg-idle", {k: v for k, v in cur.items() if k[0] == "cg-a"}, "after --delete-offsets --topic cg-b")

    def refusals():
        # What the active group (and an unknown one) must refuse; their offsets stay.
        parallel([
            ("reset active group", "--reset-offsets", "--group", "cg-active", "--all-topics", "--to-earliest",
             "--execute"),
            ("delete-offsets active subscribed topic", "--delete-offsets", "--group", "cg-active", "--topic", "cg-a"),
            ("delete active group", "--delete", "--group", "cg-active"),
            ("delete unknown group", "--delete", "--group", "no-such-group"),
        ])
        offsets("cg-active", active_offsets, "after a refused reset, --delete-offsets and --delete")

    with ThreadPoolExecutor(max_workers=2) as ex:
        for f in [ex.submit(idle_chain), ex.submit(refusals)]:
            f.result()
    cg("delete two inactive groups", "--delete", "--group", "cg-idle", "--group", "cg-closed")
    offsets("cg-idle", {}, "after --delete")
    cg("list at the end", "--list")
    active.close()

    if RECORD:
        with open(EXPECTED, "w") as f:
            f.write("# kafka-consumer-groups outputs recorded from Apache Kafka 4.3.1 by java/consumer_groups_cli.py\n"
                    "# (COMPAT_RECORD=1 ... --broker kafka); normalised: see normalise() and stderr_lines()\n")
            for label, lines in results.items():
                f.write(f"\n### {label}\n" + "\n".join(lines) + "\n")
        print(f"[consumer_groups_cli] recorded {len(results)} outputs to {EXPECTED}")
        return
    expected = load_expected()
    check_eq(sorted(results), sorted(expected), "commands run vs commands recorded")
    diffs = []
    for label, lines in results.items():
        if lines != expected[label]:
            diffs.append(f"--- {label}\n  want: " + "\n        ".join(expected[label])
                         + "\n  got:  " + "\n        ".join(lines))
    if diffs:
        raise CompatFailure(f"{len(diffs)} of {len(results)} kafka-consumer-groups outputs differ from Kafka's:\n"
                            + "\n".join(diffs))
    print(f"[consumer_groups_cli] {len(results)} outputs equal Kafka's")


if __name__ == "__main__":
    harness.main(body)
