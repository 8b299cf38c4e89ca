"""Ratings (好差评) by the applicant, for the app and the mini program: the same rules as the
rating block of the public status page, proven by reference and query code exactly as the
public status look-up is, and counted against the same rate limit."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from jointdesk.api import bp
from jointdesk.api.views import json_body, public_lookup_limit
from jointdesk.auth import api_user
from jointdesk.cases.services import iso
from jointdesk.errors import ApiError
from jointdesk.extensions import db
from jointdesk.feedback import services
from jointdesk.windows.services import case_for_applicant

APP_CLIENT_ROLES = ("integration",)


def _channel() -> str:
    """online without a token; app with the app client's (an integration client's) token."""
    if not request.headers.get("Authorization"):
        return "online"
    user = api_user()
    if user is None:
        raise ApiError(401, "unauthorized", _("A valid bearer token is required."))
    if user.role not in APP_CLIENT_ROLES:
        raise ApiError(403, "forbidden", _("Only the applicant rates a service."))
    return "app"


def _case(reference: str, code: str):
    case = case_for_applicant(reference, code)
    if case is None:
        raise ApiError(404, "not_found", _("No case matches this reference and query code."))
    return case


def _answer(case) -> dict:
    states = services.rating_states(case)
    return {
        "reference": case.reference,
        "services": [
            {
                "service": s.service,
                "provider": s.provider_name,
                "status": s.status,
                "can_rate": s.can_rate,
                "round": s.next_round,
                "follow_up": s.follow_up,
                "ratings": [
                    {
                        "round": r["round"],
                        "level": r["level"],
                        "comment": r["comment"],
                        "created_at": iso(r["created_at"]),
                    }
                    for r in s.ratings
                ],
            }
            for s in states.values()
        ],
    }


@bp.get("/public/cases/<reference>/ratings")
@public_lookup_limit
def public_ratings(reference: str):
    """Each service of the case: its ratings, and whether (and in which round) it may be
    rated now. A wrong code and an unknown reference answer the same 404."""
    return jsonify(_answer(_case(reference, request.args.get("code", ""))))


@bp.post("/public/cases/<reference>/ratings")
@public_lookup_limit
def public_rate(reference: str):
    """The applicant rates one finished service."""
    data = json_body("RatingRequest")
    channel = _channel()
    case = _case(reference, data["code"])
    try:
        services.submit_rating(case, data["service"], data["level"], data.get("comment"), channel)
    except services.Refused as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc
    return jsonify(_answer(case)), 201
