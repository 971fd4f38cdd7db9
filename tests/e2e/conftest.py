import pytest

from services.cli.migrate import migrate_all
from shared.settings import Settings
from tests.conftest import app_url, free_ports
from tests.e2e.platform import Client, Platform
from tests.identity_provider import LocalIssuer

# IT's P1 incidents breach after three seconds here, so the SLA clock can be seen to tick.
FAST_IT_SLA = """
service: it
name: IT
sla: {P1: 4h, P2: 8h, P3: 3d, P4: 10d}
request_types:
  laptop-provision: {name: Laptop provision, price: {model: fixed, unit_price: "850.00"}}
  account-setup: {name: Account set-up, price: {model: fixed, unit_price: "45.00"}}
  incident:
    name: Incident
    price: {model: time_and_materials, hourly_rate: "55.00"}
    sla: {P1: 3s, P2: 4h, P3: 1d, P4: 3d}
"""


@pytest.fixture(scope="package")
def issuer():
    """A partner's identity provider, which the platform below trusts beside the development tokens."""
    running = LocalIssuer()
    yield running
    running.close()


BUDGETS = "council: 25000.00\nccg: 18000.00\n"  # monthly recharge budgets the portal shows spend against


@pytest.fixture(scope="package")
def platform(kafka_bootstrap, postgres_url, tmp_path_factory, issuer):
    """Every service of `hps up`, on the session's broker and a real PostgreSQL."""
    state = tmp_path_factory.mktemp("platform")
    catalogues = state / "catalogues"
    catalogues.mkdir()
    (catalogues / "it.yaml").write_text(FAST_IT_SLA)
    (state / "budgets.yaml").write_text(BUDGETS)
    # As in production: migrated by the owner, run as the application role (shared/privileges.py).
    roles = {"HPS_DATABASE_URL": app_url(postgres_url), "HPS_DATABASE_OWNER_URL": postgres_url}
    migrate_all(Settings(_env_file=None, **{k.removeprefix("HPS_").lower(): v for k, v in roles.items()}))
    running = Platform(kafka_bootstrap, state, *free_ports(3),
                       {"HPS_CATALOGUE_DIR": str(catalogues), **roles,
                        "HPS_IDENTITY_FILE": str(issuer.identity_file(state)),
                        "HPS_BUDGETS_FILE": str(state / "budgets.yaml")})
    running.start_all()
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="package")
def as_(platform):
    """as_("dev-council") is the API as the council's requester sees it."""
    clients = {}
    return lambda token: clients.setdefault(token, Client(platform.url, token))
