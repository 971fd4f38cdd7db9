"""`hps kafka …` and `hps up`: the broker and the whole platform on this machine."""

import logging
import socket
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from deploy.kafka_local import SIZES, KafkaLaunchError, LocalKafka
from services.cli.client import CHECK_FAILED, UNAVAILABLE, USAGE, fail
from services.cli.layout import counts, instances, members, services
from services.cli.migrate import migrate_all
from services.cli.supervisor import Child, Supervisor, python_module
from shared.kafka import bus
from shared.logging import configure
from shared.settings import Settings, get_settings
from shared.topics import SERVICES

HEALTHY_WITHIN_S = 120

kafka = typer.Typer(help="The local Apache Kafka (KRaft): one broker, or a cluster of three.", no_args_is_help=True)


def taken_ports(settings: Settings, broker: LocalKafka | None) -> list[str]:
    """Each port `hps up` needs that another process holds, with the setting that moves it."""
    wanted = [(i.port, i.name, i.service.setting) for i in instances(settings)]
    if broker and not broker.running():
        for node in broker.nodes:
            wanted += [(node.port, f"Kafka node {node.node_id}", "HPS_KAFKA_PORT"),
                       (node.controller_port, f"the Kafka controller of node {node.node_id}",
                        "HPS_KAFKA_CONTROLLER_PORT")]
    return [f"port {port} ({name}) is in use by another process; set {setting} to another port"
            for port, name, setting in wanted if not _free(listening_on(settings, name), port)]


def listening_on(settings: Settings, name: str) -> str:
    """The gateway faces the partners; everything else listens on the internal host."""
    return settings.gateway_host if name.startswith("gateway") else settings.internal_host


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def await_healthy(settings: Settings, supervisor: Supervisor, timeout_s: float) -> str | None:
    """Wait until every instance answers 200 on /health and every consumer group has all its
    instances as members, settled; else why not (None when all are up)."""
    pending = {i.name: f"http://{listening_on(settings, i.name)}:{i.port}/health" for i in instances(settings)}
    children = {c.name: c for c in supervisor.children}
    groups = members(settings)
    deadline = time.monotonic() + timeout_s
    last: dict[str, str] = {}
    while pending or groups:
        for name, url in list(pending.items()):
            child = children[name]
            if child.process.poll() is not None:
                return (f"{name} exited with {child.process.returncode} while starting; its log, "
                        f"{child.log_path}, ends:\n{child.log_tail()}")
            try:
                answer = httpx.get(url, timeout=2)
                if answer.status_code == 200:
                    del pending[name]
                else:
                    last[name] = answer.text[:300]
            except httpx.HTTPError as exc:
                last[name] = repr(exc)
        if not pending:
            joined = bus.group_members(settings.bootstrap, list(groups))
            for group, wanted in list(groups.items()):
                if joined.get(group) == wanted:
                    del groups[group]
                else:
                    last[group] = f"{joined.get(group, 0)} of {wanted} members, or rebalancing"
        if (pending or groups) and time.monotonic() > deadline:
            return "; ".join(f"{name} is not healthy after {timeout_s:.0f}s ({last.get(name, 'no answer')})"
                             for name in pending) or "; ".join(
                f"consumer group {group} has not settled after {timeout_s:.0f}s ({last.get(group)})" for group in groups)
        time.sleep(0.3)
    return None


def local_broker(settings: Settings) -> LocalKafka:
    return LocalKafka(settings.state_dir / "kafka", settings.kafka_port, settings.kafka_controller_port,
                      settings.kafka_brokers)


Brokers = Annotated[int | None, typer.Option(
    help="Nodes of the local Kafka: 1, or 3 for replicated topics (default HPS_KAFKA_BROKERS, else 1)")]


def _settings(**overrides) -> Settings:
    """The settings, with what the command line gave over the environment's."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**given) if given else get_settings()
    except ValidationError as exc:
        raise fail(str(exc), USAGE) from None


@kafka.command()
def start(brokers: Brokers = None) -> None:
    """Start the local broker (downloads its jars from Maven Central the first time)."""
    broker = local_broker(_settings(kafka_brokers=brokers))
    try:
        broker.start()
    except KafkaLaunchError as exc:
        raise fail(str(exc), UNAVAILABLE)
    typer.echo(f"Kafka is up at {broker.bootstrap} (data in {broker.home / 'data'})")


@kafka.command()
def topics() -> None:
    """Create the platform's topics that do not exist yet on HPS_KAFKA_BOOTSTRAP (else the local
    broker): replicated three times on a cluster of three brokers or more."""
    settings = get_settings()
    try:
        created = bus.ensure_topics(settings.bootstrap)
    except KafkaError as exc:
        raise fail(f"Kafka at {settings.bootstrap} did not answer: {exc}", UNAVAILABLE) from None
    _topics(created)


@kafka.command()
def stop() -> None:
    """Stop the local broker, or cluster, flushing its log to disk."""
    for size in SIZES:
        local_broker(_settings(kafka_brokers=size)).stop()
    typer.echo("Kafka is stopped")


@kafka.command()
def status() -> None:
    """Whether the local broker, or cluster, runs and answers; exits 1 when it does not."""
    running = [b for b in (local_broker(_settings(kafka_brokers=size)) for size in SIZES) if b.running()]
    if running and running[0].answers():
        broker = running[0]
        pids = ", ".join(str(pid) for pid in broker.pids().values())
        typer.echo(f"Kafka is up at {broker.bootstrap} (pid {pids})")
    else:
        typer.echo("Kafka is not running")
        raise typer.Exit(CHECK_FAILED)


def up(scale: Annotated[str | None, typer.Option(
        help="Instances per service, e.g. hr=2,ledger=2 (default HPS_SCALE); gateway=N runs N gateway processes")]
        = None, brokers: Brokers = None) -> None:
    """Run the whole platform in one process tree until Ctrl-C."""
    settings = _settings(scale=scale, kafka_brokers=brokers)
    try:
        counts(settings)
    except ValueError as exc:
        raise fail(str(exc), USAGE)
    configure(settings.log_level)
    broker = None if settings.kafka_bootstrap else local_broker(settings)
    if taken := taken_ports(settings, broker):
        raise fail("\n".join(taken), CHECK_FAILED)  # a check before starting anything
    try:
        if broker:
            typer.echo(f"Starting Kafka on {broker.bootstrap} …")
            broker.start()
        created = bus.ensure_topics(settings.bootstrap)
        logging.getLogger("alembic").setLevel(logging.WARNING)  # each step is in the ledger's own log too
        migrate_all(settings)
    except (KafkaLaunchError, OSError, SQLAlchemyError) as exc:
        raise fail(str(exc), UNAVAILABLE)
    children = [Child(i.name, python_module(i.service.module), env=i.env()) for i in instances(settings)]
    supervisor = Supervisor(children, Path(settings.state_dir) / "logs")
    supervisor.env |= {"HPS_KAFKA_BOOTSTRAP": settings.bootstrap}  # every node, whatever the command line said
    try:
        supervisor.start_all()
        typer.echo("Waiting for every service to answer its health check …")
        if problem := await_healthy(settings, supervisor, HEALTHY_WITHIN_S):
            raise fail(f"the platform did not come up: {problem}", UNAVAILABLE)
        _report(settings, broker, created)
        supervisor.watch(on_restart=typer.echo)
        typer.echo("Stopping …")
    finally:
        supervisor.stop_all()
        if broker:
            broker.stop()
    typer.echo("Stopped: every process of the platform has exited.")


def _report(settings: Settings, broker: LocalKafka | None, created: list[str]) -> None:
    where = "local broker, data in " + str(broker.home / "data") if broker else "external broker"
    typer.echo(f"Kafka       {settings.bootstrap}  healthy ({where})")
    _topics(created)
    scale = counts(settings)
    for s in services(settings):
        times = f"  ×{scale[s.name]}" if scale[s.name] > 1 else ""
        typer.echo(f"{s.name:<11} {s.serves}  healthy{times}")
    ports = ", ".join(f"{i.name} :{i.port}" for i in instances(settings) if i.service.name in SERVICES)
    typer.echo(f"Health      /health and /metrics on the gateway, ledger and ops; workers: {ports}")
    typer.echo(f"Logs        {Path(settings.state_dir, 'logs').resolve()}")
    typer.echo("The platform is up. Press Ctrl-C to stop it.")


def _topics(created: list[str]) -> None:
    typer.echo(f"Topics      {len(created)} created, all {len(bus.TOPICS)} declared topics present")

