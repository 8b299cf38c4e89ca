"""The joint window: new combined application and its printable receipt."""

from __future__ import annotations

import base64
import io

import qrcode
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from qrcode.image.svg import SvgPathImage

from jointdesk import idempotency
from jointdesk.auth import roles_required
from jointdesk.cases.services import load_case
from jointdesk.extensions import db
from jointdesk.models import Case, District
from jointdesk.templating import public_url
from jointdesk.windows.forms import ApplicationForm
from jointdesk.windows.services import open_duplicates, submit_application
from jointdesk.windows.validation import ValidationFailed, validate_application

bp = Blueprint("windows", __name__, url_prefix="/window")


def district_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(db.select(District).order_by(District.sort_order, District.id))
    return [("", _("— choose —"))] + [(d.name, d.name) for d in rows.scalars()]


@bp.route("/new", methods=["GET", "POST"])
@roles_required("clerk")
def new_application():
    """新建联办申请: one form for any mix of the four services.

    The page carries a one-time token: the same form posted again (double click, slow network,
    Back and submit) shows the first case's receipt instead of making another case. Before
    storing, open cases of the same applicant, address and service are shown, and the clerk
    must confirm a new one on purpose.
    """
    form = ApplicationForm()
    form.district.choices = district_choices()
    duplicates: list[Case] = []
    if not idempotency.is_token(form.form_token.data):
        if request.method == "POST" and form.is_submitted():
            flash(_("This form had expired; check it and submit it again."), "warning")
            form.form_token.data = idempotency.new_token()
            return render_template("windows/new.html", form=form, duplicates=duplicates)
        form.form_token.data = idempotency.new_token()
    if form.validate_on_submit():
        payload = form.payload()
        claim = idempotency.Claim(
            user_id=current_user.id,
            scope=idempotency.FORM,
            key=form.form_token.data,
            fingerprint=idempotency.fingerprint(idempotency.FORM, request.path, payload),
            keep_code=True,
        )
        if (row := idempotency.find_claim(claim)) is not None:
            return _first_receipt(row, claim)
        try:
            application = validate_application(payload)
            duplicates = open_duplicates(application)
            if not duplicates or form.confirm_duplicate.data:
                note = {"duplicate_of": [c.reference for c in duplicates]} if duplicates else None
                case, _code = submit_application(application, current_user, claim=claim, note=note)
                return redirect(url_for("windows.receipt", reference=case.reference, t=claim.key))
            # the "duplicate" may be this very form, stored a moment ago by a second click
            if (row := idempotency.find_claim(claim)) is not None:
                return _first_receipt(row, claim)
            form.confirm_duplicate.data = False
        except ValidationFailed as exc:
            # each message on its field and in the summary at the top of the form
            for message in form.attach_errors(exc.fields):
                flash(message, "error")
        except idempotency.Replay as exc:  # the same form, posted twice at once
            return _first_receipt(exc.row, claim)
    return render_template("windows/new.html", form=form, duplicates=duplicates)


def _first_receipt(row, claim: idempotency.Claim):
    """This form made a case already: its receipt, with the code if it was never shown."""
    reference = db.session.get(Case, row.case_id).reference
    if row.fingerprint != claim.fingerprint:
        flash(
            _(
                "This form had already been submitted as case %(reference)s; your changes were "
                "NOT saved. For another application, start a new form.",
                reference=reference,
            ),
            "warning",
        )
    else:
        flash(_("This form had already been submitted; here is its receipt."), "success")
    return redirect(url_for("windows.receipt", reference=reference, t=row.key))


def qr_data_uri(text: str) -> str:
    """The QR code as an inline SVG (no imaging library needed, sharp when printed)."""
    image = qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    image.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


@bp.route("/receipt/<reference>")
@roles_required("clerk", "admin")
def receipt(reference: str):
    """受理回执: printable, with reference and query code for the applicant.

    The code is shown once: the link ``?t=`` of the form (or of a newly issued code) gives it
    up on its first opening, for the clerk who made it. It is never kept in the session."""
    case = load_case(reference.strip().upper()[:32])
    if case is None:
        abort(404)
    code = idempotency.take_code(current_user.id, request.args.get("t", ""), case)
    status_url = public_url("cases.public_status", reference=case.reference)
    dues = [t.due_at for t in case.tickets if t.due_at is not None]
    response = make_response(
        render_template(
            "windows/receipt.html",
            case=case,
            query_code=code,
            qr=qr_data_uri(status_url),
            status_url=status_url,
            promised_by=max(dues) if dues else None,
            hall=current_app.config["JOINTDESK_HALL_NAME"],
            window=current_app.config["JOINTDESK_WINDOW_NAME"],
            clerk=current_user.label,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response
