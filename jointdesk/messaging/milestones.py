"""The applicant is told, in Chinese, when their application reaches a milestone.

One subscriber of the domain events (registered by ``create_app``, so the web, the command line
and the workers all have it) writes one message row per milestone in the transaction of the
change, through ``messaging.send``:

============================  =============================  ===============================
event                         template                       dedup key
============================  =============================  ===============================
``case.created``              ``case_accepted`` (window) or  ``case:{id}:created``
                              ``case_accepted_no_receipt``
``ticket.connect``            ``service_connected``          ``ticket:{id}:connect``
``ticket.return``             ``service_returned``           ``ticket:{id}:return``
``ticket.suspend`` waiting    ``service_waiting``            ``ticket:{id}:suspend:{n}``
for the applicant only
``case.completed``            ``case_completed``             ``case:{id}:completed``
============================  =============================  ===============================

``n`` is the suspension's place among the ticket's suspensions (1 for the first), so each
suspension is told once however often its event is handled. The query code is never sent:
the message row is kept whole and shown to administrators, and the code exists nowhere in
clear after the receipt. At the window the applicant holds it on the paper receipt; a pushed
project's applicant is told to find it in the system they applied through or to have the
window issue a new one. A case without a phone number gets no message. ID numbers never
appear (no template has a field for one; reasons were masked when they were typed).

Each milestone costs one read (the case or ticket with what the message names, and the
administrator's wording of its template, in one statement) and the message's INSERT; other
events cost nothing.
"""

from __future__ import annotations

import functools

from flask import current_app
from sqlalchemy import bindparam
from sqlalchemy.orm.util import identity_key

from jointdesk import domain_events, messaging
from jointdesk.cases.read import Row
from jointdesk.domain_events import DomainEvent
from jointdesk.extensions import db
from jointdesk.messaging.templates import override_body, preloaded
from jointdesk.models import Case, Provider, Service, Ticket
from jointdesk.policy.process import CONNECTED, SUSPEND_APPLICANT
from jointdesk.prebuilt import all_rows

# channels where the applicant holds a paper receipt with the query code
RECEIPT_CHANNELS = ("window",)
# said when the provider gave no words (a return always has them; a suspension may not)
NO_REASON_GIVEN = "请补充资料或配合现场工作，具体事项请咨询客户代表"
NO_RETURN_REASON = "详情请咨询受理窗口"
LIST_SEPARATOR = "、"


def status_url(reference: str) -> str:
    """The public status page for this case (``JOINTDESK_PUBLIC_BASE_URL`` + ``/status``),
    with the reference filled in; only the path when no public address is configured."""
    base = current_app.config.get("JOINTDESK_PUBLIC_BASE_URL") or ""
    return f"{base}/status?reference={reference}"


def on_event(event: DomainEvent) -> None:
    """The subscriber: one message for the events above, nothing for the others."""
    if event.name == "case.created":
        _case_accepted(event)
    elif event.name == "case.completed":
        _case_completed(event)
    elif event.name in ("ticket.connect", "ticket.return"):
        _ticket_closed(event)
    elif event.name == "ticket.suspend" and event.detail.get("reason_code") == SUSPEND_APPLICANT:
        _waiting_for_applicant(event)


def register() -> None:
    domain_events.subscribe(on_event)


@functools.cache
def _case_rows_statement():
    """Built once per process; the case and the template's name are bound per message."""
    return (
        db.select(
            Case.reference,
            Case.applicant_phone,
            Ticket.id,
            Ticket.status,
            Service.name,
            override_body(bindparam("template")).label("template_body"),
        )
        .join(Ticket, Ticket.case_id == Case.id)
        .join(Service, Service.code == Ticket.service_code)
        .where(Case.id == bindparam("case_id"))
        .order_by(Service.sort_order, Ticket.id)
    )


def _case_rows(case_id: int, template: str) -> list:
    """The case's reference and phone, each ticket's id, status and service name, and the
    administrator's wording of ``template``: one statement."""
    found = all_rows(
        db.session.connection(), _case_rows_statement(), {"case_id": case_id, "template": template}
    )
    return [Row(r) for r in found]


def _send(phone: str, template: str, body: str | None, context: dict, **keys) -> None:
    with preloaded(template, body):
        messaging.send(phone, template, context, **keys)


def _case_accepted(event: DomainEvent) -> None:
    channel = event.detail.get("channel")
    template = "case_accepted" if channel in RECEIPT_CHANNELS else "case_accepted_no_receipt"
    rows = _case_rows(event.case_id, template)
    if not rows or not rows[0].applicant_phone:
        return
    reference = rows[0].reference
    context = {
        "reference": reference,
        "services": LIST_SEPARATOR.join(r.name for r in rows),
        "status_url": status_url(reference),
    }
    _send(
        rows[0].applicant_phone,
        template,
        rows[0].template_body,
        context,
        dedup_key=f"case:{event.case_id}:created",
        case_id=event.case_id,
    )


def _case_completed(event: DomainEvent) -> None:
    rows = _case_rows(event.case_id, "case_completed")
    if not rows or not rows[0].applicant_phone:
        return
    # the action that closed the case is not flushed yet: its ticket's status is in the session
    session_tickets = db.session.identity_map
    connected = []
    for row in rows:
        ticket = session_tickets.get(identity_key(Ticket, row.id))
        status = ticket.status if ticket is not None else row.status
        if status == CONNECTED:
            connected.append(row.name)
    _send(
        rows[0].applicant_phone,
        "case_completed",
        rows[0].template_body,
        {"reference": rows[0].reference, "services": LIST_SEPARATOR.join(connected)},
        dedup_key=f"case:{event.case_id}:completed",
        case_id=event.case_id,
    )


def _ticket_row(ticket_id: int, template: str):
    """The ticket's case reference and phone, service and provider names, and the
    administrator's wording of ``template``: one statement."""
    return db.session.execute(
        db.select(
            Case.reference,
            Case.applicant_phone,
            Service.name.label("service"),
            Provider.name.label("provider"),
            override_body(template).label("body"),
        )
        .select_from(Ticket)
        .join(Case, Case.id == Ticket.case_id)
        .join(Service, Service.code == Ticket.service_code)
        .join(Provider, Provider.id == Ticket.provider_id)
        .where(Ticket.id == ticket_id)
    ).first()


def _ticket_closed(event: DomainEvent) -> None:
    action = event.name.split(".", 1)[1]
    template = "service_connected" if action == "connect" else "service_returned"
    row = _ticket_row(event.ticket_id, template)
    if row is None or not row.applicant_phone:
        return
    context = {"reference": row.reference, "service": row.service, "provider": row.provider}
    if action == "return":
        context["reason"] = event.detail.get("reason") or NO_RETURN_REASON
    _send(
        row.applicant_phone,
        template,
        row.body,
        context,
        dedup_key=f"ticket:{event.ticket_id}:{action}",
        case_id=event.case_id,
        ticket_id=event.ticket_id,
    )


def _waiting_for_applicant(event: DomainEvent) -> None:
    row = _ticket_row(event.ticket_id, "service_waiting")
    if row is None or not row.applicant_phone:
        return
    # the ticket is in the session (the action changed it): its suspensions are loaded
    ticket = db.session.get(Ticket, event.ticket_id)
    nth = len(ticket.suspensions)
    _send(
        row.applicant_phone,
        "service_waiting",
        row.body,
        {
            "reference": row.reference,
            "service": row.service,
            "provider": row.provider,
            "reason": event.detail.get("reason") or NO_REASON_GIVEN,
        },
        dedup_key=f"ticket:{event.ticket_id}:suspend:{nth}",
        case_id=event.case_id,
        ticket_id=event.ticket_id,
    )
