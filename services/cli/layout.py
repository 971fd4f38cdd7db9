"""What `hps up` runs: every service, as many instances of each as HPS_SCALE (or `--scale`) asks,
each instance on a port of its own, and the consumer group it joins."""

from dataclasses import dataclass

from services.finance.ledger.engine import GROUP as LEDGER_GROUP
from shared.request_engine.worker import group
from shared.settings import Settings
from shared.topics import BY_NAME, CHARGES, SERVICES, requests_topic

PORT_STRIDE = 10  # the n-th instance of a service listens 10 × (n − 1) above the first


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    serves: str  # what to tell the user it is
    port: int  # the first instance's HTTP port: /health and /metrics, and the API if it has one
    setting: str  # the environment variable that moves the port
    group: str | None = None  # the consumer group its instances share
    most: int = 1  # instances that can share the work: its input topic's partitions


@dataclass(frozen=True)
class Instance:
    service: Service
    number: int  # from 1
    processes: int = 1  # the gateway's: uvicorn's supervisor runs them on one port

    @property
    def name(self) -> str:
        return self.service.name if self.number == 1 else f"{self.service.name}-{self.number}"

    @property
    def port(self) -> int:
        return self.service.port + PORT_STRIDE * (self.number - 1)

    def env(self) -> dict[str, str]:
        """Its own port; the gateway's instances are the processes of one server on one port."""
        if self.service.name == "gateway":
            return {"HPS_GATEWAY_WORKERS": str(self.processes)}
        return {"HPS_METRICS_PORT" if self.service.name in SERVICES else self.service.setting: str(self.port)}


def services(settings: Settings) -> list[Service]:
    """Every service `hps up` runs."""
    api = f"http://{settings.gateway_host}:{settings.gateway_port}"
    sign_in = "#token=dev-ops" if settings.tokens_file is None else ""  # the development token only
    return [
        Service("gateway", "services.gateway", f"{api}/v1  (OpenAPI: {api}/docs; portal: {api}/portal)", settings.gateway_port,
                "HPS_GATEWAY_PORT", settings.gateway_group, most=64),
        *(Service(name, f"services.{name}", f"worker, consumer group {group(name)}", settings.worker_metrics_port + i,
                  "HPS_WORKER_METRICS_PORT", group(name), BY_NAME[requests_topic(name)].partitions)
          for i, name in enumerate(SERVICES)),
        Service("ledger", "services.finance.ledger", f"recharge engine; finance API {api}/v1/finance",
                settings.finance_port, "HPS_FINANCE_PORT", LEDGER_GROUP, BY_NAME[CHARGES].partitions),
        # Each instance of ops reads every partition itself and serves the same dashboard; its ports
        # step by PORT_STRIDE, so nine fit.
        Service("ops", "services.ops", f"dashboard {settings.ops_url}/ops{sign_in}  (role ops)", settings.ops_port,
                "HPS_OPS_PORT", most=PORT_STRIDE - 1),
    ]


def counts(settings: Settings) -> dict[str, int]:
    """How many instances of each service; a ValueError names a count that cannot be run."""
    known = {s.name: s for s in services(settings)}
    wanted = {"gateway": settings.gateway_workers, **settings.scale}  # --scale gateway=N sets its processes
    for name, count in wanted.items():
        if name not in known:
            raise ValueError(f"no service {name!r} to scale; the services are {', '.join(known)}")
        if not 1 <= count <= known[name].most:
            raise ValueError(f"{name}={count}: run 1 to {known[name].most} of {name} "
                             f"(more would have no partition to work on)")
    return {name: wanted.get(name, 1) for name in known}


def instances(settings: Settings) -> list[Instance]:
    """Every process `hps up` starts (the gateway's processes under one: uvicorn's supervisor)."""
    scale = counts(settings)
    return [Instance(s, 1, scale["gateway"]) if s.name == "gateway" else Instance(s, n)
            for s in services(settings) for n in range(1, (1 if s.name == "gateway" else scale[s.name]) + 1)]


def members(settings: Settings) -> dict[str, int]:
    """Each consumer group's members once every instance has joined."""
    scale = counts(settings)
    return {s.group: scale[s.name] for s in services(settings) if s.group}
