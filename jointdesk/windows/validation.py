"""Validation of one combined application, shared by the window form and the JSON API.

Input is plain data (what JSON decodes to); output is a clean ``Application`` or a
``ValidationFailed`` with one message per field, keyed by dotted path (``applicant.phone``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from jointdesk.policy import identity
from jointdesk.policy.process import (
    APPLICANT_KINDS,
    CHANNELS,
    MATERIAL_KINDS,
    SERVICES,
    materials_required,
)

MAX_NAME = 100
MAX_DETAIL = 200
MAX_NOTE = 500
MAX_CODE = 64
MAX_PIPELINE_M = 100_000


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


class _Checker:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    def obj(self, data: Any, path: str, required: bool = True) -> dict:
        if data is None and not required:
            return {}
        if not isinstance(data, dict):
            self.fail(path, _("Must be an object."))
            return {}
        return data

    def text(self, data: dict, key: str, path: str, max_len: int, required: bool = True) -> str:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(path, _("This field is required."))
            return ""
        if not isinstance(value, str):
            self.fail(path, _("Must be text."))
            return ""
        value = value.strip()
        if len(value) > max_len:
            self.fail(path, _("At most %(n)d characters.", n=max_len))
            return ""
        return value

    def boolean(self, data: dict, key: str, path: str) -> bool:
        value = data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(path, _("Must be true or false."))
            return False
        return value


def validate_application(data: Any, *, default_channel: str = "window") -> Application:
    """Checks every field and raises ValidationFailed listing each problem found."""
    c = _Checker()
    if not isinstance(data, dict):
        raise ValidationFailed({"": _("The request body must be a JSON object.")})

    channel = data.get("channel", default_channel)
    if channel not in CHANNELS:
        c.fail("channel", _("Unknown channel."))
        channel = default_channel

    applicant = c.obj(data.get("applicant"), "applicant")
    kind = applicant.get("kind", "person")
    if kind not in APPLICANT_KINDS:
        c.fail("applicant.kind", _("Must be person or enterprise."))
    name = c.text(applicant, "name", "applicant.name", MAX_NAME)
    id_number = identity.normalize_id(c.text(applicant, "id_number", "applicant.id_number", 18 * 2))
    if id_number:
        if kind == "enterprise" and not identity.is_valid_uscc(id_number):
            c.fail(
                "applicant.id_number",
                _("Not a valid unified social credit code (18 characters, check character)."),
            )
        elif kind != "enterprise" and not identity.is_valid_resident_id(id_number):
            c.fail(
                "applicant.id_number",
                _("Not a valid resident ID number (18 digits, birth date, check digit)."),
            )
    phone = c.text(applicant, "phone", "applicant.phone", 20)
    if phone and not identity.is_valid_mobile(phone):
        c.fail("applicant.phone", _("Not a mainland mobile number (11 digits starting with 1)."))

    address = c.obj(data.get("address"), "address")
    district = c.text(address, "district", "address.district", 40)
    detail = c.text(address, "detail", "address.detail", MAX_DETAIL)

    services = data.get("services")
    clean_services: list[str] = []
    if not isinstance(services, list) or not services:
        c.fail("services", _("Choose at least one service."))
    else:
        for item in services:
            if not isinstance(item, str) or item not in SERVICES:
                c.fail("services", _("Unknown service; use water, electricity, gas or heat."))
            elif item not in clean_services:
                clean_services.append(item)

    project = c.obj(data.get("project"), "project", required=False)
    code = c.text(
        project, "approval_system_code", "project.approval_system_code", MAX_CODE, required=False
    )
    if channel == "approval_system" and not code:
        c.fail(
            "project.approval_system_code",
            _("Required for a project pushed by the approval system."),
        )
    low_risk = c.boolean(project, "low_risk", "project.low_risk")
    external = c.boolean(project, "external_works", "project.external_works")
    supporting = c.boolean(project, "supporting_fee_paid", "project.supporting_fee_paid")
    road = c.boolean(project, "excavates_road", "project.excavates_road")
    trees = c.boolean(project, "moves_trees", "project.moves_trees")
    green = c.boolean(project, "occupies_green_space", "project.occupies_green_space")
    length = project.get("pipeline_length_m")
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, int | float):
            c.fail("project.pipeline_length_m", _("Must be a number of metres."))
            length = None
        elif not 0 <= length <= MAX_PIPELINE_M:
            c.fail(
                "project.pipeline_length_m",
                _("Must be between 0 and %(n)d metres.", n=MAX_PIPELINE_M),
            )
            length = None
        else:
            length = float(length)
    if external and length is None and "project.pipeline_length_m" not in c.errors:
        # the planning exemption (150 m or less) cannot be decided without it
        c.fail("project.pipeline_length_m", _("Required when there are external line works."))

    materials = _materials(c, data.get("materials"), channel, code or None)

    if c.errors:
        raise ValidationFailed(c.errors)
    return Application(
        channel=channel,
        applicant_kind=kind,
        applicant_name=name,
        id_number=id_number,
        phone=phone,
        district=district,
        address_detail=detail,
        services=clean_services,
        approval_system_code=code or None,
        low_risk=low_risk,
        external_works=external,
        pipeline_length_m=length,
        supporting_fee_paid=supporting,
        excavates_road=road,
        moves_trees=trees,
        occupies_green_space=green,
        materials=materials,
    )


def _materials(c: _Checker, raw: Any, channel: str, code: str | None) -> list[MaterialItem]:
    """At the window the application form is the one material; online and pushed cases need none.

    A missing material may be accepted (容缺) with a note saying when it will be handed over.
    """
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        c.fail("materials", _("Must be a list."))
        return []
    items: list[MaterialItem] = []
    for i, entry in enumerate(raw):
        path = f"materials.{i}"
        if not isinstance(entry, dict):
            c.fail(path, _("Must be an object."))
            continue
        kind = entry.get("kind")
        if kind not in MATERIAL_KINDS:
            c.fail(f"{path}.kind", _("Unknown material; the application form is the only one."))
            continue
        if any(it.kind == kind for it in items):
            c.fail(f"{path}.kind", _("Listed twice."))
            continue
        provided = c.boolean(entry, "provided", f"{path}.provided") if "provided" in entry else True
        note = c.text(entry, "note", f"{path}.note", MAX_NOTE, required=False)
        if not provided and not note:
            c.fail(
                f"{path}.note",
                _("A missing material is accepted (容缺) only with a note on when it comes."),
            )
        items.append(MaterialItem(kind=kind, provided=provided, note=note))
    listed = {it.kind for it in items}
    if any(kind not in listed for kind in materials_required(channel, code)):
        c.fail(
            "materials",
            _("List the application form: provided, or missing (容缺) with a note."),
        )
    return items
