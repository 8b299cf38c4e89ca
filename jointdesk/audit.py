"""Writing to the append-only audit log. Callers commit together with the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, bindparam, cast, insert, literal, null, select

from jointdesk.extensions import db
from jointdesk.models import Event, User
from jointdesk.models.types import utcnow
from jointdesk.prebuilt import first_row

SYSTEM = "system"
_EVENTS = Event.__table__
_COLUMNS = ("action", "actor_id", "actor", "case_id", "ticket_id", "detail", "created_at")
# built once: ``write`` binds the values (run on the driver's cursor, see jointdesk.prebuilt)
_EVENT_INSERT = insert(_EVENTS).values(
    {name: bindparam(name, type_=_EVENTS.c[name].type) for name in _COLUMNS}
)
_EVENT_INSERT_RETURNING = _EVENT_INSERT.returning(*_EVENTS.c)


def actor_label(actor: User | str | None) -> str:
    """How the trail names an actor: a user's login name, else the given label or ``system``."""
    return actor.username if isinstance(actor, User) else (actor or SYSTEM)


def _row(action: str, actor, case_id, ticket_id, detail) -> dict:
    """An event's columns (what ``record`` and ``write`` both store)."""
    return {
        "action": action,
        "actor_id": actor.id if isinstance(actor, User) else None,
        "actor": actor_label(actor),
        "case_id": case_id,
        "ticket_id": ticket_id,
        "detail": detail or {},
    }


def record(
    action: str,
    *,
    actor: User | str | None = None,
    case_id: int | None = None,
    ticket_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Adds one event to the session; it is written with the caller's transaction."""
    ev = Event(**_row(action, actor, case_id, ticket_id, detail))
    db.session.add(ev)
    return ev


def write(
    action: str,
    *,
    actor: User | str | None = None,
    case_id: int | None = None,
    ticket_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at=None,
    returning: bool = False,
) -> dict | None:
    """Like ``record``, but written at once with one INSERT in the caller's transaction (no
    object, no flush): for hot paths that have nothing else for the session to write. With
    ``returning``, gives back the row as stored (every column)."""
    row = _row(action, actor, case_id, ticket_id, detail)
    stmt = _EVENT_INSERT_RETURNING if returning else _EVENT_INSERT
    return first_row(db.session.connection(), stmt, row | {"created_at": at or utcnow()})


def insert_from(action: str, case_id, ticket_id, detail, at):
    """An INSERT of one system event per row of what ``case_id``, ``ticket_id``, ``detail``
    and ``at`` (column expressions) are selected from: for a hot path that writes the event
    in the same statement as the change it records (a data-modifying CTE), and only when the
    change happened. The caller builds it once."""
    return insert(_EVENTS).from_select(
        _COLUMNS,
        select(
            cast(literal(action), String),
            cast(null(), Integer),
            cast(literal(SYSTEM), String),
            case_id,
            ticket_id,
            detail,
            at,
        ),
    )
