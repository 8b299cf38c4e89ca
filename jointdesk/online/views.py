"""网上报装: the public application page (no sign-in, phone first) and its receipt.

Step 1 proves the phone: a code is sent (``POST /apply/code``) and entered
(``POST /apply/verify``); the browser's session then may submit for that number for
``JOINTDESK_ONLINE_VERIFIED_MINUTES``. Step 2 is the window's form without materials, checked
by the same validator; the case's channel is ``online``. Every POST redirects (PRG).

The receipt shows the query code, and offers it as PDF and image, only to the browser that
submitted (its session lists the receipt); anyone else who opens the address sees the reference
and how to look the case up.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _

from jointdesk.cases.services import load_case
from jointdesk.extensions import db
from jointdesk.models import Case
from jointdesk.online import documents
from jointdesk.online import services as online
from jointdesk.online.forms import CodeForm, OnlineApplicationForm, PhoneForm
from jointdesk.policy.identity import mask_phone
from jointdesk.policy.process import steps_for, time_limits
from jointdesk.templating import public_url
from jointdesk.windows.services import submit_application
from jointdesk.windows.validation import ValidationFailed, validate_application
from jointdesk.windows.views import district_choices, qr_data_uri

bp = Blueprint("online", __name__, url_prefix="/apply")
STATE = "online"  # the session's {"phone", "vid", "at"} of this browser's verification
RECEIPTS = "online_receipts"  # references this browser submitted (the last few)
KEEP_RECEIPTS = 5


def _state() -> dict:
    state = session.get(STATE)
    return state if isinstance(state, dict) else {}


def _verified() -> dict | None:
    """The browser's proven phone, while it counts."""
    state = _state()
    limit = current_app.config["JOINTDESK_ONLINE_VERIFIED_MINUTES"] * 60
    if state.get("vid") and state.get("phone") and time.time() - state.get("at", 0) < limit:
        return state
    return None


def _page(status: int = 200, **forms):
    state = _state()
    verified = _verified()
    form = forms.get("form")
    if verified and form is None:
        form = OnlineApplicationForm()
        form.district.choices = district_choices()
    response = make_response(
        render_template(
            "online/apply.html",
            step=2 if verified else (1 if not state.get("phone") else 1.5),
            phone=mask_phone(state.get("phone", "")),
            phone_form=forms.get("phone_form") or PhoneForm(formdata=None),
            code_form=forms.get("code_form") or CodeForm(formdata=None),
            form=form,
            development=current_app.config["JOINTDESK_DEVELOPMENT"],
            minutes=online.minutes(),
        ),
        status,
    )
    if "retry_after" in forms:
        response.headers["Retry-After"] = str(forms["retry_after"])
    return response


@bp.get("")
def apply():
    """The page: step 1 (phone, code) or step 2 (the application)."""
    return _page()


@bp.post("/code")
def send_code():
    """Sends a code to the phone typed (limits per number and per client)."""
    form = PhoneForm()
    if not form.validate_on_submit():
        return _page(400, phone_form=form)
    if not online.is_phone(form.phone.data or ""):
        form.phone.errors = [_("Not a mainland mobile number (11 digits starting with 1).")]
        return _page(200, phone_form=form)
    phone = online.clean_phone(form.phone.data)
    try:
        online.request_code(phone)
    except online.TooSoon as exc:
        flash(exc.message, "error")
        return _page(429, phone_form=form, retry_after=exc.seconds)
    session[STATE] = {"phone": phone}
    flash(
        _(
            "A code was sent to %(phone)s; it is valid for %(minutes)d minutes.",
            phone=mask_phone(phone),
            minutes=online.minutes(),
        ),
        "success",
    )
    return redirect(url_for("online.apply"), 303)


@bp.post("/verify")
def verify():
    """Checks the code entered; a right one is used up and proves the phone to this browser."""
    form = CodeForm()
    phone = _state().get("phone")
    if not form.validate_on_submit() or not phone:
        return redirect(url_for("online.apply"), 303)
    try:
        online.check_client_limit("online-submit", "JOINTDESK_ONLINE_SUBMIT_LIMIT")
        row = online.check_code(phone, (form.code.data or "").strip())
        online.consume(row.id)
        db.session.commit()
    except online.TooSoon as exc:
        flash(exc.message, "error")
        return _page(429, code_form=form, retry_after=exc.seconds)
    except online.CodeRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _page(200, code_form=form)
    session[STATE] = {"phone": phone, "vid": row.id, "at": time.time()}
    flash(_("Your phone number is verified. Now fill in the application."), "success")
    return redirect(url_for("online.apply"), 303)


@bp.post("/restart")
def restart():
    """Another phone number: the browser forgets the one it proved."""
    form = PhoneForm()
    if form.validate_on_submit():
        session.pop(STATE, None)
    return redirect(url_for("online.apply"), 303)


def _remember(reference: str) -> None:
    mine = [r for r in session.get(RECEIPTS, []) if r != reference]
    session[RECEIPTS] = [*mine, reference][-KEEP_RECEIPTS:]


@bp.post("")
def submit():
    """Step 2: the application. The same application again (double click, Back and submit)
    within 24 hours shows the first case's receipt; nothing is saved twice."""
    verified = _verified()
    form = OnlineApplicationForm()
    form.district.choices = district_choices()
    if verified is None:
        flash(_("Please verify your phone number first."), "warning")
        return redirect(url_for("online.apply"), 303)
    if not form.validate_on_submit():
        flash(_("The form expired; please submit it again."), "warning")
        return _page(400, form=form)
    try:
        online.check_client_limit("online-submit", "JOINTDESK_ONLINE_SUBMIT_LIMIT")
    except online.TooSoon as exc:
        flash(exc.message, "error")
        return _page(429, form=form, retry_after=exc.seconds)
    try:
        application = validate_application(form.payload(verified["phone"]), route="online")
        key = online.same_application_key(application)
        row = online.find_submission(key)
        if row is None:
            guard = online.OnlineGuard([(key, "")], verification_id=verified["vid"], consume=False)
            case, _code = submit_application(application, None, guard=guard)
            reference = case.reference
        else:
            raise online.Replay(row)
    except ValidationFailed as exc:
        for message in form.attach_errors(exc.fields):
            flash(message, "error")
        flash(_("Please correct the marked fields; nothing was saved."), "error")
        return _page(200, form=form)
    except online.Replay as exc:
        reference = load_reference(exc.row.case_id)
        flash(_("This application had already been submitted; here is its receipt."), "success")
    _remember(reference)
    return redirect(url_for("online.receipt", reference=reference), 303)


def load_reference(case_id: int) -> str:
    return db.session.get(Case, case_id).reference


def _mine(reference: str):
    """The case and its query code, for the browser that submitted it; else (case, None)."""
    case = load_case(reference.strip().upper()[:32])
    if case is None or case.channel not in ("online", "app"):
        abort(404)
    code = None
    if case.reference in session.get(RECEIPTS, []):
        row = online.submission_for_case(case.id)
        code = online.unseal(row, case.reference) if row is not None else None
    return case, code


def receipt_facts(case) -> dict:
    """What the receipt promises: steps, time limits, trips, materials, the status address."""
    limits = time_limits(case.external_works)
    return {
        "steps": steps_for(case.channel, case.approval_system_code),
        "per_step_days": limits.per_step_days,
        "total_days": limits.total_days,
        "status_url": public_url("cases.public_status", reference=case.reference),
    }


@bp.get("/receipt/<reference>")
def receipt(reference: str):
    """受理回执 of an online application."""
    case, code = _mine(reference)
    facts = receipt_facts(case)
    return render_template(
        "online/receipt.html",
        case=case,
        query_code=code,
        facts=facts,
        qr=qr_data_uri(facts["status_url"]),
    )


def _download(reference: str, render, content_type: str, suffix: str):
    """A saved receipt, only for the browser that submitted (it holds the query code)."""
    case, code = _mine(reference)
    if code is None:
        abort(404)
    response = make_response(render(case, code, receipt_facts(case)))
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = (
        f'attachment; filename="receipt-{case.reference}.{suffix}"'
    )
    return response


@bp.get("/receipt/<reference>/receipt.pdf")
def receipt_pdf(reference: str):
    """The receipt as a PDF."""
    return _download(reference, documents.receipt_pdf, "application/pdf", "pdf")


@bp.get("/receipt/<reference>/receipt.svg")
def receipt_image(reference: str):
    """The reference, query code and QR code of the status page as an image (SVG)."""
    return _download(reference, documents.receipt_svg, "image/svg+xml; charset=utf-8", "svg")
