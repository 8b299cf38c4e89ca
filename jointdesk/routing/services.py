"""The routing table: (service, district) → one provider → that provider's queue."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, bindparam, or_, select

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import District, Provider, Route, User, queue_name_for
from jointdesk.prebuilt import all_rows, any_of
from jointdesk.workingtime import calendar_version_column, use_calendar_version


@dataclass(frozen=True)
class RoutedDistrict:
    """The district an application names, as intake needs it."""

    id: int
    name: str


@dataclass(frozen=True)
class RoutedProvider:
    """The provider a route points at, as intake needs it: to route, and to show in its answer
    (``cases.read.PROVIDER_COLUMNS``)."""

    id: int
    code: str
    name: str
    phone: str | None
    connection_fee: Decimal | None
    price_per_metre: Decimal | None
    price_basis: str | None

    @property
    def queue_name(self) -> str:
        return queue_name_for(self.code)


@functools.cache
def _route_statement(dialect: str):
    """Built once per process and dialect; the district and the services are bound per
    application (on PostgreSQL the services as one array parameter)."""
    return (
        select(
            District.id,
            District.name,
            Route.service_code,
            Provider.id.label("provider_id"),
            Provider.code,
            Provider.name.label("p_name"),
            Provider.phone.label("p_phone"),
            Provider.connection_fee.label("p_connection_fee"),
            Provider.price_per_metre.label("p_price_per_metre"),
            Provider.price_basis.label("p_price_basis"),
            calendar_version_column(),
        )
        .outerjoin(
            Route,
            and_(
                Route.district_id == District.id,
                any_of(dialect, Route.service_code, "services"),
            ),
        )
        .outerjoin(Provider, and_(Provider.id == Route.provider_id, Provider.active.is_(True)))
        .where(
            or_(
                District.name == bindparam("district"),
                District.division_code == bindparam("district"),
            )
        )
    )


def route_application(
    district: str, services: Iterable[str]
) -> tuple[RoutedDistrict | None, dict[str, RoutedProvider | None]]:
    """The district named (by name or division code) and the active provider serving each
    service there (None where none does), in one read of plain rows; (None, {}) for an unknown
    district. The calendar's version comes with it, so intake's time limits need no read of
    their own."""
    services = list(services)
    connection = db.session.connection()
    rows = all_rows(
        connection,
        _route_statement(connection.dialect.name),
        {"district": district, "services": services or [""]},
    )
    if not rows:
        return None, {}
    first = rows[0]
    use_calendar_version(first["calendar_version"])
    found = {
        r["service_code"]: RoutedProvider(
            r["provider_id"],
            r["code"],
            r["p_name"],
            r["p_phone"],
            r["p_connection_fee"],
            r["p_price_per_metre"],
            r["p_price_basis"],
        )
        for r in rows
        if r["service_code"] is not None and r["provider_id"] is not None
    }
    return RoutedDistrict(first["id"], first["name"]), {code: found.get(code) for code in services}


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
