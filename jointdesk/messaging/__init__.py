"""Messages to applicants: the one way anything in JointDesk texts an applicant.

``send`` renders a template and writes one ``ApplicantMessage`` row in the caller's transaction,
so a message exists exactly when what it announces was committed. Its ``dedup_key`` names the
event it answers; a second ``send`` with the same key (a retried worker, a replayed event) writes
nothing, so the applicant never gets a message twice. What happens to a row afterwards is the
deployment's notifier's business (``messaging.notifiers``), decided in the same transaction: the
embedded default keeps it in the outbox that administrators read and writes it ``sent``; a
configured SMS gateway gets it over signed HTTP after the commit (the row ``pending`` until the
gateway answered, ``dead`` if it never did). Phone numbers are never logged: log lines name the
message id and template only.
"""

from __future__ import annotations

import functools
import logging

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite

from jointdesk.extensions import db
from jointdesk.messaging.notifiers import current_notifier
from jointdesk.messaging.templates import render
from jointdesk.models import ApplicantMessage
from jointdesk.models.types import utcnow
from jointdesk.prebuilt import first_row

log = logging.getLogger(__name__)


@functools.cache
def _insert_statement(dialect: str):
    """One message row, nothing when its dedup key was used before; built once per process."""
    table = ApplicantMessage.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {name: bindparam(name, type_=table.c[name].type) for name in _COLUMNS}
    return (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(table.c.id)
    )


_COLUMNS = (
    "phone", "template", "body", "dedup_key", "case_id", "ticket_id", "status", "attempts",
    "created_at", "sent_at",
)  # fmt: skip


def send(
    phone: str,
    template: str,
    context: dict,
    *,
    dedup_key: str,
    case_id: int | None = None,
    ticket_id: int | None = None,
) -> int | None:
    """Queues one message in the caller's transaction with one INSERT; returns its id, or None
    when ``dedup_key`` was used before (also by a concurrent twin: the unique key decides)."""
    notifier = current_notifier()
    text = render(template, context)
    now = utcnow()
    connection = db.session.connection()
    row = first_row(
        connection,
        _insert_statement(connection.dialect.name),
        {
            "phone": phone,
            "template": template,
            "body": text,
            "dedup_key": dedup_key,
            "case_id": case_id,
            "ticket_id": ticket_id,
            "status": notifier.initial_status,
            "attempts": 0,
            "created_at": now,
            "sent_at": now if notifier.initial_status == "sent" else None,
        },
    )
    new_id = None if row is None else row["id"]
    if new_id is not None:
        notifier.queued(new_id, phone, text)
        log.info("applicant message %s queued (%s): template %s", new_id, notifier.name, template)
    return new_id
