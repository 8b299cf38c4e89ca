"""The monthly evaluation (评议考核) and the summary of a month, for the dashboard and the API.

``summary(month)`` is the one function both show. An open month is computed live; a closed one
(``EvaluationMonth``) answers with the figures frozen when it was closed (``EvaluationScore``),
with the weights used then, whatever changed since. The formulas: ``policy.supervision``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import Provider
from jointdesk.models.feedback import BAD_RATING_MAX, Complaint, Rating
from jointdesk.models.supervision import EvaluationMonth, EvaluationScore, EvaluationWeights
from jointdesk.models.types import utcnow
from jointdesk.policy import supervision as policy
from jointdesk.supervision import compliance, performance


class WeightsInvalid(Exception):
    def __init__(self, problems: dict[str, str]):
        super().__init__(str(problems))
        self.problems = problems


class CloseRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # already_closed | not_over


def current_weights() -> dict:
    """The newest weights an administrator set, else the defaults."""
    row = db.session.execute(
        db.select(EvaluationWeights).order_by(EvaluationWeights.id.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        return dict(policy.DEFAULT_WEIGHTS)
    return {part: getattr(row, part) for part in policy.WEIGHT_PARTS}


def weights_history(limit: int = 20) -> list[EvaluationWeights]:
    return list(
        db.session.execute(
            db.select(EvaluationWeights).order_by(EvaluationWeights.id.desc()).limit(limit)
        ).scalars()
    )


def set_weights(weights: dict, actor) -> bool:
    """Appends new weights (audited); WeightsInvalid with the problems; False: no change."""
    problems = policy.weight_problems(weights)
    if problems:
        raise WeightsInvalid(problems)
    before = current_weights()
    new = {part: weights[part] for part in policy.WEIGHT_PARTS}
    if new == before:
        return False
    db.session.add(EvaluationWeights(**new, changed_by=audit.actor_label(actor)))
    audit.record("evaluation_weights_changed", actor=actor, detail={"from": before, "to": new})
    db.session.commit()
    return True


def _feedback(model, start: datetime, end: datetime, bad: bool) -> dict[int, tuple[int, int]]:
    columns = [model.provider_id, func.count()]
    if bad:
        columns.append(func.count().filter(model.level <= BAD_RATING_MAX))
    rows = db.session.execute(
        db.select(*columns)
        .where(model.created_at >= start, model.created_at < end, model.provider_id.is_not(None))
        .group_by(model.provider_id)
    ).all()
    return {row[0]: (row[1], row[2] if bad else 0) for row in rows}


def live_items(month: str, now: datetime | None = None, weights: dict | None = None) -> list[dict]:
    """Every provider's figures and score for ``month``, computed now (BadMonth)."""
    now = now or utcnow()
    start, end = performance.month_range(month)
    weights = weights or current_weights()
    figures = performance.month_figures(month, now)
    ratings = _feedback(Rating, start, end, bad=True)
    complaints = _feedback(Complaint, start, end, bad=False)
    scores = {c.provider_id: c.score for c in compliance.compliance_all(now)}
    providers = db.session.execute(
        db.select(Provider.id, Provider.code, Provider.name, Provider.active).order_by(
            Provider.code
        )
    ).all()
    items = []
    for p in providers:
        f = figures.get(p.id, {})
        if not p.active and not f and p.id not in ratings and p.id not in complaints:
            continue
        if p.id not in scores:  # an inactive provider with figures: measure it too
            one = compliance.compliance_of(p.id, now)
            scores[p.id] = one.score if one else 0
        tickets, completed = f.get("tickets", 0), f.get("completed", 0)
        on_time, overdue = f.get("on_time", 0), f.get("overdue_open", 0)
        n_ratings, bad = ratings.get(p.id, (0, 0))
        n_complaints = complaints.get(p.id, (0, 0))[0]
        rate = policy.on_time_rate(on_time, completed, overdue)
        sat = policy.satisfaction(n_ratings, bad)
        items.append(
            {
                "provider": p.code,
                "name": p.name,
                "tickets": tickets,
                "completed": completed,
                "on_time": on_time,
                "on_time_rate": rate,
                "overdue_open": overdue,
                "disclosure_score": scores[p.id],
                "complaints": n_complaints,
                "complaints_score": policy.complaints_part(n_complaints),
                "ratings": n_ratings,
                "bad_ratings": bad,
                "satisfaction": sat,
                "score": policy.score(weights, scores[p.id], rate, sat, n_complaints),
            }
        )
    return items


def summary(month: str, now: datetime | None = None) -> dict:
    """The month's summary: frozen when the month is closed, else live (BadMonth)."""
    policy.parse_month(month)
    closed = db.session.get(EvaluationMonth, month)
    if closed is not None:
        rows = db.session.execute(
            db.select(EvaluationScore, Provider.code)
            .join(Provider, Provider.id == EvaluationScore.provider_id)
            .where(EvaluationScore.month == month)
            .order_by(Provider.code)
        ).all()
        return {
            "month": month,
            "closed": True,
            "closed_at": closed.closed_at,
            "closed_by": closed.closed_by,
            "weights": dict(closed.weights),
            "items": [dict(score.figures) for score, _code in rows],
        }
    weights = current_weights()
    return {
        "month": month,
        "closed": False,
        "closed_at": None,
        "closed_by": None,
        "weights": weights,
        "items": live_items(month, now, weights),
    }


def close_month(month: str, actor, now: datetime | None = None, note: str = "") -> dict:
    """Freezes the month's figures and scores with the weights in force (audited). Refused
    (CloseRefused) when it is already closed or not over yet."""
    now = now or utcnow()
    _start, end = performance.month_range(month)
    if db.session.get(EvaluationMonth, month) is not None:
        raise CloseRefused("already_closed")
    if now < end:
        raise CloseRefused("not_over")
    weights = current_weights()
    items = live_items(month, now, weights)
    ids = dict(db.session.execute(db.select(Provider.code, Provider.id)).all())
    db.session.add(
        EvaluationMonth(
            month=month, weights=weights, closed_by=audit.actor_label(actor), note=note or ""
        )
    )
    try:  # the month's row first: a second closing at the same moment stops here
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise CloseRefused("already_closed") from exc
    for item in items:
        db.session.add(
            EvaluationScore(
                month=month,
                provider_id=ids[item["provider"]],
                figures=item,
                score=Decimal(str(item["score"])),
            )
        )
    audit.record(
        "evaluation_month_closed",
        actor=actor,
        detail={"month": month, "weights": weights, "providers": len(items)},
    )
    try:
        db.session.commit()
    except IntegrityError as exc:  # closed by someone else at the same moment
        db.session.rollback()
        raise CloseRefused("already_closed") from exc
    return summary(month)


def closed_months() -> list[EvaluationMonth]:
    return list(
        db.session.execute(
            db.select(EvaluationMonth).order_by(EvaluationMonth.month.desc())
        ).scalars()
    )
