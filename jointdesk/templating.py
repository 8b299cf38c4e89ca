"""Template helpers: labels for codes, local times, masking, the current language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for
from flask_babel import get_locale

from jointdesk import labels
from jointdesk.auth.views import PostForm
from jointdesk.policy.identity import mask_id_number, mask_name, mask_phone
from jointdesk.policy.process import ACTIONS_NEEDING_REASON, APPLICANT_ACTS


def local_time(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    tz = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_date(value: datetime | str | None) -> str:
    """The day in the installation's time zone (YYYY-MM-DD)."""
    return local_time(value)[:10]


def public_url(endpoint: str, **values) -> str:
    """An address for applicants (QR codes, receipts, API answers): on the configured public
    site (``JOINTDESK_PUBLIC_BASE_URL``) when set, not on whatever host the clerk's browser
    used to reach the back office (often ``127.0.0.1`` or an intranet name)."""
    base = current_app.config.get("JOINTDESK_PUBLIC_BASE_URL") or ""
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters.update(
        local_time=local_time,
        local_date=local_date,
        mask_phone=mask_phone,
        mask_id=mask_id_number,
        mask_name=mask_name,
    )

    @app.context_processor
    def _globals():
        return {
            "L": labels,
            "ACTIONS_NEEDING_REASON": ACTIONS_NEEDING_REASON,
            "APPLICANT_ACTS": APPLICANT_ACTS,
            "post_form": PostForm(formdata=None),  # only its CSRF token is used
            "current_locale": "en" if str(get_locale() or "zh").startswith("en") else "zh_CN",
        }
