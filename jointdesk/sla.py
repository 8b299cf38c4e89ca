"""Time limits applied to tickets: due times, suspension, permits, traffic lights, indicators.

The rules come from ``jointdesk.policy.process`` and the arithmetic from the working calendar;
this module only applies them to stored tickets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from babel import Locale
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.labels import FEE_BASIS_LABELS
from jointdesk.models import Case, Permit, Step, Suspension, Ticket, User
from jointdesk.models.ticket import OPEN_SQL
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


def permit_on_clock(permit: Permit) -> bool:
    """A permit the approval departments are working: filed (a commitment filing has no clock)."""
    return permit.filed_at is not None and permit.kind != rules.COMMITMENT_FILING


def provider_stops(ticket: Ticket) -> list[tuple[datetime, datetime | None]]:
    """The periods when the provider's own clock stands still, overlaps merged, oldest first:
    its suspensions, and the approval departments' time (a permit filed and not yet granted;
    "办理部门并联审批……3个工作日内办结" is their limit, counted apart). ``None``: still running."""
    stops = [(s.started_at, s.ended_at) for s in ticket.suspensions]
    stops += [(p.filed_at, p.granted_at) for p in ticket.permits if permit_on_clock(p)]
    merged: list[tuple[datetime, datetime | None]] = []
    for start, end in sorted(stops, key=lambda stop: stop[0]):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, None if None in (last_end, end) else max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _measure_suspensions(ticket: Ticket, calendar: WorkingCalendar) -> None:
    """Working time the provider's clock stood still in finished stops (suspensions and
    permits pending), measured on the calendar in force, for the ticket and for each step."""
    finished = [(s, e) for s, e in provider_stops(ticket) if e is not None]

    def lost(start: datetime, end: datetime | None) -> int:
        total = 0
        for s, e in finished:
            lo, hi = max(start, s), e if end is None else min(end, e)
            if lo < hi:
                total += calendar.working_seconds(lo, hi)
        return total

    ticket.suspended_seconds = lost(ticket.created_at, None)
    for step in ticket.steps:
        step.suspended_seconds = lost(step.started_at, step.completed_at) if step.started_at else 0


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
        if permit_on_clock(permit):
            permit.due_at, permit.due_provisional = _due(
                calendar, permit.filed_at, limit_seconds(calendar, rules.PERMIT_LIMIT_DAYS), 0
            )
    settle_steps(ticket, calendar)


def settle_steps(ticket: Ticket, calendar: WorkingCalendar | None = None) -> None:
    """Stores the working time of every step that has ended (completed, or its ticket closed),
    measured on ``calendar``, so that no reader measures it again; a running step has none."""
    calendar = calendar or working_calendar()
    for step in ticket.steps:
        end = step.completed_at or ticket.closed_at
        if step.started_at is None or end is None:
            step.working_seconds = None
            continue
        step.working_seconds = None  # measure, do not read the old value
        step.working_seconds = step_working_seconds(ticket, step, end, calendar)
    store_on_time(ticket, calendar)


def store_on_time(ticket: Ticket, calendar: WorkingCalendar | None = None) -> None:
    """A connected ticket keeps whether it was within every limit (``within_limit`` on its
    stored step times), so that the supervision figures count it without measuring it again."""
    if ticket.status != rules.CONNECTED or ticket.closed_at is None:
        ticket.on_time = None
        return
    ticket.on_time = within_limit(ticket, ticket.closed_at, calendar or working_calendar())


def store_on_time_all() -> int:
    """Every connected ticket's ``on_time`` from its stored step times, in one UPDATE (after
    a bulk load, which writes tickets without it). Returns how many were set."""
    calendar = working_calendar()
    plain, works = rules.time_limits(False), rules.time_limits(True)
    result = db.session.execute(
        db.text(
            "UPDATE tickets SET on_time = (agg.used <= CASE WHEN cases.external_works "
            "THEN :works_total ELSE :plain_total END AND agg.longest <= CASE WHEN "
            "cases.external_works THEN :works_step ELSE :plain_step END) "
            "FROM (SELECT ticket_id, COALESCE(SUM(working_seconds), 0) AS used, "
            "COALESCE(MAX(working_seconds), 0) AS longest FROM steps GROUP BY ticket_id) AS agg, "
            "cases WHERE agg.ticket_id = tickets.id AND cases.id = tickets.case_id "
            "AND tickets.status = 'connected'"
        ),
        {
            "plain_step": limit_seconds(calendar, plain.per_step_days),
            "plain_total": limit_seconds(calendar, plain.total_days),
            "works_step": limit_seconds(calendar, works.per_step_days),
            "works_total": limit_seconds(calendar, works.total_days),
        },
    )
    return result.rowcount


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


def suspend(
    ticket: Ticket, now: datetime, reason: str = "", code: str = rules.SUSPEND_OTHER
) -> None:
    """Stops the clock for one of the listed reasons (``rules.SUSPENSION_REASONS``)."""
    ticket.suspended_at = now
    step = ticket.current_step
    ticket.suspensions.append(
        Suspension(
            started_at=now, step_seq=step.seq if step else None, reason=reason, reason_code=code
        )
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
    """The moment the provider's clock shows: frozen where it stopped while suspended or while
    a permit is with the approval departments."""
    running = next((start for start, end in provider_stops(ticket) if end is None), None)
    return running if running is not None and running < now else now


@dataclass(frozen=True)
class Figures:
    """One ticket's time figures at one moment, measured once for every part of a view that
    shows them (its steps, permits and lights, the case's indicators): ``at`` is the
    provider's clock (``clock_now``), ``step_seconds`` each step's working time
    (``step_working_seconds``), ``permit_seconds`` each permit's by kind
    (``permit_working_seconds``), ``light`` the lights (``lights``)."""

    at: datetime
    step_seconds: list[int | None]
    permit_seconds: dict[str, int | None]
    light: dict


def figures(ticket: Ticket, now: datetime, calendar: WorkingCalendar) -> Figures:
    at = clock_now(ticket, now)
    step_seconds = [step_working_seconds(ticket, s, now, calendar, at) for s in ticket.steps]
    permit_seconds = {p.kind: permit_working_seconds(p, now, calendar) for p in ticket.permits}
    light = _lights(ticket, now, calendar, at, step_seconds, permit_seconds)
    return Figures(at, step_seconds, permit_seconds, light)


def lights(ticket: Ticket, now: datetime, calendar: WorkingCalendar) -> dict:
    """Traffic lights, each judging its own limit. ``steps``: one per step (a finished one by
    the working time it used, the running one by its due time, one not started: None);
    ``step``: the running step's (a closed ticket: its last step's); ``total``: the provider's
    whole time, likewise; ``permits``: each filed permit on the approval departments' clock;
    ``overall``: the worst of them all. Measures only what the lights judge by;
    ``figures`` measures everything a view shows."""
    return _lights(ticket, now, calendar, clock_now(ticket, now), None, None)


def _lights(
    ticket: Ticket,
    now: datetime,
    calendar: WorkingCalendar,
    at: datetime,
    step_seconds: list[int | None] | None,
    permit_seconds: dict[str, int | None] | None,
) -> dict:
    """The lights at ``at`` (the provider's clock), from each step's and permit's working time
    when the caller measured them (``figures``), else measuring what they judge by."""
    limits = rules.time_limits(ticket.case.external_works)
    per_step = limit_seconds(calendar, limits.per_step_days)
    total_limit = limit_seconds(calendar, limits.total_days)
    closed = ticket.status in rules.TERMINAL

    def used(i: int, step: Step) -> int:
        if step_seconds is not None:
            return step_seconds[i] or 0
        return step_working_seconds(ticket, step, now, calendar, at) or 0

    def running(due: datetime | None, limit: int) -> str:
        if due is None:
            return rules.LIGHT_ON_TIME
        return rules.traffic_light(limit, calendar.working_seconds(at, due), at > due)

    steps: list[str | None] = []
    for i, step in enumerate(ticket.steps):
        if step.started_at is None:
            steps.append(None)
        elif step.completed_at is not None or closed:
            steps.append(rules.finished_light(per_step, used(i, step)))
        else:
            steps.append(running(step.due_at, per_step))
    if closed:
        total = rules.finished_light(
            total_limit, sum(used(i, s) for i, s in enumerate(ticket.steps))
        )
    else:
        total = running(ticket.due_at, total_limit)
    started = [light for light in steps if light is not None]
    current = ticket.current_step
    step = steps[ticket.steps.index(current)] if current is not None and not closed else None
    step = step or (started[-1] if started else rules.LIGHT_ON_TIME)
    permits = permit_lights(ticket, now, calendar, permit_seconds)
    return {
        "steps": steps,
        "step": step,
        "total": total,
        "permits": permits,
        "overall": rules.worst_light([*started, total, *permits.values()]),
    }


def provider_light(shown: dict) -> str:
    """The provider's own light (every step and the total), apart from the permits."""
    return rules.worst_light([*(x for x in shown["steps"] if x is not None), shown["total"]])


def permit_lights(
    ticket: Ticket,
    now: datetime,
    calendar: WorkingCalendar,
    permit_seconds: dict[str, int | None] | None = None,
) -> dict[str, str]:
    """Each filed permit against "3个工作日内办结": a granted one by the working time it took
    (``permit_seconds``, when measured already), a pending one by its due time (75% used: at
    risk)."""
    limit = limit_seconds(calendar, rules.PERMIT_LIMIT_DAYS)
    out = {}
    for permit in ticket.permits:
        if not permit_on_clock(permit):
            continue
        if permit.granted_at is not None:
            used = (permit_seconds or {}).get(permit.kind)
            if used is None:
                used = calendar.working_seconds(permit.filed_at, permit.granted_at)
            out[permit.kind] = rules.finished_light(limit, used)
        elif permit.due_at is not None:
            out[permit.kind] = rules.traffic_light(
                limit, calendar.working_seconds(now, permit.due_at), now > permit.due_at
            )
    return out


def step_working_seconds(
    ticket: Ticket,
    step: Step,
    now: datetime,
    calendar: WorkingCalendar,
    at: datetime | None = None,
) -> int | None:
    """Working time a step has taken so far (or in all), suspensions not counted: stored once
    the step has ended (``settle_steps``), measured for a running one (``at``: the ticket's
    ``clock_now``, when the caller has it)."""
    if step.started_at is None:
        return None
    stored = getattr(step, "working_seconds", None)
    if stored is not None:
        return stored
    if step.completed_at is not None:
        end = step.completed_at
    else:  # a returned ticket's open step stopped when it was returned
        end = min(ticket.closed_at or now, at or clock_now(ticket, now))
    return max(0, calendar.working_seconds(step.started_at, end) - step.suspended_seconds)


def within_limit(
    ticket: Ticket,
    now: datetime,
    calendar: WorkingCalendar,
    step_seconds: list[int | None] | None = None,
) -> bool:
    """Working time used, suspensions not counted, is within every step's limit and the
    total limit (``step_seconds``: each step's, when measured already). The one definition of
    "late", for lights and indicators alike."""
    limits = rules.time_limits(ticket.case.external_works)
    per_step = limit_seconds(calendar, limits.per_step_days)
    if step_seconds is None:
        step_seconds = [step_working_seconds(ticket, s, now, calendar) for s in ticket.steps]
    used = [x or 0 for x in step_seconds]
    return all(u <= per_step for u in used) and sum(used) <= limit_seconds(
        calendar, limits.total_days
    )


def permit_working_seconds(permit: Permit, now: datetime, calendar: WorkingCalendar) -> int | None:
    if not permit_on_clock(permit):
        return None
    return calendar.working_seconds(permit.filed_at, permit.granted_at or now)


def suspension_indicators(
    suspensions: list[Suspension], now: datetime, calendar: WorkingCalendar
) -> dict:
    """How often and how long the clock was stopped by staff, in all and by reason; a running
    suspension counts until now."""
    by_reason: dict[str, dict] = {}
    total = 0
    for stop in suspensions:
        lost = calendar.working_seconds(stop.started_at, stop.ended_at or now)
        total += lost
        row = by_reason.setdefault(stop.reason_code, {"count": 0, "seconds": 0})
        row["count"] += 1
        row["seconds"] += lost
    return {
        "count": len(suspensions),
        "working_days": days(total, calendar),
        "open": sum(1 for stop in suspensions if stop.ended_at is None),
        "by_reason": {
            code: {"count": row["count"], "working_days": days(row["seconds"], calendar)}
            for code, row in sorted(by_reason.items())
        },
    }


def days(seconds: int | None, calendar: WorkingCalendar) -> float | None:
    return None if seconds is None else round(seconds / calendar.day_seconds, 2)


def fee_dict(fee: rules.Fee, texts: dict[str, str] | None = None) -> dict:
    """One fee as the API and pages show it; ``texts``: ``fee_basis_texts()``, when the caller
    shows several fees."""
    texts = texts if texts is not None else fee_basis_texts()
    return {
        "amount": fee.amount,
        "basis": fee.basis,
        "basis_text": texts.get(fee.basis, fee.basis),
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


def fee_basis_texts() -> dict[str, str]:
    """Every fee basis in the reader's language, translated once per process and language
    (the catalogs do not change while a process runs)."""
    language = get_locale()
    texts = _FEE_BASIS_TEXTS.get(language)
    if texts is None:
        texts = _FEE_BASIS_TEXTS[language] = {k: str(v) for k, v in FEE_BASIS_LABELS.items()}
    return texts


_FEE_BASIS_TEXTS: dict[Locale | None, dict[str, str]] = {}


def case_indicators(
    case: Case,
    now: datetime | None = None,
    texts: dict[str, str] | None = None,
    measured: dict[int, Figures] | None = None,
) -> dict:
    """The business-environment indicators of one case (环节、时间、材料、跑动、成本、审批);
    ``measured``: the tickets' ``figures`` at ``now`` by ticket id, when the caller has them."""
    now = now or utcnow()
    calendar = working_calendar()
    measured = measured or {}
    facts = case.facts()
    limits = rules.time_limits(case.external_works)
    zero = rules.four_zero(facts, [t.service_code for t in case.tickets])
    fees = []
    tickets = []
    all_suspensions: list[Suspension] = []
    texts = texts if texts is not None else fee_basis_texts()
    for t in case.tickets:
        fig = measured.get(t.id) or figures(t, now, calendar)
        step_s = fig.step_seconds
        per_step = [days(x, calendar) for x in step_s]
        total_s = sum(x or 0 for x in step_s)
        permit_each = fig.permit_seconds
        permit_s = [x for x in permit_each.values() if x is not None]
        permit_light = fig.light["permits"]
        all_suspensions += t.suspensions
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
                    within_limit(t, now, calendar, step_s) if t.status == rules.CONNECTED else None
                ),
                "fee": {
                    "connection": fee_dict(connection, texts),
                    "outside_boundary_investment": fee_dict(investment, texts),
                },
                "permits_needed": sum(
                    1
                    for p in t.permits
                    if p.status != rules.PERMIT_EXEMPT and p.kind != rules.COMMITMENT_FILING
                ),
                "permit_working_days": days(max(permit_s), calendar) if permit_s else None,
                "permits": [
                    {
                        "kind": p.kind,
                        "working_days": days(permit_each[p.kind], calendar),
                        "light": permit_light[p.kind],
                    }
                    for p in t.permits
                    if p.kind in permit_light
                ],
                "permits_overdue": sum(
                    1 for light in permit_light.values() if light == rules.LIGHT_OVERDUE
                ),
                "suspensions": suspension_indicators(list(t.suspensions), now, calendar),
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
        "permits_overdue": sum(t["permits_overdue"] for t in tickets),
        "suspensions": suspension_indicators(all_suspensions, now, calendar),
        "cost_to_applicant": {
            "connection_fee": fee_dict(rules.connection_fee(facts), texts),
            "known_amount": sum(f.amount for f in fees if f.amount is not None),
            "all_known": all(f.amount is not None for f in fees),
        },
        "four_zero": four_zero_dict(zero),
    }


SLA_BATCH = 500  # tickets per batch of the background jobs: loaded together, written together
# open tickets, as the partial index ix_tickets_open says (literal: a generic plan keeps it)
_OPEN_SQL = "tickets." + OPEN_SQL


def _open_ticket_batches(batch: int = SLA_BATCH):
    """Every open ticket (dispatching included), ``batch`` at a time in id order, each batch
    with its case, steps, permits, suspensions, provider and representative in one query per
    kind; the next batch starts after the last id (keyset on ``ix_tickets_open``), so the job
    never holds more than one batch whatever the number of tickets."""
    last = 0
    while True:
        tickets = (
            db.session.execute(
                db.select(Ticket)
                .where(db.text(_OPEN_SQL), Ticket.id > last)
                .order_by(Ticket.id)
                .limit(batch)
                .options(
                    selectinload(Ticket.case),
                    selectinload(Ticket.steps),
                    selectinload(Ticket.permits),
                    selectinload(Ticket.suspensions),
                    selectinload(Ticket.provider),
                    selectinload(Ticket.representative),
                )
            )
            .scalars()
            .all()
        )
        if not tickets:
            return
        last = tickets[-1].id
        yield tickets


class _Batches:
    """Keeps a background job's session small: objects a batch loaded are let go after it,
    while those the session held before the job (a caller's, a request's user) stay."""

    def __init__(self):
        self.kept = set(db.session.identity_map.keys())

    def release(self) -> None:
        if not self.kept:  # the beat job's own session: let go of everything at once
            db.session.expunge_all()
            return
        for key, obj in list(db.session.identity_map.items()):
            if key not in self.kept and obj in db.session:  # (not expunged with its parent)
                db.session.expunge(obj)


def _sla_marks(ticket: Ticket, now: datetime, calendar: WorkingCalendar, counts: dict) -> list:
    """The ticket's lights counted; returns (target, previous, new, permit) for each mark
    that changes (the ticket by its provider light, each filed permit by its own)."""
    shown = lights(ticket, now, calendar)
    light = provider_light(shown)
    if light in counts:
        counts[light] += 1
    marks = [(ticket, ticket.sla_state or rules.LIGHT_ON_TIME, light, None)]
    for permit in ticket.permits:
        permit_light = shown["permits"].get(permit.kind)
        if permit_light is None:
            continue
        if f"permit_{permit_light}" in counts:
            counts[f"permit_{permit_light}"] += 1
        marks.append((permit, permit.sla_state or rules.LIGHT_ON_TIME, permit_light, permit))
    return [mark for mark in marks if mark[2] != mark[1]]


def _apply_marks(ticket: Ticket, marks: list, supervisors, send) -> int:
    """Sets the marks and announces each worsening; returns the messages sent."""
    sent = 0
    for target, previous, new, permit in marks:
        target.sla_state = new
        if rules.LIGHTS.index(new) > rules.LIGHTS.index(previous):
            sent += _announce(ticket, new, previous, permit, supervisors, send)
    return sent


def four_zero_dict(zero: rules.FourZero) -> dict:
    """The four zeros of a case (零材料、零跑动、零审批、零投资) and whether it has them all."""
    return {
        "zero_materials": zero.zero_materials,
        "zero_trips": zero.zero_trips,
        "zero_approvals": zero.zero_approvals,
        "zero_investment": zero.zero_investment,
        "all": zero.all,
    }


def case_four_zero(case: Case) -> dict:
    """The four zeros alone, without measuring every other indicator."""
    return four_zero_dict(rules.four_zero(case.facts(), [t.service_code for t in case.tickets]))


def check_sla(now: datetime | None = None, batch: int = SLA_BATCH) -> dict[str, int]:
    """Beat job: marks open tickets and their filed permits at risk or overdue and tells the
    people who must act.

    A ticket (by its step and total lights, the provider's clock) and each permit (on the
    approval departments' clock) is announced once per worsening (on time → at risk →
    overdue), not on every run. A ticket still waiting for its provider's channel
    (dispatching) counts too: its clock runs. The marks never move a ticket's version.

    Open tickets are read ``batch`` at a time (``_open_ticket_batches``) and only those whose
    light changed are written, one transaction per batch; when staff changed one of them
    meanwhile, that batch is done again ticket by ticket, and the ticket staff changed waits
    for the next run.
    """
    now = now or utcnow()
    calendar = working_calendar()
    counts = {
        rules.LIGHT_AT_RISK: 0,
        rules.LIGHT_OVERDUE: 0,
        f"permit_{rules.LIGHT_AT_RISK}": 0,
        f"permit_{rules.LIGHT_OVERDUE}": 0,
        "notified": 0,
    }
    batches = _Batches()
    # loaded once for the whole run, and let go of the session so that commits never expire
    # them (a message to each supervisor reads them again and again)
    supervisors = (
        db.session.execute(db.select(User).where(User.role == "supervisor", User.active.is_(True)))
        .scalars()
        .all()
    )
    batches.release()
    send = notifier()
    for tickets in _open_ticket_batches(batch):
        changed = [(t, m) for t in tickets if (m := _sla_marks(t, now, calendar, counts))]
        if changed:
            try:
                sent = sum(_apply_marks(t, m, supervisors, send) for t, m in changed)
                db.session.commit()
                counts["notified"] += sent
            except StaleDataError:
                db.session.rollback()
                counts["notified"] += _check_one_by_one(
                    [t.id for t, _m in changed], now, supervisors, send
                )
        batches.release()
    return counts


def _check_one_by_one(ids: list[int], now: datetime, supervisors, send) -> int:
    """A batch in which staff changed a ticket meanwhile: each ticket its own transaction."""
    calendar = working_calendar()
    sent_total = 0
    for ticket_id in ids:
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None or ticket.status in rules.TERMINAL:
            continue
        marks = _sla_marks(ticket, now, calendar, {})
        if not marks:
            continue
        try:
            sent = _apply_marks(ticket, marks, supervisors, send)
            db.session.commit()
            sent_total += sent
        except StaleDataError:
            db.session.rollback()  # staff acted on it just now; the next run looks again
    return sent_total


def _announce(ticket: Ticket, light: str, previous: str, permit, supervisors, send) -> int:
    """One audit event and one message to each person who must act; returns how many."""
    kind = f"permit_{light}" if permit is not None else f"sla_{light}"
    detail = {"from": previous}
    if permit is not None:
        detail["permit"] = permit.kind
    audit.record(kind, case_id=ticket.case_id, ticket_id=ticket.id, detail=detail)
    recipients = list(supervisors)
    if ticket.representative is not None:
        recipients.insert(0, ticket.representative)
    with force_locale("zh_CN"):
        message = _sla_message(ticket, light, permit)
    for user in recipients:
        send.send(user, kind, message, ticket)
    return len(recipients)


def _sla_message(ticket: Ticket, light: str, permit=None) -> str:
    from jointdesk.labels import PERMIT_LABELS, service_label

    params = {
        "reference": ticket.case.reference,
        "service": str(service_label(ticket.service_code)),
        "provider": ticket.provider.name,
    }
    if permit is not None:
        params["permit"] = str(PERMIT_LABELS.get(permit.kind, permit.kind))
        if light == rules.LIGHT_OVERDUE:
            return _(
                "Case %(reference)s, %(service)s (%(provider)s): %(permit)s is past the approval "
                "departments' 3 working days.",
                **params,
            )
        return _(
            "Case %(reference)s, %(service)s (%(provider)s): 75%% of the approval departments' "
            "3 working days for %(permit)s is used.",
            **params,
        )
    if light == rules.LIGHT_OVERDUE:
        return _("Case %(reference)s, %(service)s (%(provider)s): past its time limit.", **params)
    return _(
        "Case %(reference)s, %(service)s (%(provider)s): 75%% of its time limit is used.", **params
    )


def restate_closed(
    calendar: WorkingCalendar,
    day: date | None = None,
    batch: int = 500,
    each_batch: Callable[[], None] | None = None,
) -> int:
    """After the calendar changed, in the caller's transaction: the stored working time of
    closed tickets whose life spans ``day`` (every closed ticket when None: the office hours
    changed), measured again on ``calendar``. Returns how many; reads in batches, calling
    ``each_batch`` after each one's flush (to commit it and let go of its rows)."""
    query = db.select(Ticket.id).where(Ticket.status.in_(rules.TERMINAL))
    if day is not None:
        start = datetime.combine(day, time.min, calendar.tz)
        query = query.where(
            Ticket.created_at < start + timedelta(days=1), Ticket.closed_at >= start
        )
    count, last = 0, 0
    while True:
        ids = (
            db.session.execute(query.where(Ticket.id > last).order_by(Ticket.id).limit(batch))
            .scalars()
            .all()
        )
        if not ids:
            return count
        tickets = db.session.execute(
            db.select(Ticket)
            .where(Ticket.id.in_(ids))
            .options(
                selectinload(Ticket.case),  # its works decide its limits (store_on_time)
                selectinload(Ticket.steps),
                selectinload(Ticket.permits),
                selectinload(Ticket.suspensions),
            )
        ).scalars()
        for ticket in tickets:
            _measure_suspensions(ticket, calendar)
            settle_steps(ticket, calendar)
        db.session.flush()
        count, last = count + len(ids), ids[-1]
        if each_batch is not None:
            each_batch()


def recompute_open_due_times(
    batch: int = SLA_BATCH, each_batch: Callable[[], None] | None = None
) -> int:
    """After the calendar changed: every open ticket's due times again. Returns how many.

    ``batch`` tickets at a time, one transaction per batch; when staff changed one of them at
    the same moment, that batch is done again ticket by ticket, reading each one again.
    """
    calendar = working_calendar()
    batches = _Batches()
    count = 0
    for tickets in _open_ticket_batches(batch):
        ids = [t.id for t in tickets]
        count += len(ids)
        for ticket in tickets:
            refresh_due_times(ticket, calendar)
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()
            for ticket_id in ids:
                for _attempt in range(3):
                    refresh_due_times(db.session.get(Ticket, ticket_id), calendar)
                    try:
                        db.session.commit()
                        break
                    except StaleDataError:
                        db.session.rollback()
        batches.release()
        if each_batch is not None:
            each_batch()
    log.info("due times recomputed for %d open tickets", count)
    return count
