"""The disclosure catalog and outage notices: created, edited, published, read.

Every change of a catalog item writes a ``DisclosureRevision`` (the item's whole text after the
change) and an audit event, in the same transaction; an edit made on a page older than the
item's current version is refused (``Stale``), never saved over somebody else's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import or_
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import (
    DisclosureItem,
    DisclosureRevision,
    District,
    OutageNotice,
    Provider,
    Route,
    User,
)
from jointdesk.models.disclosure import outage_notice_districts
from jointdesk.models.types import utcnow
from jointdesk.policy.disclosure import BY_KIND, CATALOG, COMPANY, SERVICES, mandatory_items

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_AREA = 2_000
MAX_REASON = 2_000
# restored notices stay on the public pages this long after their restoration
RECENTLY_RESTORED = timedelta(days=7)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KIND_ORDER = {item.kind: n for n, item in enumerate(CATALOG)}


class Stale(Exception):  # noqa: N818
    """Somebody changed the row since the page was opened."""


class Refused(ValueError):
    """Field-by-field reasons a change was refused; nothing was saved."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def stale_message() -> str:
    return _(
        "Someone else changed this in the meantime; nothing of yours was saved. The page now "
        "shows the current version: make your change again."
    )


# --- which services a provider has, and its catalog -----------------------------------------


def services_by_provider() -> dict[int, list[str]]:
    """Every provider's services (the distinct service codes routed to it), in fixed order."""
    rows = db.session.execute(db.select(Route.provider_id, Route.service_code).distinct()).all()
    out: dict[int, set[str]] = {}
    for provider_id, service in rows:
        out.setdefault(provider_id, set()).add(service)
    return {pid: [s for s in SERVICES if s in codes] for pid, codes in out.items()}


def provider_services(provider_id: int) -> list[str]:
    codes = set(
        db.session.execute(
            db.select(Route.service_code).where(Route.provider_id == provider_id).distinct()
        ).scalars()
    )
    return [s for s in SERVICES if s in codes]


def ensure_catalog(provider_ids: list[int] | None = None) -> int:
    """Creates every mandatory item that does not exist yet, for every provider (or those
    given): empty, unpublished, titled as the catalog words it. Never touches an existing item,
    so it is safe to run again. Returns how many items were created; the caller commits."""
    query = db.select(Provider.id)
    if provider_ids is not None:
        query = query.where(Provider.id.in_(provider_ids))
    ids = list(db.session.execute(query).scalars())
    if not ids:
        return 0
    services = services_by_provider()
    existing = set(
        db.session.execute(
            db.select(DisclosureItem.provider_id, DisclosureItem.scope, DisclosureItem.kind).where(
                DisclosureItem.provider_id.in_(ids)
            )
        ).all()
    )
    created = 0
    for provider_id in ids:
        for scope, item in mandatory_items(services.get(provider_id, [])):
            if (provider_id, scope, item.kind) in existing:
                continue
            db.session.add(
                DisclosureItem(
                    provider_id=provider_id, scope=scope, kind=item.kind, title=item.title, body=""
                )
            )
            created += 1
    if created:
        db.session.flush()
    return created


def scope_order(scope: str) -> int:
    return 0 if scope == COMPANY else 1 + (SERVICES.index(scope) if scope in SERVICES else 99)


def item_order(item) -> tuple:
    return (scope_order(item.scope), _KIND_ORDER.get(item.kind, 999), item.kind)


def grouped(items) -> list[tuple[str, list]]:
    """Items as (scope, items) groups: the company first, then each service in fixed order."""
    groups: dict[str, list] = {}
    for item in sorted(items, key=item_order):
        groups.setdefault(item.scope, []).append(item)
    return list(groups.items())


def catalog_of(provider_id: int) -> list[DisclosureItem]:
    rows = db.session.execute(
        db.select(DisclosureItem).where(DisclosureItem.provider_id == provider_id)
    ).scalars()
    return sorted(rows, key=item_order)


def hint_for(kind: str) -> str | None:
    item = BY_KIND.get(kind)
    return item.hint if item else None


# --- editing an item -------------------------------------------------------------------------


def _clean_text(value: object, limit: int, name: str, errors: dict, required: bool) -> str:
    text = "" if value is None else str(value).replace("\r\n", "\n").strip()
    if _CONTROL_RE.search(text):
        errors[name] = _("Contains control characters.")
    elif len(text) > limit:
        errors[name] = _("At most %(n)d characters.", n=limit)
    elif required and not text:
        errors[name] = _("Required.")
    return text


def _revision(item: DisclosureItem, action: str, actor: User | str) -> None:
    db.session.add(
        DisclosureRevision(
            item_id=item.id,
            action=action,
            title=item.title,
            body=item.body,
            published=item.published,
            changed_by=audit.actor_label(actor),
            changed_at=utcnow(),
        )
    )
    audit.record(
        f"disclosure_{action}",
        actor=actor,
        detail={
            "provider_id": item.provider_id,
            "item_id": item.id,
            "scope": item.scope,
            "kind": item.kind,
        },
    )


def _check_version(item: DisclosureItem | OutageNotice, expected: int | None) -> None:
    if expected is not None and expected != item.version:
        raise Stale


def _commit() -> None:
    try:
        db.session.commit()
    except StaleDataError as exc:  # a concurrent change committed between read and write
        db.session.rollback()
        raise Stale from exc


def _flush() -> None:
    """Writes the version-checked UPDATE now (the revision needs the new version): a change
    another person committed since the page was read is refused here, as at the commit."""
    try:
        db.session.flush()
    except StaleDataError as exc:
        db.session.rollback()
        raise Stale from exc


def edit_item(
    item: DisclosureItem, title: object, body: object, actor: User | str, expected: int | None
) -> bool:
    """New title and body; False when nothing changed. Refused, Stale."""
    label = audit.actor_label(actor)  # read before the item changes (no flush half-way)
    _check_version(item, expected)
    errors: dict[str, str] = {}
    title = _clean_text(title, MAX_TITLE, "title", errors, required=True)
    body = _clean_text(body, MAX_BODY, "body", errors, required=False)
    if item.published and not body and "body" not in errors:
        errors["body"] = _("A published item cannot be emptied; unpublish it first.")
    if errors:
        raise Refused(errors)
    if title == item.title and body == item.body:
        return False
    item.title, item.body = title, body
    item.updated_at = utcnow()
    item.updated_by = label
    _flush()
    _revision(item, "edit", actor)
    _commit()
    return True


def set_published(
    item: DisclosureItem, published: bool, actor: User | str, expected: int | None
) -> bool:
    """Publish or unpublish; False when it already was. An empty item is not published."""
    audit.actor_label(actor)  # read before the item changes (no flush half-way)
    _check_version(item, expected)
    if item.published == published:
        return False
    if published and not item.body.strip():
        raise Refused({"body": _("Write the item's text before publishing it.")})
    item.published = published
    if published:
        item.published_at = utcnow()
    _flush()
    _revision(item, "publish" if published else "unpublish", actor)
    _commit()
    return True


def revisions_of(item_id: int) -> list[DisclosureRevision]:
    return list(
        db.session.execute(
            db.select(DisclosureRevision)
            .where(DisclosureRevision.item_id == item_id)
            .order_by(DisclosureRevision.changed_at.desc(), DisclosureRevision.id.desc())
        ).scalars()
    )


# --- outage notices --------------------------------------------------------------------------


@dataclass
class OutageInput:
    service: str = ""
    planned: bool = True
    title: str = ""
    area: str = ""
    reason: str = ""
    starts_at: datetime | None = None
    expected_restore_at: datetime | None = None
    restored_at: datetime | None = None
    district_ids: list[int] = field(default_factory=list)


def check_outage(provider_id: int, data: OutageInput) -> tuple[OutageInput, list[District]]:
    """The notice's fields checked together; Refused with every reason at once."""
    errors: dict[str, str] = {}
    if data.service not in provider_services(provider_id):
        errors["service"] = _("Choose one of your provider's services.")
    data.title = _clean_text(data.title, MAX_TITLE, "title", errors, required=True)
    data.area = _clean_text(data.area, MAX_AREA, "area", errors, required=False)
    data.reason = _clean_text(data.reason, MAX_REASON, "reason", errors, required=False)
    if data.starts_at is None:
        errors.setdefault("starts_at", _("Required."))
    else:
        if data.expected_restore_at is not None and data.expected_restore_at < data.starts_at:
            errors["expected_restore_at"] = _(
                "The expected restoration cannot be before the start."
            )
        if data.restored_at is not None and data.restored_at < data.starts_at:
            errors["restored_at"] = _("The restoration cannot be before the start.")
    if data.restored_at is not None and data.restored_at > utcnow() + timedelta(minutes=5):
        errors.setdefault("restored_at", _("The restoration cannot be in the future."))
    districts: list[District] = []
    ids = sorted(set(data.district_ids))
    if ids:
        districts = list(
            db.session.execute(db.select(District).where(District.id.in_(ids))).scalars()
        )
    if not districts or len(districts) != len(ids):
        errors["districts"] = _("Choose at least one district.")
    if errors:
        raise Refused(errors)
    return data, districts


def _outage_detail(notice: OutageNotice) -> dict:
    return {
        "provider_id": notice.provider_id,
        "notice_id": notice.id,
        "service": notice.service_code,
        "districts": sorted(d.name for d in notice.districts),
    }


def save_outage(
    provider: Provider,
    data: OutageInput,
    actor: User,
    notice: OutageNotice | None = None,
    expected: int | None = None,
) -> OutageNotice:
    """Creates a notice (a draft) or changes one; audited. Refused, Stale."""
    label = audit.actor_label(actor)  # read before the notice changes (no flush half-way)
    if notice is not None:
        _check_version(notice, expected)
    data, districts = check_outage(provider.id, data)
    creating = notice is None
    if creating:
        notice = OutageNotice(provider_id=provider.id, created_by=label)
        db.session.add(notice)
    else:
        notice.updated_by = label
        notice.updated_at = utcnow()
    notice.service_code = data.service
    notice.planned = data.planned
    notice.title = data.title
    notice.area = data.area
    notice.reason = data.reason
    notice.starts_at = data.starts_at
    notice.expected_restore_at = data.expected_restore_at
    notice.restored_at = data.restored_at
    notice.districts = districts
    _flush()
    audit.record(
        "outage_created" if creating else "outage_changed",
        actor=actor,
        detail=_outage_detail(notice),
    )
    _commit()
    return notice


def set_outage_published(
    notice: OutageNotice, published: bool, actor: User, expected: int | None
) -> bool:
    label = audit.actor_label(actor)  # read before the notice changes (no flush half-way)
    _check_version(notice, expected)
    if notice.published == published:
        return False
    notice.published = published
    if published:
        notice.published_at = utcnow()
    notice.updated_by = label
    notice.updated_at = utcnow()
    _flush()
    audit.record(
        "outage_published" if published else "outage_unpublished",
        actor=actor,
        detail=_outage_detail(notice),
    )
    _commit()
    return True


def mark_restored(notice: OutageNotice, actor: User, expected: int | None) -> bool:
    """Supply is back now. Refused before the outage started; False if already restored."""
    label = audit.actor_label(actor)  # read before the notice changes (no flush half-way)
    _check_version(notice, expected)
    if notice.restored_at is not None:
        return False
    now = utcnow()
    if now < notice.starts_at:
        raise Refused({"restored_at": _("The restoration cannot be before the start.")})
    notice.restored_at = now
    notice.updated_by = label
    notice.updated_at = now
    _flush()
    audit.record("outage_restored", actor=actor, detail=_outage_detail(notice))
    _commit()
    return True


def outage_state(notice, now: datetime) -> str:
    """current | upcoming | restored (as the public sees it)."""
    if notice.restored_at is not None:
        return "restored"
    return "current" if notice.starts_at <= now else "upcoming"


def public_outages(
    provider_id: int | None = None,
    district_id: int | None = None,
    service: str | None = None,
    now: datetime | None = None,
) -> list[OutageNotice]:
    """Published notices the public sees, in order: current (latest start first), then
    upcoming (soonest first), then those restored within the last seven days (latest first)."""
    now = now or utcnow()
    query = db.select(OutageNotice).where(
        OutageNotice.published.is_(True),
        or_(
            OutageNotice.restored_at.is_(None),
            OutageNotice.restored_at >= now - RECENTLY_RESTORED,
        ),
    )
    if provider_id is not None:
        query = query.where(OutageNotice.provider_id == provider_id)
    if service:
        query = query.where(OutageNotice.service_code == service)
    if district_id is not None:
        query = query.where(
            OutageNotice.id.in_(
                db.select(outage_notice_districts.c.notice_id).where(
                    outage_notice_districts.c.district_id == district_id
                )
            )
        )
    rows = db.session.execute(
        query.options(selectinload(OutageNotice.districts), selectinload(OutageNotice.provider))
    ).scalars()
    return sort_outages(list(rows), now)


def sort_outages(rows: list, now: datetime) -> list:
    def key(n):
        state = outage_state(n, now)
        if state == "current":
            return (0, -n.starts_at.timestamp())
        if state == "upcoming":
            return (1, n.starts_at.timestamp())
        return (2, -n.restored_at.timestamp())

    return sorted(rows, key=key)


def outages_for_case(case, now: datetime | None = None) -> list[OutageNotice]:
    """Current notices (published, started, not restored) in the case's district for a service
    on the case: what the applicant sees on the status page. One statement plus districts."""
    now = now or utcnow()
    services = sorted({t.service_code for t in case.tickets})
    if not services:
        return []
    rows = db.session.execute(
        db.select(OutageNotice)
        .join(outage_notice_districts, outage_notice_districts.c.notice_id == OutageNotice.id)
        .where(
            outage_notice_districts.c.district_id == case.district_id,
            OutageNotice.service_code.in_(services),
            OutageNotice.published.is_(True),
            OutageNotice.restored_at.is_(None),
            OutageNotice.starts_at <= now,
        )
        .order_by(OutageNotice.starts_at.desc())
    ).scalars()
    return list(rows)
