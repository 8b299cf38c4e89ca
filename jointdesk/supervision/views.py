"""The supervision pages (监管): dashboard of a month, disclosure compliance, performance,
evaluation weights and closing, correction orders, and every table as CSV or Excel."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from jointdesk.access import (
    SUPERVISORS,
    can_answer_order,
    can_manage_evaluation,
    can_see_order,
    can_supervise,
)
from jointdesk.auth import roles_required
from jointdesk.extensions import db
from jointdesk.labels import SERVICE_LABELS, STEP_LABELS
from jointdesk.models import Provider
from jointdesk.models.supervision import CorrectionOrder
from jointdesk.models.types import utcnow
from jointdesk.policy import supervision as policy
from jointdesk.supervision import compliance, evaluation, exports, orders, performance

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

TREND_MONTHS = 12

PROBLEM_LABELS = {
    policy.MISSING: _l("missing"),
    policy.UNPUBLISHED: _l("not published"),
    policy.STALE: _l("not updated for too long"),
}
ORDER_STATUS_LABELS = {
    orders.OPEN: _l("Waiting for the provider's answer"),
    orders.ANSWERED: _l("Answered, to review"),
    orders.CLOSED: _l("Closed"),
}
SCOPE_COMPANY = _l("Company")


def scope_label(scope: str) -> str:
    return str(SCOPE_COMPANY if scope == "company" else SERVICE_LABELS.get(scope, scope))


def failing_text(item: compliance.Failing) -> str:
    return f"{scope_label(item.scope)} · {item.title}（{PROBLEM_LABELS[item.problem]}）"


def formula_text(weights: dict) -> str:
    return _(
        "Score = %(d)s%% × disclosure score + %(o)s%% × on-time rate + %(r)s%% × satisfaction "
        "(share of ratings that are not 差评) + %(c)s%% × complaints score (100 − %(p)s per "
        "complaint in the month, at least 0); a part with nothing to judge counts 100.",
        d=weights["disclosure"],
        o=weights["on_time"],
        r=weights["ratings"],
        c=weights["complaints"],
        p=policy.COMPLAINT_PENALTY,
    )


def _month_arg() -> str:
    """The ``month`` asked for, else the current month; a bad one says so and shows the
    current month."""
    raw = request.args.get("month")
    if raw:
        try:
            policy.parse_month(raw)
            return raw
        except policy.BadMonth:
            flash(_("Not a month (YYYY-MM, e.g. 2026-11); the current month is shown."), "error")
    return performance.current_month()


def _pct(value) -> str:
    return "—" if value is None else f"{value:g}%"


# --- the tables, for the pages and the exports alike -------------------------------------------


def summary_table(month: str):
    data = evaluation.summary(month)
    headers = [
        _("Provider code"),
        _("Provider"),
        _("Tickets"),
        _("Completed"),
        _("On time"),
        _("On-time rate (%)"),
        _("Overdue now"),
        _("Disclosure score"),
        _("Complaints"),
        _("Ratings"),
        _("Bad ratings"),
        _("Satisfaction (%)"),
        _("Score"),
    ]
    rows = [[item.get(k) for k in policy.SUMMARY_FIELDS] for item in data["items"]]
    return headers, rows


def compliance_table(_month: str):
    headers = [
        _("Provider code"),
        _("Provider"),
        _("Mandatory items"),
        _("Compliant items"),
        _("Disclosure score"),
        _("Deadline to publish"),
        _("Overdue"),
        _("Failing items"),
    ]
    rows = [
        [
            c.code,
            c.name,
            c.mandatory,
            c.compliant,
            c.score,
            c.deadline.astimezone(performance.local_zone()).strftime("%Y-%m-%d %H:%M")
            if c.deadline
            else "",
            c.overdue,
            "；".join(failing_text(f) for f in c.failing),
        ]
        for c in compliance.compliance_all()
    ]
    return headers, rows


def _on_time_table(by: str):
    def build(month: str, computed: list[dict] | None = None):
        first = {
            "provider": [_("Provider code"), _("Provider")],
            "service": [_("Service")],
            "district": [_("District")],
        }[by]
        headers = [
            *first,
            _("Tickets"),
            _("Completed"),
            _("Returned"),
            _("On time"),
            _("Overdue now"),
            _("At risk now"),
            _("On-time rate (%)"),
        ]
        rows = []
        found = computed if computed is not None else performance.on_time_rows(month, by)
        for r in found:
            key = {
                "provider": [r.get("code"), r.get("name")],
                "service": [str(SERVICE_LABELS.get(r["key"], r["key"]))],
                "district": [r.get("name")],
            }[by]
            rows.append(
                [
                    *key,
                    r["tickets"],
                    r["completed"],
                    r["returned"],
                    r["on_time"],
                    r["overdue_open"],
                    r["at_risk_open"],
                    r["on_time_rate"],
                ]
            )
        return headers, rows

    return build


def trend_table(month: str):
    first, _following = policy.parse_month(month)
    headers = [
        _("Month"),
        _("Tickets"),
        _("Completed"),
        _("On time"),
        _("Overdue now"),
        _("On-time rate (%)"),
    ]
    rows = [
        [
            t["month"],
            t["tickets"],
            t["completed"],
            t["on_time"],
            t["overdue_open"],
            t["on_time_rate"],
        ]
        for t in performance.trend(policy.previous_months(first, TREND_MONTHS))
    ]
    return headers, rows


def steps_table(month: str):
    headers = [
        _("Provider code"),
        _("Provider"),
        _("Step"),
        _("Steps ended"),
        _("Average working days"),
        _("Longest (working days)"),
        _("Within the step limit"),
        _("Share within the limit (%)"),
    ]
    rows = [
        [
            r["code"],
            r["name"],
            str(STEP_LABELS.get(r["step"], r["step"])),
            r["steps"],
            r["avg_days"],
            r["max_days"],
            r["within"],
            r["within_rate"],
        ]
        for r in performance.step_rows(month)
    ]
    return headers, rows


def indicators_table(month: str):
    ind = performance.indicators(month)
    t = ind["targets"]
    headers = [_("Indicator"), _("Value"), _("Policy target")]
    rows = [
        [_("Cases"), ind["cases"], ""],
        [_("Steps (average)"), ind["steps"], _("at most %(n)s", n=t["steps"])],
        [_("Applicant trips (average)"), ind["trips"], _("at most %(n)s", n=t["trips"])],
        [_("Materials asked (average)"), ind["materials"], _("at most %(n)s", n=t["materials"])],
        [
            _("Working days per connected ticket (average)"),
            ind["working_days"],
            _(
                "at most %(a)s (%(b)s with external works)",
                a=t["working_days"],
                b=t["working_days_with_works"],
            ),
        ],
        [_("Connected within the time limits (%)"), ind["within_limit_share"], "100"],
        [_("Cost to the applicant per ticket, yuan (average of known)"), ind["avg_cost"], ""],
        [_("Tickets at no cost to the applicant (%)"), ind["zero_cost_share"], ""],
        [_("Four-zero cases (%)"), ind["four_zero_share"], ""],
    ]
    return headers, rows


def now_table(_month: str):
    data = performance.tickets_now()
    headers = [_("Light"), _("Case"), _("Service"), _("Provider"), _("Due")]
    rows = []
    for light, key in ((_("Overdue"), "overdue"), (_("At risk"), "at_risk")):
        for r in data[key]:
            rows.append(
                [
                    light,
                    r["reference"],
                    str(SERVICE_LABELS.get(r["service_code"], r["service_code"])),
                    r["provider_name"],
                    r["due_at"].astimezone(performance.local_zone()).strftime("%Y-%m-%d %H:%M")
                    if r["due_at"]
                    else "",
                ]
            )
    return headers, rows


def orders_table(_month: str):
    now = utcnow()
    headers = [
        _("Order"),
        _("Provider"),
        _("Order subject"),
        _("Deadline"),
        _("Status"),
        _("Overdue"),
        _("Issued by"),
    ]
    rows = [
        [
            o.id,
            o.provider.name,
            o.subject,
            orders.deadline_day(o).isoformat(),
            str(ORDER_STATUS_LABELS[o.status]),
            orders.is_overdue(o, now),
            o.issued_by,
        ]
        for o in orders.listing()
    ]
    return headers, rows


TABLES = {
    "summary": summary_table,
    "compliance": compliance_table,
    "on-time-provider": _on_time_table("provider"),
    "on-time-service": _on_time_table("service"),
    "on-time-district": _on_time_table("district"),
    "trend": trend_table,
    "steps": steps_table,
    "indicators": indicators_table,
    "tickets-now": now_table,
    "orders": orders_table,
}


@bp.get("/export/<table>.<fmt>")
@roles_required(*SUPERVISORS)
def export(table: str, fmt: str):
    if table not in TABLES or fmt not in exports.FORMATS:
        abort(404)
    month = request.args.get("month") or performance.current_month()
    try:
        policy.parse_month(month)
    except policy.BadMonth:
        abort(400)
    headers, rows = TABLES[table](month)
    return exports.download(fmt, f"jointdesk-{table}-{month}", headers, rows)


# --- pages ----------------------------------------------------------------------------------


class WeightsForm(FlaskForm):
    disclosure = IntegerField(_l("Disclosure compliance"), validators=[Optional()])
    on_time = IntegerField(_l("On-time rate"), validators=[Optional()])
    ratings = IntegerField(_l("Satisfaction (ratings)"), validators=[Optional()])
    complaints = IntegerField(_l("Complaints"), validators=[Optional()])


class CloseForm(FlaskForm):
    month = HiddenField()


@bp.get("/")
@roles_required(*SUPERVISORS)
def dashboard():
    month = _month_arg()
    data = evaluation.summary(month)
    first, _following = policy.parse_month(month)
    known = {} if data["closed"] else {month: data["items"]}  # this month: figures in hand
    trend = performance.trend(policy.previous_months(first, TREND_MONTHS), known=known)
    return render_template(
        "supervision/dashboard.html",
        month=month,
        data=data,
        formula=formula_text(data["weights"]),
        trend=trend,
        overdue_orders=orders.overdue_count(),
        close_form=CloseForm(month=month),
        can_manage=can_manage_evaluation(current_user),
        pct=_pct,
    )


@bp.post("/close")
@roles_required("admin")
def close_month():
    form = CloseForm()
    if not form.validate_on_submit():
        abort(400)
    month = form.month.data or ""
    try:
        evaluation.close_month(month, current_user)
        flash(_("Month %(month)s is closed; its scores no longer change.", month=month), "success")
    except policy.BadMonth:
        flash(_("Not a month (YYYY-MM, e.g. 2026-11); the current month is shown."), "error")
        return redirect(url_for("supervision.dashboard"))
    except evaluation.CloseRefused as exc:
        if exc.reason == "already_closed":
            flash(_("Month %(month)s was already closed.", month=month), "error")
        else:
            flash(_("Month %(month)s is not over yet.", month=month), "error")
    return redirect(url_for("supervision.dashboard", month=month))


WEIGHT_MESSAGES = {
    "integer": _l("A whole number from 0 to 100."),
    "sum": _l("The four weights must add up to 100."),
}


@bp.route("/weights", methods=["GET", "POST"])
@roles_required(*SUPERVISORS)
def weights():
    form = WeightsForm()
    total_error = None
    if request.method == "POST":
        if not can_manage_evaluation(current_user):
            abort(403)
        if form.validate_on_submit():
            values = {p: getattr(form, p).data for p in policy.WEIGHT_PARTS}
            try:
                changed = evaluation.set_weights(values, current_user)
                flash(_("Saved.") if changed else _("Nothing changed."), "success")
                return redirect(url_for("supervision.weights"))
            except evaluation.WeightsInvalid as exc:
                for part, code in exc.problems.items():
                    if part == "total":
                        total_error = WEIGHT_MESSAGES[code]
                    else:
                        getattr(form, part).errors = [WEIGHT_MESSAGES[code]]
        else:
            for part in policy.WEIGHT_PARTS:
                if getattr(form, part).errors:
                    getattr(form, part).errors = [WEIGHT_MESSAGES["integer"]]
    elif request.method == "GET":
        for part, value in evaluation.current_weights().items():
            getattr(form, part).data = value
    current = evaluation.current_weights()
    return render_template(
        "supervision/weights.html",
        form=form,
        total_error=total_error,
        history=evaluation.weights_history(),
        formula=formula_text(current),
        can_manage=can_manage_evaluation(current_user),
        closed=evaluation.closed_months(),
    )


@bp.get("/compliance")
@roles_required(*SUPERVISORS)
def compliance_page():
    return render_template(
        "supervision/compliance.html",
        rows=compliance.compliance_all(),
        stale_days=compliance.stale_days(),
        failing_text=failing_text,
        problem_labels=PROBLEM_LABELS,
        scope_label=scope_label,
    )


@bp.get("/performance")
@roles_required(*SUPERVISORS)
def performance_page():
    month = _month_arg()
    on_time = performance.on_time_tables(month)  # the three in one pass
    tables = {f"on-time-{by}": TABLES[f"on-time-{by}"](month, on_time[by]) for by in on_time}
    tables |= {name: TABLES[name](month) for name in ("steps", "indicators")}
    # on the page the provider's name is enough; the export keeps its code for machines
    for name in ("on-time-provider", "steps"):
        headers, rows = tables[name]
        tables[name] = (headers[1:], [row[1:] for row in rows])
    return render_template(
        "supervision/performance.html",
        month=month,
        tables=tables,
        now=performance.tickets_now(),
    )


# --- correction orders ----------------------------------------------------------------------

ORDER_MESSAGES = {
    "required": _l("Required."),
    "too_long": _l("Too long."),
    "past": _l("The deadline cannot be in the past."),
    "unknown": _l("Choose a provider."),
}


class OrderForm(FlaskForm):
    provider = SelectField(_l("Provider"), coerce=int, validate_choice=False)
    subject = StringField(_l("Order subject"))
    detail = TextAreaField(_l("What must be corrected"))
    deadline = DateField(_l("Deadline"), validators=[Optional()])


class AnswerForm(FlaskForm):
    version = HiddenField()
    answer = TextAreaField(_l("Answer: what was corrected"))


class ReviewForm(FlaskForm):
    version = HiddenField()
    note = TextAreaField(_l("Note (required to send back)"))


def _int(value) -> int | None:
    """A row id from a query string; None for anything that cannot be one (a database
    integer: 1 to 2147483647)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= 2_147_483_647 else None


@bp.get("/orders")
@roles_required(*SUPERVISORS, "staff")
def order_list():
    if can_supervise(current_user):
        rows = orders.listing(status=request.args.get("status"))
    elif current_user.provider_id is not None:
        rows = orders.listing(current_user.provider_id, request.args.get("status"))
    else:
        rows = []
    now = utcnow()
    return render_template(
        "supervision/orders.html",
        rows=[(o, orders.is_overdue(o, now), orders.deadline_day(o)) for o in rows],
        status_labels=ORDER_STATUS_LABELS,
        can_issue=can_supervise(current_user),
    )


@bp.route("/orders/new", methods=["GET", "POST"])
@roles_required(*SUPERVISORS)
def order_new():
    form = OrderForm()
    providers = (
        db.session.execute(
            db.select(Provider).where(Provider.active.is_(True)).order_by(Provider.code)
        )
        .scalars()
        .all()
    )
    form.provider.choices = [(0, _("Choose…"))] + [(p.id, p.name) for p in providers]
    if request.method == "GET":
        pid = _int(request.args.get("provider"))
        if pid:
            form.provider.data = pid
            found = compliance.compliance_of(pid)
            if found is not None and found.failing:
                form.subject.data = _("Disclosure catalog incomplete")
                form.detail.data = "\n".join(failing_text(f) for f in found.failing)
    elif form.validate_on_submit():
        try:
            order = orders.issue(
                form.provider.data or 0,
                form.subject.data,
                form.detail.data,
                form.deadline.data,
                current_user,
            )
            flash(_("Correction order issued."), "success")
            return redirect(url_for("supervision.order_view", order_id=order.id))
        except orders.OrderRefused as exc:
            db.session.rollback()
            for name, code in exc.fields.items():
                getattr(form, name).errors = [ORDER_MESSAGES[code]]
    else:  # what WTForms itself refused (a provider that is no number, a date that is none)
        if form.provider.errors:
            form.provider.errors = [ORDER_MESSAGES["unknown"]]
        if form.deadline.errors:
            form.deadline.errors = [_("Not a date.")]
    return render_template("supervision/order_new.html", form=form)


STALE_MESSAGE = _l("Someone changed this order meanwhile; here it is as it stands now.")
STATE_MESSAGE = _l("This order is no longer in a state that allows this.")


@bp.route("/orders/<int(max=2147483647):order_id>", methods=["GET", "POST"])
@roles_required(*SUPERVISORS, "staff")
def order_view(order_id: int):
    order = db.session.get(CorrectionOrder, order_id)
    if order is None or not can_see_order(current_user, order):
        abort(404)
    answer_form = AnswerForm(prefix="a")
    review_form = ReviewForm(prefix="r")
    if request.method == "POST":
        what = request.form.get("what")
        try:
            if what == "answer":
                if not can_answer_order(current_user, order):
                    abort(403)
                if answer_form.validate_on_submit():
                    orders.answer(
                        order.id,
                        _int(answer_form.version.data),
                        answer_form.answer.data,
                        current_user,
                    )
                    flash(_("Answer sent."), "success")
                    return redirect(url_for("supervision.order_view", order_id=order.id))
            elif what in ("close", "send_back"):
                if not can_supervise(current_user):
                    abort(403)
                if review_form.validate_on_submit():
                    orders.review(
                        order.id,
                        _int(review_form.version.data),
                        what == "close",
                        review_form.note.data,
                        current_user,
                    )
                    flash(_("Saved."), "success")
                    return redirect(url_for("supervision.order_view", order_id=order.id))
            else:
                abort(400)
        except orders.OrderRefused as exc:
            db.session.rollback()
            if exc.code == "stale":
                flash(str(STALE_MESSAGE), "error")
                return redirect(url_for("supervision.order_view", order_id=order.id))
            if exc.code == "state":
                flash(str(STATE_MESSAGE), "error")
                return redirect(url_for("supervision.order_view", order_id=order.id))
            target = answer_form.answer if what == "answer" else review_form.note
            target.errors = [ORDER_MESSAGES[c] for c in exc.fields.values()]
        order = db.session.get(CorrectionOrder, order_id)
    answer_form.version.data = order.version
    review_form.version.data = order.version
    return render_template(
        "supervision/order.html",
        order=order,
        overdue=orders.is_overdue(order),
        deadline=orders.deadline_day(order),
        status_labels=ORDER_STATUS_LABELS,
        answer_form=answer_form if can_answer_order(current_user, order) else None,
        review_form=review_form if can_supervise(current_user) else None,
    )
