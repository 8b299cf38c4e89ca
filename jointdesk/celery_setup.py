"""The Celery app, bound to the Flask app so that every task runs in an app context."""

from __future__ import annotations

import socket
import time

from celery import Celery, Task
from celery.beat import PersistentScheduler
from flask import Flask


class HeartbeatScheduler(PersistentScheduler):
    """The beat scheduler, recording its heartbeat (``jointdesk.heartbeat``) as it ticks, so a
    scheduler that stopped shows on /healthz and the admin dashboard."""

    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        from jointdesk import heartbeat

        flask_app = self.app.flask_app
        with flask_app.app_context():
            every = heartbeat.interval()
            if time.monotonic() - self._last_beat >= every:
                heartbeat.safe_record(heartbeat.SCHEDULER, f"beat@{socket.gethostname()}")
                self._last_beat = time.monotonic()
        return min(super().tick(*args, **kwargs), every)

    def close(self):
        from jointdesk import heartbeat

        with self.app.flask_app.app_context():
            heartbeat.stopped()
        super().close()


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    from jointdesk.broker import register, register_redis

    register_redis()  # redis:// publishes through one client per channel
    if app.config["JOINTDESK_EMBEDDED_BROKER"]:
        register()  # filesystem:// writes and claims message files atomically
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    if app.config["JOINTDESK_EMBEDDED_BROKER"]:
        from pathlib import Path

        for key in ("data_folder_in", "processed_folder", "control_folder"):
            Path(app.config["CELERY"]["broker_transport_options"][key]).mkdir(
                parents=True, exist_ok=True
            )
    celery_app.conf.beat_schedule = {
        "relay-outbox": {
            "task": "jointdesk.relay_outbox",
            "schedule": app.config["JOINTDESK_RELAY_INTERVAL"],
            "options": {"queue": "jointdesk", "expires": app.config["JOINTDESK_RELAY_INTERVAL"]},
        },
        "relay-http-deliveries": {  # signed HTTP deliveries that are due (integrations)
            "task": "jointdesk.relay_http",
            "schedule": app.config["JOINTDESK_RELAY_INTERVAL"],
            "options": {"queue": "jointdesk", "expires": app.config["JOINTDESK_RELAY_INTERVAL"]},
        },
        "check-sla": {
            "task": "jointdesk.check_sla",
            "schedule": app.config["JOINTDESK_SLA_CHECK_SECONDS"],
            "options": {"queue": "jointdesk", "expires": app.config["JOINTDESK_SLA_CHECK_SECONDS"]},
        },
        "purge-request-keys": {  # expired idempotency keys and form tokens
            "task": "jointdesk.purge_request_keys",
            "schedule": 3600,
            "options": {"queue": "jointdesk", "expires": 3600},
        },
        "refresh-closed-counts": {  # the final part of queue totals (desk.services.queue_count)
            "task": "jointdesk.refresh_closed_counts",
            "schedule": 3600,
            "options": {"queue": "jointdesk", "expires": 3600},
        },
    }
    celery_app.flask_app = app
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
