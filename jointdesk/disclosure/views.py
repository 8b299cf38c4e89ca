"""信息公开 pages: the public portal (no sign-in) and the provider staff's editing pages.

Public: ``/disclosure`` (providers and their services), ``/disclosure/providers/<code>`` (what one
provider publishes, its outage notices first), ``/disclosure/outages`` (notices of every provider,
by district and service). Staff of a provider: ``/disclosure/manage/<code>`` and below; the
supervisors and administrators read those pages (and the history) without the buttons.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField

from jointdesk.access import can_edit_disclosure, can_read_disclosure
from jointdesk.auth import roles_required
from jointdesk.disclosure import services as ds
from jointdesk.extensions import db, limiter
from jointdesk.models import DisclosureItem, District, OutageNotice, Provider
from jointdesk.models.types import utcnow

bp = Blueprint("disclosure", __name__, url_prefix="/disclosure")


def disclosure_limit() -> str:
    """Public portal pages and its API endpoint, per client."""
    return current_app.config["JOINTDESK_DISCLOSURE_LIMIT"]


public_disclosure_limit = limiter.shared_limit(disclosure_limit, scope="public-disclosure")


class VersionForm(FlaskForm):
    """A button that changes a row: its CSRF token and the version the page showed."""

    version = HiddenField()


class ItemForm(VersionForm):
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Text published"))


class OutageForm(VersionForm):
    service = SelectField(_l("Service"), validate_choice=False)
    planned = SelectField(
        _l("Kind"),
        choices=[("planned", _l("Planned outage")), ("unplanned", _l("Unplanned outage"))],
        validate_choice=False,
    )
    title = StringField(_l("Title"))
    districts = SelectMultipleField(_l("Districts affected"), validate_choice=False)
    area = TextAreaField(_l("Area (streets, estates)"))
    starts_at = StringField(_l("Start"))
    expected_restore_at = StringField(_l("Expected restoration"))
    restored_at = StringField(_l("Actual restoration"))
    reason = TextAreaField(_l("Reason"))


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])


def _version(form: VersionForm) -> int:
    raw = (form.version.data or "").strip()
    return int(raw) if raw.isdecimal() and raw.isascii() and len(raw) < 10 else 0


def _moment(raw: str | None, name: str, errors: dict) -> datetime | None:
    """A local date and time from the form (2026-11-27T08:30 or 2026-11-27 08:30)."""
    text = (raw or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            moment = datetime.strptime(text, fmt)  # noqa: DTZ007 (local time, zone added below)
        except ValueError:
            continue
        if 2000 <= moment.year <= 2100:
            return moment.replace(tzinfo=_zone())
        break
    errors[name] = _("Enter a date and time like 2026-11-27 08:30.")
    return None


def _local_input(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(_zone()).strftime("%Y-%m-%dT%H:%M")


def _provider(code: str) -> Provider:
    provider = db.session.execute(
        db.select(Provider).where(Provider.code == code[:40])
    ).scalar_one_or_none()
    if provider is None:
        abort(404)
    return provider


def _readable(code: str) -> Provider:
    provider = _provider(code)
    if not can_read_disclosure(current_user, provider.id):
        abort(403)
    return provider


def _editable(code: str) -> Provider:
    provider = _provider(code)
    if not can_edit_disclosure(current_user, provider.id):
        abort(403)
    return provider


def _item(provider: Provider, item_id: int) -> DisclosureItem:
    item = db.session.get(DisclosureItem, item_id)
    if item is None or item.provider_id != provider.id:
        abort(404)
    return item


def _notice(provider: Provider, notice_id: int) -> OutageNotice:
    notice = db.session.get(OutageNotice, notice_id)
    if notice is None or notice.provider_id != provider.id:
        abort(404)
    return notice


# --- the public portal -----------------------------------------------------------------------


@bp.get("")
@public_disclosure_limit
def index():
    """Every active provider with the services it provides."""
    providers = (
        db.session.execute(
            db.select(Provider).where(Provider.active.is_(True)).order_by(Provider.code)
        )
        .scalars()
        .all()
    )
    services = ds.services_by_provider()
    return render_template(
        "disclosure/index.html",
        rows=[(p, services.get(p.id, [])) for p in providers],
    )


@bp.get("/providers/<code>")
@public_disclosure_limit
def provider_page(code: str):
    """What one provider publishes: its outage notices first, then the catalog by scope."""
    provider = _provider(code)
    if not provider.active:
        abort(404)
    items = db.session.execute(
        db.select(DisclosureItem).where(
            DisclosureItem.provider_id == provider.id, DisclosureItem.published.is_(True)
        )
    ).scalars()
    now = utcnow()
    return render_template(
        "disclosure/provider.html",
        provider=provider,
        groups=ds.grouped(items),
        outages=ds.public_outages(provider_id=provider.id, now=now),
        now=now,
        state=ds.outage_state,
    )


@bp.get("/outages")
@public_disclosure_limit
def outages():
    """Outage notices of every provider, by district and service."""
    districts = (
        db.session.execute(db.select(District).order_by(District.sort_order, District.id))
        .scalars()
        .all()
    )
    district_id = request.args.get("district", type=int)
    if district_id not in {d.id for d in districts}:
        district_id = None
    service = request.args.get("service") or None
    if service not in ds.SERVICES:
        service = None
    now = utcnow()
    return render_template(
        "disclosure/outages.html",
        districts=districts,
        district_id=district_id,
        service=service,
        services=ds.SERVICES,
        outages=ds.public_outages(district_id=district_id, service=service, now=now),
        now=now,
        state=ds.outage_state,
    )


# --- the provider's staff (and readers) ------------------------------------------------------


@bp.get("/manage")
@roles_required("staff", "supervisor", "admin")
def manage():
    """Staff: their own provider's catalog; supervisors and administrators: every provider."""
    if current_user.role == "staff":
        if current_user.provider is None:
            abort(403)
        return redirect(url_for("disclosure.manage_provider", code=current_user.provider.code))
    providers = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    counts = dict(
        db.session.execute(
            db.select(DisclosureItem.provider_id, db.func.count(DisclosureItem.id))
            .where(DisclosureItem.published.is_(True))
            .group_by(DisclosureItem.provider_id)
        ).all()
    )
    totals = dict(
        db.session.execute(
            db.select(DisclosureItem.provider_id, db.func.count(DisclosureItem.id)).group_by(
                DisclosureItem.provider_id
            )
        ).all()
    )
    return render_template(
        "disclosure/manage_index.html", providers=providers, counts=counts, totals=totals
    )


@bp.get("/manage/<code>")
@roles_required("staff", "supervisor", "admin")
def manage_provider(code: str):
    provider = _readable(code)
    notices = (
        db.session.execute(
            db.select(OutageNotice)
            .where(OutageNotice.provider_id == provider.id)
            .options(selectinload(OutageNotice.districts))
            .order_by(OutageNotice.starts_at.desc())
            .limit(100)
        )
        .scalars()
        .all()
    )
    return render_template(
        "disclosure/manage.html",
        provider=provider,
        groups=ds.grouped(ds.catalog_of(provider.id)),
        notices=notices,
        editable=can_edit_disclosure(current_user, provider.id),
        form=VersionForm(formdata=None),
        now=utcnow(),
        state=ds.outage_state,
    )


@bp.route("/manage/<code>/items/<int(max=2147483647):item_id>", methods=["GET", "POST"])
@roles_required("staff", "supervisor", "admin")
def edit_item(code: str, item_id: int):
    provider = _readable(code)
    item = _item(provider, item_id)
    editable = can_edit_disclosure(current_user, provider.id)
    form = ItemForm()
    if request.method == "POST":
        if not editable:
            abort(403)
        if form.validate_on_submit():
            try:
                changed = ds.edit_item(
                    item, form.title.data, form.body.data, current_user, _version(form)
                )
            except ds.Stale:
                db.session.rollback()
                flash(ds.stale_message(), "error")
                return redirect(url_for("disclosure.edit_item", code=code, item_id=item_id))
            except ds.Refused as exc:
                for name, message in exc.fields.items():
                    getattr(form, name).errors = [message]
            else:
                flash(_("Saved.") if changed else _("Nothing changed."), "success")
                return redirect(url_for("disclosure.manage_provider", code=code) + f"#i{item.id}")
    else:
        form.title.data = item.title
        form.body.data = item.body
    if not form.errors:
        form.version.data = str(item.version)
    return render_template(
        "disclosure/item_edit.html",
        provider=provider,
        item=item,
        form=form,
        hint=ds.hint_for(item.kind),
        editable=editable,
        button=VersionForm(formdata=None, version=str(item.version)),
    )


@bp.post("/manage/<code>/items/<int(max=2147483647):item_id>/<any(publish, unpublish):what>")
@roles_required("staff")
def publish_item(code: str, item_id: int, what: str):
    provider = _editable(code)
    item = _item(provider, item_id)
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        changed = ds.set_published(item, what == "publish", current_user, _version(form))
    except ds.Stale:
        db.session.rollback()
        flash(ds.stale_message(), "error")
    except ds.Refused as exc:
        flash(" ".join(exc.fields.values()), "error")
    else:
        if not changed:
            flash(_("Nothing changed."), "success")
        elif what == "publish":
            flash(_("Published: the public sees it now."), "success")
        else:
            flash(_("Unpublished: the public no longer sees it."), "success")
    return redirect(url_for("disclosure.manage_provider", code=code) + f"#i{item_id}")


@bp.get("/manage/<code>/items/<int(max=2147483647):item_id>/history")
@roles_required("staff", "supervisor", "admin")
def item_history(code: str, item_id: int):
    provider = _readable(code)
    item = _item(provider, item_id)
    return render_template(
        "disclosure/history.html",
        provider=provider,
        item=item,
        revisions=ds.revisions_of(item.id),
    )


def _outage_choices(form: OutageForm, provider: Provider) -> list[District]:
    from jointdesk.labels import SERVICE_LABELS

    form.service.choices = [(s, SERVICE_LABELS[s]) for s in ds.provider_services(provider.id)]
    districts = (
        db.session.execute(db.select(District).order_by(District.sort_order, District.id))
        .scalars()
        .all()
    )
    form.districts.choices = [(str(d.id), d.name) for d in districts]
    return districts


def _outage_input(form: OutageForm) -> tuple[ds.OutageInput, dict]:
    errors: dict[str, str] = {}
    ids = []
    for raw in form.districts.data or []:
        if raw.isdecimal() and raw.isascii() and len(raw) < 10:
            ids.append(int(raw))
        else:
            errors["districts"] = _("Choose at least one district.")
    data = ds.OutageInput(
        service=form.service.data or "",
        planned=form.planned.data != "unplanned",
        title=form.title.data,
        area=form.area.data,
        reason=form.reason.data,
        starts_at=_moment(form.starts_at.data, "starts_at", errors),
        expected_restore_at=_moment(form.expected_restore_at.data, "expected_restore_at", errors),
        restored_at=_moment(form.restored_at.data, "restored_at", errors),
        district_ids=ids,
    )
    return data, errors


@bp.route("/manage/<code>/outages/new", methods=["GET", "POST"])
@bp.route("/manage/<code>/outages/<int(max=2147483647):notice_id>", methods=["GET", "POST"])
@roles_required("staff", "supervisor", "admin")
def edit_outage(code: str, notice_id: int | None = None):
    """A new outage notice (a draft until published) or a change to one."""
    provider = _readable(code)
    notice = _notice(provider, notice_id) if notice_id is not None else None
    editable = can_edit_disclosure(current_user, provider.id)
    if notice is None and not editable:
        abort(403)
    form = OutageForm()
    districts = _outage_choices(form, provider)
    if request.method == "POST":
        if not editable:
            abort(403)
        if form.validate_on_submit():
            data, errors = _outage_input(form)
            try:
                if errors:
                    # the form's own reasons, and every reason the service finds besides
                    try:
                        ds.check_outage(provider.id, data)
                    except ds.Refused as exc:
                        errors = exc.fields | errors
                    raise ds.Refused(errors)
                notice = ds.save_outage(
                    provider, data, current_user, notice, _version(form) if notice else None
                )
            except ds.Stale:
                db.session.rollback()
                flash(ds.stale_message(), "error")
                return redirect(url_for("disclosure.edit_outage", code=code, notice_id=notice_id))
            except ds.Refused as exc:
                db.session.rollback()
                for name, message in exc.fields.items():
                    getattr(form, name).errors = [message]
            else:
                flash(_("Saved."), "success")
                return redirect(url_for("disclosure.manage_provider", code=code) + "#outages")
    elif notice is not None:
        form.service.data = notice.service_code
        form.planned.data = "planned" if notice.planned else "unplanned"
        form.title.data = notice.title
        form.districts.data = [str(d.id) for d in notice.districts]
        form.area.data = notice.area
        form.reason.data = notice.reason
        form.starts_at.data = _local_input(notice.starts_at)
        form.expected_restore_at.data = _local_input(notice.expected_restore_at)
        form.restored_at.data = _local_input(notice.restored_at)
    if notice is not None and not form.errors:
        form.version.data = str(notice.version)
    return render_template(
        "disclosure/outage_edit.html",
        provider=provider,
        notice=notice,
        form=form,
        districts=districts,
        chosen=set(form.districts.data or []),
        editable=editable,
        now=utcnow(),
        state=ds.outage_state,
    )


@bp.post(
    "/manage/<code>/outages/<int(max=2147483647):notice_id>/<any(publish, unpublish, restore):what>"
)
@roles_required("staff")
def outage_action(code: str, notice_id: int, what: str):
    provider = _editable(code)
    notice = _notice(provider, notice_id)
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if what == "restore":
            changed = ds.mark_restored(notice, current_user, _version(form))
        else:
            changed = ds.set_outage_published(
                notice, what == "publish", current_user, _version(form)
            )
    except ds.Stale:
        db.session.rollback()
        flash(ds.stale_message(), "error")
    except ds.Refused as exc:
        flash(" ".join(exc.fields.values()), "error")
    else:
        flash(_("Saved.") if changed else _("Nothing changed."), "success")
    return redirect(url_for("disclosure.manage_provider", code=code) + "#outages")
