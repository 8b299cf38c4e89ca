"""Provider desk: the queue of one provider, a ticket, and the actions on it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import Optional

from jointdesk.access import (
    SUSPENSION_REVIEWERS,
    can_act_on_ticket,
    can_read_queue,
    can_review_suspensions,
)
from jointdesk.auth import roles_required
from jointdesk.cases.read import load_tickets_data
from jointdesk.cases.services import ticket_dict, ticket_dicts
from jointdesk.desk.services import (
    OPEN_WORK,
    ActionRefused,
    BadCursor,
    QueueCursor,
    perform_action,
    queue_page,
    queue_page_stamp,
    queue_stamp,
    suspension_days,
    suspensions_query,
)
from jointdesk.extensions import db
from jointdesk.labels import MATERIAL_LABELS, PERMIT_LABELS, SUSPENSION_REASON_LABELS
from jointdesk.models import Provider, Ticket, User
from jointdesk.policy.process import (
    ACTIONS,
    SUSPENSION_REASONS,
    TICKET_STATUSES,
    offered_actions,
    permits_pending,
)

bp = Blueprint("desk", __name__, url_prefix="/desk")
PER_PAGE = 25


class ActionForm(FlaskForm):
    action = HiddenField()
    version = IntegerField(validators=[Optional()])
    reason = StringField(_l("Reason"))
    reason_code = SelectField(_l("Reason for the suspension"), validate_choice=False)
    representative = SelectField(_l("Representative"), validate_choice=False)
    permit = HiddenField()
    material = HiddenField()
    note = StringField(_l("Note"))


QUEUE_ARGS = ("provider", "status", "overdue", "page", "after")  # what the queue page reads


def _queue_args():
    """The queue page's provider and filters, as the page and its live stamp read them."""
    if current_user.role == "staff":
        provider = current_user.provider
    else:
        code = request.args.get("provider")
        provider = (
            db.session.execute(
                db.select(Provider).where(Provider.code == code)
            ).scalar_one_or_none()
            if code
            else db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().first()
        )
    if provider is None or not can_read_queue(current_user, provider.id):
        abort(404)
    # the open work by default; "all" for every ticket, or one status
    chosen = request.args.get("status") or OPEN_WORK
    status = chosen if chosen in (*TICKET_STATUSES, OPEN_WORK) else OPEN_WORK
    if chosen == "all":
        status = None
    overdue = {"1": True, "0": False}.get(request.args.get("overdue", ""))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    # deep pages by keyset: ``after`` is the cursor the page before gave; one that is not
    # (an edited link) starts again at the first page
    after = None
    if request.args.get("after"):
        try:
            after = QueueCursor.decode(request.args["after"])
        except BadCursor:
            after = None
    return provider, status, overdue, page, after


@bp.get("/stamp")
@roles_required("staff", "supervisor", "admin")
def queue_live_stamp():
    """The queue page's live stamp, for the same address's filters: a few bytes."""
    provider, status, overdue, page, after = _queue_args()
    stamp = queue_page_stamp(
        provider.id, status=status, overdue=overdue, per_page=PER_PAGE, page=page, after=after
    )
    response = jsonify(stamp=stamp)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/")
@roles_required("staff", "supervisor", "admin")
def queue():
    """The queue, oldest due first, filtered by status (the open work unless asked otherwise)
    and overdue."""
    provider, status, overdue, page, after = _queue_args()
    result = queue_page(
        provider.id,
        status=status,
        overdue=overdue,
        per_page=PER_PAGE,
        page=page,
        after=after,
        load=load_tickets_data,  # the page in one read of plain rows
    )
    providers = []
    if current_user.role != "staff":
        providers = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    return render_template(
        "desk/queue.html",
        stamp=queue_stamp(result.items, result.total),
        live_url=url_for(
            "desk.queue_live_stamp",
            **{k: request.args[k] for k in QUEUE_ARGS if request.args.get(k)},
        ),
        provider=provider,
        providers=providers,
        tickets=list(zip(result.items, ticket_dicts(result.items), strict=True)),
        pagination=result,
        page=None if after is not None else page,
        status=status or "all",
        overdue=request.args.get("overdue", ""),
        statuses=TICKET_STATUSES,
    )


def _ticket_for_staff(ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not can_act_on_ticket(current_user, ticket):
        abort(404)
    return ticket


@bp.route("/tickets/<int(max=2147483647):ticket_id>")
@roles_required("staff")
def ticket(ticket_id: int):
    """One ticket of this provider, with the actions its state allows."""
    t = _ticket_for_staff(ticket_id)
    form = ActionForm()
    colleagues = db.session.execute(
        db.select(User)
        .where(User.provider_id == t.provider_id, User.role == "staff", User.active.is_(True))
        .order_by(User.username)
    ).scalars()
    form.representative.choices = [(u.username, u.label) for u in colleagues]
    permits = {p.kind: p.status for p in t.permits}
    return render_template(
        "desk/ticket.html",
        ticket=t,
        data=ticket_dict(t),
        form=form,
        actions=offered_actions(t.status, [s.name for s in t.steps], permits),
        permits_pending=[str(PERMIT_LABELS.get(k, k)) for k in permits_pending(permits)],
    )


def done_message(ticket: Ticket, form: ActionForm) -> str:
    """What the action just did, in words (not one "done" for all)."""
    action, reason = form.action.data, (form.reason.data or "").strip()
    if action == "accept":
        return _("Accepted. The ticket is now in progress.")
    if action == "connect":
        return _("Inspected and connected. The ticket is closed.")
    if action == "return":
        return _("Returned: %(reason)s", reason=reason)
    if action == "suspend":
        label = str(SUSPENSION_REASON_LABELS.get(form.reason_code.data or "", ""))
        return _("Clock stopped: %(reason)s", reason=" — ".join(x for x in (label, reason) if x))
    if action == "resume":
        return _("Clock running again.")
    if action == "assign":
        name = ticket.representative.label if ticket.representative else ""
        return _("Representative assigned: %(name)s", name=name)
    if action == "permit_file":
        return _("%(permit)s: marked filed.", permit=PERMIT_LABELS.get(form.permit.data, ""))
    if action == "permit_grant":
        return _("%(permit)s: marked granted.", permit=PERMIT_LABELS.get(form.permit.data, ""))
    if action == "material_received":
        return _("%(material)s: handed over.", material=MATERIAL_LABELS.get(form.material.data, ""))
    if action == "material_waive":
        return _(
            "%(material)s: waived (%(reason)s).",
            material=MATERIAL_LABELS.get(form.material.data, ""),
            reason=reason,
        )
    return _("Contact with the applicant recorded.")


@bp.post("/tickets/<int(max=2147483647):ticket_id>/action")
@roles_required("staff")
def act(ticket_id: int):
    """Carry out one action; a stale page or a state that forbids it gets a message."""
    t = _ticket_for_staff(ticket_id)
    form = ActionForm()
    form.representative.choices = []
    if not form.validate_on_submit() or form.action.data not in ACTIONS:
        flash(_("The form expired or was incomplete; please try again."), "error")
        return redirect(url_for("desk.ticket", ticket_id=ticket_id))
    try:
        perform_action(
            t,
            form.action.data,
            current_user,
            reason=form.reason.data,
            representative=form.representative.data,
            expected_version=form.version.data,
            permit=form.permit.data or None,
            material=form.material.data or None,
            note=form.note.data,
            reason_code=form.reason_code.data or None,
        )
    except ActionRefused as exc:
        flash(exc.message, "error")
        for message in exc.fields.values():
            flash(message, "error")
    else:
        flash(done_message(t, form), "success")
    return redirect(url_for("desk.ticket", ticket_id=ticket_id))


@bp.route("/suspensions")
@roles_required(*SUSPENSION_REVIEWERS)
def suspensions():
    """Every suspension of every provider, running ones first; read-only, for supervisors."""
    if not can_review_suspensions(current_user):
        abort(403)
    providers = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    provider = request.args.get("provider") or None
    if provider not in {p.code for p in providers}:
        provider = None
    reason = request.args.get("reason") or None
    if reason not in SUSPENSION_REASONS:
        reason = None
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    result = db.paginate(
        suspensions_query(provider=provider, reason=reason),
        page=page,
        per_page=PER_PAGE,
        error_out=False,
    )
    rows = [(stop, suspension_days(stop)) for stop in result.items]
    return render_template(
        "desk/suspensions.html",
        rows=rows,
        pagination=result,
        providers=providers,
        provider=provider,
        reason=reason,
        reasons=SUSPENSION_REASONS,
    )
