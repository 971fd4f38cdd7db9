"""A real Apache Kafka broker on this machine, without Docker.

The jars come from Maven Central (deploy/kafka/pom.xml) into a cache folder; the broker runs
in KRaft mode as one node, keeps its log on disk under the state directory, and so survives a
restart with every acknowledged message.
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

POM = resources.files("deploy").joinpath("kafka/pom.xml")
CONFIG = resources.files("deploy").joinpath("kafka/server.properties")
LOG_CONFIG = resources.files("deploy").joinpath("kafka/log4j2.properties")


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


@dataclass
class LocalKafka:
    home: Path  # this broker's folder: config, data, logs, pid
    port: int = 9092
    controller_port: int = 9093

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def running(self) -> bool:
        return self.pid() is not None

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp", str(install_jars() / "*"), main, *args,
        ]

    def _write_config(self) -> Path:
        config = self.home / "server.properties"
        config.write_text(Template(CONFIG.read_text()).substitute(
            port=self.port, controller_port=self.controller_port, data_dir=self.home / "data"))
        return config

    def _format_storage(self, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(  # "=": an id may begin with "-", which would read as an option
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={config}"),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise KafkaLaunchError(f"formatting the Kafka storage failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout_s: float = 90) -> None:
        if self.running():
            return
        if port_open(self.port):
            raise KafkaLaunchError(f"port {self.port} is taken by another process")
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._format_storage(config)
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            process = subprocess.Popen(self._java("kafka.Kafka", str(config)), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise KafkaLaunchError(f"the broker exited with {process.returncode}; see {self.home / 'logs'}")
            if self.answers():
                return
            time.sleep(0.5)
        self.stop()
        raise KafkaLaunchError(f"the broker did not answer within {timeout_s}s; see {self.home / 'logs'}")

    def answers(self) -> bool:
        """The broker serves metadata: a client can really talk to it, not just open a socket."""
        if not port_open(self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except (KafkaError, OSError):
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def stop(self, timeout_s: float = 60) -> None:
        """Controlled shutdown (SIGTERM) so the log is flushed; SIGKILL only if it hangs."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


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
