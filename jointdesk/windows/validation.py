"""Validation of one combined application, shared by the window form and the JSON API.

Input is plain data (what JSON decodes to); output is a clean ``Application`` or a
``ValidationFailed`` with one message per field, keyed by dotted path (``applicant.phone``).
The rules are the JSON Schemas in ``jointdesk/schemas.py``, the same ones the OpenAPI document
serves; this module turns a valid body into an ``Application`` (trimmed, numbers normalised).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from jointdesk.policy import identity
from jointdesk.schemas import ROUTE_CHANNEL, ROUTE_SCHEMA, check_body


class ValidationFailed(Exception):
    def __init__(self, fields: dict[str, str]):
        super().__init__("invalid application")
        self.fields = fields


@dataclass
class MaterialItem:
    kind: str
    provided: bool
    note: str = ""


@dataclass
class Application:
    channel: str
    applicant_kind: str
    applicant_name: str
    id_number: str
    phone: str
    district: str
    address_detail: str
    services: list[str]
    approval_system_code: str | None = None
    low_risk: bool = False
    external_works: bool = False
    pipeline_length_m: float | None = None
    supporting_fee_paid: bool = False
    excavates_road: bool = False
    moves_trees: bool = False
    occupies_green_space: bool = False
    materials: list[MaterialItem] = field(default_factory=list)


def validate_application(
    data: Any, *, pushed: bool = False, route: str | None = None
) -> Application:
    """Checks every field against the ``Application`` body (``ApprovalSystemProject`` when
    ``pushed``; the route's body, see ``schemas.ROUTE_SCHEMA``, when ``route`` is named) and
    raises ValidationFailed listing each problem found. The channel is the route's."""
    route = route or ("push" if pushed else "cases")
    if not isinstance(data, dict):
        raise ValidationFailed({"": _("The request body must be a JSON object.")})
    problems = check_body(ROUTE_SCHEMA[route], data)
    if problems:
        raise ValidationFailed(problems)
    applicant, address = data["applicant"], data["address"]
    project = data.get("project") or {}
    code = (project.get("approval_system_code") or "").strip() or None
    length = project.get("pipeline_length_m")
    services: list[str] = []
    for item in data["services"]:
        if item not in services:
            services.append(item)
    return Application(
        channel=ROUTE_CHANNEL[route],  # the route's, never the body's
        applicant_kind=applicant.get("kind", "person"),
        applicant_name=applicant["name"].strip(),
        id_number=identity.normalize_id(applicant["id_number"]),
        phone=identity.normalize_phone(applicant["phone"]),
        district=address["district"],
        address_detail=address["detail"].strip(),
        services=services,
        approval_system_code=code,
        low_risk=project.get("low_risk", False),
        external_works=project.get("external_works", False),
        pipeline_length_m=None if length is None else float(length),
        supporting_fee_paid=project.get("supporting_fee_paid", False),
        excavates_road=project.get("excavates_road", False),
        moves_trees=project.get("moves_trees", False),
        occupies_green_space=project.get("occupies_green_space", False),
        materials=[
            MaterialItem(
                kind=m["kind"],
                provided=m.get("provided", True),
                note=m.get("note", "").strip(),
            )
            for m in data.get("materials") or []
        ],
    )
