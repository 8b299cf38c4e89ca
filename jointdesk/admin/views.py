"""Administration: providers and the routing table (service, district) → provider."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from jointdesk import audit
from jointdesk.auth import roles_required
from jointdesk.auth.views import PostForm
from jointdesk.extensions import db
from jointdesk.models import District, Provider, Route, Service
from jointdesk.routing.services import set_route

bp = Blueprint("admin", __name__, url_prefix="/admin")


class OverrideForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired()])
    working = SelectField(
        _l("This date is"),
        choices=[("off", _l("a day off")), ("working", _l("a working day"))],
    )
    note = StringField(_l("Note (e.g. Spring Festival)"), validators=[Optional(), Length(max=200)])


class OfficeHoursForm(FlaskForm):
    hours = StringField(_l("Office hours"), validators=[DataRequired(), Length(max=100)])


@bp.route("/")
@roles_required("admin")
def dashboard():
    """What needs an administrator: years without an official calendar, open, at-risk and
    overdue tickets per provider, deliveries that are stuck and workers or a scheduler that are
    not running, each with a link to act."""
    from jointdesk.health import background_state
    from jointdesk.models import Ticket
    from jointdesk.models.types import utcnow
    from jointdesk.policy.process import OPEN
    from jointdesk.workingtime import uncovered_years

    tz = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    today = utcnow().astimezone(tz).date()
    provisional = db.session.execute(
        db.select(db.func.count(Ticket.id)).where(
            Ticket.due_provisional.is_(True), Ticket.status.in_(OPEN)
        )
    ).scalar_one()
    from jointdesk.supervision.performance import open_work_by_provider

    return render_template(
        "admin/dashboard.html",
        uncovered=uncovered_years(today),
        provisional=provisional,
        background=background_state(),
        work=open_work_by_provider(),
    )


RESTATING = _l(
    "Saved. Due times and working times are being recomputed in the background; on a large "
    "database this takes a few minutes."
)


@bp.route("/calendar", methods=["GET", "POST"])
@roles_required("admin")
def calendar():
    """The year's calendar: official days, overrides to add or remove, office hours."""
    from jointdesk.policy.clock import library_knows
    from jointdesk.workingtime import (
        confirm_year,
        confirmed_years,
        office_hours_text,
        remove_override,
        set_office_hours,
        set_override,
        year_listing,
    )

    tz = ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"])
    year = request.args.get("year", type=int) or utcnow_local_year(tz)
    year = min(max(year, 2000), 2100)
    override_form = OverrideForm(prefix="o")
    hours_form = OfficeHoursForm(prefix="h")
    post = PostForm()
    if request.method == "POST":
        what = request.form.get("what")
        if what == "override" and override_form.validate_on_submit():
            day = override_form.day.data
            set_override(
                day,
                override_form.working.data == "working",
                override_form.note.data or "",
                current_user,
                background=True,
            )
            flash(str(RESTATING), "success")
            return redirect(url_for("admin.calendar", year=day.year))
        if what == "remove" and post.validate_on_submit():
            try:
                day = date.fromisoformat(request.form.get("day", ""))
            except ValueError:
                flash(_("Not a date."), "error")
            else:
                remove_override(day, current_user, background=True)
                flash(str(RESTATING), "success")
            return redirect(url_for("admin.calendar", year=year))
        if what in ("confirm", "unconfirm") and post.validate_on_submit():
            confirm_year(year, current_user, confirmed=what == "confirm", background=True)
            flash(str(RESTATING), "success")
            return redirect(url_for("admin.calendar", year=year))
        if what == "hours" and hours_form.validate_on_submit():
            try:
                set_office_hours(hours_form.hours.data, current_user, background=True)
            except ValueError:
                hours_form.hours.errors = [
                    _("Write them like 09:00-12:00,13:00-17:00, ascending, without overlap.")
                ]
            else:
                flash(str(RESTATING), "success")
                return redirect(url_for("admin.calendar", year=year))
    if not hours_form.hours.data:
        hours_form.hours.data = office_hours_text()
    known = library_knows(date(year, 1, 1))
    return render_template(
        "admin/calendar.html",
        year=year,
        rows=year_listing(year),
        known=known,
        confirmed=year in confirmed_years(),
        override_form=override_form,
        hours_form=hours_form,
        form=post,
    )


def utcnow_local_year(tz) -> int:
    from jointdesk.models.types import utcnow

    return utcnow().astimezone(tz).year


CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class ProviderForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Regexp(CODE_RE, message=_l("Lower-case letters, digits and hyphens, 2 to 40.")),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    phone = StringField(_l("Service phone"), validators=[Optional(), Length(max=40)])


@bp.route("/routing", methods=["GET", "POST"])
@roles_required("admin")
def routing():
    """The routing table as a grid: one provider per service and district."""
    form = PostForm()
    services = db.session.execute(db.select(Service).order_by(Service.sort_order)).scalars().all()
    districts = (
        db.session.execute(db.select(District).order_by(District.sort_order, District.id))
        .scalars()
        .all()
    )
    providers = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    provider_ids = {p.id for p in providers}
    if form.validate_on_submit():
        changed = 0
        for district in districts:
            for service in services:
                raw = request.form.get(f"route-{service.code}-{district.id}")
                if raw is None:
                    continue
                provider_id = int(raw) if raw.isdecimal() and raw.isascii() else None
                if provider_id not in provider_ids:
                    provider_id = None
                before = db.session.execute(
                    db.select(Route.provider_id).where(
                        Route.service_code == service.code, Route.district_id == district.id
                    )
                ).scalar_one_or_none()
                if before != provider_id:
                    set_route(service.code, district.id, provider_id, current_user)
                    changed += 1
        if changed:  # a provider that gained a service gets that service's empty catalog
            from jointdesk.disclosure.services import ensure_catalog

            db.session.flush()
            ensure_catalog()
        db.session.commit()
        flash(_("Routing saved: %(n)d change(s).", n=changed), "success")
        return redirect(url_for("admin.routing"))
    table = {
        (r.service_code, r.district_id): r.provider_id
        for r in db.session.execute(db.select(Route)).scalars()
    }
    return render_template(
        "admin/routing.html",
        form=form,
        services=services,
        districts=districts,
        providers=providers,
        table=table,
    )


@bp.route("/providers", methods=["GET", "POST"])
@roles_required("admin")
def providers():
    """Providers and a form to add one; its queue is served without a restart."""
    form = ProviderForm()
    if form.validate_on_submit():
        code = form.code.data.strip()
        if db.session.execute(db.select(Provider).where(Provider.code == code)).first():
            form.code.errors = [_("This code is taken.")]
        else:
            provider = Provider(
                code=code, name=form.name.data.strip(), phone=form.phone.data or None
            )
            db.session.add(provider)
            db.session.flush()
            audit.record(
                "provider_created", actor=current_user, detail={"code": code, "name": provider.name}
            )
            from jointdesk.disclosure.services import ensure_catalog

            ensure_catalog([provider.id])  # its company-level disclosure items, empty
            db.session.commit()
            flash(_("Provider added. Route districts to it in the routing table."), "success")
            return redirect(url_for("admin.providers"))
    rows = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    return render_template("admin/providers.html", form=form, providers=rows)


class ChannelForm(FlaskForm):
    """Checked by routing.channels.set_channel, which gives the field-by-field reasons."""

    channel = SelectField(
        _l("Ticket channel"),
        choices=[
            ("desk", _l("JointDesk desk (staff work tickets here)")),
            ("webhook", _l("The provider's own system (signed HTTP POST)")),
        ],
        validate_choice=False,
    )
    url = StringField(_l("Address of the provider's system (URL)"))
    secret = PasswordField(_l("New shared secret (leave empty to keep the one set)"))


@bp.route("/providers/<int(max=2147483647):provider_id>/channel", methods=["GET", "POST"])
@roles_required("admin")
def provider_channel(provider_id: int):
    """Where a provider's tickets go: the desk, or its own system at a URL with a secret
    (write-only: only whether one is set is ever shown)."""
    from jointdesk.routing.channels import ChannelErrors, set_channel

    provider = db.session.get(Provider, provider_id)
    if provider is None:
        abort(404)
    form = ChannelForm()
    if form.validate_on_submit():
        try:
            changed = set_channel(
                provider,
                form.channel.data,
                current_user,
                url=form.url.data,
                secret=form.secret.data,
            )
        except ChannelErrors as exc:
            for name, message in exc.fields.items():
                getattr(form, name).errors = [message]
        else:
            flash(_("Channel saved.") if changed else _("Nothing changed."), "success")
            return redirect(url_for("admin.providers"))
    elif request.method == "GET":
        form.channel.data = provider.channel
        form.url.data = provider.webhook_url or ""
    return render_template("admin/provider_channel.html", form=form, provider=provider)


@bp.route("/deliveries")
@roles_required("supervisor", "admin")
def deliveries():
    """Dead letters: signed HTTP deliveries that failed every attempt, to be queued again."""
    from jointdesk.access import can_redrive_deliveries
    from jointdesk.integrations.delivery import dead_letters

    if not can_redrive_deliveries(current_user):
        abort(403)
    return render_template("admin/deliveries.html", rows=dead_letters(), form=PostForm())


@bp.post("/deliveries/<int(max=2147483647):delivery_id>/redrive")
@roles_required("supervisor", "admin")
def delivery_redrive(delivery_id: int):
    """Queues a dead delivery again with the same body and idempotency key; audited."""
    from jointdesk.access import can_redrive_deliveries
    from jointdesk.integrations.delivery import NotDead, redrive

    if not can_redrive_deliveries(current_user):
        abort(403)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        redrive(delivery_id, current_user)
    except NotDead:
        flash(_("This delivery is not in the dead letters (any more)."), "error")
    else:
        flash(_("Delivery %(id)d is queued again.", id=delivery_id), "success")
    return redirect(url_for("admin.deliveries"))


class PricesForm(FlaskForm):
    """Checked by routing.prices.parse_prices, which gives the field-by-field reasons."""

    connection_fee = StringField(_l("Connection fee (yuan per connection)"))
    price_per_metre = StringField(_l("Works outside the building boundary (yuan per metre)"))
    price_basis = StringField(_l("Charging basis (收费依据)"))


@bp.route("/providers/<int(max=2147483647):provider_id>/prices", methods=["GET", "POST"])
@roles_required("admin", "staff")
def provider_prices(provider_id: int):
    """A provider's published connection prices and charging basis: administrators, and the
    provider's own staff, who publish them."""
    from jointdesk.access import can_edit_prices
    from jointdesk.routing.prices import PRICE_FIELDS, PriceErrors, parse_prices, set_prices

    provider = db.session.get(Provider, provider_id)
    if provider is None:
        abort(404)
    if not can_edit_prices(current_user, provider):
        abort(403)
    form = PricesForm()
    if form.validate_on_submit():
        try:
            values = parse_prices({f: request.form.get(f) for f in PRICE_FIELDS})
        except PriceErrors as exc:
            for name, message in exc.fields.items():
                getattr(form, name).errors = [message]
        else:
            changed = set_prices(provider, values, current_user)
            flash(_("Prices saved.") if changed else _("Nothing changed."), "success")
            return redirect(url_for("admin.provider_prices", provider_id=provider.id))
    elif request.method == "GET":
        form.connection_fee.data = _plain(provider.connection_fee)
        form.price_per_metre.data = _plain(provider.price_per_metre)
        form.price_basis.data = provider.price_basis or ""
    return render_template("admin/provider_prices.html", form=form, provider=provider)


def _plain(value) -> str:
    return "" if value is None else f"{value:.2f}"


# --- users: sign-in locks, sessions, deactivation ---------------------------------------------

USER_ACTIONS = ("revoke-sessions", "unlock", "deactivate", "activate")


@bp.route("/users")
@roles_required("admin")
def users():
    """Every account with its sign-in lock and open sessions, and buttons to act on them."""
    from jointdesk.auth import active_session_counts
    from jointdesk.models import LoginThrottle, User
    from jointdesk.models.types import utcnow

    rows = db.session.execute(db.select(User).order_by(User.role, User.username)).scalars().all()
    locks = dict(
        db.session.execute(
            db.select(LoginThrottle.username, LoginThrottle.locked_until).where(
                LoginThrottle.locked_until > utcnow()
            )
        ).all()
    )
    return render_template(
        "admin/users.html", users=rows, locks=locks, sessions=active_session_counts()
    )


class ContactForm(FlaskForm):
    display_name = StringField(_l("Name shown to others"), validators=[Length(max=64)])
    phone = StringField(
        _l("Work phone"),
        validators=[Optional(), Length(max=40)],
        description=_l(
            "Shown to applicants as their customer representative's number; "
            "empty: the provider's service phone."
        ),
    )


@bp.route("/users/<int(max=2147483647):user_id>/contact", methods=["GET", "POST"])
@roles_required("admin")
def user_contact(user_id: int):
    """A person's name as others see it and their work phone (a customer representative's
    number for applicants); audited."""
    from jointdesk.models import User
    from jointdesk.policy.identity import clean_work_phone

    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = ContactForm(obj=user if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            phone = clean_work_phone(form.phone.data)
        except ValueError:
            form.phone.errors = [_("Enter a phone number: digits, with spaces or dashes.")]
        else:
            before = {"display_name": user.display_name, "phone": user.phone}
            user.display_name = (form.display_name.data or "").strip()
            user.phone = phone
            after = {"display_name": user.display_name, "phone": user.phone}
            if after != before:
                audit.record(
                    "user_contact_changed",
                    actor=current_user,
                    detail={"username": user.username, "before": before, "after": after},
                )
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_contact.html", form=form, user=user), (
        422 if form.errors else 200
    )


@bp.post("/users/<int(max=2147483647):user_id>/<action>")
@roles_required("admin")
def user_action(user_id: int, action: str):
    """Sign a user out everywhere, lift a sign-in lock, or (de)activate an account."""
    from jointdesk.auth import revoke_sessions, set_active, unlock_login
    from jointdesk.models import User

    user = db.session.get(User, user_id)
    if user is None or action not in USER_ACTIONS:
        abort(404)
    if not PostForm().validate_on_submit():
        abort(400)
    if action == "revoke-sessions":
        n = revoke_sessions(user, current_user, "administrator")
        db.session.commit()
        flash(
            _("%(user)s is signed out everywhere (%(n)d session(s)).", user=user.username, n=n),
            "success",
        )
    elif action == "unlock":
        unlock_login(user.username, current_user)
        flash(_("%(user)s may sign in again.", user=user.username), "success")
    elif user.id == current_user.id:
        flash(_("You cannot deactivate your own account."), "error")
    else:
        set_active(user, action == "activate", current_user)
        db.session.commit()
        flash(_("Saved."), "success")
    return redirect(url_for("admin.users"))
