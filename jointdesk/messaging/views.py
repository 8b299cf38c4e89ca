"""Administration of applicants' messages: what was sent (administrators and supervisors,
read-only, phone numbers masked) and the wording of each template (administrators)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from jointdesk.access import MESSAGE_READERS, TEMPLATE_EDITORS
from jointdesk.auth import roles_required
from jointdesk.auth.views import PostForm
from jointdesk.extensions import db
from jointdesk.logging_setup import redact
from jointdesk.messaging import templates
from jointdesk.models import ApplicantMessage, Case
from jointdesk.models.message import MESSAGE_STATES
from jointdesk.policy.identity import mask_phone

bp = Blueprint("messages", __name__, url_prefix="/admin/messages")

PER_PAGE = 50
MAX_CURSOR = 2**31 - 1
STATUS_LABELS = {
    "pending": _l("Waiting to be sent"),
    "sent": _l("Sent"),
    "dead": _l("Failed"),
}


class TemplateForm(FlaskForm):
    body = TextAreaField(_l("Text of the message"))


@bp.get("/")
@roles_required(*MESSAGE_READERS)
def sent():
    """Every message to applicants, newest first, a page at a time (keyset on the id: the
    next page starts below the last id shown, however deep); by status, template, reference."""
    status = request.args.get("status") or None
    if status not in MESSAGE_STATES:
        status = None
    template = request.args.get("template") or None
    if template not in templates.SPECS:
        template = None
    reference = (request.args.get("reference") or "").strip()[:32] or None
    after = request.args.get("after") or ""
    if after and not (after.isascii() and after.isdecimal() and int(after) <= MAX_CURSOR):
        abort(400)
    query = db.select(ApplicantMessage, Case.reference).outerjoin(
        Case, Case.id == ApplicantMessage.case_id
    )
    if status:
        query = query.where(ApplicantMessage.status == status)
    if template:
        query = query.where(ApplicantMessage.template == template)
    if reference:
        query = query.where(Case.reference == reference.upper())
    if after:
        query = query.where(ApplicantMessage.id < int(after))
    found = db.session.execute(query.order_by(ApplicantMessage.id.desc()).limit(PER_PAGE + 1)).all()
    rows = [
        {
            "message": message,
            "reference": ref,
            "phone": mask_phone(message.phone),
            # the applicant's own numbers are in it whole; here they are masked
            "body": redact(message.body),
            "last_error": redact(message.last_error or ""),
        }
        for message, ref in found[:PER_PAGE]
    ]
    next_after = found[PER_PAGE - 1][0].id if len(found) > PER_PAGE else None
    return render_template(
        "messages/sent.html",
        rows=rows,
        status=status,
        template=template,
        reference=reference or "",
        next_after=next_after,
        first_page=not after,
        states=MESSAGE_STATES,
        status_labels=STATUS_LABELS,
        specs=templates.SPECS,
    )


@bp.get("/templates")
@roles_required(*TEMPLATE_EDITORS)
def template_list():
    """Every template with the text in force: the shipped default or the administrator's."""
    return render_template(
        "messages/templates.html", rows=templates.listing(), max_body=templates.MAX_BODY
    )


@bp.route("/templates/<name>", methods=["GET", "POST"])
@roles_required(*TEMPLATE_EDITORS)
def template_edit(name: str):
    """Edit one template's text; *Preview* shows it with sample values without saving."""
    spec = templates.SPECS.get(name)
    if spec is None:
        abort(404)
    form = TemplateForm()
    shown = None
    if form.validate_on_submit():
        try:
            if request.form.get("what") == "save":
                changed = templates.save_override(name, form.body.data, current_user)
                flash(_("Saved.") if changed else _("Nothing changed."), "success")
                return redirect(url_for("messages.template_list"))
            shown = templates.preview(name, form.body.data)
        except templates.TemplateErrors as exc:
            form.body.errors = [exc.fields["body"]]
    elif request.method == "GET":
        form.body.data = templates.template_text(name)
    return render_template(
        "messages/template_edit.html",
        name=name,
        spec=spec,
        form=form,
        preview=shown if shown is not None else templates.preview(name),
        unsaved=shown is not None,
        default=templates.DEFAULTS[name],
        overridden=templates.template_text(name) != templates.DEFAULTS[name],
        field_labels=templates.FIELD_LABELS,
        max_body=templates.MAX_BODY,
        reset_form=PostForm(),
    )


@bp.post("/templates/<name>/reset")
@roles_required(*TEMPLATE_EDITORS)
def template_reset(name: str):
    """Back to the shipped wording (audited)."""
    if name not in templates.SPECS:
        abort(404)
    if not PostForm().validate_on_submit():
        abort(400)
    if templates.reset_override(name, current_user):
        flash(_("The default text is used again."), "success")
    else:
        flash(_("Nothing changed."), "success")
    return redirect(url_for("messages.template_list"))
