"""The Celery app for workers and beat: ``celery -A worker.celery_app:celery worker``.

A worker that consumes the ``jointdesk`` control queue also serves every active provider's
queue and ``jointdesk.http`` (signed HTTP deliveries; not where ``JOINTDESK_WORKER_SKIP_HTTP_QUEUE``
is 1), and looks for new providers every ``JOINTDESK_QUEUE_REFRESH_SECONDS``, so a provider
added while the system runs is served without a restart. A worker started with explicit
queues serves just those.
"""

from __future__ import annotations

import logging
import os

from celery import bootsteps
from celery.signals import after_setup_logger, worker_process_init

from jointdesk import create_app, heartbeat
from jointdesk.cases.read import AUTOCOMMIT_ENGINE
from jointdesk.extensions import db

flask_app = create_app()
celery = flask_app.extensions["celery"]
CONTROL_QUEUE = "jointdesk"
HTTP_QUEUE = "jointdesk.http"
# set for the general worker of `jointdesk run`, whose own sender worker serves HTTP_QUEUE
SKIP_HTTP_ENV = "JOINTDESK_WORKER_SKIP_HTTP_QUEUE"
# Celery's two INFO lines per task ("received", "succeeded in …"); the audit trail records
# every hand-over, and a failed task is still logged (ERROR). JOINTDESK_LOG_TASKS=1 shows them.
TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
log = logging.getLogger(__name__)

import worker.tasks  # noqa: E402,F401  (registers the tasks)


class ProviderQueues(bootsteps.StartStopStep):
    """Consumes every active provider's queue, and new ones as they appear."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None

    def start(self, c):
        if CONTROL_QUEUE not in c.app.amqp.queues.consume_from:
            return  # a dedicated worker: it serves only the queues it was started with
        self.refresh(c)
        interval = flask_app.config["JOINTDESK_QUEUE_REFRESH_SECONDS"]
        self.timer_ref = c.timer.call_repeatedly(interval, self.refresh, (c,), priority=10)

    def stop(self, c):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def refresh(self, c):
        from jointdesk.routing.services import provider_queue_names

        try:
            with flask_app.app_context():
                names = provider_queue_names()
        except Exception:
            log.exception("could not read the provider list; will try again")
            return
        if os.environ.get(SKIP_HTTP_ENV) != "1":
            names = [*names, HTTP_QUEUE]  # signed HTTP deliveries, unless a sender serves them
        for name in names:
            if not c.task_consumer.consuming_from(name):
                log.info("now consuming provider queue %s", name)
                c.add_task_queue(name)


class Heartbeat(bootsteps.StartStopStep):
    """Records this worker's heartbeat (``jointdesk.heartbeat``) from the consumer's timer, so
    it stops when the worker stops consuming; marks the worker stopped when it shuts down."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None

    def start(self, c):
        if set(c.app.amqp.queues.consume_from) == {HTTP_QUEUE}:
            # an HTTP sender alone takes no outbox row, which is what heartbeats are for (the
            # relay redelivers what a dead worker took); it is not counted among the workers
            return
        self.beat(c)
        interval = flask_app.config["JOINTDESK_HEARTBEAT_SECONDS"]
        self.timer_ref = c.timer.call_repeatedly(interval, self.beat, (c,), priority=10)

    def beat(self, c):
        with flask_app.app_context():
            heartbeat.safe_record(heartbeat.WORKER, c.hostname)

    def stop(self, c):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def shutdown(self, c):
        self.stop(c)
        with flask_app.app_context():
            heartbeat.stopped()


celery.steps["consumer"].add(ProviderQueues)
celery.steps["consumer"].add(Heartbeat)


@after_setup_logger.connect
def _quiet_task_lines(**_kwargs) -> None:
    if os.environ.get("JOINTDESK_LOG_TASKS") != "1":
        for name in TASK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    """A forked pool process must not share the parent's database connections."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
        reads = flask_app.extensions.get(AUTOCOMMIT_ENGINE)  # made on first use, if it was
        if reads:
            reads.dispose(close=False)
