"""The OpenAPI 3.1 description of ``/api/v1``.

The bodies are the JSON Schemas of ``jointdesk/schemas.py``, the very ones the server validates
requests with; this module only lays out the operations. Tests keep it equal to the routes
served (``test_openapi_and_errors.py``) and fuzz the server against it (``test_api_fuzz.py``).

To add an operation: one entry in ``OPERATIONS`` (path, method, and ``operation(...)``), its
request body (if any) in ``jointdesk/schemas.py`` and validated there with
``json_body("Name")``; a request header is a parameter: ``header("Name", {...})``, declared
once in ``PARAMETERS`` when several operations take it (``param_ref("IdempotencyKey")``).
"""

from __future__ import annotations

from jointdesk import idempotency
from jointdesk.integrations import approval_system, signing
from jointdesk.policy.process import TICKET_STATUSES
from jointdesk.schemas import FILLED, NO_NUL, SCHEMAS, ref

BEARER = [{"bearer": []}]
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PUBLIC: list = []


def _body(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    return answer | ({"headers": headers} if headers else {})


def errors(*codes: int) -> dict:
    """Error answers, each the JSON error envelope. 405 and 413 can follow any request."""
    return {str(c): _body(ref("Error"), "error") for c in sorted({*codes, 405, 413})}


def path_param(name: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or {"type": "string", "pattern": NO_NUL},
    }


def query(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    return param | ({"description": description} if description else {})


def header(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    param = {"name": name, "in": "header", "required": required, "schema": schema}
    return param | ({"description": description} if description else {})


# Parameters several operations share: declared once under components, referred to by name.
PARAMETERS: dict[str, dict] = {
    "IdempotencyKey": header(
        "Idempotency-Key",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": idempotency.MAX_KEY,
            "pattern": f"^{idempotency.KEY_PATTERN}$",
        },
        description="Up to 64 printable ASCII characters, chosen by the client, per caller. The "
        "same key and the same body within 24 hours answer the first case again (200, same "
        "reference, header Idempotent-Replayed: true; with its query code until a clerk issues "
        "a new one); the same key with another body is a 422 (code idempotency_key_reused); "
        "concurrent requests with one key make one case. A malformed key is a 422 naming the "
        "header.",
    ),
}


def param_ref(name: str) -> dict:
    """A parameter of ``PARAMETERS``."""
    return {"$ref": f"#/components/parameters/{name}"}


def operation(
    summary: str,
    responses: dict,
    *,
    security: list = BEARER,
    parameters: list | None = None,
    body: str | None = None,
    description: str = "",
) -> dict:
    """One operation; ``body`` names the request body's schema in ``jointdesk/schemas.py``.
    Bearer-token operations also answer 401, and every operation with a body 400 (no JSON
    object) and 422 (see ``error.fields``)."""
    op: dict = {"summary": summary, "security": security, "responses": dict(responses)}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if security:
        op["responses"] |= errors(401)
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
        op["responses"] |= errors(400, 422)
    op["responses"] = dict(sorted(op["responses"].items()))
    return op


OPERATIONS: dict[str, dict[str, dict]] = {
    "/api/v1/cases": {
        "post": operation(
            "One combined application (clerk, integration client)",
            {
                "200": _body(
                    ref("Case"),
                    "the first case again, for a repeated Idempotency-Key and body",
                    {"Idempotent-Replayed": {"required": True, "schema": {"const": "true"}}},
                ),
                "201": _body(ref("Case"), "created, with the query code"),
            }
            | errors(403),
            parameters=[param_ref("IdempotencyKey")],
            body="Application",
        ),
    },
    "/api/v1/integrations/approval-system/projects": {
        "post": operation(
            "A project pushed by the approval system: one step, no materials",
            {
                "200": _body(
                    ref("Case"),
                    "already pushed with the same data: the same case (without its query "
                    "code), or the first case again for a repeated Idempotency-Key and body",
                    {"Idempotent-Replayed": {"schema": {"const": "true"}}},
                ),
                "201": _body(ref("Case"), "created, with the query code"),
                "409": _body(
                    ref("Error"),
                    "push_conflict: this project code was pushed before with other data; the "
                    "differing fields are named, and the attempt is audited",
                ),
            }
            | errors(403),
            parameters=[param_ref("IdempotencyKey")],
            body="ApprovalSystemProject",
            description="One case per project code pushed by the approval system. A repeated "
            "push with the same data answers 200 with that case (without its query code); a "
            "push of the code with other data is refused with 409, the differing fields named, "
            "and audited.",
        ),
        "get": operation(
            "The approval system's projects whose case was created from one date to another "
            "(integration client, supervisors, administrators), oldest first, keyset-paged",
            {"200": _body(ref("ApprovalProjectPage"), "one page of at most 100 projects")}
            | errors(403, 422),
            parameters=[
                query(
                    "from",
                    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                    required=True,
                    description="first local date (Asia/Shanghai), included",
                ),
                query(
                    "to",
                    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                    required=True,
                    description="last local date, included; not before from, at most 92 days "
                    "from it (422 naming the field otherwise)",
                ),
                query(
                    "after",
                    {"type": "string", "pattern": f"^{approval_system.CURSOR_PATTERN}$"},
                    description="the next cursor of the page before, with the same from and "
                    "to (another form: 422)",
                ),
            ],
        ),
    },
    "/api/v1/integrations/providers/{code}/events": {
        "post": operation(
            "An event from a provider's own system, signed with the provider's secret: the "
            "ticket changes exactly as the desk action would",
            {
                "200": _body(
                    {"anyOf": [ref("Ticket"), ref("Duplicate")]},
                    "applied: the ticket after the action; or duplicate true for an event_id "
                    "applied before (nothing changed)",
                ),
                "401": _body(
                    ref("Error"),
                    "bad_signature: unknown provider, no secret set, signature missing or "
                    "wrong, or timestamp more than 300 s away (one answer for all)",
                ),
                "404": _body(ref("Error"), "not_found: not a ticket of this provider"),
                "409": _body(
                    ref("Error"),
                    "the ticket's state does not allow the action (as for the desk action)",
                ),
            }
            | errors(429),
            security=PUBLIC,
            parameters=[
                path_param("code"),
                header(
                    signing.TIMESTAMP_HEADER,
                    {"type": "string", "pattern": "^[0-9]{1,12}$"},
                    required=True,
                    description="Unix seconds when the event was sent; more than 300 s from "
                    "the server's clock is refused (401)",
                ),
                header(
                    signing.SIGNATURE_HEADER,
                    {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                    required=True,
                    description="sha256=<hex>: HMAC-SHA256 with the provider's secret of "
                    "<timestamp>. followed by the raw body bytes",
                ),
            ],
            body="ProviderEvent",
            description="No bearer token: the raw body is signed (see the headers). Refused "
            "events (401, 404, 409, 422) change nothing and are not remembered, so a corrected "
            "retry may reuse the event_id. Rate-limited per provider.",
        ),
    },
    "/api/v1/integrations/approval-system/projects/{project_code}": {
        "get": operation(
            "A project's case as the approval system follows it (integration client, "
            "supervisors, administrators)",
            {"200": _body(ref("ApprovalProject"), "the project")} | errors(403, 404),
            parameters=[path_param("project_code")],
            description="The case the approval system pushed with this code, else the newest "
            "case brought to the window with it; 404 for a code no case carries.",
        ),
    },
    "/api/v1/integrations/approval-system/callback": {
        "put": operation(
            "Register where the approval system's milestone callbacks go (integration client)",
            {"200": _body(ref("Callback"), "registered; the secret is never answered back")}
            | errors(403),
            body="CallbackRegistration",
            description="At each milestone of a case the approval system pushed (case_received, "
            "service_queued, service_accepted, service_connected, service_returned, "
            "case_completed) JointDesk POSTs {project_code, reference, milestone, service, "
            "status, reason, at} to this URL, signed: X-JointDesk-Timestamp, "
            "X-JointDesk-Signature: sha256=<hex HMAC-SHA256 with the secret of "
            "'<timestamp>.' + the raw body>, Idempotency-Key (the same on every retry). "
            "Anything but 2xx within 10 s is retried with growing waits, then dead-lettered. "
            "A new registration replaces the old one.",
        ),
        "get": operation(
            "The registered callback URL (never the secret)",
            {"200": _body(ref("Callback"), "the registration")} | errors(403, 404),
        ),
        "delete": operation(
            "Stop the callbacks (those already queued still go)",
            {"204": {"description": "removed"}} | errors(403, 404),
        ),
    },
    "/api/v1/cases/{reference}/query-code": {
        "post": operation(
            "Issue a new query code (clerk, admin); the old one stops working at once; audited "
            "without the code",
            {"200": _body(ref("NewQueryCode"), "the new code, shown once")} | errors(403, 404),
            parameters=[path_param("reference")],
        ),
    },
    "/api/v1/cases/{reference}": {
        "get": operation(
            "The aggregated case view",
            {"200": _body(ref("Case"), "the case")} | errors(404),
            parameters=[path_param("reference")],
        ),
    },
    "/api/v1/providers/{code}/tickets": {
        "get": operation(
            "A provider's queue, oldest due first (its staff, supervisors, administrators)",
            {"200": _body(ref("TicketPage"), "one page")} | errors(400, 403, 404),
            parameters=[
                path_param("code"),
                query("status", {"enum": list(TICKET_STATUSES)}),
                query("overdue", {"enum": ["true", "false", "1", "0"]}),
                query(
                    "after",
                    {"type": "string", "maxLength": 200, "pattern": NO_NUL},
                    description="the next cursor of the page before: keyset paging, as fast on "
                    "the ten-thousandth page as on the first (an invalid cursor: 400); page is "
                    "then ignored",
                ),
                query(
                    "page",
                    {"type": "integer", "minimum": 1, "maximum": 100_000},
                    description="page number, for shallow pages only (deep ones use after: an "
                    "offset reads every ticket before the page)",
                ),
                query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
            ],
        ),
    },
    "/api/v1/providers/{code}/disclosure": {
        "get": operation(
            "What a provider publishes (信息公开; public, rate-limited): its published catalog "
            "items and its current and upcoming outage notices; an unknown provider is a 404",
            {"200": _body(ref("ProviderDisclosure"), "the published items and notices")}
            | errors(404, 429),
            security=PUBLIC,
            parameters=[path_param("code")],
        ),
    },
    "/api/v1/tickets/{id}/actions": {
        "post": operation(
            "Act on a ticket (its provider's staff); 409 when its state does not allow it, "
            "permits are pending, or version is stale",
            {"200": _body(ref("Ticket"), "the ticket after the action")} | errors(403, 404, 409),
            parameters=[path_param("id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})],
            body="Action",
        ),
    },
    "/api/v1/supervision/summary": {
        "get": operation(
            "A month's evaluation of every provider (supervisors, administrators): a closed "
            "month's frozen figures, an open month's computed now",
            {"200": _body(ref("SupervisionSummary"), "the month's figures and scores")}
            | errors(400, 403, 422),
            parameters=[
                query(
                    "month",
                    {"type": "string", "pattern": "^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"},
                    required=True,
                    description="YYYY-MM, 2000-01 to 2100-12; anything else is a 422",
                )
            ],
        ),
    },
    "/api/v1/public/cases/{reference}": {
        "get": operation(
            "Public progress by reference and query code (rate-limited); a wrong code and an "
            "unknown reference answer the same 404",
            {"200": _body(ref("PublicCase"), "masked progress")} | errors(400, 404, 429),
            security=PUBLIC,
            parameters=[
                path_param("reference"),
                query("code", {"type": "string", "pattern": NO_NUL}, required=True),
            ],
        ),
    },
    "/api/v1/public/cases/{reference}/ratings": {
        "get": operation(
            "The applicant's ratings (好差评) of each service, and whether it may be rated now "
            "(public, by reference and query code, rate-limited with the status look-up)",
            {"200": _body(ref("PublicRatings"), "per service")} | errors(400, 404, 429),
            security=PUBLIC,
            parameters=[
                path_param("reference"),
                query("code", {"type": "string", "pattern": NO_NUL}, required=True),
            ],
        ),
        "post": operation(
            "Rate one service on the five-level scale (the applicant, by query code)",
            {
                "201": _body(ref("PublicRatings"), "rated; every service's ratings"),
                "401": _body(ref("Error"), "a bearer token was sent that is not valid"),
                "403": _body(ref("Error"), "a token of a role other than the app's client"),
                "404": _body(
                    ref("Error"), "no case matches this reference and query code (one answer)"
                ),
                "409": _body(
                    ref("Error"),
                    "not_finished: the service is not connected yet; already_rated: rated in "
                    "this round (a second rating only after the follow-up of a 差评 is closed)",
                ),
                "429": _body(ref("Error"), "too many look-ups from this client"),
            },
            security=[{}, *BEARER],
            parameters=[path_param("reference")],
            body="RatingRequest",
            description="One rating per service and round: round 1 once the service is "
            "connected; 不满意 (2) and 非常不满意 (1) open a follow-up by the provider (callback, "
            "rectification, a supervisor's review), and once it is closed the service may be "
            "rated once more (round 2). Channel online without a token, app with the app "
            "client's (integration) token. Counted against the public status look-up's limit.",
        ),
    },
    "/api/v1/public/verification-codes": {
        "post": operation(
            "Send a one-time code to the applicant's phone (public, rate-limited)",
            {
                "202": _body(ref("VerificationSent"), "the code is on its way (an SMS)"),
                "429": _body(
                    ref("Error"),
                    "too many codes for this number or this client; the message says how long "
                    "to wait",
                    {"Retry-After": {"required": True, "schema": {"type": "string"}}},
                ),
            },
            security=PUBLIC,
            body="VerificationRequest",
            description="Limits per phone number (JOINTDESK_OTP_PHONE_LIMIT, default 1 a "
            "minute, 5 an hour, 10 a day) and per client address (JOINTDESK_OTP_CLIENT_LIMIT). "
            "A new code replaces the older one; it is valid JOINTDESK_OTP_MINUTES minutes for "
            "JOINTDESK_OTP_ATTEMPTS attempts.",
        ),
    },
    "/api/v1/public/applications": {
        "post": operation(
            "An application by the applicant (channel online) or the app's client (channel "
            "app): no materials, no trip; the phone proven by its one-time code",
            {
                "200": _body(
                    ref("OnlineCase"),
                    "the first case again: the same application (same phone, same normalised "
                    "data) within 24 hours, or a repeated Idempotency-Key and body",
                    {"Idempotent-Replayed": {"required": True, "schema": {"const": "true"}}},
                ),
                "201": _body(ref("OnlineCase"), "created, with the query code"),
                "401": _body(ref("Error"), "a bearer token was sent that is not valid"),
                "403": _body(
                    ref("Error"),
                    "verification_wrong (attempts left in the message), verification_dead, "
                    "verification_expired, verification_used, verification_none; or a token "
                    "of a role other than the app's client (integration)",
                ),
                "429": _body(
                    ref("Error"),
                    "too many applications from this client; the message says how long to wait",
                    {"Retry-After": {"required": True, "schema": {"type": "string"}}},
                ),
            },
            security=[{}, *BEARER],
            parameters=[param_ref("IdempotencyKey")],
            body="PublicApplication",
            description="The channel is decided by the server: app with a bearer token of an "
            "integration client (the registered app client), online without a token. The "
            "verification phone must be applicant.phone. The code is used up by the case it "
            "makes; a repeated submission (double click, retry) within 24 hours answers 200 "
            "with the first case and its query code, never a second case, also when the "
            "twins arrive at once.",
        ),
    },
    "/api/v1/openapi.json": {
        "get": operation(
            "This document",
            {"200": _body({"type": "object"}, "OpenAPI 3.1")},
            security=PUBLIC,
        ),
    },
    "/healthz": {
        "get": operation(
            "Database, broker, workers, scheduler and deliveries",
            {
                "200": _body(ref("Health"), "ok"),
                "503": _body(
                    ref("Health"),
                    "down (database) or degraded (deliveries stuck, workers or scheduler gone)",
                ),
            },
            security=PUBLIC,
        ),
    },
}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "JointDesk API",
            "version": "1",
            "description": "Request bodies are validated with exactly the schemas below. "
            "Formats: cn-resident-id, cn-uscc, cn-mobile (NFKC-normalised, then ASCII digits "
            "and check characters), district (a district's name or division code). A string "
            f"that must not be blank has the pattern {FILLED}; no text may hold NUL. "
            "x-errors names the message a failed keyword gives.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
        },
        "paths": OPERATIONS,
    }
