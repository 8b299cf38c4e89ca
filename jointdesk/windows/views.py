"""The joint window: new combined application and its printable receipt."""

from __future__ import annotations

import base64
import io

import qrcode
from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from qrcode.image.svg import SvgPathImage

from jointdesk.auth import roles_required
from jointdesk.cases.services import load_case
from jointdesk.extensions import db
from jointdesk.models import District
from jointdesk.windows.forms import ApplicationForm
from jointdesk.windows.services import submit_application
from jointdesk.windows.validation import ValidationFailed, validate_application

bp = Blueprint("windows", __name__, url_prefix="/window")


def district_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(db.select(District).order_by(District.sort_order, District.id))
    return [("", _("— choose —"))] + [(d.name, d.name) for d in rows.scalars()]


@bp.route("/new", methods=["GET", "POST"])
@roles_required("clerk")
def new_application():
    """新建联办申请: one form for any mix of the four services."""
    form = ApplicationForm()
    form.district.choices = district_choices()
    if form.validate_on_submit():
        try:
            application = validate_application(form.payload())
            case, code = submit_application(application, current_user)
        except ValidationFailed as exc:
            for message in form.attach_errors(exc.fields):
                flash(message, "error")
            flash(_("Please correct the marked fields; nothing was saved."), "error")
        else:
            # the query code is shown once, on the receipt, then forgotten
            session["receipt"] = {"reference": case.reference, "code": code}
            return redirect(url_for("windows.receipt", reference=case.reference))
    return render_template("windows/new.html", form=form)


def qr_data_uri(text: str) -> str:
    """The QR code as an inline SVG (no imaging library needed, sharp when printed)."""
    image = qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    image.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


@bp.route("/receipt/<reference>")
@roles_required("clerk")
def receipt(reference: str):
    """受理回执: printable, with reference and query code for the applicant."""
    case = load_case(reference)
    if case is None:
        abort(404)
    stored = session.get("receipt") or {}
    code = None
    if stored.get("reference") == reference:
        code = stored["code"]
        session.pop("receipt")  # shown once: the page can be printed, not reopened with the code
    status_url = url_for("cases.public_status", reference=reference, _external=True)
    return render_template(
        "windows/receipt.html", case=case, query_code=code, qr=qr_data_uri(status_url)
    )
