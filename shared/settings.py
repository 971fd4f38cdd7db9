"""Configuration from environment variables prefixed `HPS_`, validated once at start-up."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # Where the local broker, the embedded database and statements live.
    state_dir: Path = Path(".hps")
    # An external broker; when unset, `hps up` runs the local one on `kafka_port`.
    kafka_bootstrap: str | None = None
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    database_url: str | None = None
    tenants_file: Path | None = None
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _production_needs_real_infrastructure(self) -> "Settings":
        if self.environment == "production":
            if not self.kafka_bootstrap:
                raise ValueError("HPS_KAFKA_BOOTSTRAP must name the production Kafka cluster")
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError("HPS_DATABASE_URL must name a PostgreSQL database in production")
        return self

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"localhost:{self.kafka_port}"

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'ledger.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
