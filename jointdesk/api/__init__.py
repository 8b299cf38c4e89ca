"""JSON API, version 1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from jointdesk.api import (  # noqa: E402,F401
    disclosure,
    integrations,
    public,
    ratings,
    supervision,
    views,
)
