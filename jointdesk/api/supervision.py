"""``GET /api/v1/supervision/summary``: the month's evaluation, as the dashboard shows it."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from jointdesk.access import SUPERVISORS
from jointdesk.api import bp
from jointdesk.api.views import api_roles
from jointdesk.errors import ApiError
from jointdesk.policy import supervision as policy
from jointdesk.supervision import evaluation


@bp.get("/supervision/summary")
@api_roles(*SUPERVISORS)
def supervision_summary():
    month = request.args.get("month", "")
    try:
        data = evaluation.summary(month)
    except policy.BadMonth as exc:
        raise ApiError(
            422,
            "invalid",
            _("The request has errors; see the fields."),
            {"month": _("A month as YYYY-MM, from 2000-01 to 2100-12.")},
        ) from exc
    data = dict(data)
    data["closed_at"] = data["closed_at"].isoformat() if data["closed_at"] else None
    return jsonify(data)
