"""Ticket actions by provider staff: accept, connect, return, suspend, resume, assign."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import case as sql_case
from sqlalchemy import func, literal, literal_column, or_, tuple_, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit, domain_events, sla
from jointdesk.access import is_system_actor
from jointdesk.domain_events import DomainEvent
from jointdesk.extensions import db
from jointdesk.logging_setup import redact
from jointdesk.models import (
    Case,
    ClosedTicketCount,
    Material,
    Permit,
    Provider,
    Suspension,
    Ticket,
    User,
)
from jointdesk.models.ticket import QUEUE_FAR
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.policy.process import (
    ACTIONS,
    ACTIONS_NEEDING_NOTE,
    ACTIONS_NEEDING_REASON,
    CASE_COMPLETED,
    COMMITMENT_FILING,
    DISPATCHING,
    MATERIALS_OUTSTANDING,
    NO_FIRST_CONTACT,
    NO_REPRESENTATIVE,
    OPEN,
    SUSPENDED,
    SUSPENSION_REASONS,
    TERMINAL,
    ActionNotAllowed,
    case_status,
    connect_blocker,
    next_permit_status,
    next_status,
    permits_pending,
    suspension_text_required,
)
from jointdesk.schemas import MAX_NOTE, MAX_REASON
from jointdesk.workingtime import working_calendar


class ActionRefused(Exception):
    """A request to act on a ticket that cannot be carried out; ``status`` is the HTTP one."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def perform_action(
    ticket: Ticket,
    action: str,
    actor: User,
    *,
    reason: str | None = None,
    representative: str | None = None,
    expected_version: int | None = None,
    permit: str | None = None,
    material: str | None = None,
    note: str | None = None,
    reason_code: str | None = None,
) -> Ticket:
    """Applies one action, atomically: two people acting at once, exactly one wins."""
    if action not in ACTIONS:
        raise ActionRefused(422, "invalid", _("Unknown action."), {"action": _("Unknown action.")})
    # free text is kept for good (ticket, audit trail) and read by people who may not see whole
    # numbers: an ID or phone number typed into it is masked before it is stored
    reason = redact((reason or "").strip())
    if len(reason) > MAX_REASON:
        raise ActionRefused(
            422,
            "invalid",
            _("Reason too long."),
            {"reason": _("At most %(n)d characters.", n=MAX_REASON)},
        )
    if action in ACTIONS_NEEDING_REASON and not reason:
        raise ActionRefused(
            422, "invalid", _("A reason is required."), {"reason": _("A reason is required.")}
        )
    note = redact((note or "").strip())
    if len(note) > MAX_NOTE:
        raise ActionRefused(
            422,
            "invalid",
            _("Note too long."),
            {"note": _("At most %(n)d characters.", n=MAX_NOTE)},
        )
    if action in ACTIONS_NEEDING_NOTE and not note:
        raise ActionRefused(
            422,
            "invalid",
            _("Say what was agreed with the applicant."),
            {"note": _("Say what was agreed with the applicant.")},
        )
    if action == "suspend":
        _check_suspension_reason(reason_code, reason)
    if expected_version is not None and expected_version != ticket.version:
        raise _conflict()
    # No autoflush until the commit: a lazy load half-way would flush the ticket's UPDATE early,
    # and a concurrent winner's version would then raise outside the conflict handling (a 500).
    try:
        with db.session.no_autoflush:
            detail = _apply(
                ticket, action, actor, reason, representative, permit, material, note, reason_code
            )
            ticket.version = ticket.version + 1  # an UPDATE checking the old version: one winner
            audit.record(
                action, actor=actor, case_id=ticket.case_id, ticket_id=ticket.id, detail=detail
            )
            _emit_action(ticket, action, actor, detail)
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise _conflict() from exc
    return ticket


def _emit_action(ticket: Ticket, action: str, actor: User, detail: dict) -> None:
    """The action's domain event, then ``case.completed`` if it closed the case's last open
    ticket and the case ended completed (not all returned)."""
    now = utcnow()
    domain_events.emit(
        DomainEvent(
            f"ticket.{action}",
            ticket.case_id,
            now,
            ticket_id=ticket.id,
            actor=actor.username,
            detail=detail,
        )
    )
    if ticket.status not in TERMINAL or detail.get("from") in TERMINAL:
        return
    others = db.session.scalars(
        db.select(Ticket.status).where(Ticket.case_id == ticket.case_id, Ticket.id != ticket.id)
    ).all()
    if case_status([ticket.status, *others]) == CASE_COMPLETED:
        domain_events.emit(DomainEvent("case.completed", ticket.case_id, now, actor=actor.username))


def _apply(
    ticket: Ticket,
    action: str,
    actor: User,
    reason: str,
    representative: str | None,
    permit: str | None,
    material: str | None,
    note: str = "",
    reason_code: str | None = None,
) -> dict:
    """Changes the ticket (and its steps, permits, materials) for one action; returns the
    event's detail. Raises ActionRefused before changing anything the rules refuse."""
    steps = tuple(s.name for s in ticket.steps)
    try:
        new_status = next_status(ticket.status, action, steps, ticket.suspended_from)
    except ActionNotAllowed as exc:
        raise ActionRefused(
            409, "not_allowed", _("This action is not allowed in the ticket's current state.")
        ) from exc
    detail: dict = {"from": ticket.status, "to": new_status}
    if reason:
        detail["reason"] = reason
    now = utcnow()
    if action == "assign":
        rep = _representative(ticket, representative)
        ticket.representative_id = rep.id
        detail["representative"] = rep.username
    elif action == "accept":
        sla.advance_step(ticket, now)
        _take_on(ticket, actor, representative, detail)
    elif action == "connect":
        _check_connect(ticket, steps)
        if permits_pending({p.kind: p.status for p in ticket.permits}):
            raise ActionRefused(
                409,
                "permits_pending",
                _("Permits are still pending; connect once all are granted."),
            )
        sla.advance_step(ticket, now)
        ticket.closed_at = now
        ticket.on_time = sla.within_limit(ticket, now, working_calendar())  # for supervision
    elif action == "return":
        ticket.return_reason = reason
        ticket.closed_at = now
        ticket.step_due_at = None
        sla.settle_steps(ticket)  # the open step ended with the return
    elif action == "suspend":
        ticket.suspended_from = ticket.status
        ticket.suspend_reason = reason or None
        sla.suspend(ticket, now, reason, reason_code)
        detail["reason_code"] = reason_code
    elif action == "resume":
        ticket.suspended_from = None
        ticket.suspend_reason = None
        detail["working_seconds_lost"] = sla.resume(ticket, now)
    elif action in ("permit_file", "permit_grant"):
        target = _permit(ticket, permit, action)
        target.status = next_permit_status(target.status, action, target.kind)
        if action == "permit_file":
            target.filed_at = now
            sla.refresh_due_times(ticket)
        else:
            target.granted_at = now  # the approval departments' time ends: due times move
            sla.refresh_due_times(ticket)
        detail["permit"] = target.kind
    elif action == "material_received":
        item = _missing_material(ticket, material)
        _close_material(item, handed_over_at=now, handed_over_by=actor.username)
        detail["material"] = item.kind
    elif action == "material_waive":
        item = _missing_material(ticket, material)
        _close_material(item, waived_at=now, waived_by=actor.username, waive_reason=reason)
        detail["material"] = item.kind
    elif action == "contact":
        ticket.first_contact_at = ticket.first_contact_at or now
        ticket.contacts = (ticket.contacts or 0) + 1
        detail["note"] = note
        _take_on(ticket, actor, representative, detail)  # whoever contacts first carries it
    ticket.status = new_status
    return detail


def _take_on(ticket: Ticket, actor: User, representative: str | None, detail: dict) -> None:
    """A ticket without a customer representative gets one when someone takes it on (accept,
    first contact): that person. A provider's own system is no person: it names the
    representative (``representative``), else the provider's default rules choose one
    (``routing.outbox.choose_representative``); none when the provider has no active staff."""
    if ticket.representative_id is not None:
        return
    if not is_system_actor(actor):
        rep: User | None = actor
    elif representative:
        rep = _representative(ticket, representative)
    else:
        from jointdesk.routing.outbox import choose_representative

        rep = choose_representative(ticket.provider_id)
    if rep is not None:
        ticket.representative_id = rep.id
        detail["representative"] = rep.username


def _check_connect(ticket: Ticket, steps: tuple[str, ...]) -> None:
    """409 with the reason while the policy's conditions for 验收接通 are not met."""
    blocker = connect_blocker(
        steps=steps,
        has_representative=ticket.representative_id is not None,
        first_contact_made=ticket.first_contact_at is not None,
        materials_outstanding=[m.kind for m in ticket.case.materials if m.outstanding],
    )
    if blocker == NO_REPRESENTATIVE:
        raise ActionRefused(
            409,
            NO_REPRESENTATIVE,
            _("No customer representative yet; assign one before connecting."),
        )
    if blocker == NO_FIRST_CONTACT:
        raise ActionRefused(
            409,
            NO_FIRST_CONTACT,
            _("Record the first contact with the applicant before connecting."),
        )
    if blocker == MATERIALS_OUTSTANDING:
        raise ActionRefused(
            409,
            MATERIALS_OUTSTANDING,
            _(
                "A material accepted as missing (容缺) was neither handed over nor waived; "
                "record it before connecting."
            ),
        )


def set_default_representative(user: User, actor: User | str = "cli") -> None:
    """The provider's default customer representative (one per provider); the caller commits."""
    if user.role != "staff" or user.provider_id is None or not user.active:
        raise ActionRefused(
            422,
            "invalid",
            _("Choose an active staff member of this provider."),
            {"representative": _("Choose an active staff member of this provider.")},
        )
    db.session.execute(
        update(User)
        .where(User.provider_id == user.provider_id, User.id != user.id)
        .values(default_representative=False)
    )
    user.default_representative = True
    audit.record("default_representative", actor=actor, detail={"representative": user.username})


def _check_suspension_reason(code: str | None, text: str) -> None:
    """A suspension needs one of the listed reasons; "other" needs it said in words."""
    if code not in SUSPENSION_REASONS:
        message = _("Choose the reason for the suspension from the list.")
        raise ActionRefused(422, "invalid", message, {"reason_code": message})
    if suspension_text_required(code) and not text:
        message = _("Say in words why the clock stops.")
        raise ActionRefused(422, "invalid", message, {"reason": message})


def _conflict() -> ActionRefused:
    return ActionRefused(
        409, "conflict", _("Someone else changed this ticket just now; reload it and try again.")
    )


def _permit(ticket: Ticket, kind: str | None, action: str):
    target = next((p for p in ticket.permits if p.kind == kind), None)
    if target is None:
        raise ActionRefused(
            422, "invalid", _("This ticket needs no such permit."), {"permit": _("Unknown permit.")}
        )
    try:
        next_permit_status(target.status, action, kind or "")
    except ActionNotAllowed as exc:
        raise ActionRefused(
            409, "not_allowed", _("This permit is not in a state that allows this.")
        ) from exc
    return target


def _missing_material(ticket: Ticket, kind: str | None):
    item = next(
        (m for m in ticket.case.materials if m.kind == kind and m.outstanding),
        None,
    )
    if item is None:
        raise ActionRefused(
            422,
            "invalid",
            _("No such material is waiting to be handed over."),
            {"material": _("No such material is waiting to be handed over.")},
        )
    return item


def _close_material(item: Material, **values) -> None:
    """Hands over or waives a missing material. The material belongs to the case, which other
    providers' tickets share and their versions do not guard: a conditional UPDATE lets exactly
    one of two simultaneous closings win; the other is a conflict."""
    closed = db.session.execute(
        update(Material)
        .where(
            Material.id == item.id,
            Material.handed_over_at.is_(None),
            Material.waived_at.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if closed != 1:
        raise _conflict()
    for name, value in values.items():
        setattr(item, name, value)


def _representative(ticket: Ticket, username: str | None) -> User:
    user = None
    if username:
        user = db.session.execute(
            db.select(User).where(User.username == username.strip())
        ).scalar_one_or_none()
    if (
        user is None
        or user.role != "staff"
        or user.provider_id != ticket.provider_id
        or not user.active
    ):
        raise ActionRefused(
            422,
            "invalid",
            _("Choose an active staff member of this provider."),
            {"representative": _("Choose an active staff member of this provider.")},
        )
    return user


# the queue's sort key, as indexed (models/ticket.py): these very expressions
QUEUE_CLOSED = Ticket.closed_at.is_not(None)  # QUEUE_CLOSED_SQL
QUEUE_STEP_DUE = func.coalesce(Ticket.step_due_at, literal_column(QUEUE_FAR))
QUEUE_DUE = func.coalesce(Ticket.due_at, literal_column(QUEUE_FAR))
QUEUE_FAR_MOMENT = datetime(9999, 12, 31, tzinfo=UTC)


class BadCursor(ValueError):
    """An ``after`` cursor that this server did not give out (or for another order)."""


@dataclass(frozen=True)
class QueueCursor:
    """Where a queue page ended: the sort key of its last ticket. Opaque to clients."""

    closed: int
    step_due: datetime
    due: datetime
    id: int

    @classmethod
    def after(cls, ticket: Ticket) -> QueueCursor:
        return cls(
            1 if ticket.closed_at is not None else 0,
            ticket.step_due_at or QUEUE_FAR_MOMENT,
            ticket.due_at or QUEUE_FAR_MOMENT,
            ticket.id,
        )

    def encode(self) -> str:
        raw = json.dumps(
            [self.closed, self.step_due.isoformat(), self.due.isoformat(), self.id],
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> QueueCursor:
        try:
            if len(text) > 200:
                raise ValueError("too long")
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            closed, step_due, due, ticket_id = json.loads(raw)
            moments = [datetime.fromisoformat(step_due), datetime.fromisoformat(due)]
            if any(m.tzinfo is None for m in moments):
                raise ValueError("naive moment")
            if closed not in (0, 1) or type(ticket_id) is not int or not 0 < ticket_id < 2**31:
                raise ValueError("out of range")
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadCursor(str(exc)) from exc
        return cls(closed, moments[0], moments[1], ticket_id)


# the queue's default filter: the open work (queued, accepted, suspended), not the closed
OPEN_WORK = "open"


def overdue_sql(now):
    """SQL: the ticket is open and past its own or its running step's due time, on the
    provider's clock, which stands still at a suspension or while a permit is pending (the
    queue's filter, and the supervision pages' "overdue now")."""
    pending_since = (
        db.select(func.min(Permit.filed_at))
        .where(
            Permit.ticket_id == Ticket.id,
            Permit.filed_at.is_not(None),
            Permit.granted_at.is_(None),
            Permit.kind != COMMITMENT_FILING,
        )
        .scalar_subquery()
    )
    stop = func.coalesce(pending_since, literal(now, UTCDateTime))
    clock = sql_case(
        ((Ticket.status == SUSPENDED) & (Ticket.suspended_at < stop), Ticket.suspended_at),
        else_=stop,
    )
    return Ticket.status.in_(OPEN) & or_(Ticket.due_at < clock, Ticket.step_due_at < clock)


def _queue_filters(provider_id: int, status: str | None, overdue: bool | None) -> list:
    filters = [Ticket.provider_id == provider_id, Ticket.status != DISPATCHING]
    if status == OPEN_WORK:
        filters.append(Ticket.status.in_(sorted(OPEN)))
    elif status:
        filters.append(Ticket.status == status)
    overdue_clause = overdue_sql(utcnow())
    if overdue is True:
        # only open tickets can be overdue: said in the index's terms, the scan stays within
        # the provider's open tickets (the clock itself is per ticket, so it is a filter there)
        filters += [overdue_clause, Ticket.closed_at.is_(None)]
    elif overdue is False:
        filters.append(~overdue_clause)
    return filters


def queue_query(
    provider_id: int,
    *,
    status: str | None = None,
    overdue: bool | None = None,
    after: QueueCursor | None = None,
    eager: bool = True,
):
    """A provider's tickets, oldest due first; open tickets before closed ones; from the
    ticket after ``after`` on (keyset: an index range, whatever the depth). ``eager``: with
    every relation the desk page shows loaded (else the bare tickets).

    The order is the index ``ix_tickets_queue`` (``ix_tickets_queue_status`` within one status,
    where open-or-closed is the same for every ticket and left out)."""
    key = [QUEUE_STEP_DUE, QUEUE_DUE, Ticket.id]
    if not status:
        key.insert(0, QUEUE_CLOSED)
    query = db.select(Ticket).where(*_queue_filters(provider_id, status, overdue))
    if eager:
        query = query.options(
            selectinload(Ticket.case).selectinload(Case.district),
            selectinload(Ticket.steps),
            selectinload(Ticket.permits),
            selectinload(Ticket.suspensions),
            selectinload(Ticket.representative),
            selectinload(Ticket.provider),
        )
    if after is not None:
        values = [_moment(after.step_due), _moment(after.due), literal(after.id)]
        if not status:
            values.insert(0, literal(bool(after.closed)))
        query = query.where(tuple_(*key) > tuple_(*values))
    return query.order_by(*key)


def _count(filters: list) -> int:
    return db.session.execute(db.select(func.count()).select_from(Ticket).where(*filters)).scalar()


def _moment(value: datetime):
    """A cursor's moment as the query compares it: "no due time" as the very literal of the
    sort key (SQLite compares the text, and writes moments with microseconds)."""
    if value == QUEUE_FAR_MOMENT:
        return literal_column(QUEUE_FAR)
    return literal(value, UTCDateTime)


def queue_count(provider_id: int, *, status: str | None = None, overdue: bool | None = None):
    """How many tickets the queue holds with these filters, exactly, without counting a big
    provider's whole history on every page: the open tickets (a small part of the index), plus
    the final count of those closed before the last snapshot (``ClosedTicketCount``), plus
    those closed since (``ix_tickets_provider_closed``). No snapshot: one index-only count."""
    filters = _queue_filters(provider_id, status, overdue)
    if overdue is True or (status is not None and status not in TERMINAL):
        return _count(filters)  # open tickets only
    closed = [status] if status else sorted(TERMINAL)
    rows = db.session.execute(
        db.select(ClosedTicketCount).where(
            ClosedTicketCount.provider_id == provider_id, ClosedTicketCount.status.in_(closed)
        )
    ).scalars()
    rows = list(rows)
    if not rows:
        return _count(filters)
    before = rows[0].closed_before
    total = sum(row.tickets for row in rows)
    total += _count([*filters, Ticket.closed_at >= before])
    if status is None:  # the open ones: index-only on ix_tickets_queue_status
        total += _count([*filters, Ticket.status.in_(sorted(OPEN))])
    return total


CLOSED_COUNT_MARGIN = timedelta(hours=1)  # no closing action's transaction lasts this long


def refresh_closed_counts(now: datetime | None = None) -> int:
    """Counts again, per provider and closed status, the tickets closed more than an hour ago
    (final: see ``ClosedTicketCount``); one transaction. Returns the tickets counted."""
    before = (now or utcnow()) - CLOSED_COUNT_MARGIN
    counts = db.session.execute(
        db.select(Ticket.provider_id, Ticket.status, func.count())
        .where(Ticket.closed_at < before, Ticket.status.in_(sorted(TERMINAL)))
        .group_by(Ticket.provider_id, Ticket.status)
    ).all()
    db.session.execute(db.delete(ClosedTicketCount))
    db.session.add_all(
        ClosedTicketCount(provider_id=p, status=st, closed_before=before, tickets=n)
        for p, st, n in counts
    )
    db.session.commit()
    return sum(n for _p, _st, n in counts)


@dataclass
class QueuePage:
    items: list[Ticket]
    total: int
    next: str | None  # the cursor of the page after this one, None on the last page


def queue_page(
    provider_id: int,
    *,
    status: str | None = None,
    overdue: bool | None = None,
    per_page: int,
    page: int = 1,
    after: QueueCursor | None = None,
    load: Callable[[list[int]], list] | None = None,
) -> QueuePage:
    """One page of the queue: by keyset after ``after``, or (shallow pages, compatibility) by
    page number. Either way ``next`` is the keyset cursor of the following page. ``load``:
    reads the page's tickets by id, in order (e.g. ``cases.read.load_tickets_data``), instead
    of loading them with their relations here."""
    query = queue_query(
        provider_id, status=status, overdue=overdue, after=after, eager=load is None
    )
    if after is None and page > 1:
        query = query.offset((page - 1) * per_page)
    if load is not None:
        ids = list(
            db.session.execute(query.with_only_columns(Ticket.id).limit(per_page + 1)).scalars()
        )
        items = load(ids)
    else:
        items = list(db.session.execute(query.limit(per_page + 1)).scalars())
    more = len(items) > per_page
    items = items[:per_page]
    return QueuePage(
        items,
        queue_count(provider_id, status=status, overdue=overdue),
        QueueCursor.after(items[-1]).encode() if more else None,
    )


def queue_stamp(rows, total: int) -> str:
    """What a queue page shows changes only with its tickets (which, in what state, light and
    version) and its total: the live stamp of the page (see ``static/live.js``)."""
    parts = [str(total)] + [f"{r.id}.{r.version}.{r.status}.{r.sla_state}" for r in rows]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def queue_page_stamp(
    provider_id: int,
    *,
    status: str | None = None,
    overdue: bool | None = None,
    per_page: int,
    page: int = 1,
    after: QueueCursor | None = None,
) -> str:
    """``queue_stamp`` of the page ``queue_page`` would show, from a few columns of its rows
    (one index-ordered read, as the page's own) and the total."""
    query = queue_query(provider_id, status=status, overdue=overdue, after=after, eager=False)
    if after is None and page > 1:
        query = query.offset((page - 1) * per_page)
    rows = db.session.execute(
        query.with_only_columns(Ticket.id, Ticket.version, Ticket.status, Ticket.sla_state).limit(
            per_page
        )
    ).all()
    return queue_stamp(rows, queue_count(provider_id, status=status, overdue=overdue))


def is_overdue(ticket: Ticket, now: datetime | None = None, at: datetime | None = None) -> bool:
    """Past its step's or its whole due time on the provider's clock (``at``: the ticket's
    ``sla.clock_now``, when the caller has it)."""
    if ticket.status not in OPEN:
        return False
    at = at or sla.clock_now(ticket, now or utcnow())
    return any(d is not None and d < at for d in (ticket.due_at, ticket.step_due_at))


def suspensions_query(*, provider: str | None = None, reason: str | None = None):
    """Every suspension, running ones first, then the newest; by provider code and reason."""
    query = (
        db.select(Suspension)
        .join(Ticket, Suspension.ticket_id == Ticket.id)
        .join(Provider, Ticket.provider_id == Provider.id)
        .options(
            selectinload(Suspension.ticket).selectinload(Ticket.case),
            selectinload(Suspension.ticket).selectinload(Ticket.provider),
        )
    )
    if provider:
        query = query.where(Provider.code == provider)
    if reason:
        query = query.where(Suspension.reason_code == reason)
    running = sql_case((Suspension.ended_at.is_(None), 0), else_=1)
    return query.order_by(running, Suspension.started_at.desc(), Suspension.id.desc())


def suspension_days(stop: Suspension) -> float | None:
    """Working days one suspension has stopped the clock (a running one: until now)."""
    calendar = working_calendar()
    return sla.days(calendar.working_seconds(stop.started_at, stop.ended_at or utcnow()), calendar)
