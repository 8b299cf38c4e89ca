"""Where messages to applicants go once written: the deployment's notifier.

Both notifiers act in the transaction that writes the message row (``messaging.send``), so a
message is handed over exactly when it was committed, and once:

- ``OutboxNotifier``, the embedded default when no gateway is configured: the message table is
  the outbox administrators read (the applicant is told by the office). The row is written
  with status ``sent`` and ``sent_at`` set: handled, nothing more will happen to it.
- ``GatewayNotifier``, when ``JOINTDESK_SMS_GATEWAY_URL`` (and ``JOINTDESK_SMS_GATEWAY_SECRET``)
  are set: the row is written ``pending`` with one signed HTTP delivery (kind ``sms``,
  ``integrations.delivery``) of ``{"phone", "text", "message_id"}`` whose idempotency key is
  ``jointdesk-sms-<message id>``, one per message, so the gateway never sends one twice however
  often a worker retries. The gateway's 2xx makes the row ``sent``; a dead letter makes it
  ``dead`` (re-driving makes it ``pending`` again).

Phone numbers and texts are never logged: log lines name the message id.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import update

from jointdesk.extensions import db
from jointdesk.integrations import delivery
from jointdesk.models import ApplicantMessage

SMS_GATEWAY = "sms-gateway"


class Notifier:
    """Hands a message just written to whatever sends it, in the same transaction."""

    name = ""
    #: the status the message row is written with
    initial_status = "pending"

    def queued(self, message_id: int, phone: str, text: str) -> None:
        raise NotImplementedError


class OutboxNotifier(Notifier):
    name = "outbox"
    initial_status = "sent"

    def queued(self, message_id: int, phone: str, text: str) -> None:
        pass  # the row itself is the outbox; it was written handled


class GatewayNotifier(Notifier):
    name = "gateway"
    initial_status = "pending"

    def queued(self, message_id: int, phone: str, text: str) -> None:
        delivery.add(
            "sms",
            SMS_GATEWAY,
            {"phone": phone, "text": text, "message_id": message_id},
            idempotency_key=f"jointdesk-sms-{message_id}",
            message_id=message_id,
        )


def current_notifier() -> Notifier:
    """The app's notifier: one set in ``app.extensions['jointdesk.sms_notifier']``, else the
    gateway when configured, else the outbox."""
    chosen = current_app.extensions.get("jointdesk.sms_notifier")
    if chosen is not None:
        return chosen
    if current_app.config.get("JOINTDESK_SMS_GATEWAY_URL"):
        return GatewayNotifier()
    return OutboxNotifier()


class MessageSender(delivery.Sender):
    """Kind ``sms``: to the configured gateway; the message row follows the delivery."""

    def endpoint(self, row: delivery.Row) -> tuple[str, str]:
        url = current_app.config.get("JOINTDESK_SMS_GATEWAY_URL")
        secret = current_app.config.get("JOINTDESK_SMS_GATEWAY_SECRET")
        if not url or not secret:
            raise delivery.NotConfigured("JOINTDESK_SMS_GATEWAY_URL or _SECRET is not set")
        return url, secret

    def _set(self, row: delivery.Row, **values) -> None:
        if row.message_id is not None:
            db.session.execute(
                update(ApplicantMessage)
                .where(ApplicantMessage.id == row.message_id)
                .values(attempts=row.attempts, **values)
                .execution_options(synchronize_session=False)
            )

    def on_delivered(self, row: delivery.Row, now: datetime) -> None:
        self._set(row, status="sent", sent_at=now, last_error=None)

    def on_dead(self, row: delivery.Row, now: datetime) -> None:
        self._set(row, status="dead", last_error="the gateway did not take it; see dead letters")

    def on_redrive(self, row: delivery.Row, now: datetime) -> None:
        self._set(row, status="pending")


delivery.register("sms", MessageSender())
