"""Notifications go through one interface; this implementation keeps them in the database
(the outbox a real SMS or messaging gateway will read) and logs that one was queued."""

from __future__ import annotations

import logging
from typing import Protocol

from flask import current_app

from jointdesk.extensions import db
from jointdesk.models import Notification, Ticket, User

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def send(self, user: User, kind: str, message: str, ticket: Ticket | None = None) -> None: ...


class OutboxNotifier:
    """Writes a Notification row in the caller's transaction."""

    def send(self, user: User, kind: str, message: str, ticket: Ticket | None = None) -> None:
        db.session.add(
            Notification(
                user_id=user.id, ticket_id=ticket.id if ticket else None, kind=kind, message=message
            )
        )
        log.info(
            "notification %s queued for user %s (ticket %s)",
            kind,
            user.username,
            ticket.id if ticket else "-",
        )


def notifier() -> Notifier:
    """The deployment's notifier (``app.extensions['jointdesk.notifier']``), else the outbox."""
    return current_app.extensions.get("jointdesk.notifier") or OutboxNotifier()
