"""Template helpers: labels for codes, local times, masking, the current language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import get_locale

from jointdesk import labels
from jointdesk.auth.views import PostForm
from jointdesk.policy.identity import mask_id_number, mask_name, mask_phone
from jointdesk.policy.process import ACTIONS_NEEDING_REASON


def local_time(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    tz = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def init_templating(app: Flask) -> None:
    app.jinja_env.filters.update(
        local_time=local_time,
        mask_phone=mask_phone,
        mask_id=mask_id_number,
        mask_name=mask_name,
    )

    @app.context_processor
    def _globals():
        return {
            "L": labels,
            "ACTIONS_NEEDING_REASON": ACTIONS_NEEDING_REASON,
            "post_form": PostForm(formdata=None),  # only its CSRF token is used
            "current_locale": "en" if str(get_locale() or "zh").startswith("en") else "zh_CN",
        }
