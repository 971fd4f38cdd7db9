"""Partners, staff and finance signed in at their own identity provider: their JWTs carry a request
from submission to the charge on the month's statement, through the gateway and the finance API
behind it; forged, expired and wrong-audience tokens are refused at every door."""

import time

import pytest

from tests.e2e.platform import Client, await_draft
from tests.e2e.test_finance_api import charged, completed_charge
from tests.identity_provider import signing_key

PERIOD = "2031-03"


@pytest.fixture(scope="module")
def signed_in(platform, issuer):
    """signed_in("dev-council") is the same caller as that development token, under a JWT of the issuer."""
    claims = {"dev-council": {"tenant": "council"}, "dev-staff-it": {"roles": ["hps-it-desk"], "tenant": None},
              "dev-finance": {"roles": ["hps-finance"], "tenant": None}}
    tokens = {name: issuer.token(lifetime_s=600, **wanted) for name, wanted in claims.items()}
    clients = {}
    return lambda name: clients.setdefault(name, Client(platform.url, tokens[name]))


def test_a_request_goes_from_submission_to_the_statement_on_identity_provider_tokens(platform, signed_in):
    charge_id = completed_charge(signed_in, PERIOD)
    draft = await_draft(signed_in("dev-finance").http, PERIOD, "council", lambda d: charged(d, charge_id))
    assert draft["tenant"]["code"] == "council"
    # The partner reads its own requests only; the JWT's tenant claim decides whose.
    mine = signed_in("dev-council").http.get("/v1/requests").json()["items"]
    assert mine and {r["tenant"] for r in mine} == {"council"}


@pytest.mark.parametrize("case, token", [
    ("forged", lambda i: i.token(key=signing_key())),
    ("expired", lambda i: i.token(lifetime_s=-300)),
    ("wrong audience", lambda i: i.token(aud="someone-else")),
    ("not yet valid", lambda i: i.token(nbf=int(time.time()) + 600)),
])
def test_a_token_that_does_not_hold_gets_401_at_the_gateway_and_behind_it(platform, issuer, case, token):
    refused = Client(platform.url, token(issuer))
    for answer in (refused.submit("it", "laptop-provision", quantity=1), refused.http.get("/v1/requests"),
                   refused.http.get(f"/v1/finance/periods/{PERIOD}/preview")):
        assert answer.status_code == 401, (case, answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
