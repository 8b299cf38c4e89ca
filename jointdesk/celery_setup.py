"""The Celery app, bound to the Flask app so that every task runs in an app context."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    if app.config["JOINTDESK_EMBEDDED_BROKER"]:
        from jointdesk.broker import register

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
        "check-sla": {
            "task": "jointdesk.check_sla",
            "schedule": app.config["JOINTDESK_SLA_CHECK_SECONDS"],
            "options": {"queue": "jointdesk", "expires": app.config["JOINTDESK_SLA_CHECK_SECONDS"]},
        },
    }
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
