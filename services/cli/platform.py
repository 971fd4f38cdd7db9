"""`hps kafka …` and `hps up`: the broker and the whole platform on this machine."""

from pathlib import Path

import typer

from deploy.kafka_local import KafkaLaunchError, LocalKafka
from services.cli.supervisor import Child, Supervisor, python_module
from shared import bus
from shared.logging import configure
from shared.settings import Settings, get_settings
from shared.topics import SERVICES

kafka = typer.Typer(help="The local Apache Kafka broker (KRaft, single node).", no_args_is_help=True)


def services(settings: Settings) -> list[tuple[str, str, str]]:
    """Every service `hps up` runs: (name, module, where it is)."""
    api = f"http://{settings.gateway_host}:{settings.gateway_port}"
    sign_in = "#token=dev-ops" if settings.tokens_file is None else ""  # the development token only
    return [
        ("gateway", "services.gateway", f"{api}/v1  (OpenAPI: {api}/docs)"),
        *((name, f"services.{name}", f"worker, consumer group hps-{name}") for name in SERVICES),
        ("ledger", "services.finance.ledger", f"recharge engine; finance API {api}/v1/finance"),
        ("ops", "services.ops", f"dashboard {settings.ops_url}/ops{sign_in}  (role ops)"),
    ]


def local_broker(settings: Settings) -> LocalKafka:
    return LocalKafka(settings.state_dir / "kafka", settings.kafka_port, settings.kafka_controller_port)


@kafka.command()
def start() -> None:
    """Start the local broker (downloads its jars from Maven Central the first time)."""
    broker = local_broker(get_settings())
    try:
        broker.start()
    except KafkaLaunchError as exc:
        raise typer.Exit(_fail(str(exc)))
    typer.echo(f"Kafka is up at {broker.bootstrap} (data in {broker.home / 'data'})")


@kafka.command()
def stop() -> None:
    """Stop the local broker, flushing its log to disk."""
    local_broker(get_settings()).stop()
    typer.echo("Kafka is stopped")


@kafka.command()
def status() -> None:
    """Whether the local broker runs and answers; exits 1 when it does not."""
    broker = local_broker(get_settings())
    if broker.running() and broker.answers():
        typer.echo(f"Kafka is up at {broker.bootstrap} (pid {broker.pid()})")
    else:
        typer.echo("Kafka is not running")
        raise typer.Exit(1)


def up() -> None:
    """Run the whole platform in one process tree until Ctrl-C."""
    settings = get_settings()
    configure(settings.log_level)
    broker = None if settings.kafka_bootstrap else local_broker(settings)
    try:
        if broker:
            typer.echo(f"Starting Kafka on {broker.bootstrap} …")
            broker.start()
        created = bus.ensure_topics(settings.bootstrap)
    except (KafkaLaunchError, OSError) as exc:
        raise typer.Exit(_fail(str(exc)))
    children = [Child(name, python_module(module)) for name, module, _ in services(settings)]
    for i, child in enumerate(c for c in children if c.name in SERVICES):  # workers have no HTTP app of their own
        child.env = {"HPS_METRICS_PORT": str(settings.worker_metrics_port + i)}
    supervisor = Supervisor(children, Path(settings.state_dir) / "logs")
    try:
        supervisor.start_all()
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
    typer.echo(f"Topics      {len(created)} created, all {len(bus.TOPICS)} declared topics present")
    for name, _, serves in services(settings):
        typer.echo(f"{name:<11} {serves}")
    ports = ", ".join(f"{name} :{settings.worker_metrics_port + i}" for i, name in enumerate(SERVICES))
    typer.echo(f"Metrics     /metrics on the gateway, ledger and ops; workers: {ports}")
    typer.echo(f"Logs        {Path(settings.state_dir, 'logs').resolve()}")
    typer.echo("The platform is up. Press Ctrl-C to stop it.")


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 1
