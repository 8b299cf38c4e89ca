"""Time limits applied to tickets: due times, suspension, permits, traffic lights, indicators.

The rules come from ``jointdesk.policy.process`` and the arithmetic from the working calendar;
this module only applies them to stored tickets.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import Case, Permit, Step, Suspension, Ticket, User
from jointdesk.models.types import utcnow
from jointdesk.notify import notifier
from jointdesk.policy import process as rules
from jointdesk.policy.clock import WorkingCalendar
from jointdesk.workingtime import working_calendar

log = logging.getLogger(__name__)


def limit_seconds(calendar: WorkingCalendar, days: float) -> int:
    return round(days * calendar.day_seconds)


def _due(
    calendar: WorkingCalendar, start: datetime, limit: int, lost: int
) -> tuple[datetime, bool]:
    """Due = the limit's working time after start, pushed out by working time lost."""
    due = calendar.add_seconds(start, limit + lost)
    return due, calendar.provisional_between(start, due)


def _measure_suspensions(ticket: Ticket, calendar: WorkingCalendar) -> None:
    """Working time lost to finished suspensions, measured on the calendar in force."""
    total = 0
    by_step: dict[int | None, int] = {}
    for stop in ticket.suspensions:
        if stop.ended_at is None:
            continue
        lost = calendar.working_seconds(stop.started_at, stop.ended_at)
        total += lost
        by_step[stop.step_seq] = by_step.get(stop.step_seq, 0) + lost
    ticket.suspended_seconds = total
    for step in ticket.steps:
        step.suspended_seconds = by_step.get(step.seq, 0)


def refresh_due_times(ticket: Ticket, calendar: WorkingCalendar | None = None) -> None:
    """Sets the ticket's, its current step's and its filed permits' due times."""
    calendar = calendar or working_calendar()
    _measure_suspensions(ticket, calendar)
    limits = rules.time_limits(ticket.case.external_works)
    ticket.due_at, ticket.due_provisional = _due(
        calendar,
        ticket.created_at,
        limit_seconds(calendar, limits.total_days),
        ticket.suspended_seconds,
    )
    step = ticket.current_step
    if step is not None and step.started_at is not None:
        step.due_at, step.due_provisional = _due(
            calendar,
            step.started_at,
            limit_seconds(calendar, limits.per_step_days),
            step.suspended_seconds,
        )
    ticket.step_due_at = step.due_at if step is not None else None
    for permit in ticket.permits:
        if permit.filed_at is not None and permit.kind != rules.COMMITMENT_FILING:
            permit.due_at, permit.due_provisional = _due(
                calendar, permit.filed_at, limit_seconds(calendar, rules.PERMIT_LIMIT_DAYS), 0
            )


def open_ticket(ticket: Ticket, case: Case, now: datetime, calendar: WorkingCalendar) -> None:
    """Steps, permits and due times of a new ticket; the first step's clock starts now."""
    ticket.suspended_seconds = 0
    for seq, name in enumerate(rules.steps_for(case.channel, case.approval_system_code)):
        ticket.steps.append(
            Step(seq=seq, name=name, started_at=now if seq == 0 else None, suspended_seconds=0)
        )
    for kind, status in rules.permit_plan(case.facts(), ticket.service_code).items():
        filed = now if status == rules.PERMIT_FILED else None
        ticket.permits.append(Permit(kind=kind, status=status, filed_at=filed))
    refresh_due_times(ticket, calendar)


def advance_step(ticket: Ticket, now: datetime) -> None:
    """Completes the current step and starts the next one with its own clock."""
    current = ticket.current_step
    if current is None:
        return
    current.completed_at = now
    following = next((s for s in ticket.steps if s.seq == current.seq + 1), None)
    if following is not None:
        following.started_at = now
    refresh_due_times(ticket)


def suspend(ticket: Ticket, now: datetime, reason: str = "") -> None:
    """Stops the clock (waiting for the applicant, external construction)."""
    ticket.suspended_at = now
    step = ticket.current_step
    ticket.suspensions.append(
        Suspension(started_at=now, step_seq=step.seq if step else None, reason=reason)
    )


def resume(ticket: Ticket, now: datetime) -> int:
    """Restarts the clock; the working time lost pushes the ticket's and step's due out."""
    calendar = working_calendar()
    stop = next((s for s in ticket.suspensions if s.ended_at is None), None)
    if stop is not None:
        stop.ended_at = now
    ticket.suspended_at = None
    before = ticket.suspended_seconds or 0
    refresh_due_times(ticket, calendar)
    return ticket.suspended_seconds - before


def clock_now(ticket: Ticket, now: datetime) -> datetime:
    """The moment the clock shows: frozen at the suspension while suspended."""
    return ticket.suspended_at if ticket.status == rules.SUSPENDED and ticket.suspended_at else now


def lights(ticket: Ticket, now: datetime, calendar: WorkingCalendar) -> dict[str, str]:
    """Traffic lights of the current step and of the whole ticket."""
    limits = rules.time_limits(ticket.case.external_works)
    if ticket.status in rules.TERMINAL:
        late = not within_limit(ticket, now, calendar)
        light = rules.LIGHT_OVERDUE if late else rules.LIGHT_ON_TIME
        return {"step": light, "total": light, "overall": light}
    at = clock_now(ticket, now)

    def one(due: datetime | None, days: float) -> str:
        if due is None:
            return rules.LIGHT_ON_TIME
        return rules.traffic_light(
            limit_seconds(calendar, days), calendar.working_seconds(at, due), at > due
        )

    step = one(ticket.step_due_at, limits.per_step_days)
    total = one(ticket.due_at, limits.total_days)
    return {"step": step, "total": total, "overall": rules.worst_light([step, total])}


def step_working_seconds(
    ticket: Ticket, step: Step, now: datetime, calendar: WorkingCalendar
) -> int | None:
    """Working time a step has taken so far (or in all), suspensions not counted."""
    if step.started_at is None:
        return None
    # a returned ticket's open step stopped when it was returned
    end = step.completed_at or ticket.closed_at or clock_now(ticket, now)
    return max(0, calendar.working_seconds(step.started_at, end) - step.suspended_seconds)


def within_limit(ticket: Ticket, now: datetime, calendar: WorkingCalendar) -> bool:
    """Working time used, suspensions not counted, is within every step's limit and the
    total limit. The one definition of "late", for lights and indicators alike."""
    limits = rules.time_limits(ticket.case.external_works)
    per_step = limit_seconds(calendar, limits.per_step_days)
    used = [step_working_seconds(ticket, s, now, calendar) or 0 for s in ticket.steps]
    return all(u <= per_step for u in used) and sum(used) <= limit_seconds(
        calendar, limits.total_days
    )


def permit_working_seconds(permit: Permit, now: datetime, calendar: WorkingCalendar) -> int | None:
    if permit.filed_at is None or permit.kind == rules.COMMITMENT_FILING:
        return None
    return calendar.working_seconds(permit.filed_at, permit.granted_at or now)


def days(seconds: int | None, calendar: WorkingCalendar) -> float | None:
    return None if seconds is None else round(seconds / calendar.day_seconds, 2)


def fee_dict(fee: rules.Fee) -> dict:
    return {
        "amount": fee.amount,
        "basis": fee.basis,
        "basis_text": str(fee_basis_text(fee.basis)),
        "charging_basis": fee.charging_basis,
        "price_per_metre": fee.price_per_metre,
    }


def ticket_fees(ticket: Ticket, facts: rules.ProjectFacts) -> tuple[rules.Fee, rules.Fee]:
    """The connection fee and the works outside the building boundary of one ticket, at its
    provider's published prices."""
    prices = ticket.provider.published_prices if ticket.provider else rules.NO_PRICES
    return (
        rules.connection_fee(facts, prices),
        rules.outside_boundary_investment(facts, ticket.service_code, prices),
    )


def fee_basis_text(basis: str) -> str:
    from jointdesk.labels import FEE_BASIS_LABELS

    return FEE_BASIS_LABELS.get(basis, basis)


def case_indicators(case: Case, now: datetime | None = None) -> dict:
    """The business-environment indicators of one case (环节、时间、材料、跑动、成本、审批)."""
    now = now or utcnow()
    calendar = working_calendar()
    facts = case.facts()
    limits = rules.time_limits(case.external_works)
    zero = rules.four_zero(facts, [t.service_code for t in case.tickets])
    fees = []
    tickets = []
    for t in case.tickets:
        per_step = [days(step_working_seconds(t, s, now, calendar), calendar) for s in t.steps]
        total_s = sum(step_working_seconds(t, s, now, calendar) or 0 for s in t.steps)
        permit_s = [permit_working_seconds(p, now, calendar) for p in t.permits]
        permit_s = [x for x in permit_s if x is not None]
        connection, investment = ticket_fees(t, facts)
        fees += [connection, investment]
        tickets.append(
            {
                "service": t.service_code,
                "working_days_per_step": per_step,
                "working_days_total": days(total_s, calendar),
                "finished": t.status in rules.TERMINAL,
                # only a connected ticket has finished the process; a returned one has not
                "within_limit": (
                    within_limit(t, now, calendar) if t.status == rules.CONNECTED else None
                ),
                "fee": {
                    "connection": fee_dict(connection),
                    "outside_boundary_investment": fee_dict(investment),
                },
                "permits_needed": sum(
                    1
                    for p in t.permits
                    if p.status != rules.PERMIT_EXEMPT and p.kind != rules.COMMITMENT_FILING
                ),
                "permit_working_days": days(max(permit_s), calendar) if permit_s else None,
            }
        )
    return {
        "steps": len(rules.steps_for(case.channel, case.approval_system_code)),
        "applicant_trips": rules.applicant_trips(case.channel),
        "materials_asked": len(rules.materials_required(case.channel, case.approval_system_code)),
        "limits": {
            "per_step_days": limits.per_step_days,
            "total_days": limits.total_days,
            "permit_days": rules.PERMIT_LIMIT_DAYS,
        },
        "tickets": tickets,
        "cost_to_applicant": {
            "connection_fee": fee_dict(rules.connection_fee(facts)),
            "known_amount": sum(f.amount for f in fees if f.amount is not None),
            "all_known": all(f.amount is not None for f in fees),
        },
        "four_zero": {
            "zero_materials": zero.zero_materials,
            "zero_trips": zero.zero_trips,
            "zero_approvals": zero.zero_approvals,
            "zero_investment": zero.zero_investment,
            "all": zero.all,
        },
    }


def check_sla(now: datetime | None = None) -> dict[str, int]:
    """Beat job: marks open tickets at risk or overdue and tells the people who must act.

    A ticket is announced once per worsening (on time → at risk → overdue), not on every run.
    A ticket still waiting for its provider's channel (dispatching) counts too: its clock runs.
    Each ticket is its own transaction; one that staff changed meanwhile waits for the next run.
    """
    now = now or utcnow()
    calendar = working_calendar()
    counts = {rules.LIGHT_AT_RISK: 0, rules.LIGHT_OVERDUE: 0, "notified": 0}
    ids = (
        db.session.execute(
            db.select(Ticket.id).where(
                Ticket.status.in_([rules.DISPATCHING, rules.QUEUED, rules.ACCEPTED])
            )
        )
        .scalars()
        .all()
    )
    supervisor_ids = (
        db.session.execute(
            db.select(User.id).where(User.role == "supervisor", User.active.is_(True))
        )
        .scalars()
        .all()
    )
    send = notifier()
    for ticket_id in ids:
        ticket = db.session.get(Ticket, ticket_id)
        light = lights(ticket, now, calendar)["overall"]
        if light in counts:
            counts[light] += 1
        previous = ticket.sla_state or rules.LIGHT_ON_TIME
        if light == previous:
            continue
        ticket.sla_state = light
        sent = 0
        if rules.LIGHTS.index(light) > rules.LIGHTS.index(previous):
            audit.record(
                f"sla_{light}",
                case_id=ticket.case_id,
                ticket_id=ticket.id,
                detail={"from": previous},
            )
            recipients = [db.session.get(User, uid) for uid in supervisor_ids]
            if ticket.representative is not None:
                recipients.insert(0, ticket.representative)
            with force_locale("zh_CN"):
                message = _sla_message(ticket, light)
            for user in recipients:
                send.send(user, f"sla_{light}", message, ticket)
                sent += 1
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()  # staff acted on it just now; the next run looks again
            continue
        counts["notified"] += sent
    return counts


def _sla_message(ticket: Ticket, light: str) -> str:
    from jointdesk.labels import service_label

    params = {
        "reference": ticket.case.reference,
        "service": str(service_label(ticket.service_code)),
        "provider": ticket.provider.name,
    }
    if light == rules.LIGHT_OVERDUE:
        return _("Case %(reference)s, %(service)s (%(provider)s): past its time limit.", **params)
    return _(
        "Case %(reference)s, %(service)s (%(provider)s): 75%% of its time limit is used.", **params
    )


def recompute_open_due_times() -> int:
    """After the calendar changed: every open ticket's due times again. Returns how many.

    One transaction per ticket; a ticket that staff changed at the same moment is read again.
    """
    calendar = working_calendar()
    ids = (
        db.session.execute(
            db.select(Ticket.id).where(Ticket.status.in_([*rules.OPEN, rules.DISPATCHING]))
        )
        .scalars()
        .all()
    )
    for ticket_id in ids:
        for _attempt in range(3):
            refresh_due_times(db.session.get(Ticket, ticket_id), calendar)
            try:
                db.session.commit()
                break
            except StaleDataError:
                db.session.rollback()
    log.info("due times recomputed for %d open tickets", len(ids))
    return len(ids)
