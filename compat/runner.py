"""Runs the compat scenarios one after the other (see compat/run) and prints a table."""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# client folder, scenario file (without .py); cheap ones first
SCENARIOS = [
    ("librdkafka", "kcat"),
    ("librdkafka", "confluent"),
    ("python", "kafka_python"),
    ("java", "cli"),
    ("librdkafka", "admin_configs"),
    ("java", "console_group"),
    ("librdkafka", "restart"),
    ("java", "consumer_groups_cli"),
    ("mixed", "group_three_clients"),
    ("mixed", "group_restart"),
    ("mixed", "group_static"),
    ("librdkafka", "transactions"),
    ("java", "transactions"),
    ("mixed", "group_kip848"),
    ("java", "broker_configs"),
    ("java", "topic_admin"),
    ("mixed", "group_migration"),
    ("java", "streams_eos"),
    ("java", "transactions_cli"),
    ("librdkafka", "txn_restart"),
    ("java", "acls_cli"),
    ("cluster", "basics"),
    ("cluster", "failover"),
    ("cluster", "coordinators"),
    ("cluster", "reassign"),
    ("cluster", "roles"),
    ("cluster", "dynamic"),
    ("cluster", "faults"),
    ("faults", "crash_loop"),
    ("faults", "disk_full"),
]

# Scenarios about a promise of gregor's that Apache Kafka does not make: skipped against Kafka.
GREGOR_ONLY = {("faults", "disk_full"): "Kafka stops when its only log dir fills"}

# Scenarios run only when named (compat/run cluster/faults) or with COMPAT_OPT_IN=1.
OPT_IN: dict[tuple[str, str], str] = {}

# Scenarios whose feature a later issue builds. Against gregor they still run, and are reported
# as "pending" instead of failing the suite; one that passes is reported so it leaves this list.
PENDING: dict[tuple[str, str], str] = {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", help="run only scenarios whose 'client/scenario' contains one of these")
    ap.add_argument("--broker", choices=["gregor", "kafka"], default=os.environ.get("COMPAT_BROKER", "gregor"))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("COMPAT_TIMEOUT", 300)),
                    help="seconds per scenario (default 300)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every scenario's output, not only failures'")
    args = ap.parse_args()

    found = {(c, s) for c in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, c))
             for s in [f[:-3] for f in os.listdir(os.path.join(HERE, c)) if f.endswith(".py")]}
    missing = [f"{c}/{s}" for c, s in SCENARIOS if (c, s) not in found]
    unlisted = sorted(f"{c}/{s}" for c, s in found - set(SCENARIOS))
    if missing or unlisted:
        print(f"compat/run: scenario list out of date: missing {missing}, not listed {unlisted}", file=sys.stderr)
        return 2
    chosen = [(c, s) for c, s in SCENARIOS if not args.names or any(n in f"{c}/{s}" for n in args.names)]
    if args.list:
        print("\n".join(f"{c}/{s}" for c, s in chosen))
        return 0
    if not chosen:
        print(f"compat/run: no scenario matches {args.names}", file=sys.stderr)
        return 2

    logdir = tempfile.mkdtemp(prefix="compat-run-")
    results = []
    t_all = time.monotonic()
    for client, scen in chosen:
        name = f"{client}/{scen}"
        if (client, scen) in OPT_IN and not args.names and os.environ.get("COMPAT_OPT_IN") != "1":
            print(f"--- {name}: not run by default ({OPT_IN[(client, scen)]})", flush=True)
            results.append((client, scen, "skipped", 0.0))
            continue
        if args.broker != "gregor" and (client, scen) in GREGOR_ONLY:
            print(f"--- {name}: skipped against {args.broker} ({GREGOR_ONLY[(client, scen)]})", flush=True)
            results.append((client, scen, "skipped", 0.0))
            continue
        log = os.path.join(logdir, f"{client}-{scen}.log")
        print(f"--- {name} against {args.broker}", flush=True)
        t0 = time.monotonic()
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, client, scen + ".py"), "--broker", args.broker],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=args.timeout)
                status = "pass" if rc == 0 else "FAIL"
                if args.broker == "gregor" and (client, scen) in PENDING:
                    status = "pending" if rc != 0 else "pass"
                    if rc == 0:
                        print(f"    {name} passes now: remove it from PENDING in runner.py", flush=True)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)  # the harness then kills its brokers
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                status = "FAIL"
                with open(log, "ab") as f:
                    f.write(f"\ncompat/run: timed out after {args.timeout:.0f}s\n".encode())
        dt = time.monotonic() - t0
        results.append((client, scen, status, dt))
        text = open(log, "rb").read().decode("utf-8", "replace")
        if status == "FAIL" or args.verbose:
            lines = text.splitlines()
            print("\n".join(lines[-80:]), flush=True)
        why = f" ({PENDING[(client, scen)]})" if status == "pending" else ""
        print(f"    {status}{why} in {dt:.1f}s (log: {log})", flush=True)

    w1 = max(len("client"), *(len(c) for c, *_ in results))
    w2 = max(len("scenario"), *(len(s) for _, s, *_ in results))
    print()
    print(f"{'client':<{w1}} | {'scenario':<{w2}} | {'result':<7} | seconds")
    print(f"{'-' * w1}-+-{'-' * w2}-+---------+--------")
    for c, s, st, dt in results:
        print(f"{c:<{w1}} | {s:<{w2}} | {st:<7} | {dt:7.1f}")
    passed = sum(1 for r in results if r[2] == "pass")
    pending = sum(1 for r in results if r[2] == "pending")
    skipped = sum(1 for r in results if r[2] == "skipped")
    failed = len(results) - passed - pending - skipped
    print(f"\nbroker: {args.broker}; total {time.monotonic() - t_all:.1f}s; logs in {logdir}")
    if pending:
        print(f"compat: {pending} pending on later issues (not counted)")
    print(f"compat: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
