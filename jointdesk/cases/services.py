"""One case, as each kind of reader may see it: the same dicts feed the API and the pages."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import selectinload

from jointdesk import sla
from jointdesk.access import APPLICANT, FULL, PROGRESS, Viewer, sees_whole_phone, ticket_view
from jointdesk.desk.services import is_overdue
from jointdesk.extensions import db
from jointdesk.models import Case, Event, Ticket, User
from jointdesk.models.types import utcnow
from jointdesk.policy.clock import WorkingCalendar
from jointdesk.policy.identity import mask_id_number, mask_name, mask_phone
from jointdesk.policy.process import (
    APPLICANT_ACTS,
    SUSPENDED,
    allowed_actions,
    case_status,
)
from jointdesk.workingtime import working_calendar


def iso(value: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    """A moment as ISO 8601 in the service's time zone (``zone``: that zone, when the caller
    already has it at hand, as ``ticket_dict`` does for its dozen moments)."""
    if value is None:
        return None
    return value.astimezone(zone or local_zone()).isoformat()


def local_zone() -> ZoneInfo:
    return _zone(current_app.config["JOINTDESK_TIMEZONE"])


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def load_case(reference: str) -> Case | None:
    return db.session.execute(
        db.select(Case)
        .where(Case.reference == reference)
        .options(
            selectinload(Case.tickets).selectinload(Ticket.steps),
            selectinload(Case.tickets).selectinload(Ticket.permits),
            selectinload(Case.tickets).selectinload(Ticket.suspensions),
            selectinload(Case.tickets).selectinload(Ticket.provider),
            selectinload(Case.tickets).selectinload(Ticket.representative),
            selectinload(Case.materials),
            selectinload(Case.district),
        )
    ).scalar_one_or_none()


def ticket_dict(
    ticket: Ticket,
    now: datetime | None = None,
    *,
    view: str = FULL,
    calendar: WorkingCalendar | None = None,
    texts: dict[str, str] | None = None,
    figures: sla.Figures | None = None,
    zone: ZoneInfo | None = None,
) -> dict:
    """One ticket as ``view`` (see ``access.ticket_view``) allows. ``now``, ``calendar``,
    ``texts`` (``sla.fee_basis_texts()``) and ``zone`` (``local_zone()``): given by a caller
    showing several tickets; ``figures``: the ticket's ``sla.figures`` at ``now``, by a caller
    that shows them twice."""
    now = now or utcnow()
    calendar = calendar or working_calendar()
    zone = zone or local_zone()

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(zone).isoformat()

    figures = figures or sla.figures(ticket, now, calendar)
    light = figures.light
    steps = [
        {
            "name": s.name,
            "started_at": iso(s.started_at),
            "due_at": iso(s.due_at),
            "due_provisional": s.due_provisional,
            "completed_at": iso(s.completed_at),
            "working_days": sla.days(used, calendar),
            "light": step_light,
        }
        for s, used, step_light in zip(
            ticket.steps, figures.step_seconds, light["steps"], strict=True
        )
    ]
    permits = [
        {
            "kind": p.kind,
            "status": p.status,
            "filed_at": iso(p.filed_at),
            "due_at": iso(p.due_at),
            "due_provisional": p.due_provisional,
            "granted_at": iso(p.granted_at),
            "working_days": sla.days(figures.permit_seconds[p.kind], calendar),
            "light": light["permits"].get(p.kind),
        }
        for p in ticket.permits
    ]
    connection, investment = sla.ticket_fees(ticket, ticket.case.facts())
    texts = texts if texts is not None else sla.fee_basis_texts()
    rep = ticket.representative
    data = {
        "id": ticket.id,
        "service": ticket.service_code,
        "provider": ticket.provider.code,
        "provider_name": ticket.provider.name,
        "provider_phone": ticket.provider.phone,
        "status": ticket.status,
        "steps": steps,
        "permits": permits,
        "fee": {
            "connection": sla.fee_dict(connection, texts),
            "outside_boundary_investment": sla.fee_dict(investment, texts),
        },
        "light": light,
        # the representative's work phone, else the provider's service phone: a number to call
        "representative": (
            {"name": rep.label, "phone": rep.phone or ticket.provider.phone}
            if rep and view != PROGRESS
            else None
        ),
        "first_contact_at": iso(ticket.first_contact_at),
        "contacts": ticket.contacts or 0,
        "created_at": iso(ticket.created_at),
        "queued_at": iso(ticket.queued_at),
        "closed_at": iso(ticket.closed_at),
        "due_at": iso(ticket.due_at),
        "due_provisional": ticket.due_provisional,
        "overdue": is_overdue(ticket, now, figures.at),
    }
    if view == FULL:
        data.update(
            {
                "case": ticket.case.reference,
                "version": ticket.version,
                "return_reason": ticket.return_reason,
                "suspend_reason": ticket.suspend_reason,
                "suspend_reason_code": next(
                    (s.reason_code for s in ticket.suspensions if s.ended_at is None), None
                ),
                "allowed_actions": allowed_actions(ticket.status, [s.name for s in ticket.steps]),
            }
        )
        if rep:
            data["representative"]["username"] = rep.username
    elif view == APPLICANT and ticket.status == "returned":
        data["return_reason"] = ticket.return_reason
    elif view == APPLICANT and ticket.status == SUSPENDED:
        # why the clock stopped; the provider's words only when the applicant must act on them
        code = next((s.reason_code for s in ticket.suspensions if s.ended_at is None), None)
        data["suspend_reason_code"] = code
        if code in APPLICANT_ACTS:
            data["suspend_reason"] = ticket.suspend_reason
    return data


def case_stamp(
    reference: str, query_code_digest: str | None = None
) -> tuple[str, list[int]] | None:
    """What changes a case's pages, in one small indexed read: its newest event (every action,
    hand-over and material change writes one) and each ticket's status, light and version.
    Returns (stamp, the tickets' provider ids, for the access check), or None: no such case
    (or, with ``query_code_digest``, not with that query code). Live pages poll this instead of
    reading the whole case again."""
    last_event = db.select(db.func.max(Event.id)).where(Event.case_id == Case.id).scalar_subquery()
    rows = db.session.execute(
        db.select(
            last_event,
            Ticket.id,
            Ticket.provider_id,
            Ticket.status,
            Ticket.sla_state,
            Ticket.version,
        )
        .select_from(Case)
        .join(Ticket, Ticket.case_id == Case.id)
        .where(
            Case.reference == reference,
            *([Case.query_code_hash == query_code_digest] if query_code_digest else []),
        )
        .order_by(Ticket.id)
    ).all()
    if not rows:
        return None
    parts = [str(rows[0][0] or 0)] + [f"{r[1]}.{r[3]}.{r[4]}.{r[5]}" for r in rows]
    stamp = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return stamp, [r[2] for r in rows]


def people_names(events: list[dict]) -> dict[str, str]:
    """The names people know for the login names and codes in a timeline (for the pages; the
    API keeps the codes): users' display names, providers' names for their codes, "their own
    system" for a provider's system user, and the automatic work of JointDesk itself."""
    from flask_babel import gettext as _

    from jointdesk.audit import SYSTEM
    from jointdesk.models import Provider

    wanted = {e["actor"] for e in events if e["actor"]}
    wanted |= {
        str(e["detail"]["representative"]) for e in events if e["detail"].get("representative")
    }
    codes = {str(e["detail"]["provider"]) for e in events if e["detail"].get("provider")}
    codes |= {a.removesuffix("-system") for a in wanted if a.endswith("-system")}
    names: dict[str, str] = {SYSTEM: _("JointDesk (automatic)")}
    wanted.discard(SYSTEM)
    if wanted:
        for username, display in db.session.execute(
            db.select(User.username, User.display_name).where(User.username.in_(wanted))
        ):
            names[username] = display or username
    if codes:
        for code, name in db.session.execute(
            db.select(Provider.code, Provider.name).where(Provider.code.in_(codes))
        ):
            names[code] = name
            if f"{code}-system" in wanted:
                names[f"{code}-system"] = _("%(provider)s's own system", provider=name)
    return names


def case_events(case: Case, hidden: set[int] | None = None) -> list[dict]:
    """The timeline; events of ``hidden`` tickets keep what and when but lose their details."""
    hidden = hidden or set()
    rows = getattr(case, "events", None)  # read with the case by cases.read
    if rows is None:
        rows = db.session.execute(
            db.select(Event).where(Event.case_id == case.id).order_by(Event.created_at, Event.id)
        ).scalars()
    services = {t.id: t.service_code for t in case.tickets}
    return [
        {
            "at": iso(ev.created_at),
            "action": ev.action,
            "ticket_id": ev.ticket_id,
            "service": services.get(ev.ticket_id),
            "actor": ev.actor if ev.ticket_id not in hidden else "",
            "detail": ev.detail if ev.ticket_id not in hidden else {},
        }
        for ev in rows
    ]


def ticket_dicts(tickets) -> list[dict]:
    """A page of tickets in full (a provider's queue): one moment, one calendar and one set of
    fee texts for the whole page."""
    now = utcnow()
    calendar = working_calendar()
    texts = sla.fee_basis_texts()
    zone = local_zone()
    return [ticket_dict(t, now, calendar=calendar, texts=texts, zone=zone) for t in tickets]


def case_dict(case: Case, viewer: User | Viewer) -> dict:
    """The one aggregated view. Phone whole for the people who call the applicant."""
    now = utcnow()
    calendar = working_calendar()
    texts = sla.fee_basis_texts()
    zone = local_zone()
    show_phone = sees_whole_phone(viewer)
    views = {t.id: ticket_view(viewer, t) for t in case.tickets}
    # each ticket measured once, for its own answer and for the case's indicators
    measured = {t.id: sla.figures(t, now, calendar) for t in case.tickets}
    return {
        "reference": case.reference,
        "status": case_status(t.status for t in case.tickets),
        "channel": case.channel,
        "created_at": iso(case.created_at, zone),
        "applicant": {
            "kind": case.applicant_kind,
            "name": case.applicant_name,
            "id_number": mask_id_number(case.applicant_id_number),
            "phone": case.applicant_phone if show_phone else mask_phone(case.applicant_phone),
        },
        "address": {"district": case.district.name, "detail": case.address_detail},
        "project": {
            "approval_system_code": case.approval_system_code,
            "low_risk": case.low_risk,
            "external_works": case.external_works,
            "pipeline_length_m": case.pipeline_length_m,
            "supporting_fee_paid": case.supporting_fee_paid,
        },
        "materials": [
            {
                "kind": m.kind,
                "provided": m.provided,
                "note": m.note,
                "handed_over_at": iso(m.handed_over_at),
                "waived_at": iso(m.waived_at),
                "waived_by": m.waived_by,
                "waive_reason": m.waive_reason,
            }
            for m in case.materials
        ],
        "tickets": [
            ticket_dict(
                t,
                now,
                calendar=calendar,
                view=views[t.id],
                texts=texts,
                figures=measured[t.id],
                zone=zone,
            )
            for t in case.tickets
        ],
        "events": case_events(case, hidden={i for i, v in views.items() if v != FULL}),
        "indicators": sla.case_indicators(case, now, texts=texts, measured=measured),
    }


def public_case_dict(case: Case) -> dict:
    """What an applicant may see with reference and query code: progress, names masked."""
    now = utcnow()
    calendar = working_calendar()
    texts = sla.fee_basis_texts()
    zone = local_zone()
    return {
        "reference": case.reference,
        "status": case_status(t.status for t in case.tickets),
        "created_at": iso(case.created_at, zone),
        "applicant": {
            "name": mask_name(case.applicant_name, case.applicant_kind),
            "phone": mask_phone(case.applicant_phone),
        },
        "address": {"district": case.district.name},
        "tickets": [
            ticket_dict(
                t, now, view=ticket_view(None, t), calendar=calendar, texts=texts, zone=zone
            )
            for t in case.tickets
        ],
        "four_zero": sla.case_four_zero(case),
    }
