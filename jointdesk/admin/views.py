"""Administration: providers and the routing table (service, district) → provider."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from jointdesk import audit
from jointdesk.auth import roles_required
from jointdesk.auth.views import PostForm
from jointdesk.extensions import db
from jointdesk.models import District, Provider, Route, Service
from jointdesk.routing.services import set_route

bp = Blueprint("admin", __name__, url_prefix="/admin")
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
                provider_id = int(raw) if raw.isdigit() and int(raw) in provider_ids else None
                before = db.session.execute(
                    db.select(Route.provider_id).where(
                        Route.service_code == service.code, Route.district_id == district.id
                    )
                ).scalar_one_or_none()
                if before != provider_id:
                    set_route(service.code, district.id, provider_id, current_user)
                    changed += 1
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
            db.session.commit()
            flash(_("Provider added. Route districts to it in the routing table."), "success")
            return redirect(url_for("admin.providers"))
    rows = db.session.execute(db.select(Provider).order_by(Provider.code)).scalars().all()
    return render_template("admin/providers.html", form=form, providers=rows)
