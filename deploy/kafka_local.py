"""A real Apache Kafka broker on this machine, without Docker, or a cluster of three.

The jars come from Maven Central (deploy/kafka/pom.xml) into a cache folder. Every node runs in
KRaft mode as a combined broker and controller and keeps its log on disk, so it survives a restart
with every acknowledged message. A single broker lives in the state directory itself; the nodes of
a cluster live in `node-1/`, `node-2/` and `node-3/` beneath it.
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

POM = resources.files("deploy").joinpath("kafka/pom.xml")
CONFIG = resources.files("deploy").joinpath("kafka/server.properties")
LOG_CONFIG = resources.files("deploy").joinpath("kafka/log4j2.properties")

SIZES = (1, 3)  # one broker for development; three for replication (two in sync) that survives one loss
# A single broker has room for a busy platform. Three nodes share a 2-core machine with PostgreSQL
# and the services: 384 MB of heap each (about 320 MB resident when idle, under 600 MB busy) is ample
# for local traffic, and leaves the memory to the page cache, which is where Kafka serves its log from.
HEAP = {1: ("-Xms256m", "-Xmx768m"), 3: ("-Xms128m", "-Xmx384m")}
QUORUM_LOST_S = 10  # for a node left without a controller quorum to finish stopping, before SIGKILL (see _stop)


R = TypeVar("R")


class KafkaLaunchError(RuntimeError):
    pass


def jar_cache() -> Path:
    """Shared by every state directory: the jars are the same, only the data differs."""
    return Path(os.environ.get("HPS_KAFKA_JARS", Path.home() / ".cache" / "hps" / "kafka-jars"))


def install_jars(cache: Path | None = None) -> Path:
    cache = cache or jar_cache()
    if any(cache.glob("kafka_2.13-*.jar")):
        return cache
    if not shutil.which("mvn") or not shutil.which("java"):
        raise KafkaLaunchError("the local Kafka broker needs Java 17+ and Maven on PATH")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with resources.as_file(POM) as pom:
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
            capture_output=True, text=True,
        )
    if result.returncode != 0:
        raise KafkaLaunchError(f"resolving the Kafka jars with Maven failed:\n{result.stdout}{result.stderr}")
    shutil.rmtree(cache)
    partial.rename(cache)
    return cache


def port_open(port: int, host: str = "localhost") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Node:
    """One JVM, broker and controller of one node id, with its own config, data, logs and pid file."""
    node_id: int
    home: Path
    port: int
    controller_port: int

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def meta(self) -> Path:
        """Written by the storage format; holds the cluster id."""
        return self.home / "data" / "meta.properties"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def kill(self) -> None:
        """A crash: no flush, no controlled shutdown, no goodbye to the controller."""
        if (pid := self.pid()) is not None:
            _signal(pid, signal.SIGKILL)
            self.await_gone(pid)
        self.pid_file.unlink(missing_ok=True)

    def gone(self, pid: int) -> bool:
        """Exited, and its ports closed: a JVM's main thread can show as a zombie while other threads,
        which hold the sockets, are still exiting, and a restart would find its ports taken."""
        return not _alive(pid) and not port_open(self.port) and not port_open(self.controller_port)

    def await_gone(self, pid: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


@dataclass
class LocalKafka:
    home: Path  # the state folder: one broker's config, data, logs and pid; or a cluster's node-<id>/ folders
    port: int = 9092  # node i listens on port + 2 × (i − 1)
    controller_port: int = 9093  # node i's controller on controller_port + 2 × (i − 1)
    brokers: int = 1

    def __post_init__(self) -> None:
        if self.brokers not in SIZES:
            raise ValueError(f"a local Kafka runs 1 or 3 brokers, not {self.brokers}: one for development, "
                             "three for replicated topics that survive the loss of one")

    @property
    def nodes(self) -> list[Node]:
        if self.brokers == 1:  # the layout from before clusters, so existing state directories keep working
            return [Node(1, self.home, self.port, self.controller_port)]
        return [Node(i, self.home / f"node-{i}", self.port + 2 * (i - 1), self.controller_port + 2 * (i - 1))
                for i in range(1, self.brokers + 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"localhost:{node.port}" for node in self.nodes)

    def node_ids(self) -> list[int]:
        return [node.node_id for node in self.nodes]

    def live_node_ids(self) -> list[int]:
        """The nodes whose process runs (whether or not the cluster has noticed a death yet)."""
        return [node.node_id for node in self.nodes if node.pid() is not None]

    def pids(self) -> dict[int, int]:
        return {node.node_id: pid for node in self.nodes if (pid := node.pid()) is not None}

    def pid(self) -> int | None:
        """The first running node's process (the broker's, on a single node)."""
        return next(iter(self.pids().values()), None)

    def running(self) -> bool:
        return all(node.pid() is not None for node in self.nodes)

    def answers(self) -> bool:
        """Every broker serves clients and is registered: a client can really talk to the whole cluster."""
        return self._up(self.nodes)

    def start(self, timeout_s: float = 90) -> None:
        """Start every node that is not running, all at once (each JVM takes seconds), and return
        when the cluster lists every broker as registered."""
        self._start([node for node in self.nodes if node.pid() is None], timeout_s)

    def stop(self, timeout_s: float = 60) -> None:
        self._stop(self.nodes, timeout_s)

    def start_node(self, node_id: int, timeout_s: float = 90) -> None:
        """Start one node again, on the data it had; returns once it is registered again."""
        node = self._node(node_id)
        if node.pid() is None:
            self._start([node], timeout_s)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node's process group, as a crash or a pulled plug would."""
        self._node(node_id).kill()

    def leader(self, topic: str, partition: int) -> int:
        """The node id leading a partition, as the cluster's metadata says (-1 while it has none)."""
        described = self._ask(lambda admin: admin.describe_topics([topic])[0])
        for p in described["partitions"]:
            if p["partition_index"] == partition:
                return p["leader_id"]
        raise ValueError(f"topic {topic} has no partition {partition} (error code {described['error_code']})")

    def in_sync(self, topic: str) -> list[set[int]]:
        """Each partition's in-sync replicas (node ids), in partition order."""
        described = self._ask(lambda admin: admin.describe_topics([topic])[0])
        return [set(p["isr_nodes"]) for p in sorted(described["partitions"], key=lambda p: p["partition_index"])]

    def _node(self, node_id: int) -> Node:
        if node_id not in self.node_ids():
            raise ValueError(f"no node {node_id}: the nodes are {self.node_ids()}")
        return self.nodes[node_id - 1]

    def _start(self, nodes: list[Node], timeout_s: float) -> None:
        if not nodes:
            return
        for port in (p for node in nodes for p in (node.port, node.controller_port)):
            if port_open(port):
                raise KafkaLaunchError(f"port {port} is taken by another process")
        cluster_id = self._cluster_id()
        deadline = time.monotonic() + timeout_s
        try:
            processes = _each(nodes, lambda node: self._launch(node, cluster_id))
            while not self._up(nodes):
                for node, process in zip(nodes, processes):
                    if process.poll() is not None:
                        raise KafkaLaunchError(f"{self._name(node)} exited with {process.returncode}; "
                                               f"see {node.home / 'logs'}")
                if time.monotonic() > deadline:
                    waited = "the broker" if self.brokers == 1 else f"nodes {[n.node_id for n in nodes]}"
                    raise KafkaLaunchError(f"{waited} did not answer within {timeout_s}s; "
                                           f"see the logs under {self.home}")
                time.sleep(0.5)
        except BaseException:
            self._stop(nodes, 10)  # only what this call started: the others keep running
            raise

    def _stop(self, nodes: list[Node], timeout_s: float) -> None:
        """SIGTERM to every node at once, for a controlled shutdown that flushes each log; SIGKILL to
        those still running after `timeout_s`, or QUORUM_LOST_S after a majority of the cluster has
        gone: a node then waits for a controller quorum that no longer exists to approve its controlled
        shutdown, and Kafka gives up only after five minutes. Its acknowledged writes are safe: they
        are in the page cache, and Kafka recovers the log on the next start."""
        running = {node: pid for node in nodes if (pid := node.pid()) is not None}
        for pid in running.values():
            _signal(pid, signal.SIGTERM)
        deadline, quorum_lost_at = time.monotonic() + timeout_s, None
        while left := {node: pid for node, pid in running.items() if not node.gone(pid)}:
            if quorum_lost_at is None and self.brokers > 1 and len(self.live_node_ids()) <= self.brokers // 2:
                quorum_lost_at = time.monotonic()
            if time.monotonic() > min(deadline, (quorum_lost_at or deadline) + QUORUM_LOST_S):
                for node, pid in left.items():
                    _signal(pid, signal.SIGKILL)
                    node.await_gone(pid)
                break
            time.sleep(0.2)
        for node in nodes:
            node.pid_file.unlink(missing_ok=True)

    def _name(self, node: Node) -> str:
        return "the broker" if self.brokers == 1 else f"node {node.node_id}"

    def _launch(self, node: Node, cluster_id: str) -> subprocess.Popen:
        (node.home / "logs").mkdir(parents=True, exist_ok=True)
        config = self._write_config(node)
        if not node.meta.exists():
            self._format_storage(node, config, cluster_id)
        with open(node.home / "logs" / "stdout.log", "ab") as out:
            process = subprocess.Popen(self._java(node, "kafka.Kafka", str(config)), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        node.pid_file.write_text(str(process.pid))
        return process

    def _java(self, node: Node, main: str, *args: str) -> list[str]:
        return [
            "java", *HEAP[self.brokers], "-XX:+UseG1GC",
            f"-Dkafka.logs.dir={node.home / 'logs'}",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp", str(install_jars() / "*"), main, *args,
        ]

    def _write_config(self, node: Node) -> Path:
        config = node.home / "server.properties"
        config.write_text(Template(CONFIG.read_text()).substitute(
            node_id=node.node_id, port=node.port, controller_port=node.controller_port,
            voters=",".join(f"{n.node_id}@localhost:{n.controller_port}" for n in self.nodes),
            replicas=self.brokers, min_isr=1 if self.brokers == 1 else 2, data_dir=node.home / "data"))
        return config

    def _cluster_id(self) -> str:
        """The id the formatted nodes carry, so a node formatted later joins them; else a new one."""
        for node in self.nodes:
            if node.meta.exists():
                for line in node.meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.removeprefix("cluster.id=").strip()
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def _format_storage(self, node: Node, config: Path, cluster_id: str) -> None:
        # With controller.quorum.voters in the config the quorum is static: each node is formatted
        # alone, with the shared cluster id and no --standalone or --initial-controllers (which
        # StorageTool refuses beside static voters).
        result = subprocess.run(  # "=": an id may begin with "-", which would read as an option
            self._java(node, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={config}"),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise KafkaLaunchError(f"formatting the Kafka storage of {self._name(node)} failed:\n"
                                   f"{result.stdout}{result.stderr}")

    def _up(self, nodes: list[Node]) -> bool:
        """Each node's broker port is open (Kafka opens it only once the broker has registered and
        caught up) and the cluster lists it as registered and unfenced."""
        if not all(port_open(node.port) for node in nodes):
            return False
        try:
            brokers = self._ask(lambda admin: admin.describe_cluster()["brokers"], timeout_s=3)
        except KafkaLaunchError:
            return False
        registered = {b["broker_id"] for b in brokers if not b.get("is_fenced")}
        return {node.node_id for node in nodes} <= registered

    def _ask(self, question: Callable[["KafkaAdminClient"], R], timeout_s: float = 15) -> R:
        """An admin request, retried: the client sends each to a node picked at random among those
        the metadata lists, which includes a dead node until the controller fences it (seconds)."""
        from kafka import KafkaAdminClient  # here, not at module load: `hps` starts without the client
        from kafka.errors import KafkaError

        live = ",".join(f"localhost:{node.port}" for node in self.nodes if node.pid() is not None)
        deadline = time.monotonic() + timeout_s
        admin = None
        try:
            while True:
                try:
                    admin = admin or KafkaAdminClient(bootstrap_servers=live or self.bootstrap,
                                                      request_timeout_ms=3000)
                    return question(admin)
                except (KafkaError, OSError) as exc:
                    if time.monotonic() > deadline:
                        raise KafkaLaunchError(f"Kafka at {self.bootstrap} did not answer: {exc!r}") from exc
                    time.sleep(0.2)  # the client now backs off from the node that failed
        finally:
            if admin:
                admin.close()


def _each(nodes: list[Node], action: Callable[[Node], R]) -> list[R]:
    """`action` on every node at once, in threads: a JVM takes seconds to start or stop."""
    if not nodes:
        return []
    with ThreadPoolExecutor(len(nodes)) as pool:
        return list(pool.map(action, nodes))


def _signal(pid: int, signum: int) -> None:
    """To the node's whole process group (it leads one: start_new_session), unless it is gone already."""
    with suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fall back to probing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its /proc state says it is gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
