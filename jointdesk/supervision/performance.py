"""How providers perform, aggregated in SQL (GROUP BY), never by loading tickets.

A ticket counts in the month (Asia/Shanghai, the configured time zone) it was created. It is
*on time* when it was connected within every limit: ``sla.within_limit`` on the steps' stored
working time (suspensions and pending permits not counted), judged when it connected and
stored on the ticket (``Ticket.on_time``, restated whenever the step times are). *Overdue now*:
open and past its own or its running step's due time on the provider's clock
(``desk.services.overdue_sql``, the queue's filter). *At risk now*: open, not overdue, and
marked at risk by the SLA job (75 % of a limit used).
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Numeric, and_, cast, func, literal, not_, or_
from sqlalchemy import case as sql_case

from jointdesk.desk.services import overdue_sql
from jointdesk.extensions import db
from jointdesk.models import Case, District, Provider, Step, Ticket
from jointdesk.models.supervision import EvaluationMonth, EvaluationScore
from jointdesk.models.types import utcnow
from jointdesk.policy import process as rules
from jointdesk.policy import supervision as policy
from jointdesk.sla import limit_seconds
from jointdesk.workingtime import working_calendar


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("JOINTDESK_TIMEZONE", "Asia/Shanghai"))


def month_range(month: str) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, in the local time zone (BadMonth)."""
    first, following = policy.parse_month(month)
    tz = local_zone()
    return datetime.combine(first, time.min, tz), datetime.combine(following, time.min, tz)


def current_month(now: datetime | None = None) -> str:
    return policy.month_key((now or utcnow()).astimezone(local_zone()).date())


def _limits():
    """SQL expressions of a ticket's step and total limits (seconds), by its case's works."""
    calendar = working_calendar()
    with_works, without = rules.time_limits(True), rules.time_limits(False)
    per_step = sql_case(
        (Case.external_works, limit_seconds(calendar, with_works.per_step_days)),
        else_=limit_seconds(calendar, without.per_step_days),
    )
    total = sql_case(
        (Case.external_works, limit_seconds(calendar, with_works.total_days)),
        else_=limit_seconds(calendar, without.total_days),
    )
    return per_step, total


GROUPS = ("provider", "service", "district")


def lean_reads() -> None:
    """PostgreSQL: no JIT for this transaction's reports, and 64 MB to group in. Their
    correlated parts (each open ticket's clock) make the planner's estimate large enough to
    compile every query, which costs seconds and saves nothing on a few hundred thousand rows."""
    if db.engine.dialect.name == "postgresql":
        # and memory enough to group a month's tickets in a hash instead of sorting on disk
        db.session.execute(db.text("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"))


def _counts(now: datetime) -> list:
    """The counted columns of the on-time tables."""
    connected = Ticket.status == rules.CONNECTED
    overdue = overdue_sql(now)
    at_risk = Ticket.status.in_(rules.OPEN) & (Ticket.sla_state == rules.LIGHT_AT_RISK) & ~overdue
    return [
        func.count().label("tickets"),
        func.count().filter(connected).label("completed"),
        func.count().filter(Ticket.status == rules.RETURNED).label("returned"),
        func.count().filter(connected & Ticket.on_time.is_(True)).label("on_time"),
        func.count().filter(overdue).label("overdue_open"),
        func.count().filter(at_risk).label("at_risk_open"),
    ]


KEYS = {
    "provider": Ticket.provider_id,
    "service": Ticket.service_code,
    "district": Case.district_id,
}
COUNTED = ("tickets", "completed", "returned", "on_time", "overdue_open", "at_risk_open")


def _finish(by: str, rows: list[dict]) -> list[dict]:
    """Names, the on-time rate and the order of one table's rows."""
    names: dict = {}
    if by == "provider":
        names = {
            r.id: (r.code, r.name)
            for r in db.session.execute(db.select(Provider.id, Provider.code, Provider.name))
        }
    elif by == "district":
        names = {
            r.id: (None, r.name) for r in db.session.execute(db.select(District.id, District.name))
        }
    for item in rows:
        if names:
            item["code"], item["name"] = names.get(item["key"], (None, str(item["key"])))
        item["on_time_rate"] = policy.on_time_rate(
            item["on_time"], item["completed"], item["overdue_open"]
        )
    if by == "service":
        order = {code: i for i, code in enumerate(rules.SERVICES)}
        rows.sort(key=lambda r: order.get(r["key"], 99))
    else:
        rows.sort(key=lambda r: str(r.get("code") or r.get("name")))
    return rows


def on_time_rows(month: str, by: str = "provider", now: datetime | None = None) -> list[dict]:
    """The month's tickets grouped ``by`` provider, service or district: tickets, completed
    (connected), returned, on time (stored on each ticket when it connected: ``Ticket.on_time``,
    ``sla.within_limit``), overdue now (still open), at risk now, and the on-time rate."""
    lean_reads()
    start, end = month_range(month)
    key = KEYS[by]
    query = (
        db.select(key.label("key"), *_counts(now or utcnow()))
        .select_from(Ticket)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(key)
    )
    if by == "district":
        query = query.join(Case, Case.id == Ticket.case_id)
    return _finish(by, [dict(row) for row in db.session.execute(query).mappings()])


def on_time_tables(month: str, now: datetime | None = None) -> dict[str, list[dict]]:
    """The three on-time tables of the month (by provider, service and district) in one pass
    over its tickets on PostgreSQL (GROUPING SETS); elsewhere one query each."""
    if db.engine.dialect.name != "postgresql":
        return {by: on_time_rows(month, by, now) for by in GROUPS}
    lean_reads()
    start, end = month_range(month)
    keys = [KEYS[by] for by in GROUPS]
    query = (
        db.select(
            *keys,
            *[func.grouping(k).label(f"g_{by}") for by, k in zip(GROUPS, keys, strict=True)],
            *_counts(now or utcnow()),
        )
        .select_from(Ticket)
        .join(Case, Case.id == Ticket.case_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(func.grouping_sets(*keys))
    )
    tables: dict[str, list[dict]] = {by: [] for by in GROUPS}
    for row in db.session.execute(query).mappings():
        by = next(b for b in GROUPS if row[f"g_{b}"] == 0)
        item = {"key": row[KEYS[by].key]} | {c: row[c] for c in COUNTED}
        tables[by].append(item)
    return {by: _finish(by, rows) for by, rows in tables.items()}


def trend(
    months: list[str], now: datetime | None = None, known: dict[str, list[dict]] | None = None
) -> list[dict]:
    """The whole city's figures month by month: a closed month's from its frozen figures, a
    month whose provider figures the caller already has (``known``) from them, another by one
    GROUP BY on the month's range."""
    lean_reads()
    frozen: dict[str, list[dict]] = dict(known or {})
    for month, figures in db.session.execute(
        db.select(EvaluationScore.month, EvaluationScore.figures).where(
            EvaluationScore.month.in_(months)
        )
    ):
        if month not in (known or {}):
            frozen.setdefault(month, []).append(figures)
    closed = set(frozen) | set(
        db.session.execute(
            db.select(EvaluationMonth.month).where(EvaluationMonth.month.in_(months))
        ).scalars()
    )
    out = []
    for month in months:
        rows = frozen.get(month, []) if month in closed else on_time_rows(month, "service", now)
        tickets = sum(r["tickets"] for r in rows)
        completed = sum(r["completed"] for r in rows)
        on_time = sum(r["on_time"] for r in rows)
        overdue = sum(r["overdue_open"] for r in rows)
        out.append(
            {
                "month": month,
                "tickets": tickets,
                "completed": completed,
                "on_time": on_time,
                "overdue_open": overdue,
                "on_time_rate": policy.on_time_rate(on_time, completed, overdue),
            }
        )
    return out


def step_rows(month: str) -> list[dict]:
    """Working time per step of the month's tickets, by provider and step: the ended steps
    (stored working time), their average and largest working days and the share within the
    step limit (0.5 working day, 1 with external works)."""
    lean_reads()
    start, end = month_range(month)
    calendar = working_calendar()
    per_step, _total = _limits()
    query = (
        db.select(
            Provider.code.label("code"),
            Provider.name.label("name"),
            Step.name.label("step"),
            func.count().label("steps"),
            func.avg(Step.working_seconds).label("avg_seconds"),
            func.max(Step.working_seconds).label("max_seconds"),
            func.count().filter(Step.working_seconds <= per_step).label("within"),
        )
        .select_from(Step)
        .join(Ticket, Ticket.id == Step.ticket_id)
        .join(Case, Case.id == Ticket.case_id)
        .join(Provider, Provider.id == Ticket.provider_id)
        .where(
            Ticket.created_at >= start,
            Ticket.created_at < end,
            Step.working_seconds.is_not(None),
        )
        .group_by(Provider.code, Provider.name, Step.name)
        .order_by(Provider.code, Step.name)
    )
    day = calendar.day_seconds
    out = []
    for row in db.session.execute(query).mappings():
        out.append(
            {
                "code": row["code"],
                "name": row["name"],
                "step": row["step"],
                "steps": row["steps"],
                "avg_days": round(float(row["avg_seconds"] or 0) / day, 2),
                "max_days": round(float(row["max_seconds"] or 0) / day, 2),
                "within": row["within"],
                "within_rate": round(100 * row["within"] / row["steps"], 2)
                if row["steps"]
                else None,
            }
        )
    return out


def tickets_now(now: datetime | None = None, limit: int = 200) -> dict:
    """Open tickets overdue now and at risk now (oldest due first), at most ``limit`` each."""
    lean_reads()
    now = now or utcnow()
    overdue = overdue_sql(now)
    base = (
        db.select(
            Ticket.id,
            Ticket.service_code,
            Ticket.status,
            Ticket.due_at,
            Ticket.step_due_at,
            Case.reference,
            Provider.code.label("provider_code"),
            Provider.name.label("provider_name"),
        )
        .join(Case, Case.id == Ticket.case_id)
        .join(Provider, Provider.id == Ticket.provider_id)
        .where(Ticket.closed_at.is_(None), Ticket.status.in_(rules.OPEN))
        .order_by(Ticket.due_at, Ticket.id)
        .limit(limit)
    )
    late = db.session.execute(base.where(overdue)).mappings().all()
    risky = (
        db.session.execute(base.where(~overdue, Ticket.sla_state == rules.LIGHT_AT_RISK))
        .mappings()
        .all()
    )
    counts = db.session.execute(
        db.select(
            func.count().filter(overdue),
            func.count().filter(~overdue & (Ticket.sla_state == rules.LIGHT_AT_RISK)),
        ).where(Ticket.closed_at.is_(None), Ticket.status.in_(rules.OPEN))
    ).one()
    return {
        "overdue": [dict(r) for r in late],
        "at_risk": [dict(r) for r in risky],
        "overdue_count": counts[0],
        "at_risk_count": counts[1],
    }


def open_work_by_provider(now: datetime | None = None) -> list[dict]:
    """Per provider, its open tickets now: how many, how many at risk (the SLA job's mark) and
    how many overdue (on the provider's clock); one GROUP BY over the open tickets. Providers
    with nothing open are listed too, with zeros."""
    lean_reads()
    now = now or utcnow()
    overdue = overdue_sql(now)
    counts = (
        db.select(
            Ticket.provider_id,
            func.count().label("open"),
            func.count()
            .filter(~overdue & (Ticket.sla_state == rules.LIGHT_AT_RISK))
            .label("at_risk"),
            func.count().filter(overdue).label("overdue"),
        )
        .where(Ticket.closed_at.is_(None), Ticket.status.in_(rules.OPEN))
        .group_by(Ticket.provider_id)
        .subquery()
    )
    rows = db.session.execute(
        db.select(
            Provider.code,
            Provider.name,
            func.coalesce(counts.c.open, 0).label("open"),
            func.coalesce(counts.c.at_risk, 0).label("at_risk"),
            func.coalesce(counts.c.overdue, 0).label("overdue"),
        )
        .outerjoin(counts, counts.c.provider_id == Provider.id)
        .where(Provider.active.is_(True))
        .order_by(Provider.code)
    ).mappings()
    return [dict(r) for r in rows]


# --- business-environment indicators of the month's cases ------------------------------------

ZERO_INVESTMENT = tuple(rules.ZERO_INVESTMENT_SERVICES)


def indicators(month: str) -> dict:
    """The indicators of the case view (``sla.case_indicators``), aggregated over the month's
    cases with the same definitions: steps (``steps_for``), applicant trips
    (``applicant_trips``), materials asked (``materials_required``), the four zeros
    (``four_zero``); over the month's connected tickets the working days used and the share
    within the limit; over the month's tickets the cost to the applicant at the providers'
    published prices (``connection_fee`` + ``outside_boundary_investment``; unknown when a
    price is not published)."""
    lean_reads()
    start, end = month_range(month)
    calendar = working_calendar()
    in_month = and_(Case.created_at >= start, Case.created_at < end)
    pushed = or_(
        Case.channel == "approval_system", func.coalesce(Case.approval_system_code, "") != ""
    )
    steps = sql_case((pushed, 1), else_=2)
    trips = sql_case((Case.channel == "window", 1), else_=0)
    materials = sql_case((and_(Case.channel == "window", not_(pushed)), 1), else_=0)
    other_service = (
        db.select(literal(1))
        .where(Ticket.case_id == Case.id, Ticket.service_code.not_in(ZERO_INVESTMENT))
        .exists()
    )
    any_ticket = db.select(literal(1)).where(Ticket.case_id == Case.id).exists()
    short = and_(
        Case.pipeline_length_m.is_not(None),
        Case.pipeline_length_m <= rules.PLANNING_EXEMPT_MAX_M,
    )
    four_zero = and_(
        Case.channel != "window",
        Case.low_risk.is_(True),
        any_ticket,
        ~other_service,
        or_(Case.external_works.is_(False), short),
    )
    case_row = db.session.execute(
        db.select(
            func.count().label("cases"),
            func.avg(steps).label("steps"),
            func.avg(trips).label("trips"),
            func.avg(materials).label("materials"),
            func.count().filter(four_zero).label("four_zero"),
        ).where(in_month)
    ).one()
    t_start, t_end = start, end
    # the average over connected tickets of their steps' sum is the sum over all their steps
    # divided by their number: one join, no grouping per ticket
    used_total = db.session.execute(
        db.select(func.coalesce(func.sum(Step.working_seconds), 0))
        .join(Ticket, Ticket.id == Step.ticket_id)
        .where(
            Ticket.created_at >= t_start,
            Ticket.created_at < t_end,
            Ticket.status == rules.CONNECTED,
        )
    ).scalar_one()
    connection = sql_case((Case.supporting_fee_paid.is_(True), 0), else_=Provider.connection_fee)
    investment = sql_case(
        (and_(Case.low_risk.is_(True), Ticket.service_code.in_(ZERO_INVESTMENT)), 0),
        (Case.external_works.is_(False), 0),
        else_=func.round(cast(Provider.price_per_metre * Case.pipeline_length_m, Numeric), 2),
    )
    cost = connection + investment
    ticket_row = db.session.execute(
        db.select(
            func.count().label("tickets"),
            func.count().filter(Ticket.status == rules.CONNECTED).label("connected"),
            func.count().filter(Ticket.on_time.is_(True)).label("within"),
            func.count(cost).label("cost_known"),
            func.avg(cost).label("avg_cost"),
            func.count().filter(cost == 0).label("zero_cost"),
        )
        .select_from(Ticket)
        .join(Case, Case.id == Ticket.case_id)
        .join(Provider, Provider.id == Ticket.provider_id)
        .where(Ticket.created_at >= t_start, Ticket.created_at < t_end)
    ).one()
    cases = case_row.cases or 0
    connected = ticket_row.connected or 0

    def share(part, whole):
        return round(100 * part / whole, 2) if whole else None

    def avg(value):
        return None if value is None else round(float(value), 2)

    return {
        "cases": cases,
        "steps": avg(case_row.steps),
        "trips": avg(case_row.trips),
        "materials": avg(case_row.materials),
        "four_zero": case_row.four_zero or 0,
        "four_zero_share": share(case_row.four_zero or 0, cases),
        "tickets": ticket_row.tickets or 0,
        "connected": connected,
        "working_days": None
        if not connected
        else round(float(used_total) / connected / calendar.day_seconds, 2),
        "within_limit": ticket_row.within or 0,
        "within_limit_share": share(ticket_row.within or 0, connected),
        "cost_known": ticket_row.cost_known or 0,
        "avg_cost": avg(ticket_row.avg_cost),
        "zero_cost": ticket_row.zero_cost or 0,
        "zero_cost_share": share(ticket_row.zero_cost or 0, ticket_row.cost_known or 0),
        # the policy's targets, as the case view states them
        "targets": {
            "steps": len(rules.steps_for("window", None)),
            "trips": rules.applicant_trips("window"),
            "materials": len(rules.materials_required("window")),
            "working_days": rules.time_limits(False).total_days,
            "working_days_with_works": rules.time_limits(True).total_days,
        },
    }


def month_figures(month: str, now: datetime | None = None) -> dict[int, dict]:
    """Provider id → tickets, completed, on_time, overdue_open of the month (for the summary)."""
    return {row["key"]: row for row in on_time_rows(month, "provider", now)}


__all__ = [
    "GROUPS",
    "current_month",
    "indicators",
    "month_figures",
    "month_range",
    "on_time_rows",
    "step_rows",
    "tickets_now",
    "trend",
]
