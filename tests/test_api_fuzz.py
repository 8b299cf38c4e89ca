"""The served OpenAPI document is exactly as strict as the server: schemathesis (every check)
generates valid and invalid requests for every operation from /api/v1/openapi.json and sends
each with every role's bearer token to the real app (WSGI, in process) on real PostgreSQL.

No 5xx, no schema-valid body refused, no undocumented status code, every answer as documented.
Bounded: ``FUZZ_EXAMPLES`` generated requests per operation and phase (set
``JOINTDESK_FUZZ_EXAMPLES`` to go further, ``JOINTDESK_FUZZ_RANDOM=1`` for new examples
instead of the same deterministic ones every run). Rate limits stay on: 429 is documented.
"""

from __future__ import annotations

import itertools
import os
import re
from datetime import date, timedelta

import pytest
import schemathesis
from conftest import valid_person_id
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from jointdesk import create_app
from jointdesk.api.openapi import PARAMETERS
from jointdesk.policy import identity
from jointdesk.seed import demo_resident_id

FUZZ_EXAMPLES = int(os.environ.get("JOINTDESK_FUZZ_EXAMPLES", "25"))
ROLES = ("clerk", "water", "supervisor", "admin", "integration")


def _resident_ids():
    births = st.dates(min_value=date(1930, 1, 1), max_value=date(2008, 12, 31))
    return st.builds(
        lambda region, born, seq: demo_resident_id(region, born.strftime("%Y%m%d"), seq),
        st.sampled_from(["410105", "410102", "410184", "110105"]),
        births,
        st.integers(1, 999),
    )


def _credit_codes():
    from jointdesk.policy.identity import _USCC_CHARS, uscc_check_char

    first17 = st.builds(
        lambda head, region, rest: head + region + rest,
        st.sampled_from(["91", "92", "93", "11", "12"]),
        st.from_regex(r"\A[0-9]{6}\Z"),
        st.text(alphabet=_USCC_CHARS, min_size=9, max_size=9),
    )
    return first17.map(lambda v: v + uscc_check_char(v))


# what the formats of the document mean, for the generator (the server checks them itself)
schemathesis.openapi.format("cn-resident-id", _resident_ids())
schemathesis.openapi.format("cn-uscc", _credit_codes())
schemathesis.openapi.format("cn-mobile", st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
schemathesis.openapi.format(
    "district", st.sampled_from(["金水区", "中原区", "二七区", "新郑市", "410105", "410184"])
)


# The document is read from the app itself; requests go to this app object (same settings and
# database as the ``app`` fixture; the fixtures below create, migrate and fill that database).
_APP = create_app({"TESTING": True})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _APP)
schema.config.generation.update(
    max_examples=FUZZ_EXAMPLES, deterministic=not os.environ.get("JOINTDESK_FUZZ_RANDOM")
)


@schema.hook
def map_body(context, body):
    """The generator may move a value between the branches of a ``oneOf`` (its validator does
    not know our formats): an applicant's valid number of the other kind is exchanged for a
    valid one of the applicant's kind. Nothing invalid is made valid."""
    applicant = body.get("applicant") if isinstance(body, dict) else None
    number = applicant.get("id_number") if isinstance(applicant, dict) else None
    if isinstance(number, str):
        person = identity.is_valid_resident_id(number)
        company = identity.is_valid_uscc(number)
        if applicant.get("kind", "person") == "person" and company and not person:
            applicant["id_number"] = valid_person_id()
        elif applicant.get("kind") == "enterprise" and person and not company:
            applicant["id_number"] = "91350100M000100Y43"
    return body


@schema.hook
def map_query(context, query):
    """A listing's two dates, each valid on its own, are put in order and within the 92 days
    one request may span (a relation no schema can state). Nothing invalid is made valid."""
    if not isinstance(query, dict):
        return query
    try:
        first = date.fromisoformat(query["from"])
        last = date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return query
    first, last = min(first, last), max(first, last)
    if (last - first).days > 91:
        last = first + timedelta(days=91)
    query["from"], query["to"] = first.isoformat(), last.isoformat()
    return query


@pytest.fixture
def some_data(db, users, submit, deliver_all):
    submit()  # a case with four queued tickets, so that actions meet real tickets
    deliver_all()


@schema.parametrize()
@settings(
    deadline=None,
    # the fixtures fill the database once per operation; the examples share that state
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_server_is_exactly_as_strict_as_its_openapi_document(case, users, some_data):
    """Every generated request is sent with each role's token; the two roles that may submit
    take turns (each submission stores a whole case, the slow part of the run)."""
    seen = SEEN[case.operation.label] = SEEN.get(case.operation.label, 0) + 1
    submitter = ("clerk", "integration")[seen % 2]
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    for role in ROLES:
        if role in ("clerk", "integration") and role != submitter:
            continue
        if isinstance(key, str) and VALID_KEY.fullmatch(key):
            case.headers[IDEMPOTENCY_KEY] = unique_key(key)
        case.call_and_validate(headers=users[role][1])


SEEN: dict[str, int] = {}

# The same Idempotency-Key with another body is a 422 (the contract's idempotency_key_reused);
# the generator cannot know which keys earlier examples used, so each request's valid key is
# made unique (its start kept); malformed keys are sent as generated.
IDEMPOTENCY_KEY = PARAMETERS["IdempotencyKey"]["name"]
VALID_KEY = re.compile(PARAMETERS["IdempotencyKey"]["schema"]["pattern"])
_SENT_KEYS = itertools.count()


def unique_key(key: str) -> str:
    suffix = f"~{next(_SENT_KEYS)}"
    return key[: 64 - len(suffix)] + suffix


def test_the_generators_make_valid_numbers():
    from hypothesis import given

    from jointdesk.policy import identity

    @given(_resident_ids(), _credit_codes())
    def check(person, company):
        assert identity.is_valid_resident_id(person)
        assert identity.is_valid_uscc(company)

    check()
    assert identity.is_valid_resident_id(valid_person_id())
