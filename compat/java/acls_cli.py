#!/usr/bin/env python3
"""ACL administration (KIP-140: CreateAcls, DescribeAcls, DeleteAcls) with kafka-acls (Apache Kafka
4.3.1's AclCommand) and the confluent-kafka AdminClient.

The broker runs StandardAuthorizer with allow.everyone.if.no.acl.found=true and
super.users=User:ANONYMOUS, so the unauthenticated tools keep full access whatever ACLs exist; only
administration is checked here, never enforcement.

kafka-acls --add: Read and Write for User:alice on topic orders (LITERAL); Describe for User:bob on
the PREFIXED topic patterns pay-, payments- and orders; Read for alice on group g1; a DENY of All on
the cluster for User:mallory from host 10.0.0.1; Write and Describe for alice on transactional id
txn-1; Describe for User:carol on topic * (the wildcard). kafka-acls --list (bindings parsed from
the "Current ACLs for resource `ResourcePattern(...)`:" blocks and compared as sets, order ignored):
everything; --topic orders (only the LITERAL orders bindings); --resource-pattern-type any --topic
orders (LITERAL and PREFIXED orders); --principal User:alice (alice's five); --resource-pattern-type
match --topic pay-x (prefixed pay- and the * wildcard, not payments- or orders). --remove --force of
alice's Write on orders leaves her Read.

AdminClient: create_acls of four bindings and two invalid ones in one request: the four are created,
the empty resource name and the principal without a colon fail with INVALID_REQUEST (and Kafka's
texts); creating existing bindings again succeeds without duplicating them. describe_acls with
AclBindingFilter: ANY/ANY gives every binding once; filters by principal, by resource (LITERAL),
by permission type DENY, by operation WRITE (exact: not ALL), by host, and MATCH for pay-x.
delete_acls with a filter matching two bindings answers exactly those two, a filter matching
nothing answers none; describe_acls no longer shows the two.

The ACLs survive a SIGTERM restart and, after one more create and delete, a SIGKILL restart.
Finally kafka-acls --remove --topic orders --force removes both LITERAL orders bindings and nothing
else (the PREFIXED orders pattern and the other resources keep theirs).

kafka-acls has no wrapper in compat/setup: run_tool starts org.apache.kafka.tools.AclCommand.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness   # noqa: E402
from harness import check, check_eq, wait_until, Soft, parallel, run_tool  # noqa: E402
from confluent_kafka import KafkaException   # noqa: E402
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,   # noqa: E402
                                   ResourcePatternType, ResourceType)

ACL_COMMAND = "org.apache.kafka.tools.AclCommand"
OVERRIDES = {
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "true",
    "super.users": "User:ANONYMOUS",
}


def B(rtype, name, pattern, principal, op, perm="ALLOW", host="*"):
    """A binding as kafka-acls prints it: (resourceType, name, patternType, principal, host,
    operation, permissionType)."""
    return (rtype, name, pattern, principal, host, op, perm)


# What the kafka-acls --add calls of step 1 create.
ORDERS_R = B("TOPIC", "orders", "LITERAL", "User:alice", "READ")
ORDERS_W = B("TOPIC", "orders", "LITERAL", "User:alice", "WRITE")
PAY = B("TOPIC", "pay-", "PREFIXED", "User:bob", "DESCRIBE")
PAYMENTS = B("TOPIC", "payments-", "PREFIXED", "User:bob", "DESCRIBE")
ORDERS_PREFIX = B("TOPIC", "orders", "PREFIXED", "User:bob", "DESCRIBE")
G1 = B("GROUP", "g1", "LITERAL", "User:alice", "READ")
CLUSTER = B("CLUSTER", "kafka-cluster", "LITERAL", "User:mallory", "ALL", "DENY", "10.0.0.1")
TXN_W = B("TRANSACTIONAL_ID", "txn-1", "LITERAL", "User:alice", "WRITE")
TXN_D = B("TRANSACTIONAL_ID", "txn-1", "LITERAL", "User:alice", "DESCRIBE")
WILD = B("TOPIC", "*", "LITERAL", "User:carol", "DESCRIBE")
CLI_ADDS = [
    (["--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write", "--topic", "orders"],
     {ORDERS_R, ORDERS_W}),
    (["--resource-pattern-type", "prefixed", "--topic", "pay-", "--topic", "payments-", "--topic", "orders",
      "--allow-principal", "User:bob", "--operation", "Describe"], {PAY, PAYMENTS, ORDERS_PREFIX}),
    (["--allow-principal", "User:alice", "--operation", "Read", "--group", "g1"], {G1}),
    (["--deny-principal", "User:mallory", "--deny-host", "10.0.0.1", "--operation", "All", "--cluster"], {CLUSTER}),
    (["--allow-principal", "User:alice", "--operation", "Write", "--operation", "Describe",
      "--transactional-id", "txn-1"], {TXN_W, TXN_D}),
    (["--allow-principal", "User:carol", "--operation", "Describe", "--topic", "*"], {WILD}),
]

# What create_acls of step 4 creates (and two it must refuse).
DANA_R = B("TOPIC", "ck-orders", "LITERAL", "User:dana", "READ")
DANA_W = B("TOPIC", "ck-orders", "LITERAL", "User:dana", "WRITE")
ERIN_R = B("TOPIC", "ck-orders", "LITERAL", "User:erin", "READ")
DANA_G = B("GROUP", "ck-group", "PREFIXED", "User:dana", "READ", "DENY", "192.168.0.7")
INVALID = {
    "empty resource name": (B("TOPIC", "", "LITERAL", "User:dana", "READ"), "Invalid empty resource name"),
    "principal without a colon": (B("TOPIC", "ck-orders", "LITERAL", "dana", "READ"),
                                  "Could not parse principal from `dana` (no colon is present separating "
                                  "the principal type from the principal name)"),
}
# Created just before the SIGKILL (and DANA_G deleted then).
LATE = B("TOPIC", "late", "LITERAL", "User:frank", "ALTER")

RES_RE = re.compile(r"(Current|Adding) ACLs for resource `ResourcePattern\(resourceType=(\w+), name=(.*), "
                    r"patternType=(\w+)\)`: ?")
ENTRY_RE = re.compile(r"\s*\(principal=(.*?), host=(.*?), operation=(\w+), permissionType=(\w+)\)")


def parse_acls(out: str, what: str, head: str = "Current") -> set:
    """The bindings of kafka-acls --list / --add output: blocks of a resource line and its entries."""
    got, res = [], None
    for ln in out.splitlines():
        if not ln.strip():
            continue
        m = RES_RE.fullmatch(ln)
        if m:
            check_eq(m.group(1), head, f"{what}: resource line {ln!r}")
            res = m.group(2, 3, 4)
            continue
        m = ENTRY_RE.fullmatch(ln)
        check(m and res, f"{what}: unexpected line {ln!r} in\n{out}")
        got.append(res + m.groups())
    check_eq(len(got), len(set(got)), f"{what}: bindings listed twice in\n{out}")
    return set(got)


def to_tuple(b) -> tuple:
    """A confluent-kafka AclBinding as the tuple kafka-acls prints (librdkafka's BROKER is CLUSTER)."""
    rtype = "CLUSTER" if b.restype == ResourceType.BROKER else b.restype.name
    return (rtype, b.name, b.resource_pattern_type.name, b.principal, b.host, b.operation.name,
            b.permission_type.name)


def to_binding(t) -> AclBinding:
    rtype = ResourceType.BROKER if t[0] == "CLUSTER" else ResourceType[t[0]]
    return AclBinding(rtype, t[1], ResourcePatternType[t[2]], t[3], t[4], AclOperation[t[5]],
                      AclPermissionType[t[6]])


def flt(rtype="ANY", name=None, pattern="ANY", principal=None, host=None, op="ANY", perm="ANY"):
    return AclBindingFilter(ResourceType[rtype], name, ResourcePatternType[pattern], principal, host,
                            AclOperation[op], AclPermissionType[perm])


def fmt(bindings) -> list:
    return sorted(bindings)


def body(b: harness.Broker) -> None:
    bs = ["--bootstrap-server", b.bootstrap]
    soft = Soft()
    t0 = time.monotonic()

    def acls(*args, **kw):
        return run_tool(ACL_COMMAND, bs + list(args), **kw)

    def listed(*args, head=None):
        r = acls("--list", *args)
        what = f"kafka-acls --list {' '.join(args)}"
        out = r.stdout
        if head is not None:
            first, _, out = out.partition("\n")
            check_eq(first, head, f"{what}: first line")
        return parse_acls(out, what)

    admin = b.admin()

    def describe(f=None):
        got = admin.describe_acls(f or flt(), request_timeout=30).result(timeout=30)
        tuples = [to_tuple(x) for x in got]
        check_eq(len(tuples), len(set(tuples)), f"describe_acls {f}: a binding listed twice: {fmt(tuples)}")
        return set(tuples)

    # ------------------------------------------------------------------ 1. kafka-acls --add
    results = parallel(*[(acls, "--add", *args) for args, _ in CLI_ADDS])
    expected = set()
    for (args, want), r in zip(CLI_ADDS, results):
        what = f"kafka-acls --add {' '.join(args)}"
        check("already exists" not in r.stdout, f"{what}: {r.stdout!r}")
        check_eq(fmt(parse_acls(r.stdout, what, head="Adding")), fmt(want), f"{what}: the bindings it adds")
        expected |= want
    print(f"  {len(expected)} ACLs added with kafka-acls ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ 2. kafka-acls --list
    got = parallel(
        (listed,),
        (listed, "--topic", "orders"),
        (listed, "--resource-pattern-type", "any", "--topic", "orders"),
        (lambda: listed("--principal", "User:alice", head="ACLs for principal `User:alice`"),),
        (listed, "--resource-pattern-type", "match", "--topic", "pay-x"),
    )
    check_eq(fmt(got[0]), fmt(expected), "kafka-acls --list: every ACL")
    check_eq(fmt(got[1]), fmt({ORDERS_R, ORDERS_W}), "kafka-acls --list --topic orders (LITERAL)")
    check_eq(fmt(got[2]), fmt({ORDERS_R, ORDERS_W, ORDERS_PREFIX}),
             "kafka-acls --list --resource-pattern-type any --topic orders (LITERAL and PREFIXED orders)")
    check_eq(fmt(got[3]), fmt({ORDERS_R, ORDERS_W, G1, TXN_W, TXN_D}), "kafka-acls --list --principal User:alice")
    check_eq(fmt(got[4]), fmt({PAY, WILD}),
             "kafka-acls --list --resource-pattern-type match --topic pay-x (prefix pay- and the * wildcard)")
    print(f"  kafka-acls --list ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ 3. --remove one ACL
    r = acls("--remove", "--force", "--allow-principal", "User:alice", "--operation", "Write", "--topic", "orders")
    soft.eq(r.stdout, "", "kafka-acls --remove --force --operation Write --topic orders: stdout")
    expected.discard(ORDERS_W)
    check_eq(fmt(listed("--topic", "orders")), fmt({ORDERS_R}),
             "kafka-acls --list --topic orders after removing alice's Write")
    check_eq(fmt(describe()), fmt(expected), "describe_acls ANY after removing alice's Write on orders")
    print(f"  kafka-acls --remove of one ACL ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ 4. AdminClient
    batch = [DANA_R, DANA_W, ERIN_R, DANA_G] + [t for t, _ in INVALID.values()]
    bindings = [to_binding(t) for t in batch]
    fs = admin.create_acls(bindings, request_timeout=30)
    check_eq(len(fs), len(batch), "create_acls: one future per binding")
    for t, bnd in zip(batch, bindings):
        invalid = [(name, msg) for name, (tt, msg) in INVALID.items() if tt == t]
        try:
            fs[bnd].result(timeout=30)
            check(not invalid, f"create_acls of {t} ({invalid[0][0] if invalid else ''}) was accepted")
        except KafkaException as e:
            err = e.args[0]
            check(invalid, f"create_acls of {t} failed: {err}")
            name, msg = invalid[0]
            check_eq(err.name(), "INVALID_REQUEST", f"create_acls with {name}: error")
            soft.eq(err.str(), msg, f"create_acls with {name}: error text")
    expected |= {DANA_R, DANA_W, ERIN_R, DANA_G}
    # Again, with bindings that exist already: accepted, and still listed once.
    again = [to_binding(t) for t in (DANA_R, ORDERS_R)]
    for bnd, f in admin.create_acls(again, request_timeout=30).items():
        f.result(timeout=30)
    check_eq(fmt(describe()), fmt(expected), "describe_acls ANY after create_acls (and existing ones again)")
    for f, want in [
        (flt(principal="User:dana"), {DANA_R, DANA_W, DANA_G}),
        (flt("TOPIC", "ck-orders", "LITERAL"), {DANA_R, DANA_W, ERIN_R}),
        (flt(perm="DENY"), {CLUSTER, DANA_G}),
        (flt(op="WRITE"), {TXN_W, DANA_W}),
        (flt(host="10.0.0.1"), {CLUSTER}),
        (flt("TOPIC", "pay-x", "MATCH"), {PAY, WILD}),
        (flt("GROUP", "ck-group", "LITERAL"), set()),
    ]:
        check_eq(fmt(describe(f)), fmt(want), f"describe_acls {f}")
    filters = [flt("TOPIC", "ck-orders", "LITERAL", principal="User:dana"), flt("GROUP", "no-such-group", "LITERAL")]
    fs = admin.delete_acls(filters, request_timeout=30)
    deleted = [sorted(to_tuple(x) for x in fs[f].result(timeout=30)) for f in filters]
    check_eq(deleted, [fmt({DANA_R, DANA_W}), []],
             "delete_acls (dana on topic ck-orders; group no-such-group): the bindings each filter deleted")
    expected -= {DANA_R, DANA_W}
    check_eq(fmt(describe()), fmt(expected), "describe_acls ANY after delete_acls")
    check_eq(fmt(describe(flt(principal="User:dana"))), fmt({DANA_G}), "describe_acls of User:dana after delete_acls")
    print(f"  AdminClient create/describe/delete ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ 5. restarts
    b.stop()
    b.restart()
    admin = b.admin()
    got = wait_until(lambda: (describe(),), 30, "describe_acls to answer after the SIGTERM restart")[0]
    check_eq(fmt(got), fmt(expected), "describe_acls ANY after a SIGTERM restart")
    for f in admin.create_acls([to_binding(LATE)], request_timeout=30).values():
        f.result(timeout=30)
    dg = [sorted(to_tuple(x) for x in f.result(timeout=30))
          for f in admin.delete_acls([flt("GROUP", "ck-group", "PREFIXED")], request_timeout=30).values()]
    check_eq(dg, [fmt({DANA_G})], "delete_acls of the PREFIXED group ck-group")
    expected = (expected | {LATE}) - {DANA_G}
    b.kill()
    b.restart()
    admin = b.admin()
    got = wait_until(lambda: (describe(),), 30, "describe_acls to answer after the SIGKILL restart")[0]
    check_eq(fmt(got), fmt(expected), "describe_acls ANY after a SIGKILL right after a create and a delete")
    print(f"  ACLs survive a SIGTERM and a SIGKILL restart ({time.monotonic() - t0:.1f}s)", flush=True)

    # ------------------------------------------------------------------ 6. --remove a topic's ACLs
    r = acls("--remove", "--force", "--topic", "orders")
    soft.eq(r.stdout, "", "kafka-acls --remove --force --topic orders: stdout")
    expected.discard(ORDERS_R)
    got = parallel((listed,), (listed, "--topic", "orders"))
    check_eq(fmt(got[1]), [], "kafka-acls --list --topic orders after --remove --topic orders")
    check_eq(fmt(got[0]), fmt(expected),
             "kafka-acls --list after --remove --topic orders (other resources and the PREFIXED orders unchanged)")
    print(f"  kafka-acls --remove --topic orders ({time.monotonic() - t0:.1f}s)", flush=True)
    soft.done()


if __name__ == "__main__":
    harness.main(body, overrides=OVERRIDES)
