"""The case view for everyone on the case, case search, and the applicant's status page."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import or_
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from jointdesk.access import can_view_case, can_view_case_of
from jointdesk.api.views import public_limit
from jointdesk.auth import roles_required
from jointdesk.cases.services import (
    case_dict,
    case_stamp,
    load_case,
    people_names,
)
from jointdesk.errors import rate_limited_form
from jointdesk.extensions import db, limiter
from jointdesk.models import Case, Ticket
from jointdesk.policy.identity import normalize_id, normalize_phone, without_separators
from jointdesk.policy.process import case_status
from jointdesk.windows.services import case_for_applicant, reissue_query_code

bp = Blueprint("cases", __name__)


class LookupForm(FlaskForm):
    reference = StringField(_l("Case reference"), validators=[DataRequired(), Length(max=32)])
    code = StringField(_l("Query code"), validators=[DataRequired(), Length(max=32)])


class SearchForm(FlaskForm):
    q = StringField(
        _l("Reference, applicant phone, name or ID number"), validators=[Length(max=100)]
    )


@bp.route("/cases", methods=["GET", "POST"])
@roles_required("clerk", "staff", "supervisor", "admin")
def search():
    """Recent cases, or those matching a reference (anyone) or, for clerks, the applicant's
    phone, whole ID number or name (a part of it will do).

    The search is a POST, so phone and ID numbers never travel in URLs and access logs."""
    form = SearchForm()
    q = ""
    query = db.select(Case).order_by(Case.created_at.desc()).limit(50)
    if current_user.role == "staff":
        mine = db.select(Ticket.case_id).where(Ticket.provider_id == current_user.provider_id)
        query = query.where(Case.id.in_(mine))
    if form.validate_on_submit() and (form.q.data or "").strip():
        q = form.q.data.strip()
        if current_user.role == "clerk":
            # stored NFKC-normalised: full-width digits find them too; spaces and dashes as typed
            number = without_separators(q)
            query = query.where(
                or_(
                    Case.reference == q.upper(),
                    Case.applicant_phone == normalize_phone(number),
                    Case.applicant_id_number == normalize_id(number),  # the whole number only
                    Case.applicant_name.contains(q, autoescape=True),
                )
            )
        else:
            query = query.where(Case.reference == q.upper())
    cases = db.session.execute(query).scalars().all()
    rows = [(c, case_status(t.status for t in c.tickets)) for c in cases]
    return render_template("cases/search.html", rows=rows, form=form, q=q)


@bp.route("/cases/<reference>")
@roles_required("clerk", "staff", "supervisor", "admin")
def view(reference: str):
    """ONE case view: overall status, each service's ticket, the full timeline."""
    case = load_case(reference.strip().upper()[:32])
    if case is None or not can_view_case(current_user, case):
        abort(404)
    data = case_dict(case, current_user)
    found = case_stamp(case.reference)
    return render_template(
        "cases/view.html",
        case=case,
        data=data,
        names=people_names(data["events"]),
        stamp=found[0] if found else "",
    )


@bp.get("/cases/<reference>/stamp")
@roles_required("clerk", "staff", "supervisor", "admin")
def stamp(reference: str):
    """The case view's live stamp (see ``static/live.js``): a few bytes, one small read."""
    found = case_stamp(reference.strip().upper()[:32])
    if found is None or not can_view_case_of(current_user, found[1]):
        abort(404)
    response = jsonify(stamp=found[0])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/cases/<reference>/query-code")
@roles_required("clerk", "admin")
def new_query_code(reference: str):
    """A new query code (the old one stops working), shown once on a new receipt."""
    case = load_case(reference.strip().upper()[:32])
    if case is None:
        abort(404)
    _code, link = reissue_query_code(case, current_user, receipt=True)
    flash(_("A new query code was issued; the old one no longer works."), "success")
    return redirect(url_for("windows.receipt", reference=case.reference, t=link))


# The applicant's look-up, once proven, is remembered by this browser for a while (the signed
# session cookie holds the reference and the keyed digest of its query code, never the code):
# the result lives at /status?reference=..., the same address as the receipt's QR code, so it
# can be bookmarked and refreshed without sending the code again or spending the rate limit.
# A query code issued anew ends the grant (the digest no longer matches).
STATUS_GRANTS = "status_grants"
KEEP_GRANTS = 5
GRANT_SECONDS = 2 * 3600


def grant_status(reference: str, digest: str) -> None:
    now = int(time.time())
    grants = {
        ref: value
        for ref, value in (session.get(STATUS_GRANTS) or {}).items()
        if ref != reference and isinstance(value, list) and len(value) == 2 and value[1] > now
    }
    grants[reference] = [digest, now + GRANT_SECONDS]
    session[STATUS_GRANTS] = dict(list(grants.items())[-KEEP_GRANTS:])


def granted_digest(reference: str) -> str | None:
    """The query code's digest this browser proved for ``reference``, while the grant lasts."""
    value = (session.get(STATUS_GRANTS) or {}).get(reference)
    if not isinstance(value, list) or len(value) != 2 or value[1] <= int(time.time()):
        return None
    return str(value[0])


def granted_case(reference: str):
    """The case this browser proved it may see (one statement), or None."""
    from jointdesk.cases.read import load_case_data

    digest = granted_digest(reference)
    return load_case_data(reference, query_code_digest=digest) if digest else None


def status_reference(value: str | None) -> str:
    return (value or "").strip().upper()[:32]


@bp.route("/status", methods=["GET", "POST"])
@limiter.shared_limit(public_limit, scope="public-lookup", methods=["POST"])
def public_status():
    """Public: the applicant enters reference and query code and sees each service's progress.

    A right pair is remembered and answered with a redirect to ``/status?reference=...``
    (post/redirect/get); a wrong one answers the same for an unknown reference and a wrong
    code. A GET with a reference shows the case if this browser proved it, else the form
    with the reference filled in."""
    from jointdesk.feedback.views import render_status  # with each service's rating block
    from jointdesk.windows.services import query_code_digest

    form = LookupForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_status(form, None, False, status=422 if form.errors else 400)
        case = case_for_applicant(form.reference.data, form.code.data)
        if case is None:
            return render_status(form, None, True)
        grant_status(case.reference, query_code_digest(case.reference, form.code.data.strip()[:32]))
        return redirect(url_for("cases.public_status", reference=case.reference), 303)
    reference = status_reference(request.args.get("reference"))
    case = None
    if reference:
        form.reference.data = reference
        case = granted_case(reference)
    response = make_response(render_status(form, case, False))
    response.headers["Cache-Control"] = "no-store"
    return response


@rate_limited_form("cases.public_status")
def _status_form_again():
    """The look-up form as the applicant typed it (a 429 keeps what was typed)."""
    from jointdesk.feedback.views import render_status

    return render_status(LookupForm(), None, False)


@bp.get("/status/stamp")
def public_status_stamp():
    """The status page's live stamp (see ``static/live.js``), for a browser that proved the
    case: a few bytes from one small read; 404 otherwise, as for an unknown case."""
    reference = status_reference(request.args.get("reference"))
    digest = granted_digest(reference) if reference else None
    found = case_stamp(reference, query_code_digest=digest) if digest else None
    if found is None:
        abort(404)
    response = jsonify(stamp=found[0])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/status/forget")
def forget_status():
    """On a shared device (a hall's kiosk): this browser forgets every case it was shown
    (CSRF-checked like every form post)."""
    session.pop(STATUS_GRANTS, None)
    return redirect(url_for("cases.public_status"), 303)
