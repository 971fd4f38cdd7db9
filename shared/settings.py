"""Configuration from environment variables prefixed `HPS_`, validated once at start-up."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # Where the local broker, the embedded database and statements live.
    state_dir: Path = Path(".hps")
    # An external broker; when unset, `hps up` runs the local one on `kafka_port`.
    kafka_bootstrap: str | None = None
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # Nodes of the local Kafka: 1, or 3 for topics replicated three times (node i on the ports + 2 × (i − 1)).
    kafka_brokers: int = 1
    # How long a producer waits for the broker's answer to a request, or for a topic's metadata.
    kafka_request_timeout_ms: int = Field(default=30_000, gt=0)
    database_url: str | None = None
    # The role migrations run as, owner of every table; HPS_DATABASE_URL is then the application
    # role, which may read and append but not rewrite (docs/security.md). Unset: one role for both.
    database_owner_url: str | None = None
    tenants_file: Path | None = None
    # A folder of <service>.yaml catalogues that replace the shipped ones.
    catalogue_dir: Path | None = None
    log_level: str = "INFO"
    # Bearer tokens of the partner API; unset means the development tokens shipped with it.
    tokens_file: Path | None = None
    # The partners' identity providers (OIDC issuers) and how their claims map to tenant and role.
    identity_file: Path | None = None
    # Each tenant's monthly recharge budget (YAML: tenant code -> pounds), shown against its spend in the portal.
    budgets_file: Path | None = None
    # Requests one caller (token, or address without one) may make to each gateway process, e.g.
    # "50/second;2000/minute"; empty for none.
    rate_limit: str = "50/second;2000/minute"
    # The Ed25519 private key (PEM) issued statements are signed with; unset in development, one
    # is made in the state dir on first use.
    statement_signing_key: Path | None = None
    gateway_host: str = "127.0.0.1"
    # Where the processes behind the gateway listen (the ledger and ops APIs, workers' /metrics);
    # loopback unless a deployment puts them on other hosts.
    internal_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # Gateway processes sharing gateway_port (uvicorn's supervisor); see docs/benchmarks.md for how many.
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # Gateways sharing one database share this consumer group; one with a database of its own
    # needs a group of its own.
    gateway_group: str = "hps-gateway-readmodel"
    # The finance ledger's API, which the gateway serves under /v1/finance.
    finance_port: int = 8001
    # The operations dashboard and its API.
    ops_port: int = 8002
    # Where the gateway reaches those two; unset, on internal_host at their ports (as `hps up` runs them).
    finance_url: str | None = None
    ops_url: str | None = None
    # Where a worker without an HTTP app serves /metrics; `hps up` gives the workers the ports
    # from worker_metrics_port upwards.
    metrics_port: int | None = None
    worker_metrics_port: int = 9101
    # How many instances `hps up` runs of each service, e.g. `hr=2,ledger=2` (the gateway's are its
    # processes, as HPS_GATEWAY_WORKERS); unnamed services run once.
    scale: Annotated[dict[str, int], NoDecode] = {}
    # A consumer holding messages this long without finishing them shows as stalled on /health.
    consumer_stall_s: float = Field(default=60, gt=0)
    # Fault injection for the crash tests (shared/faults.py); never in production.
    faults: Annotated[list[str], NoDecode] = []
    # What the `hps` client commands talk to, and as whom.
    api_url: str = "http://127.0.0.1:8000"
    token: str | None = None

    @field_validator("faults", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @field_validator("rate_limit")
    @classmethod
    def _limits(cls, value: str) -> str:
        from limits import parse_many  # imported here: only the gateway counts

        try:
            value and parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r}: give limits as count/period, e.g. 50/second;2000/minute") from None
        return value

    @field_validator("kafka_brokers")
    @classmethod
    def _one_or_three(cls, value: int) -> int:
        if value not in (1, 3):
            raise ValueError("the local Kafka runs 1 broker, or 3 for replicated topics")
        return value

    @field_validator("scale", mode="before")
    @classmethod
    def _counts(cls, value):
        if not isinstance(value, str):
            return value
        counts = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, count = part.partition("=")
            if not count.strip().isdigit():
                raise ValueError(f"{part!r}: give each service as name=count, e.g. hr=2,ledger=2")
            counts[name.strip()] = int(count)
        return counts

    @model_validator(mode="after")
    def _production_needs_real_infrastructure(self) -> "Settings":
        if self.environment == "production":
            if not self.kafka_bootstrap:
                raise ValueError("HPS_KAFKA_BOOTSTRAP must name the production Kafka cluster")
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError("HPS_DATABASE_URL must name a PostgreSQL database in production")
            if self.faults:
                raise ValueError("HPS_FAULTS injects failures on purpose and is refused in production")
            if not self.tokens_file and not self.identity_file:
                raise ValueError("HPS_IDENTITY_FILE (the partners' identity providers) or HPS_TOKENS_FILE must be set "
                                 "in production: the development tokens are public")
        return self

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or ",".join(f"localhost:{self.kafka_port + 2 * i}" for i in range(self.kafka_brokers))

    @model_validator(mode="after")
    def _apis_on_this_host_by_default(self) -> "Settings":
        self.finance_url = self.finance_url or f"http://{self.internal_host}:{self.finance_port}"
        self.ops_url = self.ops_url or f"http://{self.internal_host}:{self.ops_port}"
        return self

    def database(self, name: str) -> str:
        """The database of one service: HPS_DATABASE_URL, else its own SQLite file in the state dir."""
        if self.database_url:
            return self.database_url
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.state_dir / f'{name}.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
