"""The routing table: (service, district) → one provider → that provider's queue."""

from __future__ import annotations

from collections.abc import Iterable

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import Provider, Route, User, queue_name_for


def providers_for(district_id: int, services: Iterable[str]) -> dict[str, Provider | None]:
    """The active provider that serves each service in the district, or None."""
    services = list(services)
    rows = db.session.execute(
        db.select(Route.service_code, Provider)
        .join(Provider, Route.provider_id == Provider.id)
        .where(
            Route.district_id == district_id,
            Route.service_code.in_(services),
            Provider.active.is_(True),
        )
    ).all()
    found = {code: provider for code, provider in rows}
    return {code: found.get(code) for code in services}


def provider_queue_names() -> list[str]:
    """Every active provider's queue, for workers that serve them all."""
    codes = db.session.execute(
        db.select(Provider.code).where(Provider.active.is_(True)).order_by(Provider.code)
    ).scalars()
    return [queue_name_for(code) for code in codes]


def set_route(service_code: str, district_id: int, provider_id: int | None, actor: User) -> None:
    """Points (service, district) at a provider, or clears it; audited."""
    route = db.session.execute(
        db.select(Route).where(Route.service_code == service_code, Route.district_id == district_id)
    ).scalar_one_or_none()
    before = route.provider_id if route else None
    if before == provider_id:
        return
    if provider_id is None:
        db.session.delete(route)
    elif route is None:
        db.session.add(
            Route(service_code=service_code, district_id=district_id, provider_id=provider_id)
        )
    else:
        route.provider_id = provider_id
    audit.record(
        "route_changed",
        actor=actor,
        detail={
            "service": service_code,
            "district_id": district_id,
            "from_provider_id": before,
            "to_provider_id": provider_id,
        },
    )
