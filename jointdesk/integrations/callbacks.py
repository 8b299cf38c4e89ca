"""Callbacks to the approval system (工程建设项目审批管理系统) at each milestone of a case it
pushed.

Its integration client registers where they go (``PUT /api/v1/integrations/approval-system/
callback`` with a URL and a secret; ``GET`` reads the URL back, never the secret; ``DELETE``
stops them). A domain-event subscriber adds one signed HTTP delivery (``integrations.delivery``,
kind ``callback``) in the transaction of each milestone of a case whose channel is
``approval_system``; the POST happens in a worker, with the same retries and dead letters as
every delivery. Nothing is queued while no address is registered.

Milestones (``milestone`` in the body): ``case_received`` (the case was created),
``service_queued`` (a service's ticket is held by its provider), ``service_accepted``,
``service_connected``, ``service_returned`` (with ``reason``), ``case_completed``. The body:
``{"project_code", "reference", "milestone", "service", "status", "reason", "at"}`` where
``status`` is the ticket's status for a service milestone and the case's for a case milestone.
"""

from __future__ import annotations

from jointdesk import audit, domain_events
from jointdesk.domain_events import DomainEvent
from jointdesk.extensions import db
from jointdesk.integrations import delivery
from jointdesk.models import CallbackEndpoint, Case, Ticket

APPROVAL_SYSTEM = "approval-system"
APPROVAL_CHANNEL = "approval_system"
MILESTONES = {
    "case.created": "case_received",
    "ticket.dispatched": "service_queued",
    "ticket.accept": "service_accepted",
    "ticket.connect": "service_connected",
    "ticket.return": "service_returned",
    "case.completed": "case_completed",
}


def endpoint(system: str = APPROVAL_SYSTEM) -> CallbackEndpoint | None:
    return db.session.execute(
        db.select(CallbackEndpoint).where(CallbackEndpoint.system == system)
    ).scalar_one_or_none()


def register_endpoint(url: str, secret: str, actor, system: str = APPROVAL_SYSTEM):
    """Stores (or replaces) the system's callback address and secret; audited without the
    secret. Commits."""
    row = endpoint(system)
    before = None if row is None else row.url
    if row is None:
        row = CallbackEndpoint(system=system, url=url, secret=secret, updated_by_id=actor.id)
        db.session.add(row)
    else:
        row.url, row.secret, row.updated_by_id = url, secret, actor.id
    audit.record(
        "callback_registered",
        actor=actor,
        detail={"system": system, "url_before": before, "url": url},
    )
    db.session.commit()
    return row


def remove_endpoint(actor, system: str = APPROVAL_SYSTEM) -> bool:
    """No more callbacks to the system (deliveries already queued still go). Commits."""
    row = endpoint(system)
    if row is None:
        return False
    audit.record("callback_removed", actor=actor, detail={"system": system, "url": row.url})
    db.session.delete(row)
    db.session.commit()
    return True


def _case(event: DomainEvent) -> Case | None:
    """The event's case from the session when the caller has it (no statement), else read."""
    return db.session.get(Case, event.case_id)


@domain_events.subscribe
def on_event(event: DomainEvent) -> None:
    """Adds the milestone's callback delivery, for cases the approval system pushed."""
    milestone = MILESTONES.get(event.name)
    if milestone is None:
        return
    # the channel travels with the events that are not about a loaded case (intake, dispatch)
    channel = event.detail.get("channel") if event.name == "case.created" else None
    if event.name == "ticket.dispatched":
        channel = event.detail.get("case_channel")
    if channel is not None and channel != APPROVAL_CHANNEL:
        return
    case = None
    if channel is None:
        case = _case(event)
        if case is None or case.channel != APPROVAL_CHANNEL:
            return
    if endpoint() is None:
        return
    if case is None:
        case = _case(event)
    body = {
        "project_code": case.approval_push_code or case.approval_system_code,
        "reference": case.reference,
        "milestone": milestone,
        "service": None,
        "status": None,
        "reason": None,
        "at": event.at.isoformat(),
    }
    if event.ticket_id is not None:
        ticket = db.session.get(Ticket, event.ticket_id)
        body["service"] = ticket.service_code
        body["status"] = "queued" if event.name == "ticket.dispatched" else ticket.status
        if event.name == "ticket.return":
            body["reason"] = ticket.return_reason
    else:
        body["status"] = "completed" if event.name == "case.completed" else "received"
    delivery.add(
        "callback",
        APPROVAL_SYSTEM,
        body,
        # each milestone happens once per case or ticket: a replayed event adds nothing
        idempotency_key=f"jointdesk-callback-{case.id}-{milestone}-{event.ticket_id or 0}",
        case_id=case.id,
        ticket_id=event.ticket_id,
    )


class CallbackSender(delivery.Sender):
    def endpoint(self, row: delivery.Row) -> tuple[str, str]:
        found = endpoint(row.target)
        if found is None:
            raise delivery.NotConfigured(f"{row.target} has no callback address")
        return found.url, found.secret


delivery.register("callback", CallbackSender())
