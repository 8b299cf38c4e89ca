"""The forms of the public application page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from jointdesk.windows.forms import ApplicationForm


class PhoneForm(FlaskForm):
    phone = StringField(_l("Mobile phone"), validators=[Length(max=30)])


class CodeForm(FlaskForm):
    code = StringField(_l("Verification code"), validators=[Length(max=16)])


class OnlineApplicationForm(ApplicationForm):
    """The window's form, rendered without materials (none are asked for online) and without
    the phone (the verified one is used); the same shared validator checks it."""

    def payload(self, phone: str) -> dict:  # type: ignore[override]
        data = super().payload()
        data.pop("channel")
        data.pop("materials")
        data["applicant"]["phone"] = phone
        return data
