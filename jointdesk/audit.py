"""Writing to the append-only audit log. Callers commit together with the change itself."""

from __future__ import annotations

from typing import Any

from jointdesk.extensions import db
from jointdesk.models import Event, User

SYSTEM = "system"


def actor_label(actor: User | str | None) -> str:
    """How the trail names an actor: a user's login name, else the given label or ``system``."""
    return actor.username if isinstance(actor, User) else (actor or SYSTEM)


def record(
    action: str,
    *,
    actor: User | str | None = None,
    case_id: int | None = None,
    ticket_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Adds one event to the session; it is written with the caller's transaction."""
    actor_id = actor.id if isinstance(actor, User) else None
    label = actor_label(actor)
    ev = Event(
        action=action,
        actor_id=actor_id,
        actor=label,
        case_id=case_id,
        ticket_id=ticket_id,
        detail=detail or {},
    )
    db.session.add(ev)
    return ev
