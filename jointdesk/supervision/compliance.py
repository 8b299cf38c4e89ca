"""Disclosure compliance of every provider, from the catalog rows the providers keep.

A provider's services are the distinct services of the routing rows pointing to it; its
mandatory items are ``policy.disclosure.mandatory_items`` of those services. The scoring is pure
(``policy.supervision``); this module reads the rows (three queries for all providers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from jointdesk.extensions import db
from jointdesk.models import Provider, Route
from jointdesk.models.disclosure import DisclosureItem
from jointdesk.models.types import utcnow
from jointdesk.policy import disclosure as catalog
from jointdesk.policy import supervision as rules


def stale_days() -> int:
    """The period after which an item not updated is stale: JOINTDESK_DISCLOSURE_STALE_DAYS,
    default ``policy.disclosure.DEFAULT_STALE_DAYS`` (also for a value that is not positive)."""
    raw = current_app.config.get("JOINTDESK_DISCLOSURE_STALE_DAYS")
    try:
        days = int(raw) if raw is not None else catalog.DEFAULT_STALE_DAYS
    except (TypeError, ValueError):
        days = catalog.DEFAULT_STALE_DAYS
    return days if days > 0 else catalog.DEFAULT_STALE_DAYS


@dataclass
class Failing:
    scope: str
    kind: str
    title: str
    problem: str  # one of policy.supervision.PROBLEMS


@dataclass
class Compliance:
    provider_id: int
    code: str
    name: str
    services: list[str]
    mandatory: int
    compliant: int
    score: int
    failing: list[Failing] = field(default_factory=list)
    deadline: datetime | None = None  # the catalog must be online by then
    overdue: bool = False  # the deadline passed and the catalog is not compliant

    @property
    def compliant_all(self) -> bool:
        return not self.failing


def compliance_all(now: datetime | None = None, provider_id: int | None = None) -> list[Compliance]:
    """Every active provider's compliance (or one provider's), in code order."""
    now = now or utcnow()
    days = stale_days()
    providers_q = db.select(Provider.id, Provider.code, Provider.name).order_by(Provider.code)
    if provider_id is not None:
        providers_q = providers_q.where(Provider.id == provider_id)
    else:
        providers_q = providers_q.where(Provider.active.is_(True))
    providers = db.session.execute(providers_q).all()
    ids = [p.id for p in providers]
    services: dict[int, set[str]] = {}
    for pid, code in db.session.execute(
        db.select(Route.provider_id, Route.service_code)
        .where(Route.provider_id.in_(ids))
        .distinct()
    ):
        services.setdefault(pid, set()).add(code)
    items: dict[tuple[int, str, str], DisclosureItem] = {}
    created: dict[int, datetime] = {}
    for item in db.session.execute(
        db.select(DisclosureItem).where(DisclosureItem.provider_id.in_(ids))
    ).scalars():
        items[(item.provider_id, item.scope, item.kind)] = item
        first = created.get(item.provider_id)
        if item.created_at is not None and (first is None or item.created_at < first):
            created[item.provider_id] = item.created_at
    out = []
    for p in providers:
        pairs = catalog.mandatory_items(services.get(p.id, set()))
        failing = []
        for scope, entry in pairs:
            row = items.get((p.id, scope, entry.kind))
            state = rules.ItemState(
                scope=scope,
                kind=entry.kind,
                title=entry.title,
                exists=row is not None,
                body=row.body if row else "",
                published=bool(row and row.published),
                updated_at=row.updated_at if row else None,
            )
            problem = rules.item_problem(state, now, days)
            if problem:
                failing.append(Failing(scope, entry.kind, entry.title, problem))
        compliant = len(pairs) - len(failing)
        deadline = rules.publish_deadline(created.get(p.id), catalog.PUBLISH_DEADLINE_DAYS)
        out.append(
            Compliance(
                provider_id=p.id,
                code=p.code,
                name=p.name,
                services=[s for s in catalog.SERVICES if s in services.get(p.id, set())],
                mandatory=len(pairs),
                compliant=compliant,
                score=rules.compliance_score(len(pairs), compliant),
                failing=failing,
                deadline=deadline,
                overdue=bool(failing) and deadline is not None and now > deadline,
            )
        )
    return out


def compliance_of(provider_id: int, now: datetime | None = None) -> Compliance | None:
    found = compliance_all(now, provider_id)
    return found[0] if found else None
