"""The signing every integration shares, and the domain events ticket actions raise."""

from __future__ import annotations

import pytest

from jointdesk import domain_events
from jointdesk.integrations import signing
from tests.conftest import act


def test_signature_is_hmac_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a": 1}'
    headers = signing.signed_headers("s3cret", body, idempotency_key="k-1", now=1_700_000_000)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["X-JointDesk-Timestamp"] == "1700000000"
    assert headers["X-JointDesk-Signature"] == "sha256=" + expected
    assert headers["Idempotency-Key"] == "k-1"
    assert signing.verify("s3cret", "1700000000", "sha256=" + expected, body, now=1_700_000_100)


@pytest.mark.parametrize(
    ("secret", "ts", "sig_body", "now", "reason"),
    [
        ("other", "1700000000", b"x", 1_700_000_000, "signature does not match"),
        ("s", "1700000000", b"y", 1_700_000_000, "signature does not match"),
        ("s", "1700000000", b"x", 1_700_000_301, "timestamp outside the tolerance"),
        ("s", "1700000000", b"x", 1_699_999_699, "timestamp outside the tolerance"),
        ("s", "soon", b"x", 1_700_000_000, "timestamp is not Unix seconds"),
        ("", "1700000000", b"x", 1_700_000_000, "no secret is configured"),
    ],
)
def test_verify_refuses(secret, ts, sig_body, now, reason):
    good = signing.signature("s", 1_700_000_000, sig_body)
    with pytest.raises(signing.SignatureError) as info:
        signing.verify(secret, ts, good, b"x", now=now)
    assert info.value.reason == reason


def test_verify_refuses_missing_headers():
    with pytest.raises(signing.SignatureError):
        signing.verify("s", None, None, b"x")


@pytest.fixture
def seen():
    events: list[domain_events.DomainEvent] = []
    domain_events.subscribe(events.append)
    yield events
    domain_events.unsubscribe(events.append)


def test_intake_dispatch_and_actions_raise_one_event_each(submit, deliver_all, users, client, seen):
    case = submit(services=["water"])
    assert [e.name for e in seen] == ["case.created"]
    assert seen[0].detail["services"] == ["water"]
    deliver_all()
    assert seen[-1].name == "ticket.dispatched"
    ticket = case["tickets"][0]["id"]
    staff = users["water"][1]
    for action in ("accept", "connect"):
        res = act(client, staff, ticket, action=action)
        assert res.status_code == 200, res.get_json()
    names = [e.name for e in seen]
    assert names[-3:] == ["ticket.accept", "ticket.connect", "case.completed"]
    assert {e.case_id for e in seen} == {seen[0].case_id}


def test_refused_action_raises_no_event(submit, deliver_all, users, client, seen):
    case = submit(services=["water"])
    deliver_all()
    before = len(seen)
    res = act(client, users["water"][1], case["tickets"][0]["id"], action="connect")
    assert res.status_code == 409
    assert len(seen) == before


def test_a_failing_subscriber_rolls_the_action_back(submit, deliver_all, users, client, db):
    from jointdesk.models import Ticket

    case = submit(services=["water"])
    deliver_all()
    ticket_id = case["tickets"][0]["id"]

    def broken(event):
        raise RuntimeError("subscriber bug")

    domain_events.subscribe(broken)
    try:
        res = act(client, users["water"][1], ticket_id, action="accept")
        assert res.status_code == 500  # a bug, answered as one, with nothing half-saved
    finally:
        domain_events.unsubscribe(broken)
    db.session.rollback()
    assert db.session.get(Ticket, ticket_id).status == "queued"


def test_a_message_is_sent_once_per_dedup_key(db):
    from jointdesk import messaging
    from jointdesk.models import ApplicantMessage

    first = messaging.send(
        "13800138000", "verification_code", {"code": "123456", "minutes": 5}, dedup_key="otp:t1"
    )
    again = messaging.send(
        "13800138000", "verification_code", {"code": "654321", "minutes": 5}, dedup_key="otp:t1"
    )
    db.session.commit()
    assert first is not None and again is None
    rows = db.session.scalars(db.select(ApplicantMessage)).all()
    assert [(r.dedup_key, r.status) for r in rows] == [("otp:t1", "sent")]
    assert "123456" in rows[0].body and "5分钟" in rows[0].body


def test_a_message_rolls_back_with_its_transaction(db):
    from jointdesk import messaging
    from jointdesk.models import ApplicantMessage

    messaging.send("13800138000", "verification_code", {"code": "1", "minutes": 5}, dedup_key="x")
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(ApplicantMessage)) == 0
