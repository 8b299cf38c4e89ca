"""The public endpoints of online self-service: one-time codes and applications, for the
mobile app and the WeChat mini program (the web page ``/apply`` does the same in a browser).

The channel is decided here, from the route and the caller: ``online`` without a token,
``app`` with a bearer token of an integration client (the app's registered client); any other
role's token is refused. The phone must be proven with its one-time code on every submission.
"""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from jointdesk import idempotency
from jointdesk.api import bp
from jointdesk.api.views import idempotency_key, json_body
from jointdesk.auth import api_user
from jointdesk.cases.read import load_case_data
from jointdesk.cases.services import public_case_dict
from jointdesk.errors import ApiError
from jointdesk.extensions import db
from jointdesk.labels import CHANNEL_LABELS
from jointdesk.models import Case, OnlineSubmission, VerificationCode
from jointdesk.online import services as online
from jointdesk.policy.identity import mask_phone
from jointdesk.sla import case_indicators
from jointdesk.templating import public_url
from jointdesk.windows.services import submit_application
from jointdesk.windows.validation import ValidationFailed, validate_application

APP_CLIENT_ROLES = ("integration",)


def _too_soon(exc: online.TooSoon):
    response = jsonify({"error": {"code": "rate_limited", "message": exc.message, "fields": {}}})
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.seconds)
    return response


def _refused(exc: online.CodeRefused) -> ApiError:
    return ApiError(
        403,
        f"verification_{exc.reason}",
        _("The phone number could not be verified; nothing was saved."),
        {"verification.code": exc.message},
    )


@bp.post("/public/verification-codes")
def public_verification_code():
    """Sends a one-time code to the phone (202), or says how long to wait (429)."""
    data = json_body("VerificationRequest")
    phone = online.clean_phone(data["phone"])
    try:
        online.request_code(phone)
    except online.TooSoon as exc:
        return _too_soon(exc)
    body = {
        "phone": mask_phone(phone),
        "expires_in": online.minutes() * 60,
        "resend_after": online.resend_after(phone),
    }
    return jsonify(body), 202


def _route() -> str:
    """online, or app for the app's registered client; 401 for a token that is not valid."""
    if not request.headers.get("Authorization"):
        g.api_user = None
        return "online"
    user = api_user()
    if user is None:
        raise ApiError(401, "unauthorized", _("A valid bearer token is required."))
    if user.role not in APP_CLIENT_ROLES:
        raise ApiError(
            403,
            "forbidden",
            _("Staff submit at the window (POST /api/v1/cases); this endpoint is for applicants."),
        )
    return "app"


def _answer(case_reference: str, code: str | None, status: int, replayed: bool = False):
    case = load_case_data(case_reference)
    body = public_case_dict(case)
    body["channel"] = case.channel
    body["indicators"] = case_indicators(case)
    body["status_url"] = public_url("cases.public_status", reference=case.reference)
    if code is not None:
        body["query_code"] = code
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = f"/api/v1/public/cases/{case.reference}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(row: OnlineSubmission):
    reference = db.session.get(Case, row.case_id).reference
    return _answer(reference, online.unseal(row, reference), 200, replayed=True)


def _proves(row: OnlineSubmission, phone: str, code: str, application) -> bool:
    """The code that made the case, or the current code of the applicant's phone: the same
    applicant. A code of another number never gives a case (nor its query code) away."""
    if phone != application.phone:
        return False
    made_it = db.session.get(VerificationCode, row.verification_id)
    if online.code_matches(made_it, phone, code):
        return True
    try:
        online.check_code(phone, code)
    except online.CodeRefused as exc:
        raise _refused(exc) from None
    return True


@bp.post("/public/applications")
def public_application():
    """An application from the applicant (channel online) or the app's client (app)."""
    try:
        online.check_client_limit("online-submit", "JOINTDESK_ONLINE_SUBMIT_LIMIT")
    except online.TooSoon as exc:
        return _too_soon(exc)
    data = json_body("PublicApplication")
    route = _route()
    key = idempotency_key()
    phone = online.clean_phone(data["verification"]["phone"])
    code = data["verification"]["code"]
    body = {k: v for k, v in data.items() if k != "verification"}
    try:
        application = validate_application(body, route=route)
    except ValidationFailed as exc:
        raise ApiError(
            422, "invalid", _("The application has errors; see the fields."), exc.fields
        ) from exc
    keys = [(online.same_application_key(application), "")]
    if key is not None:
        keys.insert(0, (online.request_key(phone, key), online.body_fingerprint(data)))
        row = online.find_submission(keys[0][0])
        if row is not None and row.fingerprint != keys[0][1]:
            raise ApiError(
                422,
                "idempotency_key_reused",
                _("This Idempotency-Key was already used for another request."),
                {
                    idempotency.HEADER: _(
                        "Already used with a different body; use a new key for a new request."
                    )
                },
            )
        if row is not None and _proves(row, phone, code, application):
            return _replay(row)
    row = online.find_submission(keys[-1][0])
    if row is not None and _proves(row, phone, code, application):
        return _replay(row)
    try:
        verified = online.check_code(phone, code)
    except online.CodeRefused as exc:
        raise _refused(exc) from None
    if application.phone != phone:
        raise ApiError(
            422,
            "invalid",
            _("The application has errors; see the fields."),
            {"verification.phone": _("Must be the applicant's phone number.")},
        )
    sent = data.get("channel")
    if sent is not None and sent != application.channel:
        raise ApiError(
            422,
            "invalid",
            _("The application has errors; see the fields."),
            {
                "channel": _(
                    "The channel follows from who submits through which route; here it is "
                    "%(channel)s.",
                    channel=f"{CHANNEL_LABELS[application.channel]} ({application.channel})",
                )
            },
        )
    guard = online.OnlineGuard(keys, verification_id=verified.id, consume=True)
    try:
        case, query_code = submit_application(application, g.api_user, guard=guard)
    except ValidationFailed as exc:
        raise ApiError(
            422, "invalid", _("The application has errors; see the fields."), exc.fields
        ) from exc
    except online.Replay as exc:  # a concurrent twin committed first
        return _replay(exc.row)
    except online.CodeRefused as exc:  # another application used this code meanwhile
        db.session.rollback()
        raise _refused(exc) from None
    return _answer(case.reference, query_code, 201)
