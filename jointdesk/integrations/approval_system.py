"""What the approval system (工程建设项目审批管理系统) may read of its projects (开放查询权限).

The policy opens the approval system's data to the utilities ("将城市工程建设项目审批管理系统向
专营企业开放查询权限，实施数据共享"); the other way round, the approval system follows each project
it pushed: the case's status, each service's ticket, who represents the provider and when the
provider first contacted the applicant (企业主动对接), the steps with their due and completion
times, the permits, and when it was all done.

A project is a case pushed by the approval system (``approval_push_code``) or brought to the
window with its approval-system code (``approval_system_code``); by code, the pushed case comes
first, else the newest carrying the code. Reads are lean: one statement for the ids of a page
(keyset on ``created_at, id``, index ``ix_cases_created_at``), two for the cases and their
tickets (``cases.read.load_cases_data``), whatever the page holds.

The applicant's ID number and phone are masked: the approval system knows its project.
The representative's phone is the provider's published service phone: JointDesk keeps no
personal numbers of staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import literal, or_, tuple_

from jointdesk.cases.read import CaseData, load_cases_data
from jointdesk.cases.services import iso
from jointdesk.extensions import db
from jointdesk.models import Case
from jointdesk.models.types import UTCDateTime
from jointdesk.policy.identity import mask_id_number, mask_phone
from jointdesk.policy.process import CASE_COMPLETED, CONNECTED, case_status

PAGE_SIZE = 100
MAX_RANGE_DAYS = 92
MAX_ID = 2**31 - 1  # no case id is larger (a cursor's beyond it means the same)

IS_PROJECT = or_(Case.approval_push_code.is_not(None), Case.approval_system_code.is_not(None))


class BadCursor(ValueError):
    """An ``after`` cursor this server did not give out."""


CURSOR_PATTERN = r"[0-9]{1,20}-[0-9]{1,20}"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class ProjectCursor:
    """Where a page of projects ended: its last case's creation time (microseconds since the
    Unix epoch) and id, as ``<micros>-<id>``. Every string of that form is a place in the
    order (beyond the ends it is clamped), so the document's pattern says exactly which
    cursors are accepted."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def decode(cls, text: str) -> ProjectCursor:
        if not _CURSOR.fullmatch(text):
            raise BadCursor(text[:50])
        micros, case_id = (int(part) for part in text.split("-"))
        moment = _EPOCH + timedelta(microseconds=min(micros, _MAX_MICROS))
        return cls(moment, min(case_id, MAX_ID))


def local_day_start(day: date) -> datetime:
    """The first moment of a local date (the deployment's time zone), in UTC; the ends of the
    calendar clamp instead of overflowing."""
    zone = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    try:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return (datetime.min if day.year == 1 else datetime.max).replace(tzinfo=UTC)


def project_by_code(code: str) -> CaseData | None:
    """The project's case: the one the approval system pushed, else the newest brought to the
    window with this code. Three statements."""
    case_id = db.session.execute(
        db.select(Case.id)
        .where(or_(Case.approval_push_code == code, Case.approval_system_code == code))
        .order_by(Case.approval_push_code.is_(None), Case.created_at.desc(), Case.id.desc())
        .limit(1)
    ).scalar()
    if case_id is None:
        return None
    return load_cases_data([case_id])[0]


@dataclass
class ProjectPage:
    items: list[CaseData]
    next: str | None


def projects_created(
    first: date, last: date, after: ProjectCursor | None = None, per_page: int | None = None
) -> ProjectPage:
    """The projects whose case was created from local date ``first`` to ``last`` (both
    included), oldest first, from after ``after`` on: three statements per page."""
    per_page = per_page or PAGE_SIZE
    start = local_day_start(first)
    end = (
        datetime.max.replace(tzinfo=UTC)
        if last == date.max
        else local_day_start(last + timedelta(days=1))
    )
    query = db.select(Case.id, Case.created_at).where(
        IS_PROJECT, Case.created_at >= start, Case.created_at < end
    )
    if after is not None:
        query = query.where(
            tuple_(Case.created_at, Case.id)
            > tuple_(literal(after.created_at, UTCDateTime), literal(after.id))
        )
    rows = db.session.execute(query.order_by(Case.created_at, Case.id).limit(per_page + 1)).all()
    more = len(rows) > per_page
    rows = rows[:per_page]
    cursor = ProjectCursor(rows[-1].created_at, rows[-1].id).encode() if more else None
    return ProjectPage(load_cases_data([r.id for r in rows]), cursor)


def project_dict(case: CaseData) -> dict:
    """One project as the approval system reads it (schema ``ApprovalProject``)."""
    status = case_status(t.status for t in case.tickets)
    completed_at = None
    if status == CASE_COMPLETED:
        completed_at = max((t.closed_at for t in case.tickets if t.closed_at), default=None)
    return {
        "project_code": case.approval_push_code or case.approval_system_code,
        "reference": case.reference,
        "pushed": case.approval_push_code is not None,
        "channel": case.channel,
        "status": status,
        "created_at": iso(case.created_at),
        "completed_at": iso(completed_at),
        "applicant": {
            "kind": case.applicant_kind,
            "name": case.applicant_name,
            "id_number": mask_id_number(case.applicant_id_number),
            "phone": mask_phone(case.applicant_phone),
        },
        "address": {"district": case.district.name, "detail": case.address_detail},
        "services": [_service(t) for t in case.tickets],
    }


def _service(ticket) -> dict:
    rep = ticket.representative
    return {
        "service": ticket.service_code,
        "ticket_id": ticket.id,
        "provider": ticket.provider.code,
        "provider_name": ticket.provider.name,
        "status": ticket.status,
        "representative": (
            None if rep is None else {"name": rep.label, "phone": ticket.provider.phone}
        ),
        "first_contact_at": iso(ticket.first_contact_at),
        "contacts": ticket.contacts or 0,
        "queued_at": iso(ticket.queued_at),
        "due_at": iso(ticket.due_at),
        "completed_at": iso(ticket.closed_at if ticket.status == CONNECTED else None),
        "closed_at": iso(ticket.closed_at),
        "return_reason": ticket.return_reason,
        "steps": [
            {
                "name": s.name,
                "started_at": iso(s.started_at),
                "due_at": iso(s.due_at),
                "completed_at": iso(s.completed_at),
            }
            for s in ticket.steps
        ],
        "permits": [
            {
                "kind": p.kind,
                "status": p.status,
                "filed_at": iso(p.filed_at),
                "due_at": iso(p.due_at),
                "granted_at": iso(p.granted_at),
            }
            for p in ticket.permits
        ],
    }
