"""Intake: one combined application becomes a case, its tickets and their outbox rows,
all in ONE transaction; publishing happens after the commit."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError

from jointdesk import audit, sla
from jointdesk.extensions import db
from jointdesk.labels import service_label
from jointdesk.models import Case, District, Material, Ticket, User
from jointdesk.models.types import utcnow
from jointdesk.policy.process import DISPATCHING
from jointdesk.routing import outbox
from jointdesk.routing.services import providers_for
from jointdesk.windows.validation import Application, ValidationFailed
from jointdesk.workingtime import working_calendar

log = logging.getLogger(__name__)
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference(now) -> str:
    """``ZZ`` + local date + six random characters: unguessable, readable over the phone."""
    from zoneinfo import ZoneInfo

    day = now.astimezone(ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])).strftime("%Y%m%d")
    return "ZZ" + day + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def new_query_code() -> str:
    return f"{secrets.randbelow(10**8):08d}"


def query_code_digest(reference: str, code: str) -> str:
    """HMAC keyed with the secret key: a database dump alone does not give the codes away
    (changing JOINTDESK_SECRET_KEY therefore invalidates issued query codes)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{reference}:{code}".encode(), hashlib.sha256).hexdigest()


def case_for_applicant(reference: str, code: str) -> Case | None:
    """The case if reference and query code match, else None, in the same time either way:
    one small query, one HMAC, then the full load only for a match."""
    from jointdesk.cases.services import load_case

    reference = reference.strip().upper()[:32]
    row = db.session.execute(
        db.select(Case.id, Case.query_code_hash).where(Case.reference == reference)
    ).first()
    expected = row.query_code_hash if row else "0" * 64
    matches = hmac.compare_digest(query_code_digest(reference, code.strip()[:32]), expected)
    return load_case(reference) if matches and row is not None else None


class AlreadySubmitted(Exception):
    """The approval system pushed this project before: the push is answered with that case."""

    def __init__(self, case: Case):
        super().__init__(case.reference)
        self.case = case


def find_district(name: str) -> District | None:
    return db.session.execute(
        db.select(District).where(or_(District.name == name, District.division_code == name))
    ).scalar_one_or_none()


def submit_application(app_data: Application, actor: User | None) -> tuple[Case, str]:
    """Stores the case; returns it with the applicant's query code (shown once, kept hashed).

    Raises ValidationFailed, writing nothing, for an unknown district or a service that no
    provider serves there.
    """
    if app_data.channel == "approval_system":
        existing = db.session.execute(
            db.select(Case).where(
                Case.channel == "approval_system",
                Case.approval_system_code == app_data.approval_system_code,
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise AlreadySubmitted(existing)
    district = find_district(app_data.district)
    if district is None:
        raise ValidationFailed({"address.district": _("Unknown district.")})
    providers = providers_for(district.id, app_data.services)
    unserved = [code for code, provider in providers.items() if provider is None]
    if unserved:
        raise ValidationFailed(
            {
                "services": _(
                    "No provider serves %(services)s in %(district)s yet; "
                    "the administrator must add it to the routing table.",
                    services="、".join(str(service_label(s)) for s in unserved),
                    district=district.name,
                )
            }
        )

    for _attempt in range(5):
        now = utcnow()
        code = new_query_code()
        case = _build_case(app_data, district, actor, now, code)
        try:
            message_ids = _write(case, app_data, providers, actor, now)
        except IntegrityError:
            db.session.rollback()  # a reference collision, one in a billion: draw again
            continue
        try:
            outbox.publish(message_ids)
        except Exception:  # the case is stored; the relay publishes what this did not
            db.session.rollback()
            log.exception("publishing after intake failed; the relay will publish")
        return case, code
    raise RuntimeError("could not draw a unique case reference")


def _build_case(app_data: Application, district: District, actor, now, code: str) -> Case:
    reference = new_reference(now)
    return Case(
        reference=reference,
        query_code_hash=query_code_digest(reference, code),
        channel=app_data.channel,
        applicant_kind=app_data.applicant_kind,
        applicant_name=app_data.applicant_name,
        applicant_id_number=app_data.id_number,
        applicant_phone=app_data.phone,
        district_id=district.id,
        address_detail=app_data.address_detail,
        approval_system_code=app_data.approval_system_code,
        low_risk=app_data.low_risk,
        external_works=app_data.external_works,
        pipeline_length_m=app_data.pipeline_length_m,
        supporting_fee_paid=app_data.supporting_fee_paid,
        excavates_road=app_data.excavates_road,
        moves_trees=app_data.moves_trees,
        occupies_green_space=app_data.occupies_green_space,
        created_by_id=actor.id if actor else None,
        created_at=now,
    )


def _write(case: Case, app_data: Application, providers, actor, now) -> list[int]:
    """The one transaction: case, materials, tickets with steps, outbox rows, audit event."""
    db.session.add(case)
    for i, item in enumerate(app_data.materials):
        case.materials.append(
            Material(kind=item.kind, provided=item.provided, note=item.note, sort_order=i)
        )
    db.session.flush()
    calendar = working_calendar()
    messages = []
    for service in app_data.services:
        ticket = Ticket(
            case=case,
            service_code=service,
            provider=providers[service],
            status=DISPATCHING,
            created_at=now,
        )
        sla.open_ticket(ticket, case, now, calendar)
        db.session.add(ticket)
        messages.append(outbox.add_delivery(ticket))
    audit.record(
        "case_created",
        actor=actor,
        case_id=case.id,
        detail={
            "channel": case.channel,
            "services": list(app_data.services),
            "missing_materials": [m.kind for m in app_data.materials if not m.provided],
        },
    )
    db.session.commit()
    return [m.id for m in messages]
