"""The routing table: (service, district) → one provider → that provider's queue."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import District, Provider, Route, User, queue_name_for
from jointdesk.workingtime import calendar_version_column, use_calendar_version


def route_application(
    district: str, services: Iterable[str]
) -> tuple[District | None, dict[str, Provider | None]]:
    """The district named (by name or division code) and the active provider serving each
    service there (None where none does), in one read; (None, {}) for an unknown district.
    The calendar's version comes with it, so intake's time limits need no read of their own."""
    services = list(services)
    rows = db.session.execute(
        db.select(District, Route.service_code, Provider, calendar_version_column())
        .outerjoin(Route, and_(Route.district_id == District.id, Route.service_code.in_(services)))
        .outerjoin(Provider, and_(Provider.id == Route.provider_id, Provider.active.is_(True)))
        .where(or_(District.name == district, District.division_code == district))
    ).all()
    if not rows:
        return None, {}
    use_calendar_version(rows[0][3])
    found = {code: provider for _d, code, provider, _v in rows if code is not None}
    return rows[0][0], {code: found.get(code) for code in services}


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
