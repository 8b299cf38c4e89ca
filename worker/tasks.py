"""Tasks are thin: they take primary keys and call the services that hold the logic."""

from __future__ import annotations

from celery import shared_task

from jointdesk.routing import outbox


@shared_task(name=outbox.DELIVER_TASK, acks_late=True)
def deliver_ticket(message_id: int) -> str:
    """Hands one ticket to its provider's channel (outbox row ``message_id``)."""
    return outbox.deliver(message_id)


@shared_task(name="jointdesk.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Safety net: publishes outbox rows that were never published or got lost."""
    return outbox.relay()


@shared_task(name="jointdesk.check_sla", ignore_result=True)
def check_sla() -> dict:
    """Marks at-risk and overdue tickets and notifies their representative and supervisors."""
    from jointdesk.sla import check_sla as run

    return run()


@shared_task(name="jointdesk.purge_request_keys", ignore_result=True)
def purge_request_keys() -> int:
    """Deletes idempotency keys and form tokens older than 24 hours."""
    from jointdesk.idempotency import purge

    return purge()
