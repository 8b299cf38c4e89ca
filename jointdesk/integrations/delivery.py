"""Signed HTTP deliveries: the one way JointDesk sends anything out over HTTP (a ticket to a
provider's own system, a milestone to the approval system, a message to the SMS gateway).

A delivery is one row of ``http_deliveries`` (``models/delivery.py``), written by ``add`` in the
caller's transaction with the exact body to send and one idempotency key, so it exists exactly
when what it announces was committed. Right after the commit it is published to the Celery queue
``jointdesk.http`` (its own queue: a provider system that does not answer never holds up the
provider queues); the beat task ``relay_http`` publishes whatever is due and was lost.

Each attempt (``attempt``) first claims the row in a small commit (a conditional UPDATE: of two
copies of the task, one sends), then POSTs the body signed with ``integrations.signing`` (a new
timestamp, the same ``Idempotency-Key`` on every attempt), waiting at most
``JOINTDESK_DELIVERY_TIMEOUT_SECONDS``. A 2xx answer is success: the sender's ``on_delivered``
runs in the same transaction that marks the row delivered. Anything else (another status, a
refused connection, no answer in time, a redirect) is a failed attempt: the next one is due after
``JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS``, doubling per attempt (times a jitter of 1 to 1.2),
at most ``JOINTDESK_DELIVERY_MAX_WAIT_SECONDS``; no worker ever sleeps for it: a short wait is a
Celery countdown, and the relay picks up every due row anyway. After
``JOINTDESK_DELIVERY_MAX_ATTEMPTS`` attempts the row is dead (``dead_at``): listed for
supervisors and administrators (web and ``jointdesk deliveries list``), and ``redrive`` queues it
again with the same key and body. The defaults (8 s, 10 attempts, 10 s) make the first retry
within 10 s and ten attempts over more than an hour.

What a kind of delivery means is its ``Sender`` (``register``): where it goes (URL and secret,
read at each attempt, so a corrected address is used by the next one) and what a success or a
dead letter changes. Bodies may hold applicants' data (the provider's system needs them whole);
logs name the delivery's id, kind and target only.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.integrations import signing
from jointdesk.models import HttpDelivery
from jointdesk.models.types import utcnow

HTTP_QUEUE = "jointdesk.http"
SEND_TASK = "jointdesk.send_http"
RELAY_TASK = "jointdesk.relay_http"
# waits up to this long are a Celery countdown; longer ones are left to the relay alone
COUNTDOWN_LIMIT_SECONDS = 60
# an attempt under way holds its row this long past the HTTP timeout; a worker that died
# mid-attempt leaves the row due again after it
LEASE_MARGIN_SECONDS = 30
MAX_ERROR = 500
_PENDING = "jointdesk.http_deliveries"
log = logging.getLogger(__name__)


class NotConfigured(Exception):
    """The target has no address or secret (any more): a failed attempt, retried later."""


class Superseded(Exception):
    """The delivery is no longer needed over HTTP (a provider that now works in the desk):
    it counts as delivered without a request, and the sender's ``on_delivered`` runs."""


def _row_columns() -> list:
    """The columns of a ``Row``, in its order, for an UPDATE … RETURNING."""
    return [getattr(HttpDelivery, name) for name in Row.__dataclass_fields__]


@dataclass(frozen=True)
class Row:
    """What an attempt needs of its row, read by the claim."""

    id: int
    kind: str
    target: str
    body: str
    idempotency_key: str
    attempts: int
    case_id: int | None
    ticket_id: int | None
    message_id: int | None


class Sender:
    """One kind of delivery. ``endpoint`` gives (url, secret) at each attempt or raises
    NotConfigured; ``on_delivered``/``on_dead``/``on_redrive`` only change rows, in the
    transaction that records the outcome."""

    def endpoint(self, row: Row) -> tuple[str, str]:
        raise NotImplementedError

    def on_delivered(self, row: Row, now: datetime) -> None:
        pass

    def on_dead(self, row: Row, now: datetime) -> None:
        pass

    def on_redrive(self, row: Row, now: datetime) -> None:
        pass


SENDERS: dict[str, Sender] = {}


def register(kind: str, sender: Sender) -> Sender:
    SENDERS[kind] = sender
    return sender


def encode(payload: dict) -> str:
    """The body's exact text: compact JSON, keys sorted, UTF-8 as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def new_key(kind: str) -> str:
    return f"jointdesk-{kind}-{uuid.uuid4().hex}"


def add(
    kind: str,
    target: str,
    payload: dict,
    *,
    idempotency_key: str | None = None,
    case_id: int | None = None,
    ticket_id: int | None = None,
    message_id: int | None = None,
) -> int | None:
    """Writes one delivery in the caller's transaction with one INSERT and publishes it once
    that transaction commits; returns its id, or None when ``idempotency_key`` exists already
    (the same delivery asked for twice: a retried worker, a replayed event)."""
    table = HttpDelivery.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    new_id = db.session.execute(
        insert(table)
        .values(
            kind=kind,
            target=target,
            body=encode(payload),
            idempotency_key=idempotency_key or new_key(kind),
            case_id=case_id,
            ticket_id=ticket_id,
            message_id=message_id,
            attempts=0,
            # published right after the commit; the relay takes it should that publication
            # be lost (the process died, the broker was down)
            next_attempt_at=now + timedelta(seconds=_lease()),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id)
    ).scalar()
    if new_id is not None:
        db.session.info.setdefault(_PENDING, []).append(new_id)
    return new_id


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids:
        for delivery_id in ids:
            publish(delivery_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def publish(delivery_id: int, countdown: float | None = None) -> bool:
    """Puts one attempt on the HTTP queue; False when the broker refused (the relay retries)."""
    try:
        current_app.extensions["celery"].send_task(
            SEND_TASK, args=[delivery_id], queue=HTTP_QUEUE, countdown=countdown, retry=False
        )
    except Exception as exc:  # broker down: the row is due, the relay publishes it later
        log.warning("delivery %s not published (%s); the relay will retry", delivery_id, exc)
        return False
    return True


def _setting(name: str) -> float:
    return current_app.config[name]


def _lease() -> float:
    return _setting("JOINTDESK_DELIVERY_TIMEOUT_SECONDS") + LEASE_MARGIN_SECONDS


def retry_wait(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: the first retry's wait,
    doubling, at most the longest wait, times a jitter of 1 to 1.2 so that deliveries failing
    together do not all come back together."""
    base = _setting("JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS")
    longest = _setting("JOINTDESK_DELIVERY_MAX_WAIT_SECONDS")
    wait = min(base * 2 ** max(attempts - 1, 0), longest)
    return wait * random.uniform(1.0, 1.2)  # noqa: S311  (jitter, not a secret)


def _claim(delivery_id: int, now: datetime) -> Row | None:
    """Takes the row for one attempt in its own commit, if it is due and open; of two copies
    of the task, exactly one gets it (the UPDATE's condition is checked again under the lock)."""
    d = HttpDelivery
    got = db.session.execute(
        update(d)
        .where(
            d.id == delivery_id,
            d.delivered_at.is_(None),
            d.dead_at.is_(None),
            db.or_(d.attempts == 0, d.next_attempt_at <= now),
        )
        .values(
            attempts=d.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=_lease()),
        )
        .returning(*_row_columns())
        .execution_options(synchronize_session=False)
    ).first()
    db.session.commit()
    return None if got is None else Row(*got)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer that is not 2xx
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, secret: str, body: bytes, key: str, timeout: float) -> int:
    """One signed POST; the status of the answer (any, 2xx or not). Raises OSError (refused,
    reset, timed out) when there is none."""
    request = urllib.request.Request(  # noqa: S310  (http/https only, checked when configured)
        url,
        data=body,
        method="POST",
        headers=signing.signed_headers(secret, body, idempotency_key=key)
        | {"User-Agent": "JointDesk"},
    )
    try:
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(65536)
            return answer.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def attempt(delivery_id: int) -> str:
    """One attempt at one delivery (the task ``send_http``): ``delivered``, ``retry``,
    ``dead``, or ``not-due`` when the row is done, dead or not due (another copy has it)."""
    now = utcnow()
    row = _claim(delivery_id, now)
    if row is None:
        return "not-due"
    sender = SENDERS[row.kind]
    status, error, url = None, None, None
    try:
        url, secret = sender.endpoint(row)
        db.session.rollback()  # end the read before the network wait
        status = post(
            url,
            secret,
            row.body.encode(),
            row.idempotency_key,
            _setting("JOINTDESK_DELIVERY_TIMEOUT_SECONDS"),
        )
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except NotConfigured as exc:
        db.session.rollback()
        error = f"not configured: {exc}"
    except Superseded as exc:
        db.session.rollback()
        log.info("delivery %s (%s to %s) superseded: %s", row.id, row.kind, row.target, exc)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, reset, timed
        # out, not HTTP, a URL urllib refuses
        error = f"{type(exc).__name__}: {exc}"
    return _record(row, url, status, error)


def _record(row: Row, url: str | None, status: int | None, error: str | None) -> str:
    now = utcnow()
    d = HttpDelivery
    values: dict = {"last_status": status, "last_attempt_at": now}
    if url is not None:
        values["url"] = url[:500]
    if error is None:
        done = db.session.execute(
            update(d)
            .where(d.id == row.id, d.delivered_at.is_(None))
            .values(**values, delivered_at=now, dead_at=None, next_attempt_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            SENDERS[row.kind].on_delivered(row, now)
        db.session.commit()
        log.info("delivery %s (%s to %s) delivered: HTTP %s", row.id, row.kind, row.target, status)
        return "delivered"
    dead = row.attempts >= _setting("JOINTDESK_DELIVERY_MAX_ATTEMPTS")
    wait = None if dead else retry_wait(row.attempts)
    values |= {
        "last_error": error[:MAX_ERROR],
        "dead_at": now if dead else None,
        "next_attempt_at": None if dead else now + timedelta(seconds=wait),
    }
    changed = db.session.execute(
        update(d)
        .where(d.id == row.id, d.attempts == row.attempts, d.delivered_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed and dead:
        SENDERS[row.kind].on_dead(row, now)
    db.session.commit()
    if dead:
        log.warning(
            "delivery %s (%s to %s) dead after %d attempts: %s",
            row.id,
            row.kind,
            row.target,
            row.attempts,
            error[:200],
        )
        return "dead"
    log.info(
        "delivery %s (%s to %s) attempt %d failed (%s); next in %.1f s",
        row.id,
        row.kind,
        row.target,
        row.attempts,
        error[:200],
        wait,
    )
    if changed and wait <= COUNTDOWN_LIMIT_SECONDS:
        publish(row.id, countdown=wait)
    return "retry"


def relay(limit: int = 500) -> int:
    """Publishes every open delivery that is due (beat's safety net: a lost publication, a
    retry too far off for a countdown, a worker that died mid-attempt)."""
    d = HttpDelivery
    ids = (
        db.session.execute(
            db.select(d.id)
            .where(d.delivered_at.is_(None), d.dead_at.is_(None), d.next_attempt_at <= utcnow())
            .order_by(d.next_attempt_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    sent = 0
    for delivery_id in ids:
        if not publish(delivery_id):
            break
        sent += 1
    return sent


def attempt_due(limit: int = 500) -> dict[int, str]:
    """Attempts every due delivery here and now (tests, and a worker-less look at a target)."""
    d = HttpDelivery
    now = utcnow()
    ids = (
        db.session.execute(
            db.select(d.id)
            .where(
                d.delivered_at.is_(None),
                d.dead_at.is_(None),
                db.or_(d.attempts == 0, d.next_attempt_at <= now),
            )
            .order_by(d.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    return {delivery_id: attempt(delivery_id) for delivery_id in ids}


class NotDead(Exception):
    """Only a dead delivery is re-driven."""


def redrive(delivery_id: int, actor) -> HttpDelivery:
    """Queues a dead delivery again, with its body and idempotency key, for a full schedule of
    attempts; audited. Raises NotDead for a delivery that is not (or no longer) dead."""
    d = HttpDelivery
    now = utcnow()
    got = db.session.execute(
        update(d)
        .where(d.id == delivery_id, d.dead_at.is_not(None), d.delivered_at.is_(None))
        .values(dead_at=None, attempts=0, next_attempt_at=now + timedelta(seconds=_lease()))
        .returning(*_row_columns())
        .execution_options(synchronize_session=False)
    ).first()
    if got is None:
        db.session.rollback()
        raise NotDead(delivery_id)
    row = Row(*got)
    SENDERS[row.kind].on_redrive(row, now)
    audit.record(
        "delivery_redriven",
        actor=actor,
        case_id=row.case_id,
        ticket_id=row.ticket_id,
        detail={"delivery": row.id, "kind": row.kind, "target": row.target},
    )
    db.session.info.setdefault(_PENDING, []).append(row.id)
    db.session.commit()
    return db.session.get(d, row.id)


def dead_letters(limit: int = 200) -> list[HttpDelivery]:
    """Dead deliveries, the latest first."""
    return list(
        db.session.execute(
            db.select(HttpDelivery)
            .where(HttpDelivery.dead_at.is_not(None))
            .order_by(HttpDelivery.dead_at.desc(), HttpDelivery.id.desc())
            .limit(limit)
        ).scalars()
    )
