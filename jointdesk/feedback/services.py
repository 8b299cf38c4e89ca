"""Ratings (好差评), the follow-up of every 差评, and complaints (投诉举报).

Ratings: one per service (ticket) and round. A service may be rated once its ticket is
``connected`` (finished successfully); a returned service is not rated (its applicant may
complain instead). Every 不满意 or 非常不满意 opens a follow-up for the ticket's provider, due
``JOINTDESK_RATING_RECTIFY_DAYS`` working days later, with a callback expected within
``JOINTDESK_RATING_CALLBACK_DAYS``; once a supervisor closes it, the applicant may rate the
service once more (round 2).

Complaints: a reference like a case's (``TS`` + local date + six characters) and an eight-digit
query code kept only as a keyed hash; due ``JOINTDESK_COMPLAINT_DAYS`` working days later.

Every change writes an audit event in its own transaction; follow-ups and complaints carry a
version (optimistic locking), so a stale form gets a message, never a 500.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.logging_setup import redact
from jointdesk.models import Case, Complaint, Provider, Rating, RatingFollowUp, User
from jointdesk.models.feedback import BAD_RATING_MAX, RATING_LEVELS
from jointdesk.models.types import utcnow
from jointdesk.notify import notifier
from jointdesk.policy.identity import is_valid_mobile
from jointdesk.windows.services import new_query_code, query_code_digest
from jointdesk.workingtime import working_calendar

MAX_COMMENT = 500
MAX_ANSWER = 2000
MAX_NAME = 100
MAX_SUBJECT = 200
MAX_BODY = 2000
RATEABLE_STATUSES = ("connected",)  # the ticket states that count as finished successfully
LAST_ROUND = 2
RATING_CHANNELS = ("online", "app")
COMPLAINT_STATUSES = ("open", "answered", "closed")
FOLLOW_UP_STATUSES = ("open", "answered", "closed")
COMPLAINT_FIELDS = ("name", "phone", "provider", "case_reference", "subject", "body")
APPLICANT = "applicant"  # how the audit trail names the applicant or complainant
COMPLAINANT = "complainant"
# the same complaint (phone, subject, text) again within this time is the first one again
DUPLICATE_WINDOW = timedelta(hours=24)
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class Refused(Exception):  # noqa: N818  (a refusal with its answer)
    """``status`` 404/409/422, a machine ``code``, a message and one message per field."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def _conflict() -> Refused:
    return Refused(
        409,
        "conflict",
        _("Someone else changed this in the meantime; the page now shows the current state."),
    )


def _setting(name: str) -> float:
    return current_app.config[name]


# --- ratings -------------------------------------------------------------------------------


@dataclass
class ServiceRating:
    """What the applicant sees of one service's ratings, and whether it may rate now."""

    ticket_id: int
    service: str
    provider_name: str
    status: str
    ratings: list[dict] = field(default_factory=list)
    follow_up: str | None = None  # the status of the latest 差评's follow-up
    next_round: int | None = None

    @property
    def can_rate(self) -> bool:
        return self.next_round is not None


def next_round(ticket_status: str, ratings: list[dict]) -> int | None:
    """Round 1 once the service is finished; round 2 only after the 差评 of round 1 was
    followed up and that follow-up closed; never a third."""
    if ticket_status not in RATEABLE_STATUSES:
        return None
    if not ratings:
        return 1
    first = ratings[0]
    if (
        len(ratings) == 1
        and first["level"] <= BAD_RATING_MAX
        and first.get("follow_up") == "closed"
        and first["round"] < LAST_ROUND
    ):
        return first["round"] + 1
    return None


def rating_states(case) -> dict[str, ServiceRating]:
    """Per service of the case (a model or ``cases.read`` rows): its ratings with their
    follow-ups' status, read in one statement."""
    rows = db.session.execute(
        db.select(
            Rating.ticket_id,
            Rating.round,
            Rating.level,
            Rating.comment,
            Rating.created_at,
            RatingFollowUp.status,
        )
        .outerjoin(RatingFollowUp, RatingFollowUp.rating_id == Rating.id)
        .where(Rating.case_id == case.id)
        .order_by(Rating.round)
    ).all()
    by_ticket: dict[int, list[dict]] = {}
    for ticket_id, rnd, level, comment, created_at, fu_status in rows:
        by_ticket.setdefault(ticket_id, []).append(
            {
                "round": rnd,
                "level": level,
                "comment": comment,
                "created_at": created_at,
                "follow_up": fu_status,
            }
        )
    states = {}
    for t in case.tickets:
        ratings = by_ticket.get(t.id, [])
        follow_ups = [r["follow_up"] for r in ratings if r["follow_up"]]
        states[t.service_code] = ServiceRating(
            ticket_id=t.id,
            service=t.service_code,
            provider_name=t.provider.name,
            status=t.status,
            ratings=ratings,
            follow_up=follow_ups[-1] if follow_ups else None,
            next_round=next_round(t.status, ratings),
        )
    return states


def rating_problems(level, comment: str | None) -> tuple[dict, str]:
    """Field messages for a rating as sent, and the comment as it will be stored."""
    fields = {}
    if isinstance(level, bool) or level not in RATING_LEVELS:
        fields["level"] = _("Choose one of the five levels.")
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        fields["comment"] = _("At most %(n)d characters.", n=MAX_COMMENT)
    # kept for good and read by staff: an ID or phone number typed into it is masked
    return fields, redact(text)


def submit_rating(case, service: str, level, comment: str | None, channel: str) -> Rating:
    """The applicant's rating of one finished service; a 差评 opens a follow-up. Raises Refused:
    422 field by field, 409 ``not_finished`` or ``already_rated``."""
    fields, comment = rating_problems(level, comment)
    ticket = next((t for t in case.tickets if t.service_code == service), None)
    if ticket is None:
        fields["service"] = _("This case has no such service.")
    if fields:
        raise Refused(422, "invalid", _("The rating has errors; see the fields."), fields)
    state = rating_states(case)[service]
    if ticket.status not in RATEABLE_STATUSES:
        raise Refused(409, "not_finished", _("A service can be rated once it has been connected."))
    if state.next_round is None:
        raise _already_rated(state)
    now = utcnow()
    rating = Rating(
        case_id=case.id,
        ticket_id=ticket.id,
        provider_id=ticket.provider_id,
        service_code=service,
        round=state.next_round,
        level=level,
        comment=comment,
        channel=channel,
        created_at=now,
    )
    db.session.add(rating)
    try:
        db.session.flush()  # the unique (ticket, round): of two at once, one wins
    except IntegrityError:
        db.session.rollback()
        raise _already_rated(state) from None
    detail = {"service": service, "round": rating.round, "level": level, "channel": channel}
    audit.record(
        "rating_given", actor=APPLICANT, case_id=case.id, ticket_id=ticket.id, detail=detail
    )
    if level <= BAD_RATING_MAX:
        due = working_calendar().add(now, _setting("JOINTDESK_RATING_RECTIFY_DAYS"))
        follow_up = RatingFollowUp(
            rating_id=rating.id,
            provider_id=ticket.provider_id,
            status="open",
            due_at=due,
            created_at=now,
        )
        db.session.add(follow_up)
        db.session.flush()
        if ticket.representative is not None:  # the one who carried the service is told
            with force_locale("zh_CN"):
                message = _(
                    "Case %(reference)s: the applicant is dissatisfied with %(service)s; call "
                    "back and rectify by %(due)s.",
                    reference=case.reference,
                    service=_service(service),
                    due=_local(due),
                )
            notifier().send(ticket.representative, "rating_follow_up", message)
        audit.record(
            "rating_follow_up_opened",
            actor=audit.SYSTEM,
            case_id=case.id,
            ticket_id=ticket.id,
            detail={"follow_up": follow_up.id, "service": service, "due_at": due.isoformat()},
        )
    db.session.commit()
    return rating


def _already_rated(state: ServiceRating) -> Refused:
    if state.ratings and state.follow_up in ("open", "answered") and len(state.ratings) == 1:
        return Refused(
            409,
            "already_rated",
            _(
                "This service has already been rated. You may rate it once more when the "
                "provider's follow-up of your rating has been closed."
            ),
        )
    return Refused(409, "already_rated", _("This service has already been rated."))


# --- follow-ups of 差评 ----------------------------------------------------------------------


def callback_due(follow_up: RatingFollowUp) -> datetime:
    """When the provider should have called the applicant back (working days)."""
    return working_calendar().add(follow_up.created_at, _setting("JOINTDESK_RATING_CALLBACK_DAYS"))


def follow_ups_query(provider_id: int | None = None, status: str | None = None):
    """Open first, then answered, then closed; the earliest due first."""
    order = sql_case(
        (RatingFollowUp.status == "open", 0), (RatingFollowUp.status == "answered", 1), else_=2
    )
    query = (
        db.select(RatingFollowUp)
        .options(
            selectinload(RatingFollowUp.rating),
            selectinload(RatingFollowUp.provider),
        )
        .order_by(order, RatingFollowUp.due_at, RatingFollowUp.id)
    )
    if provider_id is not None:
        query = query.where(RatingFollowUp.provider_id == provider_id)
    if status in FOLLOW_UP_STATUSES:
        query = query.where(RatingFollowUp.status == status)
    return query


def _change(
    row,
    expected_version: int | None,
    apply,
    action: str,
    actor: User,
    detail: dict,
    case_id: int | None,
    ticket_id: int | None = None,
) -> None:
    """Applies ``apply`` to a versioned row with its audit event in one transaction; a stale
    version (the form's, or a concurrent winner's) is a 409."""
    if expected_version is not None and expected_version != row.version:
        raise _conflict()
    try:
        with db.session.no_autoflush:
            apply()
            audit.record(action, actor=actor, case_id=case_id, ticket_id=ticket_id, detail=detail)
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise _conflict() from exc


def _text(value: str | None, name: str, limit: int, required_message: str) -> str:
    text = redact((value or "").strip())
    if not text:
        raise Refused(422, "invalid", required_message, {name: required_message})
    if len(text) > limit:
        message = _("At most %(n)d characters.", n=limit)
        raise Refused(422, "invalid", message, {name: message})
    return text


def _follow_up_detail(fu: RatingFollowUp, **extra) -> dict:
    return {"follow_up": fu.id, "service": fu.rating.service_code, **extra}


def record_callback(fu: RatingFollowUp, actor: User, expected_version: int | None) -> None:
    """The provider called the applicant back (once, before answering)."""
    if fu.status == "closed" or fu.called_back_at is not None:
        raise Refused(409, "state", _("The callback is already recorded."))

    def apply():
        fu.called_back_at = utcnow()

    _change(
        fu,
        expected_version,
        apply,
        "rating_follow_up_callback",
        actor,
        _follow_up_detail(fu),
        fu.rating.case_id,
        fu.rating.ticket_id,
    )


def answer_follow_up(
    fu: RatingFollowUp, actor: User, answer: str | None, expected_version: int | None
) -> None:
    """What was verified and rectified; the follow-up then waits for the supervisor."""
    text = _text(answer, "answer", MAX_ANSWER, _("Say what was verified and rectified."))
    if fu.status != "open":
        raise Refused(409, "state", _("Only an open follow-up can be answered."))
    if fu.called_back_at is None:
        raise Refused(409, "no_callback", _("Record the callback to the applicant first."))

    def apply():
        fu.status = "answered"
        fu.answer = text
        fu.answered_by = actor.username
        fu.answered_at = utcnow()

    _change(
        fu,
        expected_version,
        apply,
        "rating_follow_up_answered",
        actor,
        _follow_up_detail(fu),
        fu.rating.case_id,
        fu.rating.ticket_id,
    )


def review_follow_up(
    fu: RatingFollowUp, actor: User, accept: bool, note: str | None, expected_version: int | None
) -> None:
    """The supervisor accepts the answer (closed: the applicant may rate once more) or sends
    it back (open again, the note says why)."""
    note_text = redact((note or "").strip())
    if len(note_text) > MAX_ANSWER:
        message = _("At most %(n)d characters.", n=MAX_ANSWER)
        raise Refused(422, "invalid", message, {"note": message})
    if not accept and not note_text:
        message = _("Say why it is sent back.")
        raise Refused(422, "invalid", message, {"note": message})
    if fu.status != "answered":
        raise Refused(409, "state", _("Only an answered follow-up can be reviewed."))

    def apply():
        fu.status = "closed" if accept else "open"
        fu.review_note = note_text
        fu.reviewed_by = actor.username
        fu.reviewed_at = utcnow()

    action = "rating_follow_up_closed" if accept else "rating_follow_up_sent_back"
    _change(
        fu,
        expected_version,
        apply,
        action,
        actor,
        _follow_up_detail(fu),
        fu.rating.case_id,
        fu.rating.ticket_id,
    )


# --- complaints ----------------------------------------------------------------------------


def new_complaint_reference(now: datetime) -> str:
    """``TS`` + local date + six characters, like a case's ``ZZ`` reference."""
    zone = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    day = now.astimezone(zone).strftime("%Y%m%d")
    return "TS" + day + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


@dataclass
class ComplaintData:
    name: str
    phone: str
    provider: Provider | None
    case: Case | None
    subject: str
    body: str

    @property
    def provider_id(self) -> int | None:
        """The provider named; else the case's, when the case has exactly one."""
        if self.provider is not None:
            return self.provider.id
        if self.case is not None:
            ids = {t.provider_id for t in self.case.tickets}
            if len(ids) == 1:
                return ids.pop()
        return None


def clean(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def validate_complaint(data: dict) -> ComplaintData:
    """Field by field; raises Refused(422) with one message per field, nothing stored."""
    fields: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name:
        fields["name"] = _("Enter your name.")
    elif len(name) > MAX_NAME:
        fields["name"] = _("At most %(n)d characters.", n=MAX_NAME)
    phone = "".join(clean(data.get("phone")).split())
    if not phone:
        fields["phone"] = _("Enter your mobile phone number.")
    elif not is_valid_mobile(phone):
        fields["phone"] = _("Not a mainland mobile number (11 digits starting with 1).")
    provider = None
    code = (data.get("provider") or "").strip()
    if code:
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == code, Provider.active.is_(True))
        ).scalar_one_or_none()
        if provider is None:
            fields["provider"] = _("Choose a provider from the list.")
    case = None
    reference = clean(data.get("case_reference")).upper()
    if reference:
        case = db.session.execute(
            db.select(Case)
            .where(Case.reference == reference[:32])
            .options(selectinload(Case.tickets))
        ).scalar_one_or_none()
        if case is None:
            fields["case_reference"] = _("No case has this reference; check it or leave it empty.")
    if not code and not reference:
        fields["provider"] = _("Choose the provider, or give the case reference, or both.")
    if (
        provider is not None
        and case is not None
        and provider.id not in {t.provider_id for t in case.tickets}
    ):
        fields["provider"] = _("This provider has no service in that case.")
    subject = (data.get("subject") or "").strip()
    if not subject:
        fields["subject"] = _("Say in a few words what it is about.")
    elif len(subject) > MAX_SUBJECT:
        fields["subject"] = _("At most %(n)d characters.", n=MAX_SUBJECT)
    body = (data.get("body") or "").strip()
    if not body:
        fields["body"] = _("Describe what happened.")
    elif len(body) > MAX_BODY:
        fields["body"] = _("At most %(n)d characters.", n=MAX_BODY)
    if fields:
        raise Refused(422, "invalid", _("The complaint has errors; see the fields."), fields)
    return ComplaintData(name, phone, provider, case, redact(subject), redact(body))


class AlreadyReceived(Exception):  # noqa: N818
    """The same complaint (phone, subject, text) was received within the last day."""

    def __init__(self, complaint: Complaint):
        super().__init__(complaint.reference)
        self.complaint = complaint


def create_complaint(
    data: ComplaintData, channel: str, actor: User | None
) -> tuple[Complaint, str]:
    """Stores the complaint, due ``JOINTDESK_COMPLAINT_DAYS`` working days later; returns it
    with its query code (shown once, kept as a keyed hash). The same complaint again within a
    day (a double click, a reload) raises AlreadyReceived with the first."""
    now = utcnow()
    if db.engine.dialect.name == "postgresql":
        # the same phone's complaints one at a time, so that a double click sent twice at once
        # finds the first (released at this transaction's end); SQLite writes one at a time
        db.session.execute(
            db.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"complaint:{data.phone}"},
        )
    first = db.session.execute(
        db.select(Complaint)
        .where(
            Complaint.complainant_phone == data.phone,
            Complaint.subject == data.subject,
            Complaint.body == data.body,
            Complaint.created_at > now - DUPLICATE_WINDOW,
        )
        .limit(1)
    ).scalar_one_or_none()
    if first is not None:
        raise AlreadyReceived(first)
    due = working_calendar().add(now, _setting("JOINTDESK_COMPLAINT_DAYS"))
    for _attempt in range(5):
        code = new_query_code()
        reference = new_complaint_reference(now)
        complaint = Complaint(
            reference=reference,
            query_code_hash=query_code_digest(reference, code),
            channel=channel,
            provider_id=data.provider_id,
            case_id=data.case.id if data.case else None,
            complainant_name=data.name,
            complainant_phone=data.phone,
            subject=data.subject,
            body=data.body,
            status="open",
            due_at=due,
            created_by=actor.username if actor is not None else None,
            created_at=now,
        )
        db.session.add(complaint)
        try:
            db.session.flush()
        except IntegrityError:  # a reference drawn twice, one in a billion: draw again
            db.session.rollback()
            continue
        _tell_supervisors(complaint)
        audit.record(
            "complaint_received",
            actor=actor or COMPLAINANT,
            case_id=complaint.case_id,
            detail={
                "complaint": reference,
                "channel": channel,
                "provider": data.provider.code if data.provider else None,
                "due_at": due.isoformat(),
            },
        )
        db.session.commit()
        return complaint, code
    raise RuntimeError("could not draw a unique complaint reference")


def _service(code: str) -> str:
    from jointdesk.labels import service_label

    return str(service_label(code))


def _local(moment: datetime) -> str:
    zone = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _tell_supervisors(complaint: Complaint) -> None:
    """Every active supervisor is told of a new complaint (through the notifier)."""
    supervisors = db.session.execute(
        db.select(User).where(User.role == "supervisor", User.active.is_(True))
    ).scalars()
    with force_locale("zh_CN"):
        message = _(
            "New complaint %(reference)s: %(subject)s; answer by %(due)s.",
            reference=complaint.reference,
            subject=complaint.subject,
            due=_local(complaint.due_at),
        )
    send = notifier()
    for user in supervisors:
        send.send(user, "complaint_received", message)


def complaint_for_complainant(reference: str, code: str) -> Complaint | None:
    """The complaint if reference and query code match, else None: one statement, the same
    for an unknown reference and a wrong code."""
    reference = clean(reference).upper()[:32]
    digest = query_code_digest(reference, clean(code)[:32])
    return db.session.execute(
        db.select(Complaint).where(
            Complaint.reference == reference, Complaint.query_code_hash == digest
        )
    ).scalar_one_or_none()


def complaints_query(
    provider_id: int | None = None, status: str | None = None, only_provider: int | None = None
):
    """Open first, then answered, then closed; the earliest due first."""
    order = sql_case((Complaint.status == "open", 0), (Complaint.status == "answered", 1), else_=2)
    query = (
        db.select(Complaint)
        .options(selectinload(Complaint.provider))
        .order_by(order, Complaint.due_at, Complaint.id)
    )
    if only_provider is not None:
        query = query.where(Complaint.provider_id == only_provider)
    if provider_id is not None:
        query = query.where(Complaint.provider_id == provider_id)
    if status in COMPLAINT_STATUSES:
        query = query.where(Complaint.status == status)
    return query


def _complaint_detail(c: Complaint) -> dict:
    return {"complaint": c.reference}


def answer_complaint(
    c: Complaint, actor: User, answer: str | None, expected_version: int | None
) -> None:
    """The supervisors' answer, shown to the complainant."""
    text = _text(answer, "answer", MAX_ANSWER, _("Write the answer."))
    if c.status != "open":
        raise Refused(409, "state", _("Only an open complaint can be answered."))

    def apply():
        c.status = "answered"
        c.answer = text
        c.answered_by = actor.username
        c.answered_at = utcnow()

    _change(
        c, expected_version, apply, "complaint_answered", actor, _complaint_detail(c), c.case_id
    )


def close_complaint(
    c: Complaint, actor: User, note: str | None, expected_version: int | None
) -> None:
    """Closed with a note (after an answer, or directly: the note then says why)."""
    text = _text(note, "note", MAX_ANSWER, _("Write the closing note."))
    if c.status == "closed":
        raise Refused(409, "state", _("This complaint is already closed."))

    def apply():
        c.status = "closed"
        c.close_note = text
        c.closed_by = actor.username
        c.closed_at = utcnow()

    _change(c, expected_version, apply, "complaint_closed", actor, _complaint_detail(c), c.case_id)


def is_late(due_at: datetime | None, status: str, now: datetime | None = None) -> bool:
    return status != "closed" and due_at is not None and due_at < (now or utcnow())
