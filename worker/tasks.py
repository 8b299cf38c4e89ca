"""Tasks are thin: they take primary keys and call the services that hold the logic."""

from __future__ import annotations

from celery import shared_task

from jointdesk import heartbeat
from jointdesk.integrations import delivery
from jointdesk.routing import outbox

# Time limits (soft, hard) in seconds. A delivery takes milliseconds; one stuck on a lock is
# stopped and left to the relay rather than holding a pool process.


@shared_task(name=outbox.DELIVER_TASK, acks_late=True, soft_time_limit=25, time_limit=30)
def deliver_ticket(message_id: int) -> str:
    """Hands one ticket to its provider's channel (outbox row ``message_id``)."""
    return outbox.deliver(message_id, worker_id=heartbeat.INSTANCE_ID)


@shared_task(name="jointdesk.relay_outbox", ignore_result=True, soft_time_limit=50, time_limit=60)
def relay_outbox() -> int:
    """Safety net: publishes outbox rows that were never published or got lost."""
    return outbox.relay()


@shared_task(
    name=delivery.SEND_TASK, acks_late=True, ignore_result=True, soft_time_limit=25, time_limit=30
)
def send_http(delivery_id: int) -> str:
    """One attempt at one signed HTTP delivery (HTTP timeout 10 s; retries are scheduled, never
    slept for). Runs on the ``jointdesk.http`` queue."""
    return delivery.attempt(delivery_id)


@shared_task(name=delivery.RELAY_TASK, ignore_result=True, soft_time_limit=50, time_limit=60)
def relay_http() -> int:
    """Safety net: publishes signed HTTP deliveries that are due."""
    return delivery.relay()


@shared_task(name="jointdesk.check_sla", ignore_result=True, soft_time_limit=240, time_limit=300)
def check_sla() -> dict:
    """Marks at-risk and overdue tickets and notifies their representative and supervisors."""
    from jointdesk.sla import check_sla as run

    return run()


@shared_task(name="jointdesk.purge_request_keys", ignore_result=True)
def purge_request_keys() -> int:
    """Deletes idempotency keys and form tokens older than 24 hours, and the online
    submissions' keys and one-time codes no longer needed."""
    from jointdesk.idempotency import purge
    from jointdesk.online.services import purge as purge_online

    return purge() + purge_online()


@shared_task(
    name="jointdesk.refresh_closed_counts", ignore_result=True, soft_time_limit=240, time_limit=300
)
def refresh_closed_counts() -> int:
    """Counts the tickets closed more than an hour ago, per provider: queue totals add only the
    rest (``desk.services.queue_count``)."""
    from jointdesk.desk.services import refresh_closed_counts as run

    return run()


@shared_task(
    name="jointdesk.restate_after_calendar_change",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def restate_after_calendar_change(message_id: int) -> str:
    """The background half of a calendar edit (outbox row ``message_id``): stored working
    time of closed tickets and due times of open ones on the calendar now in force."""
    from jointdesk.workingtime import restate_after_change

    return restate_after_change(message_id)
