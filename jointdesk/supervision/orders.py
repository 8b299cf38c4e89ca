"""Correction orders (责令改正): a supervisor orders a provider to correct something by a
deadline, the provider's staff answer, the supervisor closes the order or sends it back.

open → answered → closed, or answered → open again (sent back). Every move is an audit event
and checks the version the person saw (optimistic locking): a stale move is refused with a
message, never half-done.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import Provider
from jointdesk.models.supervision import CorrectionOrder
from jointdesk.models.types import utcnow
from jointdesk.supervision.performance import local_zone

OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
STATUSES = (OPEN, ANSWERED, CLOSED)
MAX_SUBJECT = 200
MAX_TEXT = 5000


class OrderRefused(Exception):
    """code: stale | state | invalid (``fields``: field → problem code)."""

    def __init__(self, code: str, fields: dict | None = None):
        super().__init__(code)
        self.code, self.fields = code, fields or {}


def deadline_moment(day: date) -> datetime:
    """A deadline date means the end of that day, local time."""
    return datetime.combine(day + timedelta(days=1), time.min, local_zone())


def deadline_day(order: CorrectionOrder) -> date:
    return (order.deadline.astimezone(local_zone()) - timedelta(seconds=1)).date()


def is_overdue(order: CorrectionOrder, now: datetime | None = None) -> bool:
    return order.status != CLOSED and (now or utcnow()) > order.deadline


def _clean(text: str | None) -> str:
    return (text or "").strip()


def issue(
    provider_id: int, subject: str, detail: str, deadline: date | None, actor
) -> CorrectionOrder:
    now = utcnow()
    problems = {}
    subject, detail = _clean(subject), _clean(detail)
    if not 0 < provider_id <= 2_147_483_647 or db.session.get(Provider, provider_id) is None:
        problems["provider"] = "unknown"
    if not subject:
        problems["subject"] = "required"
    elif len(subject) > MAX_SUBJECT:
        problems["subject"] = "too_long"
    if len(detail) > MAX_TEXT:
        problems["detail"] = "too_long"
    if deadline is None:
        problems["deadline"] = "required"
    elif deadline < now.astimezone(local_zone()).date() or deadline.year > 2100:
        problems["deadline"] = "past"
    if problems:
        raise OrderRefused("invalid", problems)
    order = CorrectionOrder(
        provider_id=provider_id,
        subject=subject,
        detail=detail,
        deadline=deadline_moment(deadline),
        issued_by=audit.actor_label(actor),
        issued_at=now,
    )
    db.session.add(order)
    db.session.flush()
    audit.record(
        "correction_order_issued",
        actor=actor,
        detail={
            "order": order.id,
            "provider_id": provider_id,
            "subject": subject,
            "deadline": deadline.isoformat(),
        },
    )
    db.session.commit()
    return order


def _move(order_id: int, version: int | None, allowed: tuple[str, ...]) -> CorrectionOrder:
    order = db.session.get(CorrectionOrder, order_id)
    if order is None:
        raise OrderRefused("not_found")
    if version is None or order.version != version:
        raise OrderRefused("stale")
    if order.status not in allowed:
        raise OrderRefused("state")
    return order


def _commit() -> None:
    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise OrderRefused("stale") from exc


def answer(order_id: int, version: int | None, text: str, actor) -> CorrectionOrder:
    text = _clean(text)
    if not text:
        raise OrderRefused("invalid", {"answer": "required"})
    if len(text) > MAX_TEXT:
        raise OrderRefused("invalid", {"answer": "too_long"})
    order = _move(order_id, version, (OPEN,))
    order.answer, order.answered_by, order.answered_at = text, audit.actor_label(actor), utcnow()
    order.status = ANSWERED
    audit.record("correction_order_answered", actor=actor, detail={"order": order.id})
    _commit()
    return order


def review(order_id: int, version: int | None, accept: bool, note: str, actor) -> CorrectionOrder:
    """The supervisor closes the answered order, or sends it back (open again, with a note)."""
    note = _clean(note)
    if len(note) > MAX_TEXT:
        raise OrderRefused("invalid", {"note": "too_long"})
    if not accept and not note:
        raise OrderRefused("invalid", {"note": "required"})
    order = _move(order_id, version, (ANSWERED,) if not accept else (OPEN, ANSWERED))
    order.close_note = note
    if accept:
        order.status, order.closed_by, order.closed_at = CLOSED, audit.actor_label(actor), utcnow()
        action = "correction_order_closed"
    else:
        order.status = OPEN
        action = "correction_order_sent_back"
    audit.record(action, actor=actor, detail={"order": order.id, "note": note})
    _commit()
    return order


def listing(provider_id: int | None = None, status: str | None = None, limit: int = 200):
    """Orders, those still to act on first (open, then answered), by deadline."""
    query = db.select(CorrectionOrder).options(joinedload(CorrectionOrder.provider))
    if provider_id is not None:
        query = query.where(CorrectionOrder.provider_id == provider_id)
    if status in STATUSES:
        query = query.where(CorrectionOrder.status == status)
    rank = sql_case(
        (CorrectionOrder.status == OPEN, 0), (CorrectionOrder.status == ANSWERED, 1), else_=2
    )
    return list(
        db.session.execute(
            query.order_by(rank, CorrectionOrder.deadline, CorrectionOrder.id).limit(limit)
        ).scalars()
    )


def overdue_count(provider_id: int | None = None, now: datetime | None = None) -> int:
    query = (
        db.select(db.func.count())
        .select_from(CorrectionOrder)
        .where(CorrectionOrder.status != CLOSED, CorrectionOrder.deadline < (now or utcnow()))
    )
    if provider_id is not None:
        query = query.where(CorrectionOrder.provider_id == provider_id)
    return db.session.execute(query).scalar_one()
