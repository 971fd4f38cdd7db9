"""Generated requests, as every kind of principal, against the running APIs.

Each case is called and checked without raising, so one run finds every distinct failure rather
than stopping (and shrinking) at the first; test_no_failures then reports them all.
HPS_FUZZ_EXAMPLES bounds the random cases per operation and principal (the schema-driven
coverage cases come on top)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.harness import TOKENS
from tests.fuzz.openapi_merge import merged_openapi

EXAMPLES = int(os.environ.get("HPS_FUZZ_EXAMPLES", "5"))

schema = schemathesis.openapi.from_dict(merged_openapi())
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


@pytest.mark.parametrize("token", list(TOKENS))
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api(case, token, prober):
    prober.probe(case, token)


def test_no_failures(prober):
    assert not prober.failures, prober.report()
