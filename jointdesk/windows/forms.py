"""The one application form of the joint window."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from jointdesk.labels import APPLICANT_KIND_LABELS, SERVICE_LABELS
from jointdesk.policy.identity import without_separators
from jointdesk.schemas import MAX_CODE, MAX_DETAIL, MAX_NAME, MAX_NOTE

# The longest value each text field takes as typed: the page's ``maxlength`` and the server's
# check are the same number, so a browser never cuts what the server would take, and a longer
# value (posted by hand) gets a message on its field. ID and phone numbers have room for the
# spaces and dashes people type between groups of digits; those are dropped before the check.
MAX_TYPED = {
    "applicant_name": MAX_NAME,
    "id_number": 30,
    "phone": 20,
    "address_detail": MAX_DETAIL,
    "approval_system_code": MAX_CODE,
    "pipeline_length_m": 20,
    "form_note": MAX_NOTE,
}


class MaxTyped:
    """At most ``MAX_TYPED[field]`` characters as typed, or a message on the field."""

    def __call__(self, form, field) -> None:
        limit = MAX_TYPED[field.name]
        if len(field.data or "") > limit:
            raise ValidationError(_l("At most %(n)d characters.", n=limit))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApplicationForm(FlaskForm):
    """Field checks live in ``validation.py``, shared with the API; this form renders and
    carries the CSRF token."""

    applicant_kind = RadioField(
        _l("Applicant"),
        choices=list(APPLICANT_KIND_LABELS.items()),
        default="person",
        validate_choice=False,
    )
    applicant_name = StringField(_l("Name / enterprise name"), validators=[MaxTyped()])
    id_number = StringField(_l("ID number / unified social credit code"), validators=[MaxTyped()])
    phone = StringField(_l("Mobile phone"), validators=[MaxTyped()])
    district = SelectField(_l("District or county"), validate_choice=False)
    address_detail = StringField(_l("Detailed address"), validators=[MaxTyped()])
    services = MultiCheckboxField(
        _l("Services wanted"), choices=list(SERVICE_LABELS.items()), validate_choice=False
    )
    approval_system_code = StringField(
        _l("Approval-system project code (if any)"), validators=[MaxTyped()]
    )
    low_risk = BooleanField(_l("Low-risk simple social-investment project"))
    external_works = BooleanField(_l("External line works needed"))
    pipeline_length_m = StringField(_l("Pipeline length (metres)"), validators=[MaxTyped()])
    supporting_fee_paid = BooleanField(_l("Special supporting fee already paid"))
    excavates_road = BooleanField(_l("Works dig up or occupy a road"))
    moves_trees = BooleanField(_l("Works fell or move trees"))
    occupies_green_space = BooleanField(_l("Works occupy green space"))
    form_provided = BooleanField(_l("Application form received"), default=True)
    form_note = TextAreaField(
        _l("If missing (容缺): when it will be handed over"), validators=[MaxTyped()]
    )
    # issued with the page: the same token posted again shows the first case's receipt
    form_token = HiddenField()
    confirm_duplicate = BooleanField(_l("I have checked: create a new case anyway"))

    max_typed = MAX_TYPED  # the page's maxlength attributes

    # dotted API path → form field, so the shared validator's messages land on the right field
    FIELD_FOR_PATH = {
        "applicant.kind": "applicant_kind",
        "applicant.name": "applicant_name",
        "applicant.id_number": "id_number",
        "applicant.phone": "phone",
        "address.district": "district",
        "address.detail": "address_detail",
        "services": "services",
        "project.approval_system_code": "approval_system_code",
        "project.low_risk": "low_risk",
        "project.external_works": "external_works",
        "project.pipeline_length_m": "pipeline_length_m",
        "project.supporting_fee_paid": "supporting_fee_paid",
        "project.excavates_road": "excavates_road",
        "project.moves_trees": "moves_trees",
        "project.occupies_green_space": "occupies_green_space",
        "materials": "form_provided",
        "materials.0.note": "form_note",
        "materials.0.provided": "form_provided",
    }

    def payload(self) -> dict:
        """The form's data in the API's shape."""
        length_text = (self.pipeline_length_m.data or "").strip()
        length: object = None
        if length_text:
            try:
                length = float(length_text)
            except ValueError:
                length = length_text  # the validator reports it as not a number
        return {
            "channel": "window",
            "applicant": {
                "kind": self.applicant_kind.data,
                "name": self.applicant_name.data,
                # spaces and dashes between groups of digits are ignored, not refused
                "id_number": without_separators(self.id_number.data or ""),
                "phone": without_separators(self.phone.data or ""),
            },
            "address": {"district": self.district.data, "detail": self.address_detail.data},
            "services": list(self.services.data or []),
            "project": {
                "approval_system_code": self.approval_system_code.data or None,
                "low_risk": bool(self.low_risk.data),
                "external_works": bool(self.external_works.data),
                "pipeline_length_m": length,
                "supporting_fee_paid": bool(self.supporting_fee_paid.data),
                "excavates_road": bool(self.excavates_road.data),
                "moves_trees": bool(self.moves_trees.data),
                "occupies_green_space": bool(self.occupies_green_space.data),
            },
            "materials": [
                {
                    "kind": "application_form",
                    "provided": bool(self.form_provided.data),
                    "note": self.form_note.data or "",
                }
            ],
        }

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(anchor, label, message) of every field with an error, in the page's order: the
        summary at the top of the form links each to its field."""
        rows = []
        for f in self:
            for message in f.errors or []:
                anchor = f"{f.id}-0" if f.type in ("RadioField", "MultiCheckboxField") else f.id
                rows.append((anchor, str(f.label.text), str(message)))
        return rows

    def attach_errors(self, fields: dict[str, str]) -> list[str]:
        """Puts each message on its field; returns those that belong to no field."""
        loose = []
        for path, message in fields.items():
            name = self.FIELD_FOR_PATH.get(path)
            if name is None:
                loose.append(message)
                continue
            field = getattr(self, name)
            field.errors = [*list(field.errors or []), message]
        return loose
