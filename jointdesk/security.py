"""Browser-facing protections: same-origin checks on form posts and headers on every answer.

Flask-WTF checks the CSRF token everywhere, but the Referer only over HTTPS. Here every
state-changing request to the web pages must also come from this site: its ``Origin`` (or,
where a browser sends none, its ``Referer``) must name this host. The API is exempt: it is
authenticated by bearer tokens, never by the session cookie, so another site cannot make a
browser send it with the user's rights.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Everything from this site only; the QR code on the receipt is a data: image; no page is
# ever shown inside a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# on every answer, unless its view set its own
BROWSER_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),  # query codes in URLs stay here
)


def _cookie_authenticated_path(path: str) -> bool:
    return not path.startswith("/api/")


def _same_origin() -> bool:
    source = request.headers.get("Origin")
    if not source or source == "null":  # privacy settings may send "null": use the Referer
        source = request.headers.get("Referer")
    if not source:
        return False
    try:
        netloc = urlsplit(source).netloc
    except ValueError:
        return False
    return netloc.lower() == request.host.lower()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signer built once per secret instead of on
    every request (Flask makes a new one, and checks its serializer, per request)."""

    _signer = None

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._signer
        if cached is None or cached[0] != key:
            cached = self._signer = (key, super().get_signing_serializer(app))
        return cached[1]


def init_security(app: Flask) -> None:
    app.session_interface = SessionInterface()

    @app.before_request
    def _refuse_cross_site_posts():
        if request.method in SAFE_METHODS or not _cookie_authenticated_path(request.path):
            return None
        if request.routing_exception is not None:
            return None  # no view will run: the 404, or the 405 with its Allow header
        if not current_app.config.get("WTF_CSRF_ENABLED", True):
            return None  # tests that switch CSRF off switch this off too
        if _same_origin():
            return None
        message = _(
            "This form was not sent from this site (its Origin or Referer header is missing "
            "or names another site); nothing was done. Reload the page and try again."
        )
        return render_template("error.html", status=403, message=message), 403

    @app.before_request
    def _pages_take_forms_not_json():
        """A page's form reads form fields; a JSON body sent to it (a string or a list where
        Flask-WTF expects an object) would otherwise fail inside the form: a 415 instead."""
        if (
            request.method in SAFE_METHODS
            or not _cookie_authenticated_path(request.path)
            or request.routing_exception is not None
            or not request.is_json
        ):
            return None
        message = _("This page takes a form, not JSON; nothing was done.")
        return render_template("error.html", status=415, message=message), 415

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        # the ones a view did not set itself (one pass over the headers: werkzeug's
        # setdefault raises and catches a KeyError for every header it has to add)
        present = {name.lower() for name, _value in headers}
        headers.extend(
            (name, value) for name, value in BROWSER_HEADERS if name.lower() not in present
        )
        if request.is_secure and "strict-transport-security" not in present:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if not request.path.startswith("/static/"):
            # pages and API answers may carry a whole phone number or a query code: no copy
            # of them may stay in a browser's or a proxy's cache
            headers["Cache-Control"] = "no-store"
        return response
