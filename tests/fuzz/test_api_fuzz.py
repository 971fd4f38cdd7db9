"""Generated requests, as every kind of principal, against the running APIs.

Each case is called and checked without raising, so one run finds every distinct failure rather
than stopping (and shrinking) at the first; test_no_failures then reports them all.
HPS_FUZZ_EXAMPLES bounds the random cases per operation and principal; the schema-driven cases
(examples and coverage phases) come on top."""

import copy
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.harness import TOKENS, UNKNOWN_TOKEN
from tests.fuzz.openapi_merge import merged_openapi

EXAMPLES = int(os.environ.get("HPS_FUZZ_EXAMPLES", "10"))
DOC = merged_openapi()


def _schema(*phases: str):
    schema = schemathesis.openapi.from_dict(copy.deepcopy(DOC))
    schema.config.phases.update(phases=list(phases))
    return schema


schema = _schema("examples", "coverage", "fuzzing")
# An unknown token is refused before any input is looked at: the schema-driven cases would all be
# answered 401 alike, so it gets the random ones only.
unknown = _schema("fuzzing")
fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# Submitting has by far the most schema-driven cases (a set per request type) and only partners
# may submit; validation answers every principal alike, so the others get its random cases only.
SUBMIT, SUBMITTERS = ("post", "/v1/requests"), {"dev-council", "dev-council-budget"}


@pytest.mark.parametrize("token", [t for t in TOKENS if t != UNKNOWN_TOKEN])
@schema.parametrize()
@fuzz_settings
def test_api(case, token, prober):
    if ((case.operation.method.lower(), case.operation.path) == SUBMIT and token not in SUBMITTERS
            and case.meta is not None and case.meta.phase.name == "coverage"):
        return
    prober.probe(case, token)


@unknown.parametrize()
@fuzz_settings
def test_api_with_an_unknown_token(case, prober):
    prober.probe(case, UNKNOWN_TOKEN)


def test_no_failures(prober):
    # Every accepted call publishes, the first time at least: were none seen, the event check
    # would be blind rather than satisfied.
    assert prober.published or not prober.statuses[202], "202s answered but no event counted: the count is broken"
    if prober.failures:
        pytest.fail(prober.report(), pytrace=False)
