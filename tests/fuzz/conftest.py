import json
import os
from pathlib import Path

import pytest

from tests.conftest import fresh_database
from tests.fuzz.harness import Prober, running_apis

PROBER = pytest.StashKey[Prober]()
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    """It drives the running platform as a caller does: an e2e test by level, so `-m unit` or
    `-m integration` leave it out."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker("e2e")


@pytest.fixture(scope="package")
def fuzz_platform(kafka_bootstrap, postgres_url, tmp_path_factory):
    """The three APIs and nothing else: no worker puts events on the topics, so any event that
    appears was published by the call just made."""
    with fresh_database(postgres_url) as database, \
            running_apis(kafka_bootstrap, database, tmp_path_factory.mktemp("fuzz")) as platform:
        yield platform


@pytest.fixture(scope="package")
def prober(fuzz_platform, kafka_bootstrap, request):
    found = Prober(fuzz_platform.url, kafka_bootstrap)
    request.config.stash[PROBER] = found
    yield found
    found.close()
    # The long run (tests/fuzz/long_run.py) adds up its rounds from here.
    if report := os.environ.get("HPS_FUZZ_REPORT"):
        Path(report).write_text(json.dumps(found.as_json()))


def pytest_terminal_summary(terminalreporter, config):
    if (found := config.stash.get(PROBER, None)) is not None:
        terminalreporter.write_line(found.summary())
