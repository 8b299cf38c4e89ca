"""``GET /api/v1/providers/{code}/disclosure``: what a provider publishes, for anyone.

Public (no token), rate-limited with the portal's pages, read outside a transaction in three
statements whatever the catalog's size: the provider, its published items, its current and
upcoming published outage notices with their districts (one row per notice and district).
"""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _

from jointdesk.api import bp
from jointdesk.api.views import reads_only
from jointdesk.cases.read import Row
from jointdesk.cases.services import iso, local_zone
from jointdesk.disclosure.services import item_order, outage_state, sort_outages
from jointdesk.disclosure.views import public_disclosure_limit
from jointdesk.errors import ApiError
from jointdesk.extensions import db
from jointdesk.models import DisclosureItem, District, OutageNotice, Provider
from jointdesk.models.disclosure import outage_notice_districts
from jointdesk.models.types import utcnow


@bp.get("/providers/<code>/disclosure")
@reads_only(public=True)
@public_disclosure_limit
def provider_disclosure(code: str):
    provider = db.session.execute(
        db.select(Provider.id, Provider.code, Provider.name, Provider.phone).where(
            Provider.code == code[:40], Provider.active.is_(True)
        )
    ).first()
    if provider is None:
        raise ApiError(404, "not_found", _("No such provider."))
    zone = local_zone()
    items = db.session.execute(
        db.select(
            DisclosureItem.kind,
            DisclosureItem.scope,
            DisclosureItem.title,
            DisclosureItem.body,
            DisclosureItem.published_at,
            DisclosureItem.updated_at,
        ).where(DisclosureItem.provider_id == provider.id, DisclosureItem.published.is_(True))
    ).all()
    now = utcnow()
    rows = db.session.execute(
        db.select(
            OutageNotice.id,
            OutageNotice.title,
            OutageNotice.service_code,
            OutageNotice.planned,
            OutageNotice.area,
            OutageNotice.reason,
            OutageNotice.starts_at,
            OutageNotice.expected_restore_at,
            OutageNotice.restored_at,
            District.name.label("district_name"),
            District.division_code,
        )
        .join(outage_notice_districts, outage_notice_districts.c.notice_id == OutageNotice.id)
        .join(District, District.id == outage_notice_districts.c.district_id)
        .where(
            OutageNotice.provider_id == provider.id,
            OutageNotice.published.is_(True),
            OutageNotice.restored_at.is_(None),
        )
        .order_by(District.sort_order, District.id)
    ).all()
    notices: dict[int, Row] = {}
    for r in rows:
        notice = notices.get(r.id)
        if notice is None:
            notice = notices[r.id] = Row(r._asdict(), districts=[])
        notice.districts.append({"name": r.district_name, "division_code": r.division_code})
    body = {
        "provider": {"code": provider.code, "name": provider.name, "phone": provider.phone},
        "items": [
            {
                "kind": i.kind,
                "scope": i.scope,
                "title": i.title,
                "body": i.body,
                "published_at": iso(i.published_at, zone),
                "updated_at": iso(i.updated_at, zone),
            }
            for i in sorted(items, key=item_order)
        ],
        "outages": [
            {
                "id": n.id,
                "title": n.title,
                "status": outage_state(n, now),
                "service": n.service_code,
                "planned": n.planned,
                "districts": n.districts,
                "area": n.area,
                "reason": n.reason,
                "starts_at": iso(n.starts_at, zone),
                "expected_restore_at": iso(n.expected_restore_at, zone),
                "restored_at": iso(n.restored_at, zone),
            }
            for n in sort_outages(list(notices.values()), now)
        ],
    }
    return jsonify(body)
