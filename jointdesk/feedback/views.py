"""Pages of ratings, follow-ups and complaints.

Public (no sign-in, phone-first): the rating block of the status page (``/status/rating/<service>``,
posted with reference and query code, under the status look-up's own rate limit), the complaint
form (``/complaint``) and the complaint look-up (``/complaint/status``). Signed in: the
follow-ups of 差评 (``/follow-ups``), the complaints (``/complaints``) and the hotline clerk's
complaint form (``/complaints/hotline``).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from jointdesk.access import (
    can_handle_complaint,
    can_handle_follow_up,
    can_record_complaint,
    can_review_follow_up,
    can_see_complaint,
    can_see_follow_up,
    sees_whole_phone,
)
from jointdesk.api.views import public_limit
from jointdesk.auth import roles_required
from jointdesk.errors import rate_limited_form
from jointdesk.extensions import db, limiter
from jointdesk.feedback import services
from jointdesk.feedback.services import Refused
from jointdesk.models import Case, Complaint, Provider, RatingFollowUp
from jointdesk.models.types import utcnow
from jointdesk.online import services as online
from jointdesk.policy.identity import mask_phone

bp = Blueprint("feedback", __name__)
PER_PAGE = 25

# the national five-level scale, best first
LEVEL_LABELS = {
    5: _l("Very satisfied"),
    4: _l("Satisfied"),
    3: _l("Fairly satisfied"),
    2: _l("Dissatisfied"),
    1: _l("Very dissatisfied"),
}
STATUS_LABELS = {
    "open": _l("Open"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
}
CHANNEL_LABELS = {"online": _l("Online"), "hotline": _l("Hotline"), "window": _l("Joint window")}


def _labels() -> dict:
    return {
        "LEVELS": LEVEL_LABELS,
        "FEEDBACK_STATUS": STATUS_LABELS,
        "COMPLAINT_CHANNELS": CHANNEL_LABELS,
    }


# --- the rating block of the public status page ---------------------------------------------


def _level(value) -> int | None:
    """A level as sent; anything else is None (refused field by field by the service)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class RatingForm(FlaskForm):
    reference = HiddenField()
    code = HiddenField()
    level = RadioField(
        _l("Your rating"),
        choices=list(LEVEL_LABELS.items()),
        coerce=_level,
        validate_choice=False,
    )
    comment = TextAreaField(_l("Comment (optional)"))


def render_status(form, case, not_found: bool, rating_forms: dict | None = None, status=200):
    """The status page (``cases.public_status``): the case, and per service the rating block."""
    from jointdesk.cases.services import public_case_dict

    result = ratings = None
    outages = []
    stamp = ""
    if case is not None:
        from jointdesk.disclosure.services import outages_for_case

        result = public_case_dict(case)
        # current outage notices in the case's district for a service on it
        outages = outages_for_case(case)
        from jointdesk.cases.services import case_stamp

        found = case_stamp(case.reference)
        stamp = found[0] if found else ""
        ratings = services.rating_states(case)
        forms = rating_forms or {}
        for service, state in ratings.items():
            if state.can_rate and service not in forms:
                f = RatingForm(formdata=None, prefix=service)
                f.reference.data = case.reference
                f.code.data = form.code.data
                forms[service] = f
        rating_forms = forms
    page = render_template(
        "cases/public.html",
        form=form,
        result=result,
        not_found=not_found,
        ratings=ratings,
        rating_forms=rating_forms or {},
        outages=outages,
        stamp=stamp,
        **_labels(),
    )
    return page, status


@bp.post("/status/rating/<service>")
@limiter.shared_limit(public_limit, scope="public-lookup")
def rate(service: str):
    """The applicant rates one finished service; proven by reference and query code exactly as
    the status look-up is (and counted against the same limit)."""
    from jointdesk.cases.views import LookupForm
    from jointdesk.windows.services import case_for_applicant

    form = RatingForm(prefix=service[:20])
    lookup = LookupForm(formdata=None)
    lookup.reference.data = form.reference.data
    lookup.code.data = form.code.data
    if not form.validate_on_submit():
        flash(_("The form expired or was incomplete; please try again."), "error")
        return render_status(lookup, None, False, status=400)
    # proven by the code sent with the form (API-like clients), else by this browser's look-up
    if form.code.data:
        case = case_for_applicant(form.reference.data or "", form.code.data)
    else:
        from jointdesk.cases.views import granted_case, status_reference

        case = granted_case(status_reference(form.reference.data))
    if case is None:
        return render_status(lookup, None, True, status=404)
    try:
        services.submit_rating(case, service, form.level.data, form.comment.data, "online")
    except Refused as exc:
        db.session.rollback()
        if exc.status == 422:
            for name, message in exc.fields.items():
                if name in ("level", "comment"):
                    getattr(form, name).errors = [message]
                else:
                    flash(message, "error")
            return render_status(lookup, case, False, {service: form}, status=422)
        flash(exc.message, "error")
        return render_status(lookup, case, False, status=exc.status)
    flash(_("Thank you for your rating."), "success")
    return redirect(
        url_for("cases.public_status", reference=case.reference) + f"#rating-{service}", 303
    )


# --- follow-ups of 差评 ----------------------------------------------------------------------


class FollowUpForm(FlaskForm):
    version = IntegerField(validators=[Optional()])
    answer = TextAreaField(_l("What was verified and rectified"))
    note = TextAreaField(_l("Review note"))
    decision = HiddenField()


def _list_scope():
    """What a follow-up or complaint list shows: staff only their own provider's rows (-1 when
    they have none: nothing), the others every provider's, narrowed by ``?provider=CODE``.
    Returns (providers for the filter, the chosen provider's id, the staff's own provider's id
    or None, ``?status=``, ``?page=``)."""
    providers: list = []
    chosen = own = None
    if current_user.role == "staff":
        own = current_user.provider_id or -1
    else:
        providers = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
        code = request.args.get("provider") or None
        chosen = next((p.id for p in providers if p.code == code), None)
    status = request.args.get("status") or None
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    return providers, chosen, own, status, page


@bp.route("/follow-ups")
@roles_required("staff", "supervisor", "admin")
def follow_ups():
    """Staff: their provider's follow-ups; supervisors and administrators: all. Open first."""
    providers, chosen, own, status, page = _list_scope()
    result = db.paginate(
        services.follow_ups_query(own if own is not None else chosen, status),
        page=page,
        per_page=PER_PAGE,
        error_out=False,
    )
    now = utcnow()
    rows = [
        (fu, services.is_late(fu.due_at, fu.status, now), _callback_late(fu, now))
        for fu in result.items
    ]
    return render_template(
        "feedback/follow_ups.html",
        rows=rows,
        pagination=result,
        providers=providers,
        provider=request.args.get("provider") or "",
        status=status or "",
        statuses=services.FOLLOW_UP_STATUSES,
        **_labels(),
    )


def _callback_late(fu: RatingFollowUp, now) -> bool:
    return fu.called_back_at is None and fu.status != "closed" and services.callback_due(fu) < now


def _follow_up(follow_up_id: int) -> RatingFollowUp:
    fu = db.session.execute(
        db.select(RatingFollowUp)
        .where(RatingFollowUp.id == follow_up_id)
        .options(selectinload(RatingFollowUp.rating), selectinload(RatingFollowUp.provider))
    ).scalar_one_or_none()
    if fu is None or not can_see_follow_up(current_user, fu.provider_id):
        abort(404)
    return fu


@bp.route("/follow-ups/<int(max=2147483647):follow_up_id>")
@roles_required("staff", "supervisor", "admin")
def follow_up(follow_up_id: int):
    fu = _follow_up(follow_up_id)
    case = db.session.get(Case, fu.rating.case_id)
    phone = (
        case.applicant_phone if sees_whole_phone(current_user) else mask_phone(case.applicant_phone)
    )
    now = utcnow()
    return render_template(
        "feedback/follow_up.html",
        fu=fu,
        case=case,
        phone=phone,
        form=FollowUpForm(formdata=None),
        callback_due=services.callback_due(fu),
        late=services.is_late(fu.due_at, fu.status, now),
        callback_late=_callback_late(fu, now),
        can_handle=can_handle_follow_up(current_user, fu.provider_id),
        can_review=can_review_follow_up(current_user),
        **_labels(),
    )


@bp.post("/follow-ups/<int(max=2147483647):follow_up_id>/<any(callback, answer, review):step>")
@roles_required("staff", "supervisor")
def follow_up_step(follow_up_id: int, step: str):
    """Callback and answer by the provider's staff; review by a supervisor."""
    fu = _follow_up(follow_up_id)
    form = FollowUpForm()
    back = redirect(url_for("feedback.follow_up", follow_up_id=follow_up_id))
    if not form.validate_on_submit():
        flash(_("The form expired or was incomplete; please try again."), "error")
        return back
    try:
        if step == "review":
            if not can_review_follow_up(current_user):
                abort(403)
            services.review_follow_up(
                fu, current_user, form.decision.data == "accept", form.note.data, form.version.data
            )
        else:
            if not can_handle_follow_up(current_user, fu.provider_id):
                abort(403)
            if step == "callback":
                services.record_callback(fu, current_user, form.version.data)
            else:
                services.answer_follow_up(fu, current_user, form.answer.data, form.version.data)
    except Refused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        for message in exc.fields.values():
            if message != exc.message:
                flash(message, "error")
        return back
    flash(_("Done."), "success")
    return back


# --- complaints ----------------------------------------------------------------------------


class ComplaintForm(FlaskForm):
    name = StringField(_l("Your name"))
    phone = StringField(_l("Mobile phone"))
    provider = SelectField(_l("Provider complained about"), validate_choice=False)
    case_reference = StringField(_l("Case reference (if any)"))
    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("What happened"))


class ComplaintLookupForm(FlaskForm):
    reference = StringField(_l("Complaint reference"))
    code = StringField(_l("Query code"))


class ComplaintStepForm(FlaskForm):
    version = IntegerField(validators=[Optional()])
    answer = TextAreaField(_l("Answer to the complainant"))
    note = TextAreaField(_l("Closing note"))


def _complaint_form() -> ComplaintForm:
    form = ComplaintForm()
    active = db.session.execute(
        db.select(Provider).where(Provider.active.is_(True)).order_by(Provider.code)
    ).scalars()
    form.provider.choices = [("", _("— choose —"))] + [(p.code, p.name) for p in active]
    return form


def _take_complaint(form: ComplaintForm, channel: str, actor, template: str):
    """Validates and stores; the receipt with the code, or the form with its field errors."""
    data = {name: getattr(form, name).data for name in services.COMPLAINT_FIELDS}
    try:
        complaint, code = services.create_complaint(
            services.validate_complaint(data), channel, actor
        )
    except Refused as exc:
        db.session.rollback()
        for name, message in exc.fields.items():
            getattr(form, name).errors = [message]
        hotline = channel == "hotline"
        return render_template(template, form=form, hotline=hotline, **_labels()), 422
    except services.AlreadyReceived as exc:
        return render_template(
            "complaints/receipt.html", complaint=exc.complaint, code=None, **_labels()
        )
    return render_template("complaints/receipt.html", complaint=complaint, code=code, **_labels())


@bp.route("/complaint", methods=["GET", "POST"])
def complaint_new():
    """Public: a complaint or report against a provider or a case (no sign-in)."""
    form = _complaint_form()
    if request.method == "POST":
        if form.validate_on_submit():
            # counted once the form is sent whole: a typo or an expired page costs nothing
            try:
                online.check_client_limit("complaint-submit", "JOINTDESK_COMPLAINT_SUBMIT_LIMIT")
            except online.TooSoon as exc:
                flash(exc.message, "error")
                page = render_template("complaints/form.html", form=form, **_labels())
                return page, 429, {"Retry-After": str(exc.seconds)}
            return _take_complaint(form, "online", None, "complaints/form.html")
        flash(_("The form expired or was incomplete; please try again."), "error")
    elif request.args.get("case"):
        form.case_reference.data = request.args["case"][:32]
    return render_template("complaints/form.html", form=form, **_labels())


@bp.route("/complaint/status", methods=["GET", "POST"])
@limiter.shared_limit(public_limit, scope="public-lookup", methods=["POST"])
def complaint_status():
    """Public: the complainant's look-up by reference and query code (rate-limited; a wrong
    code and an unknown reference answer the same)."""
    form = ComplaintLookupForm()
    if request.method == "GET" and request.args.get("reference"):
        form.reference.data = request.args["reference"][:32]
    complaint = None
    not_found = False
    if form.validate_on_submit():
        complaint = services.complaint_for_complainant(
            form.reference.data or "", form.code.data or ""
        )
        not_found = complaint is None
    return render_template(
        "complaints/lookup.html",
        form=form,
        complaint=complaint,
        not_found=not_found,
        late=complaint is not None and services.is_late(complaint.due_at, complaint.status),
        **_labels(),
    )


@rate_limited_form("feedback.rate")
def _rating_again():
    """The status page with the rating as typed (a 429 keeps the comment)."""
    from jointdesk.cases.views import LookupForm, granted_case, status_reference

    service = (request.view_args or {}).get("service", "")[:20]
    form = RatingForm(prefix=service)
    lookup = LookupForm(formdata=None)
    lookup.reference.data = form.reference.data
    case = granted_case(status_reference(form.reference.data))
    return render_status(lookup, case, case is None, {service: form} if case else None)


@rate_limited_form("feedback.complaint_status")
def _complaint_lookup_again():
    """The complaint look-up as typed (a 429 keeps what was typed)."""
    return render_template(
        "complaints/lookup.html",
        form=ComplaintLookupForm(),
        complaint=None,
        not_found=False,
        late=False,
        **_labels(),
    )


@bp.route("/complaints/hotline", methods=["GET", "POST"])
@roles_required("clerk")
def complaint_hotline():
    """The hotline clerk records a complaint taken by phone (channel hotline)."""
    if not can_record_complaint(current_user):
        abort(403)
    form = _complaint_form()
    if form.validate_on_submit():
        return _take_complaint(form, "hotline", current_user, "complaints/form.html")
    if request.method == "POST":
        flash(_("The form expired or was incomplete; please try again."), "error")
    return render_template("complaints/form.html", form=form, hotline=True, **_labels())


@bp.route("/complaints")
@roles_required("staff", "supervisor", "admin")
def complaints():
    """Supervisors and administrators: every complaint; staff: those against their provider
    (read-only). Open first, overdue ones marked; filtered by provider and status."""
    providers, chosen, own, status, page = _list_scope()
    result = db.paginate(
        services.complaints_query(chosen, status, own),
        page=page,
        per_page=PER_PAGE,
        error_out=False,
    )
    now = utcnow()
    rows = [(c, services.is_late(c.due_at, c.status, now)) for c in result.items]
    return render_template(
        "complaints/list.html",
        rows=rows,
        pagination=result,
        providers=providers,
        provider=request.args.get("provider") or "",
        status=status or "",
        statuses=services.COMPLAINT_STATUSES,
        **_labels(),
    )


def _complaint(complaint_id: int) -> Complaint:
    c = db.session.get(Complaint, complaint_id)
    if c is None or not can_see_complaint(current_user, c.provider_id):
        abort(404)
    return c


@bp.route("/complaints/<int(max=2147483647):complaint_id>")
@roles_required("staff", "supervisor", "admin")
def complaint(complaint_id: int):
    c = _complaint(complaint_id)
    case = db.session.get(Case, c.case_id) if c.case_id else None
    return render_template(
        "complaints/view.html",
        c=c,
        case=case,
        phone=c.complainant_phone
        if can_handle_complaint(current_user)
        else mask_phone(c.complainant_phone),
        form=ComplaintStepForm(formdata=None),
        late=services.is_late(c.due_at, c.status),
        can_handle=can_handle_complaint(current_user),
        **_labels(),
    )


@bp.post("/complaints/<int(max=2147483647):complaint_id>/<any(answer, close):step>")
@roles_required("supervisor")
def complaint_step(complaint_id: int, step: str):
    c = _complaint(complaint_id)
    if not can_handle_complaint(current_user):
        abort(403)
    form = ComplaintStepForm()
    back = redirect(url_for("feedback.complaint", complaint_id=complaint_id))
    if not form.validate_on_submit():
        flash(_("The form expired or was incomplete; please try again."), "error")
        return back
    try:
        if step == "answer":
            services.answer_complaint(c, current_user, form.answer.data, form.version.data)
        else:
            services.close_complaint(c, current_user, form.note.data, form.version.data)
    except Refused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return back
    flash(_("Done."), "success")
    return back
