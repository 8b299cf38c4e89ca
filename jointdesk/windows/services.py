"""Intake: one combined application becomes a case, its tickets and their outbox rows,
all in ONE transaction; publishing happens after the commit."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import unicodedata

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from jointdesk import audit, domain_events, idempotency, sla
from jointdesk.cases.read import (
    PROVIDER_COLUMNS,
    CaseData,
    DistrictData,
    EventData,
    MaterialData,
    PermitData,
    ProviderData,
    StepData,
    TicketData,
)
from jointdesk.domain_events import DomainEvent
from jointdesk.extensions import db
from jointdesk.labels import service_label
from jointdesk.models import Case, District, Material, Permit, Step, Ticket, User
from jointdesk.models.types import utcnow
from jointdesk.policy.process import DISPATCHING, TERMINAL
from jointdesk.prebuilt import insert_rows
from jointdesk.routing import outbox
from jointdesk.routing.services import route_application
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


def case_for_applicant(reference: str, code: str, *, progress: bool = False) -> CaseData | None:
    """The case if reference and query code match, else None: one statement either way, the
    same for an unknown reference and a wrong code (the digest is keyed, so nobody can aim
    at a stored one), reading plain rows only (``progress``: see ``load_case_data``)."""
    from jointdesk.cases.read import load_case_data

    reference = reference.strip().upper()[:32]
    digest = query_code_digest(reference, code.strip()[:32])
    return load_case_data(reference, query_code_digest=digest, progress=progress)


class AlreadySubmitted(Exception):  # noqa: N818
    """The approval system pushed this project before. With the same data the push is answered
    with that case; ``differences`` lists the fields (dotted paths) in which it disagrees."""

    def __init__(self, case: Case, differences: list[str]):
        super().__init__(case.reference)
        self.case = case
        self.differences = differences


def pushed_case(code: str) -> Case | None:
    """The one case the approval system pushed for this project code (unique column)."""
    return db.session.execute(
        db.select(Case).where(Case.approval_push_code == code).options(selectinload(Case.tickets))
    ).scalar_one_or_none()


def push_differences(case: Case, app_data: Application) -> list[str]:
    """Where a repeated push disagrees with the case its first push made (dotted paths)."""
    district = find_district(app_data.district)
    pairs = {
        "applicant.kind": (case.applicant_kind, app_data.applicant_kind),
        "applicant.name": (case.applicant_name, app_data.applicant_name),
        "applicant.id_number": (case.applicant_id_number, app_data.id_number),
        "applicant.phone": (case.applicant_phone, app_data.phone),
        "address.district": (case.district_id, district.id if district else None),
        "address.detail": (case.address_detail, app_data.address_detail),
        "services": (sorted(t.service_code for t in case.tickets), sorted(app_data.services)),
        "project.low_risk": (case.low_risk, app_data.low_risk),
        "project.external_works": (case.external_works, app_data.external_works),
        "project.pipeline_length_m": (case.pipeline_length_m, app_data.pipeline_length_m),
        "project.supporting_fee_paid": (case.supporting_fee_paid, app_data.supporting_fee_paid),
        "project.excavates_road": (case.excavates_road, app_data.excavates_road),
        "project.moves_trees": (case.moves_trees, app_data.moves_trees),
        "project.occupies_green_space": (case.occupies_green_space, app_data.occupies_green_space),
    }
    return [path for path, (stored, sent) in pairs.items() if stored != sent]


def report_push_conflict(case: Case, differences: list[str], actor: User | None) -> None:
    """A push of a known project code with other data: refused, and kept in the audit trail
    (the fields that differ, never their values)."""
    audit.record(
        "push_conflict", actor=actor, case_id=case.id, detail={"fields": sorted(differences)}
    )
    db.session.commit()
    log.warning("approval-system push of %s conflicts in %s", case.reference, differences)


def _same_address(text: str) -> str:
    """For comparing addresses: full-width folded, spaces dropped, case ignored."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def open_duplicates(app_data: Application) -> list[Case]:
    """Open cases of the same applicant ID at the same address with an open ticket for one of
    the services asked for: the window shows them before storing another."""
    district = find_district(app_data.district)
    if district is None or not app_data.id_number:
        return []
    rows = db.session.execute(
        db.select(Case)
        .where(
            Case.applicant_id_number == app_data.id_number,
            Case.district_id == district.id,
        )
        .options(selectinload(Case.tickets))
        .order_by(Case.created_at)
    ).scalars()
    address = _same_address(app_data.address_detail)
    wanted = set(app_data.services)
    return [
        case
        for case in rows
        if _same_address(case.address_detail) == address
        and any(t.service_code in wanted and t.status not in TERMINAL for t in case.tickets)
    ]


def reissue_query_code(case: Case, actor: User, *, receipt: bool = False) -> tuple[str, str | None]:
    """A new query code for the case; the old one stops working at once. The audit trail
    records who did it (never the code), every sealed copy of the old code is erased.

    Returns the new code and, with ``receipt``, the key of a one-time receipt link showing it.
    """
    db.session.execute(
        db.select(Case.id).where(Case.id == case.id).with_for_update()
    )  # two clerks at once: one after the other
    code = new_query_code()
    case.query_code_hash = query_code_digest(case.reference, code)
    idempotency.forget_codes(case.id)
    link = idempotency.remember_receipt(actor.id, case, code) if receipt else None
    audit.record("query_code_reissued", actor=actor, case_id=case.id, detail={})
    db.session.commit()
    return code, link


def find_district(name: str) -> District | None:
    return db.session.execute(
        db.select(District).where(or_(District.name == name, District.division_code == name))
    ).scalar_one_or_none()


def _already_pushed(app_data: Application) -> None:
    if app_data.channel == "approval_system" and app_data.approval_system_code:
        existing = pushed_case(app_data.approval_system_code)
        if existing is not None:
            raise AlreadySubmitted(existing, push_differences(existing, app_data))


def submit_application(
    app_data: Application,
    actor: User | None,
    *,
    claim: idempotency.Claim | None = None,
    note: dict | None = None,
    guard=None,
) -> tuple[CaseData, str]:
    """Stores the case; returns it whole, as its INSERTs stored it (plain rows, see
    ``cases.read``: what ``load_case_data`` would read at that moment, with its district,
    materials, timeline, tickets, providers, steps and permits; no statement reads it back),
    with the applicant's query code (shown once, kept hashed).

    Raises ValidationFailed, writing nothing, for an unknown district or a service that no
    provider serves there; AlreadySubmitted for a project code the approval system pushed
    before; idempotency.Replay when ``claim``'s key already made a case. Both hold also when a
    concurrent request got there first: the unique constraints decide, this one rolls back.
    ``note`` is added to the audit event. ``guard`` (``online.services.OnlineGuard``) writes
    its unique rows right after the case, in the same transaction, and after a unique-constraint
    failure raises its own replay when a concurrent twin committed first.
    """
    _already_pushed(app_data)
    district, providers = route_application(app_data.district, app_data.services)
    if district is None:
        raise ValidationFailed({"address.district": _("Unknown district.")})
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
        values = _case_values(app_data, district, actor, now, code)
        try:
            case, messages = _write(
                values,
                code,
                district,
                app_data,
                providers,
                actor,
                now,
                claim,
                note,
                guard,
            )
        except IntegrityError:
            db.session.rollback()
            if claim is not None and (row := idempotency.find_claim(claim)) is not None:
                raise idempotency.Replay(row) from None  # the same key, committed first
            if guard is not None:
                guard.after_conflict()  # the same online application, submitted concurrently
            _already_pushed(app_data)  # the same project, pushed concurrently
            continue  # a reference collision, one in a billion: draw again
        try:
            outbox.publish_fresh(messages)
        except Exception:  # the case is stored; the relay publishes what this did not
            db.session.rollback()
            log.exception("publishing after intake failed; the relay will publish")
        return case, code
    raise RuntimeError("could not draw a unique case reference")


def _case_values(app_data: Application, district: District, actor, now, code: str) -> dict:
    """The case's row: every column the application decides."""
    reference = new_reference(now)
    return {
        "reference": reference,
        "query_code_hash": query_code_digest(reference, code),
        "channel": app_data.channel,
        "applicant_kind": app_data.applicant_kind,
        "applicant_name": app_data.applicant_name,
        "applicant_id_number": app_data.id_number,
        "applicant_phone": app_data.phone,
        "district_id": district.id,
        "address_detail": app_data.address_detail,
        "approval_system_code": app_data.approval_system_code,
        "approval_push_code": (
            app_data.approval_system_code if app_data.channel == "approval_system" else None
        ),
        "low_risk": app_data.low_risk,
        "external_works": app_data.external_works,
        "pipeline_length_m": app_data.pipeline_length_m,
        "supporting_fee_paid": app_data.supporting_fee_paid,
        "excavates_road": app_data.excavates_road,
        "moves_trees": app_data.moves_trees,
        "occupies_green_space": app_data.occupies_green_space,
        "created_by_id": actor.id if actor else None,
        "created_at": now,
    }


_CASES, _TICKETS = Case.__table__, Ticket.__table__
_MATERIALS, _STEPS, _PERMITS = Material.__table__, Step.__table__, Permit.__table__


def _write(
    values: dict,
    code: str,
    district: District,
    app_data: Application,
    providers,
    actor,
    now,
    claim,
    note,
    guard=None,
) -> tuple[CaseData, list[tuple[int, str]]]:
    """The one transaction: case, materials, tickets with steps and permits, outbox rows, audit
    event, and the request key, written as one multi-row INSERT per table. The case and the
    key come first, so that a concurrent request for the same project or with the same key
    stops on their unique constraints at once. Returns the case (plain rows, see cases.read)
    and the outbox rows to publish as (id, queue)."""
    session = db.session
    # one multi-row INSERT per table on the driver's cursor (jointdesk.prebuilt), each giving
    # back its rows as stored: the answer is built from them, as cases.read reads a case, with
    # no statement to read the case back and no ORM step for rows the session never tracks
    connection = session.connection()
    case = CaseData(
        insert_rows(connection, _CASES, [values], returning=True)[0],
        district=DistrictData(id=district.id, name=district.name),
        tickets=[],
        materials=[],
    )
    case_id = case.id
    if app_data.materials:
        rows = insert_rows(
            connection,
            _MATERIALS,
            [
                {
                    "case_id": case_id,
                    "kind": item.kind,
                    "provided": item.provided,
                    "note": item.note,
                    "sort_order": i,
                }
                for i, item in enumerate(app_data.materials)
            ],
            returning=True,
            key="sort_order",
        )
        case.materials = sorted((MaterialData(r) for r in rows), key=_by_id)
    if claim is not None:
        idempotency.attach(claim, case, code)
    if guard is not None:
        guard.attach(case, code)
    calendar = working_calendar()
    planned = []
    for service in app_data.services:
        ticket = TicketData(
            case_id=case_id,
            service_code=service,
            provider_id=providers[service].id,
            status=DISPATCHING,
            created_at=now,
            closed_at=None,
            suspended_at=None,
            steps=[],
            permits=[],
            suspensions=[],
            case=case,
        )
        sla.open_ticket(ticket, case, now, calendar)
        planned.append(ticket)
    rows = insert_rows(
        connection,
        _TICKETS,
        [
            {
                "case_id": case_id,
                "service_code": t.service_code,
                "provider_id": t.provider_id,
                "status": t.status,
                "created_at": now,
                "due_at": t.due_at,
                "step_due_at": t.step_due_at,
                "due_provisional": bool(t.due_provisional),
            }
            for t in planned
        ],
        returning=True,
        key="service_code",  # a case's services are distinct
    )
    tickets = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        ticket = tickets[row["id"]] = TicketData(
            row, case=case, representative=None, steps=[], permits=[], suspensions=[]
        )
        provider = providers[ticket.service_code]
        ticket.provider = ProviderData(
            {name: getattr(provider, name) for name in PROVIDER_COLUMNS}, id=provider.id
        )
    case.tickets = list(tickets.values())
    ids = {t.service_code: t.id for t in case.tickets}
    steps = insert_rows(
        connection,
        _STEPS,
        [
            {
                "ticket_id": ids[t.service_code],
                "seq": s.seq,
                "name": s.name,
                "started_at": s.started_at,
                "due_at": s.due_at,
                "due_provisional": bool(s.due_provisional),
            }
            for t in planned
            for s in t.steps
        ],
        returning=True,
        key=("ticket_id", "seq"),
    )
    for row in sorted(steps, key=lambda r: r["seq"]):
        tickets[row["ticket_id"]].steps.append(StepData(row))
    permits = [
        {
            "ticket_id": ids[t.service_code],
            "kind": p.kind,
            "status": p.status,
            "filed_at": p.filed_at,
            "due_at": p.due_at,
            "due_provisional": bool(p.due_provisional),
        }
        for t in planned
        for p in t.permits
    ]
    if permits:
        rows = insert_rows(connection, _PERMITS, permits, returning=True, key=("ticket_id", "kind"))
        for row in sorted(rows, key=lambda r: r["id"]):
            tickets[row["ticket_id"]].permits.append(PermitData(row))
    messages = outbox.add_deliveries(
        [(t.id, providers[t.service_code].queue_name) for t in case.tickets], now
    )
    domain_events.emit(
        DomainEvent(
            "case.created",
            case_id,
            now,
            actor=audit.actor_label(actor),
            detail={"channel": values["channel"], "services": list(app_data.services)},
        )
    )
    event = audit.write(
        "case_created",
        actor=actor,
        case_id=case_id,
        detail={
            "channel": values["channel"],
            "services": list(app_data.services),
            "missing_materials": [m.kind for m in app_data.materials if not m.provided],
            **(note or {}),
        },
        at=now,
        returning=True,
    )
    case.events = [EventData(event)]  # the timeline so far: intake writes this one event
    session.commit()
    return case, messages


def _by_id(row) -> int:
    return row.id
