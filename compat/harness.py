"""Harness for the compat scenarios: starts a broker (gregor or Apache Kafka), runs the
Kafka CLI wrappers, and checks results.

A scenario is a Python file that calls `harness.main(body, overrides=...)`; `body(broker)`
gets a started, ready `Broker`. Run it as `python3 compat/<client>/<scenario>.py --broker
gregor|kafka` (it re-executes itself with ~/.cache/gregor/venv/bin/python when needed).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

KAFKA_VERSION = "4.3.1"
CACHE = os.environ.get("GREGOR_CACHE", os.path.expanduser("~/.cache/gregor"))
KAFKA_HOME = os.path.join(CACHE, f"kafka-{KAFKA_VERSION}")
VENV_PY = os.path.join(CACHE, "venv", "bin", "python")


def _ensure_venv() -> None:
    """Re-exec the running script under the compat venv if the clients are not importable."""
    try:
        import confluent_kafka  # noqa: F401
        import kafka  # noqa: F401
    except ImportError:
        if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY))):
            os.execv(VENV_PY, [VENV_PY] + sys.argv)
        raise SystemExit(
            f"compat: confluent-kafka / kafka-python not importable and no venv at {VENV_PY}; "
            "run compat/setup first"
        )


_ensure_venv()

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


class CompatFailure(Exception):
    """A scenario's expectation was not met."""


def check(cond, msg: str) -> None:
    """Raise CompatFailure(msg) unless cond holds."""
    if not cond:
        raise CompatFailure(msg)


def check_eq(got, want, what: str) -> None:
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 600:
            g = g[:600] + "..."
        if len(w) > 600:
            w = w[:600] + "..."
        raise CompatFailure(f"{what}: got {g}, want {w}")


def wait_until(cond, deadline_s: float, what, interval: float = 0.05):
    """Poll cond() until it returns a truthy value or deadline_s seconds pass. `what` names the
    condition in the failure; a callable is asked then (to describe the state at that time)."""
    end = time.monotonic() + deadline_s
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - the condition may fail while things settle
            last_exc = e
        if time.monotonic() >= end:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            what = what() if callable(what) else what
            raise CompatFailure(f"timed out after {deadline_s:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (the Java client's default partitioner for keyed records)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (data[i4] & 0xFF) + ((data[i4 + 1] & 0xFF) << 8) + ((data[i4 + 2] & 0xFF) << 16) + ((data[i4 + 3] & 0xFF) << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rem = length % 4
    base = length & ~3
    if rem == 3:
        h ^= (data[base + 2] & 0xFF) << 16
    if rem >= 2:
        h ^= (data[base + 1] & 0xFF) << 8
    if rem >= 1:
        h ^= data[base] & 0xFF
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct free ports: all bound at once, then released (free_port called n times may
    hand out the same port twice, as it did to two controllers of one CI run)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def gregor_bin() -> str:
    if os.environ.get("GREGOR_BIN"):
        return os.environ["GREGOR_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
    return os.path.join(target, "release", "gregor")


_live_brokers: list["Broker"] = []


def _kill_all() -> None:
    for b in list(_live_brokers):
        try:
            b.kill()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_kill_all)
# A scenario stopped with SIGTERM (e.g. by compat/run's timeout) still kills its brokers.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class Broker:
    """One broker process: kind 'gregor' or 'kafka' (Apache Kafka, KRaft, one combined node)."""

    def __init__(self, kind: str, overrides: dict | None = None, keep: bool = False, node_id: int = 1,
                 voters: str | None = None, controller_port: int | None = None, cluster_id: str | None = None,
                 host: str | None = None, port: int | None = None, netns: str | None = None,
                 roles: str = "broker,controller", bootstrap_servers: str | None = None):
        """voters (controller.quorum.voters), controller_port and cluster_id make it one node of a
        cluster (see Cluster); without them it is a lone node (Kafka: a quorum of itself).
        bootstrap_servers (controller.quorum.bootstrap.servers) in place of voters makes it a node
        of a dynamic quorum (KIP-853): Kafka formats the first node named there --standalone and
        the others --no-initial-controllers, and gregor needs no format. netns
        runs the process in that network namespace, listening on host:port there. roles is its
        process.roles in a cluster: a controller-only node listens only on its controller port
        (which `port` then is), a broker-only node only on `port`."""
        if kind not in ("gregor", "kafka"):
            raise ValueError(f"unknown broker kind {kind!r}")
        self.kind = kind
        self.overrides = {str(k): str(v) for k, v in (overrides or {}).items()}
        self.keep = keep
        self.node_id = node_id
        self.voters = voters
        self.bootstrap_servers = bootstrap_servers
        self.cluster_id = cluster_id
        self.tmp = tempfile.mkdtemp(prefix=f"compat-{kind}-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self.tmp, "broker.log")
        self.host = host or "127.0.0.1"
        self.port = port or free_port(self.host)
        self.netns = netns
        self.controller_port = controller_port or (free_port(self.host) if kind == "kafka" else None)
        self.roles = roles
        if roles == "controller":
            self.port = self.controller_port
        self.proc: subprocess.Popen | None = None
        self._formatted = False
        self._log = None

    # ------------------------------------------------------------------ info
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def log_tail(self, n: int = 60) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return "(no broker log)"
        return "\n".join(lines[-n:])

    # ------------------------------------------------------------------ command lines
    def _gregor_cmd(self) -> list[str]:
        exe = gregor_bin()
        if not os.path.exists(exe):
            raise CompatFailure(
                f"gregor binary not found at {exe} (set GREGOR_BIN or CARGO_TARGET_DIR, "
                "or build with cargo build --release)"
            )
        cmd = [exe]
        for k, v in self._gregor_props().items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def properties_file(self) -> str:
        """A server.properties file of this node's keys (what Kafka's tools take as
        --command-config, e.g. kafka-metadata-quorum add-controller)."""
        if self.kind == "kafka":
            return self._kafka_props()
        path = os.path.join(self.tmp, "server.properties")
        with open(path, "w") as f:
            for k, v in self._gregor_props().items():
                f.write(f"{k}={v}\n")
        return path

    def _gregor_props(self) -> dict:
        listener = f"PLAINTEXT://{self.host}:{self.port}"
        props = {
            "listeners": listener,
            "advertised.listeners": listener,
            "log.dirs": self.data_dir,
            "node.id": str(self.node_id),
            # As for Kafka below: the scenarios' groups need not wait for more members.
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.voters or self.bootstrap_servers:
            props.update({
                "process.roles": self.roles,
                **self._quorum(),
                "listeners": self._listeners(),
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "broker.heartbeat.interval.ms": "500",
                "broker.session.timeout.ms": "3000",
            })
            if self.roles == "controller":
                del props["advertised.listeners"], props["inter.broker.listener.name"]
        props.update(self.overrides)
        return props

    def _quorum(self) -> dict:
        if self.bootstrap_servers:
            return {"controller.quorum.bootstrap.servers": self.bootstrap_servers}
        return {"controller.quorum.voters": self.voters or f"1@{self.host}:{self.controller_port}"}

    def _listeners(self) -> str:
        plain, controller = f"PLAINTEXT://{self.host}:{self.port}", f"CONTROLLER://{self.host}:{self.controller_port}"
        return {"controller": controller, "broker": plain}.get(self.roles, f"{plain},{controller}")

    def _kafka_props(self) -> str:
        props = {
            "process.roles": self.roles,
            "node.id": str(self.node_id),
            **self._quorum(),
            "listeners": self._listeners(),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir,
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "2",
            # A restarted node waits for its previous broker session to expire: keep that short.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
        }
        if self.bootstrap_servers and self.roles != "broker":
            # A dynamic quorum's voters are reached at their advertised controller listener.
            props["advertised.listeners"] += f",CONTROLLER://{self.host}:{self.controller_port}"
        if self.roles == "controller":
            props["advertised.listeners"] = f"CONTROLLER://{self.host}:{self.controller_port}"
            del props["inter.broker.listener.name"]
        props.update(self.overrides)
        path = os.path.join(self.tmp, "server.properties")
        with open(path, "w") as f:
            for k, v in props.items():
                f.write(f"{k}={v}\n")
        return path

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the process (does not wait for readiness; see wait_ready)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("broker already running")
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== compat: starting {self.kind} at {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        if self.kind == "gregor":
            cmd = self._gregor_cmd()
        else:
            props = self._kafka_props()
            if not self._formatted:
                cluster_id = self.cluster_id or new_cluster_id()
                how = []
                if self.bootstrap_servers:
                    first = self.bootstrap_servers.split(",")[0]
                    how = ["--standalone"] if first == f"{self.host}:{self.controller_port}" else ["--no-initial-controllers"]
                r = run_cli("kafka-storage", ["format", "-t", cluster_id, "-c", props] + how, timeout=120, check=False)
                self._log.write(f"kafka-storage format: rc={r.returncode}\n{r.stdout}{r.stderr}".encode())
                self._log.flush()
                if r.returncode != 0:
                    raise CompatFailure(f"kafka-storage format failed (rc={r.returncode}):\n{r.stdout}{r.stderr}")
                self._formatted = True
            cmd = [os.path.join(KAFKA_HOME, "bin", "kafka-server-start.sh"), props]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self._log.write(("compat: " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        if self not in _live_brokers:
            _live_brokers.append(self)

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def wait_ready(self, deadline: float = 90.0) -> None:
        """Poll until the port accepts TCP and a Metadata request lists this broker."""
        end = time.monotonic() + deadline

        def alive():
            if self.proc is None or self.proc.poll() is not None:
                rc = None if self.proc is None else self.proc.returncode
                raise CompatFailure(f"{self.kind} exited (rc={rc}) before it was ready\n--- broker log tail ---\n{self.log_tail()}")

        while not self._port_open():
            alive()
            if time.monotonic() > end:
                raise CompatFailure(f"{self.kind}: port {self.port} not open after {deadline:.0f}s\n{self.log_tail()}")
            time.sleep(0.05)
        if self.roles == "controller":
            return  # no client is served here; the brokers' readiness says the quorum is up
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.connection.setup.timeout.ms": 2000})
        last = None
        while True:
            alive()
            try:
                md = admin.list_topics(timeout=2)
                if md.brokers:
                    return
                last = "metadata has no brokers"
            except Exception as e:  # noqa: BLE001
                last = repr(e)
            if time.monotonic() > end:
                raise CompatFailure(f"{self.kind}: metadata not answered after {deadline:.0f}s ({last})\n{self.log_tail()}")
            time.sleep(0.1)

    def _wait_exit(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _closed(self) -> None:
        if self._log:
            self._log.write(f"===== compat: {self.kind} exited rc={self.proc.returncode} =====\n".encode())
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for exit (SIGKILL after timeout, which counts as a failure). Returns rc."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        if not self._wait_exit(timeout):
            self.proc.kill()
            self.proc.wait()
            self._closed()
            raise CompatFailure(f"{self.kind} did not exit within {timeout:.0f}s of SIGTERM\n{self.log_tail()}")
        self._closed()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._closed()

    def pause(self) -> None:
        """SIGSTOP: the process stays, answers nothing (a long GC pause, a frozen VM)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def wipe(self) -> None:
        """Delete the data dir of a stopped node: it restarts empty (Kafka: formatted again with
        the cluster's id, as an operator replacing a disk does)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("wipe() while running: stop() or kill() first")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir)
        self._formatted = False

    def restart(self, deadline: float = 90.0) -> None:
        """Start again on the same data dir and port (after stop() or kill()) and wait until ready."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("restart() while running: stop() or kill() first")
        self.start()
        self.wait_ready(deadline)

    def finish(self) -> None:
        """At the end of a scenario: SIGTERM if still running (a hang is reported), then cleanup."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.stop(timeout=30)
        except CompatFailure as e:
            print(f"warning: {e}", file=sys.stderr)
        self.cleanup()

    def cleanup(self) -> None:
        self.kill()
        if self in _live_brokers:
            _live_brokers.remove(self)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ helpers
    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name: str, partitions: int = 1, replication: int = 1, config: dict | None = None,
                     timeout: float = 30.0) -> None:
        """Create a topic with the AdminClient and wait until its metadata shows all partitions with leaders."""
        admin = self.admin()
        fs = admin.create_topics([NewTopic(name, partitions, replication, config=config or {})],
                                 operation_timeout=timeout, request_timeout=timeout)
        fs[name].result(timeout)
        self.wait_topic(name, partitions, timeout, admin)

    def wait_topic(self, name: str, partitions: int, timeout: float = 30.0, admin: AdminClient | None = None):
        admin = admin or self.admin()

        def ok():
            md = admin.list_topics(topic=name, timeout=5).topics.get(name)
            return (md is not None and md.error is None and len(md.partitions) == partitions
                    and all(p.leader >= 0 for p in md.partitions.values()))

        wait_until(ok, timeout, f"topic {name} with {partitions} partitions and leaders")


def new_cluster_id() -> str:
    """A random cluster id as kafka-storage random-uuid makes it (never starting with '-')."""
    cluster_id = "-"
    while cluster_id.startswith("-"):  # kafka-storage would take "-..." for an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


NETNS_BRIDGE, NETNS_PREFIX, NETNS_SUBNET, NFT_TABLE = "gcompat-br0", "gcompat-n", "10.78.0", "gcompat_fault"


def netns_up(n: int) -> None:
    """A bridge (NETNS_SUBNET.1/24) and a namespace per node (NETNS_SUBNET.(10+i)), made afresh;
    root only, and needs `ip` and `nft` (compat/setup installs them)."""
    if os.geteuid() != 0:
        raise CompatFailure("network namespaces need root")

    def ip(*args, check=True):
        subprocess.run(["ip", *args], check=check, capture_output=True)

    if subprocess.run(["ip", "link", "show", NETNS_BRIDGE], capture_output=True).returncode != 0:
        ip("link", "add", NETNS_BRIDGE, "type", "bridge")
        ip("addr", "add", f"{NETNS_SUBNET}.1/24", "dev", NETNS_BRIDGE)
        ip("link", "set", NETNS_BRIDGE, "up")
    for i in range(1, n + 1):
        ns, veth = f"{NETNS_PREFIX}{i}", f"gcveth{i}"
        ip("netns", "del", ns, check=False)
        ip("link", "del", veth, check=False)
        ip("netns", "add", ns)
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", veth, "master", NETNS_BRIDGE, "up")
        ip("-n", ns, "addr", "add", f"{NETNS_SUBNET}.{10 + i}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "route", "add", "default", "via", f"{NETNS_SUBNET}.1")


class Cluster:
    """n combined broker,controller nodes on 127.0.0.1 with the same controller.quorum.voters
    (Kafka: formatted with one cluster id), node ids 1..n. Each node is a Broker."""

    def __init__(self, kind: str, n: int = 3, overrides: dict | None = None, keep: bool = False,
                 netns: bool = False, roles: list[str] | None = None, dynamic: bool = False, first_id: int = 1):
        """netns: each node in its own network namespace on a bridge (root only), so that links
        can be cut (cut/heal); clients reach the nodes through the bridge. roles: each node's
        process.roles (default all broker,controller); the voters are the nodes with the
        controller role. dynamic: a KIP-853 quorum, every node given all controllers in
        controller.quorum.bootstrap.servers (node 1 first), whose only voter at first is node 1.
        first_id: the first node's node.id (the others follow), for suites that assume node 0."""
        cluster_id = new_cluster_id()
        roles = roles or ["broker,controller"] * n
        n = len(roles)
        self.kind = kind
        self.netns = netns
        self.first_id = first_id
        if netns:
            netns_up(n)
            hosts = [f"{NETNS_SUBNET}.{10 + i + 1}" for i in range(n)]
            voters = ",".join(f"{first_id + i}@{h}:9093" for i, h in enumerate(hosts) if "controller" in roles[i])
            self.nodes = [Broker(kind, overrides, keep, node_id=first_id + i, voters=voters, controller_port=9093,
                                 cluster_id=cluster_id, host=h, port=9092, netns=f"{NETNS_PREFIX}{i + 1}",
                                 roles=roles[i])
                          for i, h in enumerate(hosts)]
            return
        ports = free_ports(2 * n)  # controllers, then clients: none shared
        voters = ",".join(f"{first_id + i}@127.0.0.1:{p}" for i, p in enumerate(ports[:n]) if "controller" in roles[i])
        bootstrap = ",".join(f"127.0.0.1:{p}" for i, p in enumerate(ports[:n]) if "controller" in roles[i])
        self.nodes = [Broker(kind, overrides, keep, node_id=first_id + i, voters=None if dynamic else voters,
                             controller_port=p, cluster_id=cluster_id, port=ports[n + i], roles=roles[i],
                             bootstrap_servers=bootstrap if dynamic else None)
                      for i, p in enumerate(ports[:n])]

    def cut(self, node_id: int, peers: list[int]) -> None:
        """Drops all traffic between node `node_id` and each of `peers` (both ways, nftables in
        the node's namespace); clients still reach it."""
        addrs = ", ".join(self.node(p).host for p in peers)
        rules = (f"table inet {NFT_TABLE} {{\n"
                 f"  chain input {{ type filter hook input priority 0; policy accept; ip saddr {{ {addrs} }} drop; }}\n"
                 f"  chain output {{ type filter hook output priority 0; policy accept; ip daddr {{ {addrs} }} drop; }}\n"
                 f"}}\n")
        subprocess.run(["ip", "netns", "exec", self.node(node_id).netns, "nft", "-f", "-"], input=rules, text=True,
                       check=True, capture_output=True)

    def heal(self, node_id: int) -> None:
        """Removes the rules cut() put in node `node_id`'s namespace."""
        subprocess.run(["ip", "netns", "exec", self.node(node_id).netns, "nft", "delete", "table", "inet", NFT_TABLE],
                       capture_output=True)

    @property
    def bootstrap(self) -> str:
        """The brokers' addresses (controller-only nodes serve no client)."""
        return ",".join(n.bootstrap for n in self.nodes if n.roles != "controller")

    def node(self, node_id: int) -> Broker:
        return self.nodes[node_id - self.first_id]

    def start(self, deadline: float = 120.0) -> None:
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready(deadline)

    def wait_brokers(self, ids: list[int], via: int, deadline: float = 60.0) -> None:
        """Wait until node `via`'s metadata lists exactly the brokers `ids`."""
        admin = AdminClient({"bootstrap.servers": self.node(via).bootstrap})
        wait_until(lambda: sorted(admin.list_topics(timeout=5).brokers) == sorted(ids), deadline,
                   f"node {via} lists brokers {sorted(ids)}")

    def log_tails(self, n: int = 40) -> str:
        return "\n".join(f"--- node {b.node_id} ({b.log_path}) ---\n{b.log_tail(n)}" for b in self.nodes)

    def cleanup(self) -> None:
        for n in self.nodes:
            n.finish()
        if self.netns:
            for n in self.nodes:
                self.heal(n.node_id)


def cluster_main(body, n: int = 3, overrides: dict | None = None, name: str | None = None,
                 netns: bool = False, args: argparse.Namespace | None = None, roles: list[str] | None = None,
                 dynamic: bool = False) -> None:
    """Entry point of a cluster scenario: start n nodes (or one per entry of roles, each its
    process.roles), run body(cluster), report, exit 0/1."""
    args = args or parse_args()
    cluster = Cluster(args.broker, n, overrides, keep=args.keep, netns=netns, roles=roles, dynamic=dynamic)
    n = len(cluster.nodes)
    run_scenario(name, args.broker, cluster.start, lambda: f"{n} {args.broker} nodes at {cluster.bootstrap}",
                  lambda: body(cluster), cluster.log_tails, cluster.cleanup)


def run_scenario(name, kind, start, where, run, log_tails, cleanup) -> None:
    """Start, run, and report one scenario; print the logs on failure; exit 0 on success, 1 else."""
    name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    t0 = time.monotonic()
    ok = False
    try:
        start()
        print(f"[{name}] {where()} ready in {time.monotonic() - t0:.1f}s", flush=True)
        run()
        ok = True
    except CompatFailure as e:
        print(f"[{name}] FAIL against {kind}: {e}", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001
        print(f"[{name}] ERROR against {kind}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
    finally:
        if not ok:
            print(log_tails(), file=sys.stderr, flush=True)
        cleanup()
    dt = time.monotonic() - t0
    if ok:
        print(f"[{name}] PASS against {kind} in {dt:.1f}s", flush=True)
        sys.exit(0)
    sys.exit(1)


def run_cli(tool: str, args: list[str], input: str | bytes | None = None, timeout: float = 120.0,
            check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the Kafka CLI wrappers (e.g. 'kafka-topics' or 'kafka-topics.sh') from KAFKA_HOME/bin.

    Returns the CompletedProcess with text stdout/stderr; raises CompatFailure on timeout or,
    when check is true, on a non-zero exit."""
    name = tool if tool.endswith(".sh") else tool + ".sh"
    exe = os.path.join(KAFKA_HOME, "bin", name)
    if not os.path.exists(exe):
        raise CompatFailure(f"{exe} missing: run compat/setup")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if isinstance(input, bytes):
        input = input.decode()
    try:
        r = subprocess.run([exe] + list(args), input=input, capture_output=True, text=True,
                           timeout=timeout, env=full_env, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")
        err = (e.stderr or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise CompatFailure(f"{name} {' '.join(args)} timed out after {timeout}s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")
    if check and r.returncode != 0:
        raise CompatFailure(f"{name} {' '.join(args)} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", choices=["gregor", "kafka"], default=os.environ.get("COMPAT_BROKER", "gregor"))
    p.add_argument("--keep", action="store_true", help="keep the broker's temp dir (data and log)")
    return p.parse_args(argv)


def main(body, overrides: dict | None = None, name: str | None = None) -> None:
    """Entry point of a scenario: start a broker, run body(broker), report, exit 0/1."""
    args = parse_args()
    broker = Broker(args.broker, overrides=overrides, keep=args.keep)

    def start():
        broker.start()
        broker.wait_ready()

    def tails():
        kept = f"\nkept {broker.tmp}" if args.keep else ""
        return f"--- {args.broker} log tail ({broker.log_path}) ---\n{broker.log_tail()}{kept}"

    run_scenario(name, args.broker, start, lambda: f"{args.broker} at {broker.bootstrap}", lambda: body(broker),
                  tails, broker.finish)


# ---------------------------------------------------------------------------- client data sets
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def make_records(tag: str, n: int = 1500, big_every: int = 150, seed: int = 1) -> list[dict]:
    """A deterministic mix of records: keyed text, binary values, empty and null values, a few
    null keys, headers, explicit create timestamps, and ~100 KB values (random and repetitive)."""
    import random

    rnd = random.Random(f"{tag}-{seed}")
    base_ts = 1_700_000_000_000
    out = []
    for i in range(n):
        key = None if i % 97 == 13 else f"key-{i % 31}".encode()
        kind = i % 10
        if i % big_every == 5:
            value = rnd.randbytes(100_000) if (i // big_every) % 2 else (f"{tag}-{i}-".encode() * 6000)[:100_000]
        elif kind == 0:
            value = b""
        elif kind == 1:
            value = None
        elif kind in (2, 3):
            value = rnd.randbytes(rnd.randint(1, 300))
        else:
            value = f"{tag} value {i} ü€ ".encode() * rnd.randint(1, 5)
        if key is None and value is None:
            value = b"null key"  # kafka-python refuses a record with neither
        headers = [("h1", f"v{i}".encode()), ("bin", bytes([i % 256, 0, 255]))] if i % 4 == 0 else []
        out.append({"i": i, "key": key, "value": value, "headers": headers, "ts": base_ts + i})
    return out


def verify_readback(topic: str, records: list[dict], acks: dict, got: dict, partitions: int,
                    key_partition=None) -> None:
    """Check what a consumer read against what a producer was acknowledged.

    acks: record index -> (partition, offset) from the delivery reports / futures.
    got: partition -> list of (offset, key, value, headers, timestamp) in consumed order.
    key_partition(key) -> expected partition of a non-null key, if the client's partitioner is known."""
    check_eq(sorted(acks), list(range(len(records))), f"{topic}: acknowledged record indexes")
    by_pos = {}
    for p in range(partitions):
        recs = got.get(p, [])
        offs = [r[0] for r in recs]
        check_eq(offs, list(range(len(recs))), f"{topic} partition {p}: offsets in consumed order (dense from 0)")
        for r in recs:
            by_pos[(p, r[0])] = r
    check_eq(len(by_pos), len(records), f"{topic}: number of records read back")
    key_part = {}
    last_off = {}
    for rec in records:
        p, o = acks[rec["i"]]
        r = by_pos.get((p, o))
        check(r is not None, f"{topic}: record {rec['i']} acknowledged at {p}/{o} but not read back")
        _, k, v, h, ts = r
        where = f"{topic} record {rec['i']} at partition {p} offset {o}"
        check_eq(k, rec["key"], f"{where}: key")
        if v != rec["value"]:
            raise CompatFailure(f"{where}: value differs (got {None if v is None else len(v)} bytes "
                                f"{v[:40]!r}..., want {None if rec['value'] is None else len(rec['value'])} bytes "
                                f"{(rec['value'] or b'')[:40]!r}...)")
        check_eq(list(h), rec["headers"], f"{where}: headers")
        check_eq(ts, rec["ts"], f"{where}: timestamp")
        check(o > last_off.get(p, -1), f"{where}: offset not after the previous record produced to it")
        last_off[p] = o
        if rec["key"] is not None:
            check(key_part.setdefault(rec["key"], p) == p,
                  f"{topic}: key {rec['key']!r} in partitions {key_part[rec['key']]} and {p}")
            if key_partition is not None:
                check_eq(p, key_partition(rec["key"]), f"{where}: partition of key {rec['key']!r}")


# ---------------------------------------------------------------------------- shared by scenarios
# `kafka-configs --describe --all --entity-type topics` of Apache Kafka 4.3.1: every topic config name.
KAFKA_TOPIC_CONFIG_NAMES = sorted("""
cleanup.policy compression.gzip.level compression.lz4.level compression.type compression.zstd.level
delete.retention.ms file.delete.delay.ms flush.messages flush.ms follower.replication.throttled.replicas
index.interval.bytes leader.replication.throttled.replicas local.retention.bytes local.retention.ms
max.compaction.lag.ms max.message.bytes message.timestamp.after.max.ms message.timestamp.before.max.ms
message.timestamp.type min.cleanable.dirty.ratio min.compaction.lag.ms min.insync.replicas preallocate
remote.log.copy.disable remote.log.delete.on.disable remote.storage.enable retention.bytes retention.ms
segment.bytes segment.index.bytes segment.jitter.ms segment.ms unclean.leader.election.enable
""".split())


class Soft:
    """Checks of output details (full lines, synonyms, error texts) that do not change what later
    steps see: every mismatch is printed and collected, and the scenario fails at the end with all
    of them (not only the first)."""

    def __init__(self):
        self.failures = []

    def eq(self, got, want, what):
        try:
            check_eq(got, want, what)
        except CompatFailure as e:
            self.fail(str(e))

    def true(self, cond, what):
        if not cond:
            self.fail(what)

    def fail(self, msg):
        print(f"  MISMATCH: {msg}", flush=True)
        self.failures.append(msg)

    def done(self):
        if self.failures:
            raise CompatFailure(f"{len(self.failures)} mismatch(es):\n  - " + "\n  - ".join(self.failures))


def parallel(*calls):
    """Run (fn, args...) tuples two at a time (2 cores); return results in order."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=2) as ex:
        futs = [ex.submit(c[0], *c[1:]) for c in calls]
        return [f.result() for f in futs]


def run_tool(main_class, args, timeout=120.0, check_rc=True):
    """Like run_cli, for a Kafka tool that compat/setup has no wrapper for (its main class)."""
    home = KAFKA_HOME
    cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
           "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={home}/config/tools-log4j2.properties",
           "-cp", f"{home}/libs/*", main_class] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CompatFailure(f"{main_class} {' '.join(args)} timed out after {timeout}s\n{e.stdout}\n{e.stderr}")
    if check_rc and r.returncode != 0:
        raise CompatFailure(f"{main_class} {' '.join(args)} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n"
                            f"stderr:\n{r.stderr[-3000:]}")
    return r
