"""The endpoints of ``/api/v1``; see ``openapi.py`` for the machine-readable description."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, selectinload

from jointdesk import idempotency
from jointdesk.access import Viewer, can_act_on_ticket, can_read_queue, can_view_case
from jointdesk.api import bp
from jointdesk.api.openapi import openapi_document
from jointdesk.auth import api_user
from jointdesk.cases.read import (
    end_read_without_transaction,
    load_case_data,
    load_ticket_data,
    load_tickets_data,
    read_without_transaction,
)
from jointdesk.cases.services import (
    case_dict,
    load_case,
    public_case_dict,
    ticket_dict,
    ticket_dicts,
)
from jointdesk.desk.services import (
    ActionRefused,
    BadCursor,
    QueueCursor,
    perform_action,
    queue_page,
)
from jointdesk.errors import ApiError
from jointdesk.extensions import db, limiter
from jointdesk.models import Case, Provider, Ticket
from jointdesk.policy.process import TICKET_STATUSES
from jointdesk.schemas import check_body, text_problems
from jointdesk.windows.services import (
    AlreadySubmitted,
    case_for_applicant,
    reissue_query_code,
    report_push_conflict,
    submit_application,
)
from jointdesk.windows.validation import ValidationFailed, validate_application

INTAKE_ROLES = ("clerk", "integration")
OVERDUE_VALUES = ("true", "false", "1", "0")
MAX_PER_PAGE = 100


def api_roles(*roles: str) -> Callable:
    """Bearer token required; the token's user must hold one of these roles."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = api_user()
            if user is None:
                raise ApiError(401, "unauthorized", _("A valid bearer token is required."))
            if roles and user.role not in roles:
                raise ApiError(403, "forbidden", _("Your role may not do this."))
            return view(*args, **kwargs)

        return wrapper

    return decorator


def json_body(schema: str | None = None) -> dict:
    """The JSON object sent; 400 when there is none. Text that is not Unicode (a lone
    surrogate from a ``\\ud800`` escape) is a 422 naming its field, and so is every problem
    found by the body's schema, when one is named."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", _("The request body must be a JSON object."))
    problems = text_problems(data) or (check_body(schema, data) if schema else {})
    if problems:
        raise ApiError(422, "invalid", _("The request has errors; see the fields."), problems)
    return data


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key``, if one was sent; 422 when malformed."""
    try:
        return idempotency.check_key(request.headers.get(idempotency.HEADER))
    except idempotency.BadKey:
        raise ApiError(
            422,
            "invalid",
            _("The request has errors; see the fields."),
            {
                idempotency.HEADER: _(
                    "Use 1 to 64 printable ASCII characters (letters, digits, punctuation)."
                )
            },
        ) from None


def idempotency_claim(data: dict) -> idempotency.Claim | None:
    """The caller's ``Idempotency-Key`` for this request, if one was sent; 422 when malformed."""
    key = idempotency_key()
    if key is None:
        return None
    return idempotency.Claim(
        user_id=g.api_user.id,
        scope=idempotency.API,
        key=key,
        fingerprint=idempotency.fingerprint(idempotency.API, request.path, data),
        keep_code=True,
    )


def _no_store(response):
    """Answers that carry a query code are kept by no cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _replay(row, claim: idempotency.Claim):
    """The first answer again for the same key and body; another body is refused."""
    if row.fingerprint != claim.fingerprint:
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
    case = load_case_data(db.session.get(Case, row.case_id).reference)
    body = case_dict(case, g.api_user)
    code = idempotency.code_of(row)
    if code is not None:  # the same caller, who may never have received the first answer
        body["query_code"] = code
    response = _no_store(jsonify(body))
    response.headers["Location"] = f"/api/v1/cases/{case.reference}"
    response.headers["Idempotent-Replayed"] = "true"
    return response, 200


def _intake(data: dict, pushed: bool, claim: idempotency.Claim | None):
    if claim is not None and (row := idempotency.find_claim(claim)) is not None:
        return _replay(row, claim)
    try:
        application = validate_application(data, pushed=pushed)
        viewer = Viewer.of(g.api_user)  # the commit expires the user; its role stays at hand
        case, code = submit_application(application, g.api_user, claim=claim)
    except ValidationFailed as exc:
        raise ApiError(
            422, "invalid", _("The application has errors; see the fields."), exc.fields
        ) from exc
    except idempotency.Replay as exc:  # a concurrent request with this key came first
        return _replay(exc.row, claim)
    except AlreadySubmitted as exc:
        if exc.differences:
            report_push_conflict(exc.case, exc.differences, g.api_user)
            raise ApiError(
                409,
                "push_conflict",
                _(
                    "This project code was already pushed with different data; nothing was "
                    "created. Check the project code, or correct the project in the approval "
                    "system."
                ),
                {
                    path: _("Differs from the first push of this project code.")
                    for path in exc.differences
                },
            ) from None
        # a retried push: the same project answers with its case, never a second one
        body = case_dict(load_case_data(exc.case.reference), g.api_user)
        return jsonify(body), 200, {"Location": f"/api/v1/cases/{exc.case.reference}"}
    body = case_dict(case, viewer)  # the case as its INSERTs stored it
    body["query_code"] = code
    response = _no_store(jsonify(body))
    response.headers["Location"] = f"/api/v1/cases/{case.reference}"
    return response, 201


@bp.post("/cases")
@api_roles(*INTAKE_ROLES)
def create_case():
    """One combined application → a case with one ticket per service, fanned out."""
    data = json_body()
    claim = idempotency_claim(data)
    # the schema refuses channel approval_system here, for every role (see schemas.py)
    return _intake(data, pushed=False, claim=claim)


@bp.post("/integrations/approval-system/projects")
@api_roles("integration")
def approval_system_project():
    """A project pushed by the approval system: no application, no materials, one step.

    One case per project code: a repeated push answers 200 with it, a push of the code with
    other data 409 (and an audit event)."""
    data = json_body()
    claim = idempotency_claim(data)
    return _intake(data, pushed=True, claim=claim)


CALLBACK_PATH = "/integrations/approval-system/callback"


def _callback_dict(row) -> dict:
    """The registration as answered: the URL, never the secret."""
    return {
        "url": row.url,
        "secret_set": True,
        "updated_at": None if row.updated_at is None else row.updated_at.isoformat(),
    }


@bp.put(CALLBACK_PATH)
@api_roles("integration")
def approval_system_callback_put():
    """Registers (or replaces) where the approval system's milestone callbacks go."""
    from jointdesk.integrations.callbacks import register_endpoint

    data = json_body("CallbackRegistration")
    row = register_endpoint(data["url"].strip(), data["secret"], g.api_user)
    return jsonify(_callback_dict(row))


@bp.get(CALLBACK_PATH)
@api_roles("integration")
def approval_system_callback_get():
    """The registered callback URL (the secret is never answered back)."""
    from jointdesk.integrations.callbacks import endpoint

    row = endpoint()
    if row is None:
        raise ApiError(404, "not_found", _("No callback address is registered."))
    return jsonify(_callback_dict(row))


@bp.delete(CALLBACK_PATH)
@api_roles("integration")
def approval_system_callback_delete():
    """Stops the callbacks; 404 when none was registered."""
    from jointdesk.integrations.callbacks import remove_endpoint

    if not remove_endpoint(g.api_user):
        raise ApiError(404, "not_found", _("No callback address is registered."))
    return "", 204


@bp.post("/cases/<reference>/query-code")
@api_roles("clerk", "admin")
def new_query_code(reference: str):
    """A new query code for the applicant (the old one stops working); audited without it."""
    case = load_case(reference.strip().upper()[:32])
    if case is None:
        raise ApiError(404, "not_found", _("No such case."))
    code, _link = reissue_query_code(case, g.api_user)
    return _no_store(jsonify({"reference": case.reference, "query_code": code}))


def reads_only(view=None, *, public: bool = False):
    """Marks an endpoint whose every statement reads: it runs outside a transaction (see
    ``read_without_transaction``). Put it right under the route decorator; ``public`` for an
    endpoint that needs no token."""

    def mark(fn):
        fn.reads_only = "public" if public else True
        return fn

    return mark(view) if view is not None else mark


@bp.before_request
def _reads_outside_transactions():
    req = request._get_current_object()
    if req.method not in ("GET", "HEAD"):
        return
    view = current_app.view_functions.get(req.endpoint)
    if not getattr(view, "reads_only", False):
        return
    if view.reads_only == "public" or "Authorization" in req.headers:
        read_without_transaction()  # (without a token the answer is a 401 that reads nothing)


@bp.teardown_request
def _end_reads(_exc):
    end_read_without_transaction()


@bp.get("/cases/<reference>")
@reads_only
@api_roles()
def get_case(reference: str):
    """The aggregated case view, for anyone on the case."""
    case = load_case_data(reference.strip().upper()[:32])
    if case is None or not can_view_case(g.api_user, case):
        raise ApiError(404, "not_found", _("No such case."))
    return jsonify(case_dict(case, g.api_user))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """Exactly what the document says: ASCII digits (``int()`` would also take ``٥`` or
    ``1_0``), within bounds; a parameter sent empty is refused, not taken as absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):
        raise ApiError(
            400, "bad_request", _("Invalid query parameter."), {name: _("Must be a whole number.")}
        )
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(
            400,
            "bad_request",
            _("Invalid query parameter."),
            {name: _("Must be between %(low)d and %(high)d.", low=low, high=high)},
        )
    return value


@bp.get("/providers/<code>/tickets")
@reads_only
@api_roles("staff", "supervisor", "admin")
def provider_tickets(code: str):
    """A provider's queue, oldest due first; ``status``, ``overdue``, ``per_page``, and
    ``after`` (the ``next`` cursor of the page before: keyset pages, as fast deep as shallow)
    or ``page`` (a page number, for shallow pages only: OFFSET reads every row before it)."""
    provider = db.session.execute(
        db.select(Provider).where(Provider.code == code)
    ).scalar_one_or_none()
    if provider is None:
        raise ApiError(404, "not_found", _("No such provider."))
    if not can_read_queue(g.api_user, provider.id):
        raise ApiError(403, "forbidden", _("You may only see your own provider's queue."))
    status = request.args.get("status")
    if status is not None and status not in TICKET_STATUSES:
        raise ApiError(
            400, "bad_request", _("Invalid query parameter."), {"status": _("Unknown status.")}
        )
    overdue_raw = request.args.get("overdue")
    overdue = None
    if overdue_raw is not None:
        if overdue_raw not in OVERDUE_VALUES:
            raise ApiError(
                400,
                "bad_request",
                _("Invalid query parameter."),
                {"overdue": _("Use true or false.")},
            )
        overdue = overdue_raw in ("true", "1")
    page = _int_arg("page", 1, 1, 100_000)
    per_page = _int_arg("per_page", 20, 1, MAX_PER_PAGE)
    after = None
    if request.args.get("after") is not None:
        try:
            after = QueueCursor.decode(request.args["after"])
        except BadCursor as exc:
            raise ApiError(
                400,
                "bad_request",
                _("Invalid query parameter."),
                {"after": _("Not a cursor of this queue; use the next value of a page.")},
            ) from exc
    result = queue_page(
        provider.id,
        status=status,
        overdue=overdue,
        per_page=per_page,
        page=page,
        after=after,
        load=load_tickets_data,  # the page in one read of plain rows
    )
    return jsonify(
        {
            "items": ticket_dicts(result.items),
            "total": result.total,
            "page": page,
            "per_page": per_page,
            "next": result.next,
        }
    )


@bp.post("/tickets/<int(max=2147483647):ticket_id>/actions")
@api_roles("staff")
def ticket_action(ticket_id: int):
    """One action on a ticket by its provider's staff; 409 when its state does not allow it."""
    ticket = db.session.execute(
        db.select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(
            joinedload(Ticket.case),
            selectinload(Ticket.steps),
            selectinload(Ticket.permits),
            selectinload(Ticket.suspensions),
        )
    ).scalar_one_or_none()
    if ticket is None or not can_act_on_ticket(g.api_user, ticket):
        raise ApiError(404, "not_found", _("No such ticket in your queue."))
    data = json_body("Action")
    version = data.get("version")
    try:
        perform_action(
            ticket,
            data["action"],
            g.api_user,
            reason=data.get("reason"),
            representative=data.get("representative"),
            expected_version=None if version is None else int(version),
            permit=data.get("permit"),
            material=data.get("material"),
            note=data.get("note"),
            reason_code=data.get("reason_code"),
        )
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc
    return jsonify(ticket_dict(load_ticket_data(ticket_id)))  # one read of what was committed


def public_limit() -> str:
    """Look-ups per client, shared by the public page and this endpoint."""
    return current_app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"]


public_lookup_limit = limiter.shared_limit(public_limit, scope="public-lookup")


@bp.get("/public/cases/<reference>")
@reads_only(public=True)
@public_lookup_limit
def public_case(reference: str):
    """Public: progress for the applicant, by reference and query code. Rate-limited."""
    case = case_for_applicant(reference, request.args.get("code", ""), progress=True)
    if case is None:
        raise ApiError(404, "not_found", _("No case matches this reference and query code."))
    return jsonify(public_case_dict(case))


@bp.get("/openapi.json")
def openapi():
    """The machine-readable description of this API."""
    return jsonify(openapi_document())
