"""How the city judges providers: disclosure compliance and the monthly evaluation (评议考核).

Pure: no Flask, no database. The formulas are written here once, and the pages show them as
they are written here (``FORMULAS``).

Disclosure compliance
    Every mandatory item (``policy.disclosure.mandatory_items`` of the provider's services) is
    *compliant* when it exists with a non-empty body, is published, and its content was updated
    within the stale period. ``score = round(100 × compliant / mandatory)`` (100 when nothing is
    mandatory). Each failing item names its first problem: missing, unpublished or stale.

Evaluation of one provider for one month, every part 0–100:
    on-time rate  = 100 × on_time / (completed + overdue_open), the month's tickets (created in
                    the month) that were connected within their limits, out of those whose
                    outcome is known: connected, or still open past their due time (an open
                    ticket past due is already late; a returned one is not judged);
                    100 when there is nothing to judge.
    satisfaction  = 100 × (ratings − bad ratings) / ratings, a bad rating (差评) being
                    不满意 or 非常不满意 (level ≤ 2); 100 without ratings.
    complaints    = max(0, 100 − COMPLAINT_PENALTY × complaints received in the month).
    score         = (w_disclosure × disclosure + w_on_time × on-time rate
                     + w_ratings × satisfaction + w_complaints × complaints) / 100,
    rounded to two decimals, the weights being whole numbers that sum to 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

# --- disclosure compliance ----------------------------------------------------------------------

MISSING = "missing"  # no row, or an empty body
UNPUBLISHED = "unpublished"
STALE = "stale"
PROBLEMS = (MISSING, UNPUBLISHED, STALE)


@dataclass(frozen=True)
class ItemState:
    """What the database holds of one mandatory item (None: no row)."""

    scope: str
    kind: str
    title: str
    exists: bool
    body: str = ""
    published: bool = False
    updated_at: datetime | None = None


def item_problem(item: ItemState, now: datetime, stale_days: int) -> str | None:
    """The first problem of one mandatory item, or None when it is compliant."""
    if not item.exists or not (item.body or "").strip():
        return MISSING
    if not item.published:
        return UNPUBLISHED
    if item.updated_at is None or item.updated_at < now - timedelta(days=stale_days):
        return STALE
    return None


def compliance_score(mandatory: int, compliant: int) -> int:
    """The share of mandatory items that are compliant, 0–100 (100 when none is mandatory)."""
    if mandatory <= 0:
        return 100
    return round(100 * compliant / mandatory)


def publish_deadline(catalog_created: datetime | None, days: int) -> datetime | None:
    """When the catalog must be online: ``days`` calendar days after it was created."""
    return None if catalog_created is None else catalog_created + timedelta(days=days)


# --- months ---------------------------------------------------------------------------------------

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class BadMonth(ValueError):
    pass


def parse_month(text: str | None) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, first day of the next month); BadMonth otherwise."""
    match = MONTH_RE.match(text or "")
    if not match:
        raise BadMonth("format")
    year, month = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2100 or not 1 <= month <= 12:
        raise BadMonth("range")
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_months(last: date, count: int) -> list[str]:
    """``count`` months ending with the month of ``last``, oldest first."""
    year, month = last.year, last.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


# --- the evaluation -------------------------------------------------------------------------------

# one provider's line of the month summary (API, dashboard, exports), in this order
SUMMARY_FIELDS = (
    "provider",
    "name",
    "tickets",
    "completed",
    "on_time",
    "on_time_rate",
    "overdue_open",
    "disclosure_score",
    "complaints",
    "ratings",
    "bad_ratings",
    "satisfaction",
    "score",
)

WEIGHT_PARTS = ("disclosure", "on_time", "ratings", "complaints")
DEFAULT_WEIGHTS = {"disclosure": 30, "on_time": 40, "ratings": 20, "complaints": 10}
COMPLAINT_PENALTY = 10  # points off the complaints part for each complaint in the month


def weight_problems(weights: dict) -> dict[str, str]:
    """Field → problem code: ``integer`` (not a whole number 0–100) or ``sum`` (under
    ``total``: the four do not add up to 100). Empty when the weights are valid."""
    problems: dict[str, str] = {}
    for part in WEIGHT_PARTS:
        value = weights.get(part)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            problems[part] = "integer"
    if not problems and sum(weights[p] for p in WEIGHT_PARTS) != 100:
        problems["total"] = "sum"
    return problems


def on_time_rate(on_time: int, completed: int, overdue_open: int) -> float | None:
    """Percent of the judged tickets that were on time; None when none is judged yet."""
    judged = completed + overdue_open
    return None if judged == 0 else round(100 * on_time / judged, 2)


def satisfaction(ratings: int, bad: int) -> float | None:
    """Percent of ratings that are not 差评; None without ratings."""
    return None if ratings == 0 else round(100 * (ratings - bad) / ratings, 2)


def complaints_part(complaints: int) -> float:
    return float(max(0, 100 - COMPLAINT_PENALTY * complaints))


def score(
    weights: dict, disclosure: float, on_time: float | None, sat: float | None, complaints: int
) -> float:
    """The weighted score; a part with nothing to judge counts as 100."""
    parts = {
        "disclosure": float(disclosure),
        "on_time": 100.0 if on_time is None else float(on_time),
        "ratings": 100.0 if sat is None else float(sat),
        "complaints": complaints_part(complaints),
    }
    return round(sum(weights[p] * parts[p] for p in WEIGHT_PARTS) / 100, 2)
