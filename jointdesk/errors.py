"""Errors: JSON ``{"error": {...}}`` under /api, friendly pages elsewhere; never a bare 500."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, flash, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from jointdesk.extensions import db

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


# Public forms guarded by a rate limit: on a 429 they are shown again with what was typed and
# the wait, instead of an error page that loses the input. Each registers how to draw itself
# (``rate_limited_form``); the function returns what the view would return for the form.
RATE_LIMITED_FORMS: dict[str, Callable] = {}


def rate_limited_form(endpoint: str) -> Callable:
    def register(render: Callable) -> Callable:
        RATE_LIMITED_FORMS[endpoint] = render
        return render

    return register


def limit_wait_seconds() -> int | None:
    """Seconds until the limit that refused this request lets the client in again."""
    from jointdesk.extensions import limiter

    current = limiter.current_limit
    if current is None:
        return None
    return max(1, int(current.reset_at - time.time()))


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


_HTTP_MESSAGES = {
    400: ("bad_request", lambda: _("The request could not be understood.")),
    401: ("unauthorized", lambda: _("Please sign in first.")),
    403: ("forbidden", lambda: _("You are not allowed to do this.")),
    404: ("not_found", lambda: _("Not found.")),
    405: ("method_not_allowed", lambda: _("This method is not allowed here.")),
    413: ("too_large", lambda: _("The request is too large.")),
    415: ("unsupported_media_type", lambda: _("Send JSON.")),
    429: ("rate_limited", lambda: _("Too many requests; please wait a moment and try again.")),
}


def _has_nul(value) -> bool:
    return "\x00" in value if isinstance(value, str) else False


def init_errors(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_bytes():
        """No text field anywhere may carry a NUL byte (PostgreSQL refuses them)."""
        req = request._get_current_object()  # one context look-up, not one per attribute
        values = [req.path, *req.args.keys(), *req.args.values()]
        form = req.method == "POST" and req.mimetype in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        if form:
            values += [*req.form.keys(), *req.form.values()]
        if any(_has_nul(v) for v in values) or (
            req.is_json and b"\\u0000" in req.get_data(cache=True)
        ):
            if _wants_json():
                return error_response(400, "bad_request", _("Text may not contain NUL bytes."))
            return render_template(
                "error.html", status=400, message=_("Text may not contain NUL bytes.")
            ), 400
        if form:
            # Werkzeug decodes form bytes that are not UTF-8 (a lone surrogate, Latin-1...)
            # as U+FFFD; stored, the applicant's data would be silently garbled
            garbled = sorted({k for k, v in req.form.items(multi=True) if "\ufffd" in k + v})
            if garbled:
                message = _(
                    "Text that is not valid UTF-8 was sent in: %(fields)s. Nothing was saved.",
                    fields=", ".join(garbled),
                )
                if _wants_json():
                    return error_response(400, "bad_request", message)
                return render_template("error.html", status=400, message=message), 400
        return None

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        message = _("The form expired or was not sent from this site; please try again.")
        if _wants_json():
            return error_response(400, "csrf", message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        code, message = _HTTP_MESSAGES.get(exc.code or 500, ("error", lambda: exc.description))
        # the exception's own headers (Allow on a 405, Retry-After...) go out with our body
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            response = error_response(exc.code or 500, code, str(message()))
            response.headers.extend(headers)
            return response
        text = message()
        if exc.code == 429:
            from jointdesk.online.services import wait_text

            wait = limit_wait_seconds()
            if wait is not None:
                text = _("Too many requests; please try again in %(wait)s.", wait=wait_text(wait))
                if not any(k.lower() == "retry-after" for k, _v in headers):
                    headers.append(("Retry-After", str(wait)))
            render = RATE_LIMITED_FORMS.get(request.endpoint or "")
            if render is not None and request.method == "POST":
                flash(text, "error")  # the form again, as typed
                body = render()
                body = body[0] if isinstance(body, tuple) else body
                return body, 429, headers
        page = render_template("error.html", status=exc.code, message=text)
        return page, exc.code, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()  # the page below may touch the database (current user)
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = _("Something went wrong on our side; it has been logged.")
        if _wants_json():
            return error_response(500, "internal", message)
        return render_template("error.html", status=500, message=message), 500
