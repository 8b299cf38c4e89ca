"""Every JSON body of ``/api/v1``, declared once as JSON Schema (2020-12, the dialect of OpenAPI
3.1): the OpenAPI document serves these very dicts, and ``check_body`` validates requests with
them (``jsonschema``), so the document and the server cannot drift apart.

What a schema cannot say is said by a named ``format``, checked here and described in the
document: ``cn-resident-id``, ``cn-uscc`` and ``cn-mobile`` (NFKC-normalised, then ASCII
digits and check characters). Districts are an enum of the reference data shipped with the
package. What depends on stored data (routing, a ticket's permits) stays in the services.

Error messages stay field by field and translated: each error becomes one message keyed by the
dotted path of its field; ``x-errors`` on a schema names the message for one keyword there.
"""

from __future__ import annotations

import math
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from jointdesk.labels import CHANNEL_LABELS
from jointdesk.policy import identity
from jointdesk.policy.process import (
    ACTION_ALIASES,
    ACTIONS,
    ACTIONS_NEEDING_NOTE,
    ACTIONS_NEEDING_REASON,
    APPLICANT_KINDS,
    CHANNELS,
    COMMITMENT_FILING,
    LIGHTS,
    MATERIAL_KINDS,
    PERMIT_KINDS,
    PERMIT_STATUSES,
    SERVICES,
    SUSPENSION_REASONS,
    TICKET_STATUSES,
    suspension_text_required,
)
from jointdesk.policy.supervision import SUMMARY_FIELDS
from jointdesk.routing.channels import (
    MAX_SECRET,
    MAX_URL,
    MIN_SECRET,
    SECRET_PATTERN,
    URL_PATTERN,
)
from jointdesk.seed import load_districts

MAX_NAME = 100
MAX_DETAIL = 200
MAX_NOTE = 500
MAX_CODE = 64
MAX_REASON = 500
MAX_USERNAME = 64
MAX_PIPELINE_M = 100_000
MAX_INT = 2_147_483_647
# the channel each intake route submits through; the public applications endpoint is online,
# or app when the caller is the app's registered client (an integration client's token)
ROUTE_CHANNEL = {"cases": "window", "push": "approval_system", "online": "online", "app": "app"}
# the request body each intake route is validated with
ROUTE_SCHEMA = {
    "cases": "Application",
    "push": "ApprovalSystemProject",
    "online": "OnlineApplication",
    "app": "OnlineApplication",
}
# a mainland mobile number as typed: spaces anywhere, full-width digits and spaces accepted
PHONE_AS_TYPED = r"^[ \u3000]*[1１][ \u3000]*[3-9３-９]([ \u3000]*[0-9０-９]){9}[ \u3000]*$"

# What ``str.strip()`` removes (``str.isspace``), spelled out so that every regex dialect that
# reads the document (Python, ECMA-262, Rust) agrees on what a blank string is.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL stores no NUL; the server answers 400 to any
FILLED = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"  # not blank, no NUL


def text(max_length: int, *, filled: bool = True, **extra: Any) -> dict:
    """A string field: at most ``max_length`` characters as sent; ``filled``: not blank.
    The server trims surrounding white space before it stores the value."""
    return {
        "type": "string",
        "maxLength": max_length,
        "pattern": FILLED if filled else NO_NUL,
        **extra,
    }


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _when(condition: dict, then: dict) -> dict:
    return {"if": condition, "then": then}


def _prop_is(name: str, value_schema: dict) -> dict:
    return {"required": [name], "properties": {name: value_schema}}


# --- request bodies ------------------------------------------------------------------------------


def _applicant(kind: str, id_format: str, id_description: str) -> dict:
    """A person or an enterprise: the kind decides what the ID number is."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "id_number", "phone"] + (["kind"] if kind == "enterprise" else []),
        "properties": {
            "kind": {
                "enum": [kind],
                **({"default": "person"} if kind == "person" else {}),
                "x-errors": {"enum": "kind"},
            },
            "name": text(MAX_NAME),
            "id_number": {
                "type": "string",
                "format": id_format,
                "description": f"{id_description}; full-width characters are accepted and "
                "stored normalised (NFKC)",
            },
            "phone": {
                "type": "string",
                "format": "cn-mobile",
                "description": "11 digits starting with 1[3-9]; full-width digits are accepted "
                "and stored normalised (NFKC)",
            },
        },
    }


_APPLICANT = {
    "oneOf": [
        _applicant("person", "cn-resident-id", "18-character resident ID, checksum verified"),
        _applicant("enterprise", "cn-uscc", "unified social credit code, checksum verified"),
    ],
    "description": "kind person (the default) or enterprise",
    "x-errors": {"type": "object"},
}
# the districts are reference data shipped with the package (administrators route, not add)
_DISTRICTS = [row["name"] for row in load_districts()] + [
    row["code"] for row in load_districts() if row["code"]
]

_ADDRESS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["district", "detail"],
    "properties": {
        "district": {
            "enum": _DISTRICTS,
            "description": "a district's name or its six-digit division code",
            "x-errors": {"enum": "district"},
        },
        "detail": text(MAX_DETAIL),
    },
}

_PROJECT_FLAGS = {
    name: {"type": "boolean"}
    for name in (
        "low_risk",
        "external_works",
        "supporting_fee_paid",
        "excavates_road",
        "moves_trees",
        "occupies_green_space",
    )
}


def _project(pushed: bool) -> dict:
    code = text(MAX_CODE)
    if pushed:
        code["x-errors"] = {"type": "code_required", "pattern": "code_required"}
    else:
        code = {**code, "type": ["string", "null"], "x-errors": {"pattern": "code_blank"}}
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "approval_system_code": code,
            **_PROJECT_FLAGS,
            "pipeline_length_m": {
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": MAX_PIPELINE_M,
                "x-errors": {
                    "type": "metres",
                    "minimum": "metres_range",
                    "maximum": "metres_range",
                },
            },
        },
        "description": "pipeline_length_m is required when external_works is true",
        **_when(
            _prop_is("external_works", {"const": True}),
            {
                "required": ["pipeline_length_m"],
                "properties": {
                    "pipeline_length_m": {"type": "number", "x-errors": {"type": "length_required"}}
                },
                "x-errors": {"required": "length_required"},
            },
        ),
    }
    if pushed:
        schema["required"] = ["approval_system_code"]
        schema["x-errors"] = {"required": "code_required"}
    return schema


_MATERIAL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": list(MATERIAL_KINDS), "x-errors": {"enum": "material_kind"}},
        "provided": {"type": "boolean", "default": True},
        "note": text(MAX_NOTE, filled=False, description="when a missing one (容缺) comes"),
    },
    **_when(
        _prop_is("provided", {"const": False}),
        {
            "required": ["note"],
            "properties": {"note": {"pattern": FILLED, "x-errors": {"pattern": "missing_note"}}},
            "x-errors": {"required": "missing_note"},
        },
    ),
}

_SERVICES = {
    "type": "array",
    "minItems": 1,
    "items": {"enum": list(SERVICES), "x-errors": {"enum": "service"}},
    "description": "one ticket per service; a service listed twice is one ticket",
    "x-errors": {"type": "services", "minItems": "services"},
}


def _application(pushed: bool) -> dict:
    # the server decides the channel from the route and the caller, never from the body: a
    # clerk or any client posting to /api/v1/cases submits at the window, the push is the
    # approval system's; a body may repeat that channel, any other is refused (422)
    decided = ROUTE_CHANNEL["push" if pushed else "cases"]
    channel = {
        "enum": [decided],
        "default": decided,
        "description": f"decided by the server: always {decided} on this route; "
        "another value is refused",
        "x-errors": {"enum": "channel"},
    }
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["applicant", "address", "services"] + (["project"] if pushed else []),
        "properties": {
            "channel": channel,
            "applicant": ref("Applicant"),
            "address": ref("Address"),
            "services": _SERVICES,
            "project": ref("PushedProject" if pushed else "Project"),
            "materials": {
                "type": ["array", "null"],
                "maxItems": len(MATERIAL_KINDS),
                "items": ref("Material"),
                "description": "window cases list the application form; a missing one (容缺) "
                "needs a note"
                if not pushed
                else "none needed: the data is shared",
                "x-errors": {"type": "list", "maxItems": "listed_twice"},
            },
        },
    }
    if pushed:
        schema["x-errors"] = {"required": "code_required"}
    else:
        # at the window, without an approval-system code, the application form is listed
        no_code = {
            "not": {
                "required": ["approval_system_code"],
                "properties": {"approval_system_code": {"type": "string"}},
            }
        }
        schema |= _when(
            {"properties": {"channel": {"const": "window"}, "project": no_code}},
            {
                "required": ["materials"],
                "properties": {
                    "materials": {
                        "type": "array",
                        "contains": _prop_is("kind", {"const": "application_form"}),
                        "x-errors": {"type": "list_form", "contains": "list_form"},
                    }
                },
                "x-errors": {"required": "list_form"},
            },
        )
    return schema


def _public_application(verified: bool) -> dict:
    """The application of the public endpoint: the same fields as ``Application`` without
    materials (none are asked for online), with the phone's one-time code (``verified``: the
    page, whose browser proved the phone before, sends none)."""
    base = _application(pushed=False)
    properties = {k: v for k, v in base["properties"].items() if k != "materials"}
    properties["channel"] = {
        "enum": ["online", "app"],
        "description": "decided by the server: app when the caller is the app's registered "
        "client (an integration client's bearer token), online otherwise; a value that "
        "disagrees is refused (422)",
    }
    if not verified:
        properties["verification"] = ref("Verification")
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["applicant", "address", "services"] + ([] if verified else ["verification"]),
        "properties": properties,
    }


_VERIFICATION_PHONE = {
    "type": "string",
    "pattern": PHONE_AS_TYPED,
    "description": "11-digit mainland mobile number; spaces and full-width digits are ignored",
    "x-errors": {"pattern": "cn-mobile"},
}


def _action_needs(actions: list[str], field: str, schema: dict, message: str) -> dict:
    return _when(
        _prop_is("action", {"enum": actions}),
        {
            "required": [field],
            "properties": {field: {**schema, "x-errors": {"pattern": message}}},
            "x-errors": {"required": message},
        },
    )


def _action_body(
    aliases: dict[str, str] | None = None, *, extra: dict | None = None, version: bool = True
) -> dict:
    """A ticket action's body: what the desk's API takes (``Action``), and, with a provider's
    own words for the actions (``aliases``) and its event fields (``extra``), what its system
    sends (``ProviderEvent``). Which action needs what is said once, here, for both."""
    aliases = aliases or {}

    def named(*actions: str) -> list[str]:
        return sorted({*actions, *(a for a, target in aliases.items() if target in actions)})

    properties = {
        "action": {"enum": [*ACTIONS, *aliases], "x-errors": {"enum": "action"}},
        "reason": text(
            MAX_REASON,
            filled=False,
            description="required for return and material_waive (why the material is not "
            "needed; the waiver records who gave it), and for suspend with reason_code other",
        ),
        "note": text(
            MAX_NOTE,
            filled=False,
            description="required for contact: what was agreed with the applicant",
        ),
        "reason_code": {
            "enum": list(SUSPENSION_REASONS),
            "description": "for suspend (required): waiting for the applicant, the applicant's "
            "own construction, weather or force majeure, or other (then say why in reason)",
            "x-errors": {"enum": "reason_code"},
        },
        "representative": text(
            MAX_USERNAME,
            filled=False,
            description="for assign: the username of an active staff member of the ticket's "
            "provider (422 otherwise)"
            + (
                "; for accept and contact of a ticket without a representative: who carries "
                "it (else the provider's default representative rules choose)"
                if aliases
                else ""
            ),
        ),
        "permit": {
            "enum": [*PERMIT_KINDS, COMMITMENT_FILING],
            "description": "for permit_file / permit_grant: one of the ticket's permits "
            "(422 when the ticket has no such permit)",
            "x-errors": {"enum": "permit"},
        },
        "material": {
            "enum": list(MATERIAL_KINDS),
            "description": "for material_received / material_waive: a material still missing "
            "(422 otherwise)",
            "x-errors": {"enum": "material"},
        },
    }
    if version:
        properties["version"] = {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_INT,
            "description": "send back to act only on this version (409 when stale)",
        }
    extra = extra or {}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [*extra, "action"],
        "properties": extra | properties,
        "allOf": [
            # which action needs what comes from the policy module, never written here again
            _action_needs(named(*ACTIONS_NEEDING_REASON), "reason", {"pattern": FILLED}, "reason"),
            _action_needs(named(*ACTIONS_NEEDING_NOTE), "note", {"pattern": FILLED}, "note"),
            _action_needs(named("suspend"), "reason_code", {}, "reason_code"),
            _when(
                {
                    "required": ["action", "reason_code"],
                    "properties": {
                        "action": {"enum": named("suspend")},
                        "reason_code": {
                            "enum": [c for c in SUSPENSION_REASONS if suspension_text_required(c)]
                        },
                    },
                },
                {
                    "required": ["reason"],
                    "properties": {
                        "reason": {"pattern": FILLED, "x-errors": {"pattern": "suspend_reason"}}
                    },
                    "x-errors": {"required": "suspend_reason"},
                },
            ),
            _action_needs(named("assign"), "representative", {"pattern": FILLED}, "representative"),
            _action_needs(named("permit_file", "permit_grant"), "permit", {}, "permit"),
            _action_needs(named("material_received", "material_waive"), "material", {}, "material"),
        ],
    }


_ACTION = _action_body()
MAX_EVENT_ID = 64
_PROVIDER_EVENT = _action_body(
    ACTION_ALIASES,
    version=False,
    extra={
        "event_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_EVENT_ID,
            "pattern": r"^[!-~]+$",
            "description": "the provider's own id of this event, unique per provider: an id "
            "applied before answers 200 with duplicate true and changes nothing",
            "x-errors": {"pattern": "event_id", "minLength": "event_id"},
        },
        "ticket_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_INT,
            "description": "a ticket of this provider (404 otherwise)",
            "x-errors": {"minimum": "ticket_id", "maximum": "ticket_id"},
        },
    },
)
_PROVIDER_EVENT["description"] = (
    "A ticket action as the provider's system reports it: the action's name or the provider's "
    "word for it (" + ", ".join(f"{a} = {t}" for a, t in ACTION_ALIASES.items()) + "), with "
    "what the action needs, as in Action (no version: events apply to the current state)"
)

# --- response bodies -----------------------------------------------------------------------------

_TIME = {"type": ["string", "null"], "format": "date-time"}
_FEE = {
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
}
_CASE_STATUSES = ["received", "in_progress", "partially_connected", "completed", "returned"]

_PUBLIC_CASE_PROPERTIES = {
    "reference": {"type": "string"},
    "status": {"enum": _CASE_STATUSES},
    "created_at": _TIME,
    "applicant": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
        "description": "masked",
    },
    "address": {"type": "object", "properties": {"district": {"type": "string"}}},
    "tickets": {"type": "array", "items": ref("Ticket")},
    "four_zero": {"type": "object"},
}


# the month's evaluation of every provider (GET /api/v1/supervision/summary)
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_COUNT = {"type": "integer", "minimum": 0}
_SUPERVISION_SUMMARY = {
    "type": "object",
    "required": ["month", "closed", "closed_at", "closed_by", "weights", "items"],
    "properties": {
        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "closed": {"type": "boolean", "description": "closed: the figures are frozen"},
        "closed_at": _TIME,
        "closed_by": {"type": ["string", "null"]},
        "weights": {
            "type": "object",
            "required": ["disclosure", "on_time", "ratings", "complaints"],
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(SUMMARY_FIELDS),
                "properties": {
                    "provider": {"type": "string"},
                    "name": {"type": "string"},
                    "tickets": _COUNT,
                    "completed": _COUNT,
                    "on_time": _COUNT,
                    "on_time_rate": _RATE,
                    "overdue_open": _COUNT,
                    "disclosure_score": {"type": "integer", "minimum": 0, "maximum": 100},
                    "complaints": _COUNT,
                    "complaints_score": {"type": "number", "minimum": 0, "maximum": 100},
                    "ratings": _COUNT,
                    "bad_ratings": _COUNT,
                    "satisfaction": _RATE,
                    "score": {"type": "number", "minimum": 0, "maximum": 100},
                },
            },
        },
    },
}


SCHEMAS: dict[str, dict] = {
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
    "Application": _application(pushed=False),
    "ApprovalSystemProject": _application(pushed=True),
    "Applicant": _APPLICANT,
    "Address": _ADDRESS,
    "Project": _project(pushed=False),
    "PushedProject": _project(pushed=True),
    "Material": _MATERIAL,
    "Action": _ACTION,
    "PublicApplication": _public_application(verified=False),
    "OnlineApplication": _public_application(verified=True),
    "Verification": {
        "type": "object",
        "additionalProperties": False,
        "required": ["phone", "code"],
        "description": "the applicant's phone (it must be applicant.phone) and the code sent "
        "to it by POST /api/v1/public/verification-codes",
        "properties": {
            "phone": _VERIFICATION_PHONE,
            "code": {
                "type": "string",
                "pattern": "^[0-9]{6}$",
                "x-errors": {"pattern": "otp_code"},
            },
        },
    },
    "VerificationRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["phone"],
        "properties": {"phone": _VERIFICATION_PHONE},
    },
    "VerificationSent": {
        "type": "object",
        "required": ["phone", "expires_in", "resend_after"],
        "properties": {
            "phone": {"type": "string", "description": "masked"},
            "expires_in": {"type": "integer", "description": "seconds the code is valid"},
            "resend_after": {
                "type": "integer",
                "description": "seconds before another code may be asked for",
            },
        },
    },
    "ProviderEvent": _PROVIDER_EVENT,
    "Step": {
        "type": "object",
        "required": ["name", "started_at", "due_at", "completed_at"],
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
            "light": {
                "enum": [*LIGHTS, None],
                "description": "this step against its own limit; null before it starts",
            },
        },
    },
    "Permit": {
        "type": "object",
        "required": ["kind", "status"],
        "properties": {
            "kind": {"enum": [*PERMIT_KINDS, COMMITMENT_FILING]},
            "status": {"enum": list(PERMIT_STATUSES)},
            "filed_at": _TIME,
            "due_at": _TIME,
            "due_provisional": {"type": "boolean"},
            "granted_at": _TIME,
            "working_days": {
                "type": ["number", "null"],
                "description": "the approval departments' working time from filing to grant "
                "(or so far); null before filing",
            },
            "light": {
                "enum": [*LIGHTS, None],
                "description": "against its 3 working days; null when not on a clock",
            },
        },
    },
    "Fee": _FEE,
    "Light": {
        "type": "object",
        "description": "each light judges its own limit; overall is the worst of them all",
        "properties": {
            **{k: {"enum": list(LIGHTS)} for k in ("step", "total", "overall")},
            "steps": {"type": "array", "items": {"enum": [*LIGHTS, None]}},
            "permits": {
                "type": "object",
                "description": "permit kind → its light on the approval departments' clock",
                "additionalProperties": {"enum": list(LIGHTS)},
            },
        },
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
            "provider_phone": {"type": ["string", "null"]},
            "status": {"enum": list(TICKET_STATUSES)},
            "steps": {"type": "array", "items": ref("Step")},
            "permits": {"type": "array", "items": ref("Permit")},
            "fee": {
                "type": "object",
                "properties": {
                    "connection": ref("Fee"),
                    "outside_boundary_investment": ref("Fee"),
                },
            },
            "light": ref("Light"),
            "representative": {
                "type": ["object", "null"],
                "properties": {
                    "name": {"type": "string"},
                    "username": {"type": "string"},
                    "phone": {
                        "type": ["string", "null"],
                        "description": "the representative's work phone, else the provider's "
                        "service phone",
                    },
                },
            },
            "first_contact_at": {
                **_TIME,
                "description": "when the provider first contacted the applicant (企业主动对接)",
            },
            "contacts": {"type": "integer", "description": "contacts recorded"},
            "created_at": _TIME,
            "queued_at": _TIME,
            "closed_at": _TIME,
            "due_at": _TIME,
            "due_provisional": {"type": "boolean"},
            "overdue": {"type": "boolean"},
            "version": {"type": "integer", "description": "send back to act only on this version"},
            "return_reason": {"type": ["string", "null"]},
            "suspend_reason": {"type": ["string", "null"]},
            "suspend_reason_code": {"enum": [*SUSPENSION_REASONS, None]},
            "allowed_actions": {"type": "array", "items": {"enum": list(ACTIONS)}},
        },
    },
    "Case": {
        "type": "object",
        "required": ["reference", "status", "channel", "applicant", "address", "tickets"],
        "properties": {
            "reference": {"type": "string"},
            "query_code": {
                "type": "string",
                "pattern": "^[0-9]{8}$",
                "description": "only in the 201 answer, and in a replay of it for the same "
                "Idempotency-Key (until a clerk issues a new code)",
            },
            "status": {"enum": _CASE_STATUSES},
            "channel": {"enum": list(CHANNELS)},
            "created_at": _TIME,
            "applicant": {
                "type": "object",
                "description": "ID number always masked; the phone whole only for those who "
                "call the applicant",
                "properties": {
                    "kind": {"enum": list(APPLICANT_KINDS)},
                    "name": {"type": "string"},
                    "id_number": {"type": "string"},
                    "phone": {"type": "string"},
                },
            },
            "address": {
                "type": "object",
                "properties": {"district": {"type": "string"}, "detail": {"type": "string"}},
            },
            "project": {"type": "object"},
            "materials": {"type": "array", "items": {"type": "object"}},
            "tickets": {"type": "array", "items": ref("Ticket")},
            "events": {"type": "array", "items": {"type": "object"}},
            "indicators": {
                "type": "object",
                "description": "steps, applicant_trips, materials_asked, limits, per-ticket "
                "working days, permits (time, light, permits_overdue) and suspensions (count, "
                "open, working_days, by_reason), permits_overdue and suspensions for the case, "
                "cost_to_applicant, four_zero",
            },
        },
    },
    "PublicCase": {
        "type": "object",
        "required": ["reference", "status", "tickets"],
        "properties": _PUBLIC_CASE_PROPERTIES,
    },
    # information disclosure: what a provider publishes (GET /providers/{code}/disclosure)
    "ProviderDisclosure": {
        "type": "object",
        "required": ["provider", "items", "outages"],
        "properties": {
            "provider": {
                "type": "object",
                "required": ["code", "name", "phone"],
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "phone": {"type": ["string", "null"]},
                },
            },
            "items": {
                "type": "array",
                "description": "the published catalog items: the company's first, then each "
                "service's, in the catalog's order",
                "items": {
                    "type": "object",
                    "required": ["kind", "scope", "title", "body", "published_at", "updated_at"],
                    "properties": {
                        "kind": {"type": "string", "description": "e.g. prices, phones"},
                        "scope": {
                            "type": "string",
                            "description": "company, or a service: water, electricity, gas, heat",
                        },
                        "title": {"type": "string"},
                        "body": {"type": "string"},
                        "published_at": {"type": ["string", "null"], "format": "date-time"},
                        "updated_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
            "outages": {
                "type": "array",
                "description": "published outage notices not yet restored: current ones "
                "(started) first, latest start first, then upcoming ones, soonest first",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "title",
                        "status",
                        "service",
                        "planned",
                        "districts",
                        "area",
                        "reason",
                        "starts_at",
                        "expected_restore_at",
                        "restored_at",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "status": {"enum": ["current", "upcoming"]},
                        "service": {"enum": ["water", "electricity", "gas", "heat"]},
                        "planned": {"type": "boolean"},
                        "districts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "division_code"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "division_code": {"type": ["string", "null"]},
                                },
                            },
                        },
                        "area": {"type": "string"},
                        "reason": {"type": "string"},
                        "starts_at": {"type": "string", "format": "date-time"},
                        "expected_restore_at": {"type": ["string", "null"], "format": "date-time"},
                        "restored_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    },
    "TicketPage": {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "next"],
        "properties": {
            "items": {"type": "array", "items": ref("Ticket")},
            "total": {"type": "integer", "description": "tickets in the queue with these filters"},
            "page": {"type": "integer", "description": "the page number asked for (1 by default)"},
            "per_page": {"type": "integer"},
            "next": {
                "type": ["string", "null"],
                "description": "opaque cursor of the following page (pass it as after); null on "
                "the last page",
            },
        },
    },
    "OnlineCase": {
        "type": "object",
        "required": ["reference", "query_code", "status", "channel", "tickets", "status_url"],
        "description": "the case as its applicant may see it (masked), with the query code",
        "properties": {
            **_PUBLIC_CASE_PROPERTIES,
            "query_code": {"type": "string", "pattern": "^[0-9]{8}$"},
            "channel": {"enum": ["online", "app"]},
            "indicators": {
                "type": "object",
                "description": "as in Case: steps, applicant_trips (0), materials_asked (0), "
                "limits, four_zero",
            },
            "status_url": {
                "type": "string",
                "description": "the public status page (reference and query code)",
            },
        },
    },
    "Duplicate": {
        "type": "object",
        "required": ["duplicate"],
        "properties": {"duplicate": {"const": True}},
        "description": "this event_id was applied before; nothing changed",
    },
    "ApprovalProject": {
        "type": "object",
        "required": ["project_code", "reference", "status", "services"],
        "properties": {
            "project_code": {"type": "string"},
            "reference": {"type": "string"},
            "pushed": {
                "type": "boolean",
                "description": "pushed by the approval system (else brought to the window with "
                "its code)",
            },
            "channel": {"enum": list(CHANNELS)},
            "status": {"enum": _CASE_STATUSES},
            "created_at": _TIME,
            "completed_at": {**_TIME, "description": "when the last service was connected"},
            "applicant": {
                "type": "object",
                "description": "ID number and phone masked",
                "properties": {
                    "kind": {"enum": list(APPLICANT_KINDS)},
                    "name": {"type": "string"},
                    "id_number": {"type": "string"},
                    "phone": {"type": "string"},
                },
            },
            "address": {
                "type": "object",
                "properties": {"district": {"type": "string"}, "detail": {"type": "string"}},
            },
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["service", "provider", "status", "steps", "permits"],
                    "properties": {
                        "service": {"enum": list(SERVICES)},
                        "ticket_id": {"type": "integer"},
                        "provider": {"type": "string"},
                        "provider_name": {"type": "string"},
                        "status": {"enum": list(TICKET_STATUSES)},
                        "representative": {
                            "type": ["object", "null"],
                            "description": "the customer representative (客户代表); phone is the "
                            "provider's service phone",
                            "properties": {
                                "name": {"type": "string"},
                                "phone": {"type": ["string", "null"]},
                            },
                        },
                        "first_contact_at": {
                            **_TIME,
                            "description": "when the provider first contacted the applicant "
                            "(企业主动对接); connecting waits for it",
                        },
                        "contacts": {"type": "integer"},
                        "queued_at": _TIME,
                        "due_at": _TIME,
                        "completed_at": {**_TIME, "description": "connected (验收接通) at"},
                        "closed_at": _TIME,
                        "return_reason": {"type": ["string", "null"]},
                        "steps": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"enum": ["accept", "connect"]},
                                    "started_at": _TIME,
                                    "due_at": _TIME,
                                    "completed_at": _TIME,
                                },
                            },
                        },
                        "permits": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "kind": {"enum": [*PERMIT_KINDS, COMMITMENT_FILING]},
                                    "status": {"enum": list(PERMIT_STATUSES)},
                                    "filed_at": _TIME,
                                    "due_at": _TIME,
                                    "granted_at": _TIME,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "ApprovalProjectPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": ref("ApprovalProject")},
            "next": {
                "type": ["string", "null"],
                "description": "opaque cursor of the following page (pass it as after, with the "
                "same from and to); null on the last page",
            },
        },
    },
    "NewQueryCode": {
        "type": "object",
        "required": ["reference", "query_code"],
        "properties": {
            "reference": {"type": "string"},
            "query_code": {"type": "string", "pattern": "^[0-9]{8}$"},
        },
    },
    "SupervisionSummary": _SUPERVISION_SUMMARY,
    "Health": {
        "type": "object",
        "required": ["status", "database", "broker"],
        "description": "what jointdesk/health.py answers; workers, scheduler and deliveries "
        "only while the database answers",
        "properties": {
            "status": {"enum": ["ok", "degraded", "down"]},
            "database": {"enum": ["ok", "down"]},
            "broker": {"enum": ["ok", "down"]},
            "workers": ref("Liveness"),
            "scheduler": ref("Liveness"),
            "deliveries": {
                "type": "object",
                "description": "outbox rows not yet delivered to their provider",
                "required": ["undelivered", "oldest_age", "stuck_after", "stuck"],
                "properties": {
                    "undelivered": {"type": "integer"},
                    "oldest_age": {"type": ["number", "null"], "description": "seconds"},
                    "stuck_after": {"type": "number", "description": "seconds"},
                    "stuck": {"type": "boolean"},
                },
            },
            "http_deliveries": {
                "type": "object",
                "description": "signed HTTP deliveries (providers' systems, callbacks, SMS); "
                "stuck when an attempt has been due longer than the threshold (no sender)",
                "required": ["waiting", "dead", "overdue_age", "stuck"],
                "properties": {
                    "waiting": {"type": "integer"},
                    "dead": {"type": "integer", "description": "dead letters to re-drive"},
                    "overdue_age": {"type": ["number", "null"], "description": "seconds"},
                    "stuck": {"type": "boolean"},
                },
            },
        },
    },
    "Liveness": {
        "type": "object",
        "required": ["status", "alive", "heartbeat_age"],
        "properties": {
            "status": {"enum": ["ok", "missing"]},
            "alive": {"type": "integer", "description": "processes with a fresh heartbeat"},
            "heartbeat_age": {
                "type": ["number", "null"],
                "description": "seconds since the latest heartbeat; null if none ever",
            },
        },
    },
    "CallbackRegistration": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "secret"],
        "properties": {
            "url": {
                "type": "string",
                "maxLength": MAX_URL,
                "pattern": URL_PATTERN,
                "description": "where the signed callbacks are posted: http or https",
                "x-errors": {"pattern": "callback_url"},
            },
            "secret": {
                "type": "string",
                "minLength": MIN_SECRET,
                "maxLength": MAX_SECRET,
                "pattern": SECRET_PATTERN,
                "description": "the shared signing secret: 16 to 200 printable ASCII characters "
                "without spaces; write-only (never answered back)",
                "x-errors": {"pattern": "secret_chars", "minLength": "secret_short"},
            },
        },
    },
    "Callback": {
        "type": "object",
        "required": ["url", "secret_set", "updated_at"],
        "properties": {
            "url": {"type": "string"},
            "secret_set": {"const": True},
            "updated_at": _TIME,
        },
    },
}

# ratings (好差评) from the public status page and the app: the request and the answer
RATING_COMMENT_MAX = 500
SCHEMAS.update(
    {
        "RatingRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "service", "level"],
            "properties": {
                "code": {"type": "string", "maxLength": 32, "pattern": NO_NUL},
                "service": {"enum": list(SERVICES), "x-errors": {"enum": "service"}},
                "level": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 5,
                    "description": "5 非常满意, 4 满意, 3 基本满意, 2 不满意, "
                    "1 非常不满意; 2 and 1 open a follow-up by the provider",
                    "x-errors": {
                        "type": "rating_level",
                        "minimum": "rating_level",
                        "maximum": "rating_level",
                    },
                },
                "comment": text(RATING_COMMENT_MAX, filled=False),
            },
        },
        "PublicRatings": {
            "type": "object",
            "required": ["reference", "services"],
            "properties": {
                "reference": {"type": "string"},
                "services": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["service", "provider", "status", "can_rate", "round"],
                        "properties": {
                            "service": {"enum": list(SERVICES)},
                            "provider": {"type": "string"},
                            "status": {"enum": list(TICKET_STATUSES)},
                            "can_rate": {"type": "boolean"},
                            "round": {
                                "type": ["integer", "null"],
                                "description": "the round a rating now would be (1, or 2 after "
                                "the follow-up of a 差评 was closed); null when none is possible",
                            },
                            "follow_up": {"enum": ["open", "answered", "closed", None]},
                            "ratings": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["round", "level", "comment", "created_at"],
                                    "properties": {
                                        "round": {"type": "integer"},
                                        "level": {"type": "integer", "minimum": 1, "maximum": 5},
                                        "comment": {"type": "string"},
                                        "created_at": _TIME,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }
)

# --- checking ------------------------------------------------------------------------------------

_formats = FormatChecker(formats=())


def _format(name: str):
    def register(check):
        def checked(value: object) -> bool:
            return not isinstance(value, str) or check(value)

        _formats.checks(name)(checked)
        return check

    return register


_format("cn-resident-id")(identity.is_valid_resident_id)
_format("cn-uscc")(identity.is_valid_uscc)
_format("cn-mobile")(identity.is_valid_mobile)

_MESSAGES = {
    "required": lambda e: _("This field is required."),
    "string": lambda e: _("Must be text."),
    "boolean": lambda e: _("Must be true or false."),
    "object": lambda e: _("Must be an object."),
    "array": lambda e: _("Must be a list."),
    "list": lambda e: _("Must be a list."),
    "integer": lambda e: _("Must be a whole number."),
    "number": lambda e: _("Must be a number."),
    "maxLength": lambda e: _("At most %(n)d characters.", n=e.validator_value),
    "pattern": lambda e: _("This field is required."),
    "unknown_field": lambda e: _("Unknown field."),
    "enum": lambda e: _("Not one of the allowed values."),
    "kind": lambda e: _("Must be person or enterprise."),
    "channel": lambda e: _(
        "The channel follows from who submits through which route; here it is %(channel)s.",
        channel=f"{CHANNEL_LABELS[e.validator_value[0]]} ({e.validator_value[0]})",
    ),
    "services": lambda e: _("Choose at least one service."),
    "service": lambda e: _("Unknown service; use water, electricity, gas or heat."),
    "metres": lambda e: _("Must be a number of metres."),
    "metres_range": lambda e: _("Must be between 0 and %(n)d metres.", n=MAX_PIPELINE_M),
    "length_required": lambda e: _("Required when there are external line works."),
    "code_required": lambda e: _("Required for a project pushed by the approval system."),
    "code_blank": lambda e: _("Leave it out or fill it in; it may not be blank."),
    "material_kind": lambda e: _("Unknown material; the application form is the only one."),
    "listed_twice": lambda e: _("Listed twice."),
    "missing_note": lambda e: _(
        "A missing material is accepted (容缺) only with a note on when it comes."
    ),
    "list_form": lambda e: _("List the application form: provided, or missing (容缺) with a note."),
    "cn-uscc": lambda e: _(
        "Not a valid unified social credit code (18 characters, check character)."
    ),
    "cn-resident-id": lambda e: _(
        "Not a valid resident ID number (18 digits, birth date, check digit)."
    ),
    "cn-mobile": lambda e: _("Not a mainland mobile number (11 digits starting with 1)."),
    "district": lambda e: _("Unknown district."),
    "otp_code": lambda e: _("Enter the 6-digit code sent to your phone."),
    "rating_level": lambda e: _("Choose one of the five levels."),
    "action": lambda e: _("Unknown action."),
    "reason": lambda e: _("A reason is required."),
    "note": lambda e: _("Say what was agreed with the applicant."),
    "reason_code": lambda e: _("Choose the reason for the suspension from the list."),
    "suspend_reason": lambda e: _("Say in words why the clock stops."),
    "representative": lambda e: _("Choose an active staff member of this provider."),
    "event_id": lambda e: _("Use 1 to 64 printable ASCII characters without spaces."),
    "ticket_id": lambda e: _("Must be a ticket number."),
    "permit": lambda e: _("Unknown permit."),
    "material": lambda e: _("No such material is waiting to be handed over."),
    "callback_url": lambda e: _(
        "Enter an http:// or https:// address, such as https://example.com/jointdesk."
    ),
    "secret_chars": lambda e: _("Use printable ASCII characters without spaces."),
    "secret_short": lambda e: _("The secret needs at least %(n)d characters.", n=MIN_SECRET),
    "minLength": lambda e: _("At least %(n)d characters.", n=e.validator_value),
    "minimum": lambda e: _("Must be a whole number."),
    "maximum": lambda e: _("Must be a whole number."),
}


def _validator(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    return Draft202012Validator(root, format_checker=_formats)


_VALIDATORS: dict[str, Draft202012Validator] = {}


def _dotted(parts) -> str:
    return ".".join(str(p) for p in parts)


def _message_key(error: ValidationError) -> str:
    overrides = error.schema.get("x-errors", {}) if isinstance(error.schema, dict) else {}
    if error.validator in overrides:
        return overrides[error.validator]
    if error.validator == "type":
        if error.instance is None:
            return "required"
        expected = error.validator_value
        expected = [expected] if isinstance(expected, str) else list(expected)
        return next((t for t in expected if t != "null"), "string")
    if error.validator == "format":
        return error.validator_value
    return error.validator if error.validator in _MESSAGES else "enum"


def text_problems(data: Any, path: tuple = ()) -> dict[str, str]:
    """Strings (keys too) that are not Unicode text, such as lone surrogates that JSON's
    ``\\ud800`` escapes decode to, and numbers that are not finite (``NaN``, ``1e999``):
    no database, log or JSON encoder can take them. One message per field."""
    problems: dict[str, str] = {}
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            problems[_dotted(path)] = _("Not valid Unicode text.")
    elif isinstance(data, float) and not math.isfinite(data):
        problems[_dotted(path)] = _("Must be a finite number.")
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and text_problems(key):
                problems[_dotted((*path, "?"))] = _("Not valid Unicode text.")
                continue
            problems |= text_problems(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            problems |= text_problems(value, (*path, i))
    return problems


def _errors(errors):
    """The errors, with a failed ``oneOf`` replaced by those of its closest branch (for an
    applicant: the branch of the kind sent)."""
    for error in errors:
        if error.validator == "oneOf" and error.context and isinstance(error.instance, dict):
            branches: dict[int, list[ValidationError]] = {}
            for sub in error.context:
                branches.setdefault(sub.schema_path[0], []).append(sub)
            closest = min(branches.items(), key=_distance)[1]
            yield from _errors(closest)
        else:
            yield error


def _distance(branch: tuple[int, list[ValidationError]]) -> tuple[int, int, int]:
    """A branch whose fixed values (enum, const: the kind) do not match is farthest."""
    index, errors = branch
    fixed = sum(1 for e in errors if e.validator in ("enum", "const"))
    return fixed, len(errors), index


def check_body(name: str, data: Any) -> dict[str, str]:
    """The problems of ``data`` as the body ``name``: one message per dotted field path,
    the first found for each; empty when the body is valid."""
    problems = text_problems(data)
    if problems:
        return problems
    validator = _VALIDATORS.get(name) or _VALIDATORS.setdefault(name, _validator(name))
    fields: dict[str, str] = {}
    for error in _errors(validator.iter_errors(data)):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = [p for p in error.validator_value if p not in error.instance]
            path.append(missing[0] if missing else "")
        elif error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            for key in extra:
                fields.setdefault(_dotted([*path, key]), _MESSAGES["unknown_field"](error))
            continue
        if path and path[0] == "services":
            path = ["services"]  # one message for the list
        fields.setdefault(_dotted(path), _MESSAGES[_message_key(error)](error))
    return fields
