import pytest

from tests.fuzz.harness import Prober, fresh_database, running_apis

PROBER = pytest.StashKey[Prober]()


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


def pytest_terminal_summary(terminalreporter, config):
    if (found := config.stash.get(PROBER, None)) is not None:
        terminalreporter.write_line(found.summary())
