"""The OpenAPI 3.1 description of ``/api/v1``; a test checks it against the routes served."""

from __future__ import annotations

from jointdesk.policy.process import (
    ACTIONS,
    APPLICANT_KINDS,
    CHANNELS,
    COMMITMENT_FILING,
    LIGHTS,
    PERMIT_KINDS,
    PERMIT_STATUSES,
    SERVICES,
    TICKET_STATUSES,
)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict:
    return {
        str(c): {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
        for c in codes
    }


def _json(schema_ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "for people; zh_CN by default"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "one message per field, keyed by dotted path",
                    },
                },
            }
        },
    },
    "Application": {
        "type": "object",
        "required": ["applicant", "address", "services"],
        "properties": {
            "channel": {
                "enum": [c for c in CHANNELS if c != "approval_system"],
                "default": "window",
            },
            "applicant": {
                "type": "object",
                "required": ["name", "id_number", "phone"],
                "properties": {
                    "kind": {"enum": list(APPLICANT_KINDS), "default": "person"},
                    "name": {"type": "string", "maxLength": 100},
                    "id_number": {
                        "type": "string",
                        "description": "18-digit resident ID (person) or unified social credit "
                        "code (enterprise); checksums verified",
                    },
                    "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
                },
            },
            "address": {
                "type": "object",
                "required": ["district", "detail"],
                "properties": {
                    "district": {"type": "string", "description": "name or division code"},
                    "detail": {"type": "string", "maxLength": 200},
                },
            },
            "services": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(SERVICES)},
            },
            "project": {
                "type": "object",
                "properties": {
                    "approval_system_code": {"type": ["string", "null"], "maxLength": 64},
                    "low_risk": {"type": "boolean"},
                    "external_works": {"type": "boolean"},
                    "pipeline_length_m": {"type": ["number", "null"], "minimum": 0},
                    "supporting_fee_paid": {"type": "boolean"},
                    "excavates_road": {"type": "boolean"},
                    "moves_trees": {"type": "boolean"},
                    "occupies_green_space": {"type": "boolean"},
                },
                "description": "pipeline_length_m is required when external_works is true",
            },
            "materials": {
                "type": "array",
                "description": "window cases list the application form; a missing one (容缺) "
                "needs a note",
                "items": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": {"enum": ["application_form"]},
                        "provided": {"type": "boolean", "default": True},
                        "note": {"type": "string", "maxLength": 500},
                    },
                },
            },
        },
    },
    "Step": {
        "type": "object",
        "properties": {
            "name": {"enum": ["accept", "connect"]},
            "started_at": _TIME,
            "due_at": _TIME,
            "due_provisional": {
                "type": "boolean",
                "description": "rests on a year whose official calendar is not known yet",
            },
            "completed_at": _TIME,
            "working_days": {"type": ["number", "null"], "description": "used so far or in all"},
        },
    },
    "Permit": {
        "type": "object",
        "properties": {
            "kind": {"enum": [*PERMIT_KINDS, COMMITMENT_FILING]},
            "status": {"enum": list(PERMIT_STATUSES)},
            "filed_at": _TIME,
            "due_at": _TIME,
            "due_provisional": {"type": "boolean"},
            "granted_at": _TIME,
        },
    },
    "Fee": {
        "type": "object",
        "properties": {
            "amount": {
                "type": ["number", "null"],
                "description": "null: at a published price the provider has not entered",
            },
            "basis": {"type": "string"},
            "basis_text": {"type": "string"},
            "charging_basis": {
                "type": ["string", "null"],
                "description": "the provider's published charging basis (收费依据)",
            },
            "price_per_metre": {
                "type": ["number", "null"],
                "description": "published yuan per metre the works amount was computed from",
            },
        },
    },
    "Light": {
        "type": "object",
        "properties": {k: {"enum": list(LIGHTS)} for k in ("step", "total", "overall")},
    },
    "Ticket": {
        "type": "object",
        "required": ["id", "service", "provider", "status", "steps", "permits", "fee"],
        "properties": {
            "id": {"type": "integer"},
            "case": {"type": "string"},
            "service": {"enum": list(SERVICES)},
            "provider": {"type": "string"},
            "provider_name": {"type": "string"},
            "status": {"enum": list(TICKET_STATUSES)},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
            "permits": {"type": "array", "items": {"$ref": "#/components/schemas/Permit"}},
            "fee": {
                "type": "object",
                "properties": {
                    "connection": {"$ref": "#/components/schemas/Fee"},
                    "outside_boundary_investment": {"$ref": "#/components/schemas/Fee"},
                },
            },
            "light": {"$ref": "#/components/schemas/Light"},
            "due_provisional": {"type": "boolean"},
            "representative": {"type": ["object", "null"]},
            "due_at": _TIME,
            "overdue": {"type": "boolean"},
            "version": {"type": "integer", "description": "send back to act only on this version"},
            "allowed_actions": {"type": "array", "items": {"enum": list(ACTIONS)}},
        },
    },
    "Case": {
        "type": "object",
        "required": ["reference", "status", "tickets"],
        "properties": {
            "reference": {"type": "string"},
            "query_code": {"type": "string", "description": "only in the 201 answer"},
            "status": {
                "enum": ["received", "in_progress", "partially_connected", "completed", "returned"]
            },
            "channel": {"enum": list(CHANNELS)},
            "applicant": {"type": "object", "description": "ID number always masked"},
            "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
            "events": {"type": "array", "items": {"type": "object"}},
            "indicators": {
                "type": "object",
                "description": "steps, applicant_trips, materials_asked, limits, per-ticket "
                "working days and permit time, cost_to_applicant, four_zero",
            },
        },
    },
    "TicketPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    },
    "Action": {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"enum": list(ACTIONS)},
            "reason": {"type": "string", "description": "required for return and suspend"},
            "representative": {"type": "string", "description": "username, for assign"},
            "permit": {
                "type": "string",
                "description": "permit kind, for permit_file / permit_grant",
            },
            "material": {"type": "string", "description": "material kind, for material_received"},
            "version": {"type": "integer"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "broker"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "down"]},
            "database": {"enum": ["ok", "down"]},
            "broker": {"enum": ["ok", "down"]},
            "workers": {"$ref": "#/components/schemas/Liveness"},
            "scheduler": {"$ref": "#/components/schemas/Liveness"},
            "deliveries": {
                "type": "object",
                "description": "outbox rows not yet delivered to their provider",
                "properties": {
                    "undelivered": {"type": "integer"},
                    "oldest_age": {"type": ["number", "null"], "description": "seconds"},
                    "stuck_after": {"type": "number", "description": "seconds"},
                    "stuck": {"type": "boolean"},
                },
            },
        },
    },
    "Liveness": {
        "type": "object",
        "properties": {
            "status": {"enum": ["ok", "missing"]},
            "alive": {"type": "integer", "description": "processes with a fresh heartbeat"},
            "heartbeat_age": {
                "type": ["number", "null"],
                "description": "seconds since the latest heartbeat; null if none ever",
            },
        },
    },
}


def openapi_document() -> dict:
    bearer = [{"bearer": []}]
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "JointDesk API", "version": "1"},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": {
            "/api/v1/cases": {
                "post": {
                    "summary": "One combined application (clerk, integration client)",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Application"}
                            }
                        },
                    },
                    "responses": {"201": _json("Case", "created")} | _errors(400, 401, 403, 422),
                }
            },
            "/api/v1/integrations/approval-system/projects": {
                "post": {
                    "summary": "A project pushed by the approval system: one step, no materials",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Application"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("Case", "already pushed: the same case"),
                        "201": _json("Case", "created"),
                    }
                    | _errors(400, 401, 403, 422),
                }
            },
            "/api/v1/cases/{reference}": {
                "get": {
                    "summary": "The aggregated case view",
                    "security": bearer,
                    "parameters": [_path("reference")],
                    "responses": {"200": _json("Case", "the case")} | _errors(401, 404),
                }
            },
            "/api/v1/providers/{code}/tickets": {
                "get": {
                    "summary": "A provider's queue, oldest due first",
                    "security": bearer,
                    "parameters": [
                        _path("code"),
                        _query("status", {"enum": list(TICKET_STATUSES)}),
                        _query("overdue", {"type": "boolean"}),
                        _query("page", {"type": "integer", "minimum": 1}),
                        _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
                    ],
                    "responses": {"200": _json("TicketPage", "one page")}
                    | _errors(400, 401, 403, 404),
                }
            },
            "/api/v1/tickets/{id}/actions": {
                "post": {
                    "summary": "Act on a ticket (its provider's staff)",
                    "security": bearer,
                    "parameters": [_path("id", {"type": "integer"})],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Action"}}
                        },
                    },
                    "responses": {"200": _json("Ticket", "the ticket after the action")}
                    | _errors(400, 401, 403, 404, 409, 422),
                }
            },
            "/api/v1/public/cases/{reference}": {
                "get": {
                    "summary": "Public progress by reference and query code (rate-limited)",
                    "security": [],
                    "parameters": [_path("reference"), _query("code", {"type": "string"}, True)],
                    "responses": {"200": _json("Case", "masked progress")} | _errors(404, 429),
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Database, broker, workers, scheduler and deliveries",
                    "security": [],
                    "responses": {
                        "200": _json("Health", "ok"),
                        "503": _json(
                            "Health",
                            "down (database) or degraded (deliveries stuck, workers or "
                            "scheduler gone)",
                        ),
                    },
                }
            },
        },
    }
    return _add_one_request_one_case(doc)


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


# --- One request, one case (issue 6, section 2): Idempotency-Key, push conflicts, new codes ---

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Up to 64 printable ASCII characters, chosen by the client, per caller. The "
    "same key and the same body within 24 hours answer the first case again (200, same "
    "reference, header Idempotent-Replayed: true; with its query code until a clerk issues a "
    "new one); the same key with another body is a 422; concurrent requests with one key make "
    "one case. A malformed key is a 422 naming the header.",
    # printable ASCII; no space at either end (HTTP drops it, and nothing would be left of " ")
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[!-~]([ -~]{0,62}[!-~])?$",
    },
}


def _add_one_request_one_case(doc: dict) -> dict:
    bearer = [{"bearer": []}]
    doc["components"].setdefault("parameters", {})["IdempotencyKey"] = _IDEMPOTENCY_KEY
    key_ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    paths = doc["paths"]
    create = paths["/api/v1/cases"]["post"]
    create.setdefault("parameters", []).append(key_ref)
    create["responses"]["200"] = _json("Case", "the first case again, for a repeated key and body")
    push = paths["/api/v1/integrations/approval-system/projects"]["post"]
    push.setdefault("parameters", []).append(key_ref)
    push["description"] = (
        "One case per project code pushed by the approval system. A repeated push with the same "
        "data answers 200 with that case (without its query code); a push of the code with "
        "other data is refused with 409, the differing fields named, and audited."
    )
    push["responses"] |= _errors(409)
    paths["/api/v1/cases/{reference}/query-code"] = {
        "post": {
            "summary": "Issue a new query code (clerk, admin); the old one stops working",
            "security": bearer,
            "parameters": [_path("reference")],
            "responses": {
                "200": {
                    "description": "the new code, shown once",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reference", "query_code"],
                                "properties": {
                                    "reference": {"type": "string"},
                                    "query_code": {"type": "string", "pattern": "^[0-9]{8}$"},
                                },
                            }
                        }
                    },
                }
            }
            | _errors(401, 403, 404),
        }
    }
    return doc
