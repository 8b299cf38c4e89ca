"""Domain events: one per thing that happened to a case or a ticket, raised inside the
transaction that made it happen.

Whoever reacts to what happens (a provider's own system, the applicant's messages, the approval
system's callbacks, dashboards) subscribes here instead of growing an if/elif in the code that
changed the ticket. A subscriber must only add rows to the session (an outbox row, a message
row): it runs before the commit, so what it writes commits or rolls back with the change, and
an event is never lost nor acted on for a change that did not happen. The slow part (an HTTP
call, an SMS) happens later in a worker that reads those rows. A subscriber that raises makes
the change fail; it must not raise for anything but a bug.

Event names: ``case.created`` (intake wrote the case and its tickets), ``ticket.dispatched``
(the provider's channel holds the ticket), ``ticket.<action>`` for every ticket action
(``ticket.accept``, ``ticket.connect``, ``ticket.return``, ``ticket.suspend``, ...), and
``case.completed`` (after the action that closed the case's last open ticket, when every
service is connected).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    name: str
    case_id: int
    at: datetime
    ticket_id: int | None = None
    actor: str = "system"
    detail: dict = field(default_factory=dict)


Subscriber = Callable[[DomainEvent], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> Subscriber:
    """Registers ``fn`` for every event (usable as a decorator); registering twice is one."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def emit(event: DomainEvent) -> None:
    """Runs every subscriber in the caller's transaction, in registration order."""
    for fn in list(_subscribers):
        fn(event)
