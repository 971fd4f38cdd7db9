"""Identities: JWTs of a partner's identity provider (served here over HTTP, with OIDC discovery),
checked for signature, issuer, audience, expiry and not-before, mapped to tenant and role; and the
development tokens refused in production."""

import shutil
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml

from shared.api.auth import Unverified
from shared.api.identity import Identities, IdentityError
from shared.settings import Settings
from tests.identity_provider import AUDIENCE, LocalIssuer, signing_key

TENANTS = frozenset({"council", "ccg", "hospital", "police"})
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def issuer():
    running = LocalIssuer()
    yield running
    running.close()


@pytest.fixture
async def identities(issuer, tmp_path):
    found = Identities({}, Identities.issuers_in(issuer.identity_file(tmp_path)), TENANTS)
    yield found
    await found.close()


async def test_a_partner_staff_finance_and_ops_are_who_their_claims_say(issuer, identities):
    partner = await identities.who(issuer.token(tenant="hospital", name="Ward 7 manager"))
    assert (partner.role, partner.tenant, partner.name, partner.budget_holder) == \
        ("partner", "hospital", "Ward 7 manager", False)
    holder = await identities.who(issuer.token(roles=["hps-partner", "hps-budget-holder"], tenant="ccg"))
    # Of two roles a token holds, the one listed first in the identity file decides.
    assert (holder.role, holder.tenant, holder.budget_holder) == ("partner", "ccg", True)
    staff = await identities.who(issuer.token(roles=["hps-it-desk"], tenant=None))
    assert (staff.role, staff.service, staff.tenant) == ("staff", "it", None)
    finance = await identities.who(issuer.token(roles=["hps-finance"], tenant="council"))
    assert (finance.role, finance.tenant) == ("finance", None)  # a tenant claim makes no finance officer a partner
    assert (await identities.who(issuer.token(roles=["hps-ops"], tenant=None, name=None))).name  # `sub` then


@pytest.mark.parametrize("case, token, why", [
    ("forged", lambda i: i.token(key=signing_key()), "does not verify"),
    ("expired", lambda i: i.token(lifetime_s=-120), "expired"),
    ("not yet valid", lambda i: i.token(nbf=int(time.time()) + 600), "not valid yet"),
    ("another audience", lambda i: i.token(aud="another-service"), "another audience"),
    ("another issuer", lambda i: i.token(iss="https://evil.example/realms/partners"), "not one this platform trusts"),
    ("no expiry", lambda i: i.token(exp=None), "does not verify"),
    ("an unknown key", lambda i: i.token(kid="unknown"), "no key"),
    ("no role here", lambda i: i.token(roles=["wiki-editor"]), "grant no role"),
    ("a tenant that is not a partner", lambda i: i.token(tenant="evil-corp"), "not a partner"),
    ("a partner without a tenant", lambda i: i.token(tenant=None), "do not make a caller"),
    ("not a JWT", lambda i: "a.b.c", "well-formed"),
    ("a static token nobody issued", lambda i: "dev-council", "unknown"),
])
async def test_a_token_that_does_not_hold_is_refused_saying_why(issuer, identities, case, token, why):
    with pytest.raises(Unverified, match=why):
        await identities.who(token(issuer))


async def test_unsigned_and_symmetric_tokens_are_refused(issuer, identities):
    import jwt

    claims = {"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60, "roles": ["hps-finance"]}
    # "none", and HS256 keyed with the public key as a shared secret: the classic confusions.
    for token in (jwt.encode(claims, None, algorithm="none"), jwt.encode(claims, "s" * 32, algorithm="HS256")):
        with pytest.raises(Unverified, match="signed with"):
            await identities.who(token)


async def test_clock_skew_within_the_leeway_is_allowed(issuer, identities):
    assert (await identities.who(issuer.token(lifetime_s=-10))).tenant == "council"  # leeway 30 s


async def test_keys_are_fetched_once_and_again_when_the_issuer_rotates(issuer, identities):
    for _ in range(5):
        await identities.who(issuer.token())
    discovery = "/realms/partners/.well-known/openid-configuration"
    certs = "/realms/partners/protocol/openid-connect/certs"
    assert (issuer.served[discovery], issuer.served[certs]) == (1, 1)
    # A new key: the first token signed with it makes us fetch again (once the short guard has passed).
    issuer.rotate()
    keys = identities.issuers[issuer.url]
    keys.fetched_at -= keys.refetch_s
    assert (await identities.who(issuer.token())).role == "partner"
    assert issuer.served[certs] == 2
    # Tokens naming made-up keys do not make us ask the issuer each time.
    for n in range(5):
        with pytest.raises(Unverified):
            await identities.who(issuer.token(kid=f"made-up-{n}"))
    assert issuer.served[certs] == 2


def _production(tmp_path, **fields) -> Settings:
    return Settings(_env_file=None, environment="production", kafka_bootstrap="kafka.example:9092",
                    database_url="postgresql+psycopg://hps_app:x@db.example/hps", **fields)


def test_production_refuses_the_development_tokens_whatever_the_path(tmp_path):
    copied = tmp_path / "elsewhere" / "our-tokens.yaml"
    copied.parent.mkdir()
    shutil.copy(resources.files("shared").joinpath("tokens.yaml"), copied)
    with pytest.raises(IdentityError, match="dev-council"):
        Identities.load(_production(tmp_path, tokens_file=copied), TENANTS)
    # One development token hidden among tokens of one's own is as public.
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump({"tokens": {"a" * 40: {"role": "ops", "name": "Ops"},
                                                "dev-finance": {"role": "finance", "name": "Finance"}}}))
    with pytest.raises(IdentityError, match="dev-finance"):
        Identities.load(_production(tmp_path, tokens_file=mixed), TENANTS)


def test_production_takes_the_identity_providers_alone(issuer, tmp_path):
    found = Identities.load(_production(tmp_path, identity_file=issuer.identity_file(tmp_path)), TENANTS)
    assert (found.tokens, list(found.issuers)) == ({}, [issuer.url])


def test_an_identity_file_that_cannot_be_used_says_why(tmp_path):
    bad = tmp_path / "identity.yaml"
    bad.write_text(yaml.safe_dump({"issuers": [{"issuer": "https://idp.example", "audience": "hps", "roles": {},
                                                "algorithms": ["HS256"]}]}))
    with pytest.raises(IdentityError, match="HS256"):
        Identities.issuers_in(bad)


def test_the_example_identity_file_is_one_the_platform_takes_and_readme_shows_it():
    example = ROOT / "deploy" / "identity.example.yaml"
    issuers = Identities.issuers_in(example)
    assert [i.tenant for i in issuers] == ["council", None]
    assert issuers[1].roles["hps-desk-it"].service == "it"
    shown = (ROOT / "README.md").read_text()
    assert "\n".join(line for line in example.read_text().splitlines() if not line.startswith("#")) in shown


def test_a_grant_that_makes_no_caller_is_refused_when_the_file_is_read(tmp_path):
    bad = tmp_path / "identity.yaml"
    bad.write_text(yaml.safe_dump({"issuers": [{"issuer": "https://idp.example", "audience": "hps",
                                                "roles": {"desk": {"role": "staff"}}}]}))
    with pytest.raises(IdentityError, match="needs a service"):
        Identities.issuers_in(bad)
