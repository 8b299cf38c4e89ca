"""Where a provider's tickets go: its channel, chosen by ``Provider.channel``.

One interface, ``Channel.hand_over(delivery, now)`` (``outbox.Delivery``: the outbox row's id,
ticket and queue), called by the delivery task (``outbox.deliver``) in its transaction, with a
registry of implementations; before it, ``Channel.hand_over_at_once(row, now)`` may do the
usual case in one statement from what the delivery read (the desk's does):

- ``desk`` (the default): the built-in desk holds the ticket at once: ``dispatching`` →
  ``queued`` (``outbox.hold_at_once``: the move, the audit row and the outbox row done in one
  statement on PostgreSQL; otherwise, and for a ticket that gets its first representative on
  arrival, ``outbox.mark_held``);
- ``webhook``: the provider's own system gets the ticket as a signed ``POST`` to its URL
  (``integrations.delivery``, kind ``ticket``); the ticket stays ``dispatching`` until that
  system answered 2xx, and only then becomes ``queued`` (the ``dispatched`` audit event and
  ``ticket.dispatched`` follow from the same ``mark_held``). One delivery per ticket: its
  idempotency key is ``jointdesk-ticket-<id>``, so a retried task adds nothing. A provider
  switched back to the desk while a ticket was on its way gets it in the desk at the next
  attempt (or re-drive), without a request.

``set_channel`` is the one way to change a provider's channel (admin page and CLI): it checks
the URL (http or https, at most 500 characters) and the secret (16 to 200 printable
characters, write-only) and audits the change without the secret.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.integrations import delivery
from jointdesk.models import Case, Provider, Ticket

if TYPE_CHECKING:
    from jointdesk.routing.outbox import Delivery

DESK, WEBHOOK = "desk", "webhook"
CHANNEL_NAMES = (DESK, WEBHOOK)
MAX_URL = 500
MIN_SECRET, MAX_SECRET = 16, 200
# http or https, a host (letters, digits, dots, hyphens; or [IPv6]), an optional port, then any
# printable ASCII path and query; the API's schema serves the same pattern
URL_PATTERN = r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?][!-~]*)?$"
SECRET_PATTERN = r"^[!-~]*$"  # noqa: S105  (a pattern, not a secret)
_URL = re.compile(URL_PATTERN)
_SECRET = re.compile(SECRET_PATTERN)


class Channel:
    name = ""

    def hand_over_at_once(self, row: dict, now: datetime) -> bool:
        """The usual case in one statement, when the channel has one: ``row`` is what
        ``outbox.deliver`` read of the outbox row, its ticket and case. True: handed over, the
        row done; False: nothing written, ``hand_over`` decides."""
        return False

    def hand_over(self, msg: Delivery, now: datetime) -> str:
        """Hands the outbox row's ticket over, in the caller's transaction; says what happened
        (``delivered``, ``duplicate``, ``sending``)."""
        raise NotImplementedError


class DeskChannel(Channel):
    name = DESK

    def hand_over_at_once(self, row: dict, now: datetime) -> bool:
        from jointdesk.routing.outbox import hold_at_once

        return hold_at_once(row, now)

    def hand_over(self, msg: Delivery, now: datetime) -> str:
        from jointdesk.routing.outbox import mark_held

        return "delivered" if mark_held(msg.ticket_id, msg.queue, now) else "duplicate"


class WebhookChannel(Channel):
    name = WEBHOOK

    def hand_over(self, msg: Delivery, now: datetime) -> str:
        ticket = db.session.execute(
            db.select(Ticket)
            .where(Ticket.id == msg.ticket_id)
            .options(selectinload(Ticket.steps), selectinload(Ticket.permits))
        ).scalar_one()
        if ticket.status != "dispatching":
            return "duplicate"
        new = delivery.add(
            "ticket",
            ticket.provider.code,
            ticket_payload(ticket),
            idempotency_key=f"jointdesk-ticket-{ticket.id}",
            case_id=ticket.case_id,
            ticket_id=ticket.id,
        )
        return "sending" if new is not None else "duplicate"


CHANNELS: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    CHANNELS[channel.name] = channel
    return channel


register(DeskChannel())
register(WebhookChannel())


def channel_for(name: str | None) -> Channel:
    """The channel of that name; the desk for a row without a provider or an unknown name."""
    return CHANNELS.get(name or DESK) or CHANNELS[DESK]


def _time(value) -> str | None:
    return None if value is None else value.isoformat()


def ticket_payload(ticket: Ticket) -> dict:
    """What a provider's system gets: the ticket, its case's reference, the applicant whole
    (the provider needs name, phone and ID number to connect; sent only to its own system),
    the address and the project's facts."""
    case: Case = ticket.case
    return {
        "event": "ticket",
        "ticket": {
            "id": ticket.id,
            "service": ticket.service_code,
            "status": ticket.status,
            "provider": ticket.provider.code,
            "created_at": _time(ticket.created_at),
            "due_at": _time(ticket.due_at),
            "steps": [
                {"seq": s.seq, "name": s.name, "due_at": _time(s.due_at)} for s in ticket.steps
            ],
            "permits": [{"kind": p.kind, "status": p.status} for p in ticket.permits],
        },
        "case": {
            "reference": case.reference,
            "channel": case.channel,
            "approval_system_code": case.approval_system_code,
            "created_at": _time(case.created_at),
        },
        "applicant": {
            "kind": case.applicant_kind,
            "name": case.applicant_name,
            "id_number": case.applicant_id_number,
            "phone": case.applicant_phone,
        },
        "address": {"district": case.district.name, "detail": case.address_detail},
        "project": {
            "external_works": case.external_works,
            "low_risk": case.low_risk,
            "pipeline_length_m": case.pipeline_length_m,
            "supporting_fee_paid": case.supporting_fee_paid,
        },
    }


class TicketSender(delivery.Sender):
    """Kind ``ticket``: to the provider's current URL with its secret; a 2xx makes the ticket
    ``queued`` (held by the provider's system)."""

    def endpoint(self, row: delivery.Row) -> tuple[str, str]:
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == row.target)
        ).scalar_one_or_none()
        if provider is not None and provider.channel == DESK:
            # switched back to the desk while the ticket was on its way: the desk holds it now
            raise delivery.Superseded(f"provider {row.target} works in the desk now")
        if provider is None or not provider.webhook_url or not provider.webhook_secret:
            raise delivery.NotConfigured(f"provider {row.target} has no webhook URL and secret")
        return provider.webhook_url, provider.webhook_secret

    def on_delivered(self, row: delivery.Row, now: datetime) -> None:
        from jointdesk.models import queue_name_for
        from jointdesk.routing.outbox import mark_held

        channel = db.session.scalar(db.select(Provider.channel).where(Provider.code == row.target))
        mark_held(row.ticket_id, queue_name_for(row.target), now, {"channel": channel or WEBHOOK})


delivery.register("ticket", TicketSender())


# --- changing a provider's channel -----------------------------------------------------------


class ChannelErrors(ValueError):
    """Field-by-field reasons, translated: ``fields`` maps channel/url/secret to a message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def url_problem(url: str) -> str | None:
    if len(url) > MAX_URL:
        return _("At most %(n)d characters.", n=MAX_URL)
    if not _URL.fullmatch(url):
        return _("Enter an http:// or https:// address, such as https://example.com/jointdesk.")
    return None


def secret_problem(secret: str) -> str | None:
    if len(secret) < MIN_SECRET:
        return _("The secret needs at least %(n)d characters.", n=MIN_SECRET)
    if len(secret) > MAX_SECRET:
        return _("At most %(n)d characters.", n=MAX_SECRET)
    if not _SECRET.fullmatch(secret):
        return _("Use printable ASCII characters without spaces.")
    return None


def set_channel(
    provider: Provider,
    channel: str,
    actor,
    *,
    url: str | None = None,
    secret: str | None = None,
) -> bool:
    """Sets where the provider's tickets go; ``secret`` None or empty keeps the one set.
    Raises ChannelErrors (nothing saved) or returns whether anything changed; audited (the
    secret never: only whether it changed). Commits."""
    fields: dict[str, str] = {}
    if channel not in CHANNEL_NAMES:
        fields["channel"] = _("Choose the desk or the provider's own system.")
    url = (url or "").strip() or None
    secret = secret or None
    if channel == WEBHOOK:
        if url is None:
            fields["url"] = _("The address of the provider's system is required.")
        elif problem := url_problem(url):
            fields["url"] = problem
        if secret is None and not provider.webhook_secret:
            fields["secret"] = _("A secret is required; both systems sign with it.")
    elif url is not None and (problem := url_problem(url)):
        fields["url"] = problem
    if secret is not None and (problem := secret_problem(secret)):
        fields["secret"] = problem
    if fields:
        raise ChannelErrors(fields)
    before = {"channel": provider.channel, "url": provider.webhook_url}
    new_url = url if url is not None else (provider.webhook_url if channel == WEBHOOK else None)
    secret_changed = secret is not None and secret != provider.webhook_secret
    if channel == DESK and url is None:
        new_url = provider.webhook_url  # kept for a later switch back; unused by the desk
    after = {"channel": channel, "url": new_url}
    if before == after and not secret_changed:
        db.session.rollback()
        return False
    provider.channel = channel
    provider.webhook_url = new_url
    if secret_changed:
        provider.webhook_secret = secret
    audit.record(
        "provider_channel_changed",
        actor=actor,
        detail={
            "code": provider.code,
            "before": before,
            "after": after,
            "secret_changed": secret_changed,
        },
    )
    db.session.commit()
    return True
