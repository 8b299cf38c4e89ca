"""Endpoints of ``/api/v1/integrations`` other than the approval system's push (in
``views.py``): the signed events of providers' own systems, and the approval system's queries."""

from __future__ import annotations

import re
from datetime import date

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _

from jointdesk.access import can_query_projects
from jointdesk.api import bp
from jointdesk.api.views import api_roles, json_body, reads_only
from jointdesk.cases.read import load_ticket_data
from jointdesk.cases.services import ticket_dict
from jointdesk.desk.services import ActionRefused
from jointdesk.errors import ApiError
from jointdesk.extensions import limiter
from jointdesk.integrations import approval_system, inbound, signing

# generous: a provider's system reports every step of every ticket, sometimes in bursts
EVENTS_LIMIT = "600 per minute"


def events_limit() -> str:
    return current_app.config.get("JOINTDESK_PROVIDER_EVENTS_LIMIT", EVENTS_LIMIT)


def _events_key() -> str:
    """One budget per provider code named in the path (whoever sends)."""
    return "provider-events:" + str((request.view_args or {}).get("code", ""))[:40]


@bp.post("/integrations/providers/<code>/events")
@limiter.limit(events_limit, key_func=_events_key)
def provider_event(code: str):
    """One event from a provider's own system, signed with its secret (no bearer token)."""
    raw = request.get_data(cache=True)  # the very bytes signed, before any JSON parsing
    provider = inbound.authenticate(
        code,
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
        raw,
    )
    if provider is None:
        raise ApiError(
            401,
            "bad_signature",
            _("The signature, its timestamp or the provider is not valid."),
        )
    data = json_body("ProviderEvent")
    try:
        ticket_id = inbound.apply_event(provider, data)
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc
    if ticket_id is None:
        return jsonify({"duplicate": True})
    return jsonify(ticket_dict(load_ticket_data(ticket_id)))


def _project_reader() -> None:
    if not can_query_projects(g.api_user):
        raise ApiError(403, "forbidden", _("Your role may not do this."))


@bp.get("/integrations/approval-system/projects/<project_code>")
@reads_only
@api_roles()
def approval_system_project_status(project_code: str):
    """A project's case as the approval system follows it; 404 for a code it never had."""
    _project_reader()
    case = approval_system.project_by_code(project_code.strip()[:64])
    if case is None:
        raise ApiError(404, "not_found", _("No case of this project."))
    return jsonify(approval_system.project_dict(case))


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_arg(name: str, problems: dict) -> date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        problems[name] = _("This field is required.")
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        problems[name] = _("Use a date like 2026-11-27.")
        return None


@bp.get("/integrations/approval-system/projects")
@reads_only
@api_roles()
def approval_system_projects():
    """The projects whose case was created in ``from``..``to`` (local dates, both included),
    oldest first, a page at a time (``after``: the ``next`` of the page before)."""
    _project_reader()
    problems: dict[str, str] = {}
    first, last = _date_arg("from", problems), _date_arg("to", problems)
    if first and last:
        if last < first:
            problems["to"] = _("Must not be before from.")
        elif (last - first).days + 1 > approval_system.MAX_RANGE_DAYS:
            problems["to"] = _(
                "At most %(n)d days from from; ask for the rest separately.",
                n=approval_system.MAX_RANGE_DAYS,
            )
    after = None
    if request.args.get("after") is not None:
        try:
            after = approval_system.ProjectCursor.decode(request.args["after"])
        except approval_system.BadCursor:
            problems["after"] = _("Not a cursor of this list; use the next value of a page.")
    if problems:
        raise ApiError(422, "invalid", _("The request has errors; see the fields."), problems)
    page = approval_system.projects_created(first, last, after)
    return jsonify(
        {
            "items": [approval_system.project_dict(c) for c in page.items],
            "next": page.next,
        }
    )
