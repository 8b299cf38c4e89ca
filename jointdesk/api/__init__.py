"""JSON API, version 1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from jointdesk.api import integrations, public, supervision, views  # noqa: E402,F401
