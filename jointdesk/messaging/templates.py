"""The texts of applicants' messages. Each template is text with named fields in braces
(``{reference}``); ``DEFAULTS`` is the shipped Chinese wording, and an administrator may store
their own wording of any template (``MessageTemplate``), which ``render`` then uses.

Each template declares the fields it may use (``SPECS``); an edit naming any other field, with
braces that do not pair, empty or longer than ``MAX_BODY`` characters is refused field by field
(``TemplateErrors``). Rendering substitutes plain names only (no attribute access, no format
specifications), so even a stored text that bypassed the checks cannot reach into the values.
Every change is an audit event with the text before and after.
"""

from __future__ import annotations

import contextlib
import logging
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

from flask import has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import MessageTemplate, User
from jointdesk.models.types import utcnow

log = logging.getLogger(__name__)

SIGNATURE = "【郑州水电气暖联办】"
MAX_BODY = 300  # characters of template text; a gateway splits longer texts into several SMS

DEFAULTS: dict[str, str] = {
    "verification_code": (
        "【郑州水电气暖联办】您的验证码为{code}，{minutes}分钟内有效。请勿泄露给他人。"
    ),
    # the window hands the applicant a paper receipt with the query code
    "case_accepted": (
        "【郑州水电气暖联办】您的{services}报装申请已受理，受理编号{reference}。"
        "请凭受理回执上的查询码在{status_url}查询办理进度。"
    ),
    # pushed by the approval system (or, later, online and the app): no paper receipt
    "case_accepted_no_receipt": (
        "【郑州水电气暖联办】您的{services}报装申请已受理，受理编号{reference}。"
        "可在{status_url}凭查询码查询办理进度；查询码请在提交申请的系统中查看，"
        "或到水电气暖联办窗口补发。"
    ),
    "service_connected": (
        "【郑州水电气暖联办】您的申请（编号{reference}）中的{service}已由{provider}验收接通。"
    ),
    "service_returned": (
        "【郑州水电气暖联办】很抱歉，您的申请（编号{reference}）中的{service}已被{provider}退回，"
        "原因：{reason}。如有疑问，请咨询水电气暖联办窗口。"
    ),
    "service_waiting": (
        "【郑州水电气暖联办】您的申请（编号{reference}）中的{service}需要您配合：{reason}。"
        "办理计时已暂停，请尽快与{provider}联系，处理后继续办理。"
    ),
    "case_completed": (
        "【郑州水电气暖联办】您的申请（编号{reference}）已办结，{services}已验收接通。"
        "感谢您的支持！"
    ),
}


@dataclass(frozen=True)
class TemplateSpec:
    """What a template is for, the fields it may use and the values its preview shows."""

    label: object
    fields: tuple[str, ...]
    sample: dict


_SAMPLE_URL = "https://jointdesk.example.cn/status?reference=ZZ20261126K7QM2A"
SPECS: dict[str, TemplateSpec] = {
    "verification_code": TemplateSpec(
        _l("Verification code"), ("code", "minutes"), {"code": "246810", "minutes": 5}
    ),
    "case_accepted": TemplateSpec(
        _l("Application accepted (at the window, with a paper receipt)"),
        ("reference", "services", "status_url"),
        {"reference": "ZZ20261126K7QM2A", "services": "供水、供电", "status_url": _SAMPLE_URL},
    ),
    "case_accepted_no_receipt": TemplateSpec(
        _l("Application accepted (pushed by the approval system, no receipt)"),
        ("reference", "services", "status_url"),
        {"reference": "ZZ20261126K7QM2A", "services": "供水、供气", "status_url": _SAMPLE_URL},
    ),
    "service_connected": TemplateSpec(
        _l("A service connected"),
        ("reference", "service", "provider"),
        {
            "reference": "ZZ20261126K7QM2A",
            "service": "供水",
            "provider": "郑州自来水投资控股有限公司",
        },
    ),
    "service_returned": TemplateSpec(
        _l("A service returned"),
        ("reference", "service", "provider", "reason"),
        {
            "reference": "ZZ20261126K7QM2A",
            "service": "供气",
            "provider": "郑州华润燃气股份有限公司",
            "reason": "该地址不在燃气管网覆盖范围内",
        },
    ),
    "service_waiting": TemplateSpec(
        _l("A service waits for the applicant (suspended)"),
        ("reference", "service", "provider", "reason"),
        {
            "reference": "ZZ20261126K7QM2A",
            "service": "供暖",
            "provider": "郑州热力集团有限公司",
            "reason": "请补充房屋产权证明",
        },
    ),
    "case_completed": TemplateSpec(
        _l("Application completed"),
        ("reference", "services"),
        {"reference": "ZZ20261126K7QM2A", "services": "供水、供电、供气、供暖"},
    ),
}
assert SPECS.keys() == DEFAULTS.keys()  # noqa: S101  (a template without a spec is a bug)

# the words each field stands for, shown to administrators beside the text
FIELD_LABELS = {
    "code": _l("the verification code"),
    "minutes": _l("minutes the code is valid"),
    "reference": _l("the case reference"),
    "services": _l("the services, e.g. 供水、供电"),
    "service": _l("one service, e.g. 供水"),
    "provider": _l("the provider's name"),
    "reason": _l("the reason given by the provider"),
    "status_url": _l("the public status address"),
}

_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # newlines are allowed, tabs are not
_PRELOADED = "jointdesk.message_template_preloaded"


class UnknownTemplate(KeyError):
    pass


class TemplateErrors(ValueError):
    """Field-by-field reasons an administrator's text was refused."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _spec(name: str) -> TemplateSpec:
    try:
        return SPECS[name]
    except KeyError as exc:
        raise UnknownTemplate(name) from exc


def _parse(text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """``string.Formatter().parse``: literal text and fields; ValueError on lone braces."""
    return list(string.Formatter().parse(text))


def _substitute(text: str, context: dict) -> str:
    """Plain named fields only: ``{name}`` → ``context[name]``; ``{{``/``}}`` are braces."""
    out: list[str] = []
    for literal, field, spec, conversion in _parse(text):
        out.append(literal)
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise KeyError(field)
        out.append(str(context[field]))
    return "".join(out)


def override_body(name: str):
    """The administrator's text of ``name`` as a scalar subquery (NULL if none), so a caller
    that reads other rows anyway gets it in the same statement (see ``preloaded``)."""
    return db.select(MessageTemplate.body).where(MessageTemplate.name == name).scalar_subquery()


@contextlib.contextmanager
def preloaded(name: str, body: str | None) -> Iterator[None]:
    """Within the block, ``render(name, ...)`` uses ``body`` (None: no override, the default)
    as read by the caller in its own statement, instead of reading it again."""
    store = db.session.info.setdefault(_PRELOADED, {})
    store[name] = body
    try:
        yield
    finally:
        store.pop(name, None)


def _stored(name: str) -> str | None:
    if not has_app_context():
        return None
    store = db.session.info.get(_PRELOADED) or {}
    if name in store:
        return store[name]
    return db.session.execute(
        db.select(MessageTemplate.body).where(MessageTemplate.name == name)
    ).scalar()


def template_text(name: str) -> str:
    """The text ``name`` is sent in now: the administrator's, else the shipped default."""
    _spec(name)
    return _stored(name) or DEFAULTS[name]


def render(name: str, context: dict) -> str:
    """The message ``name`` with ``context``'s values; a stored text that no longer renders
    (it names a field the code stopped giving) falls back to the default, with a log line."""
    _spec(name)
    stored = _stored(name)
    if stored:
        try:
            return _substitute(stored, context)
        except (KeyError, ValueError):
            log.error("message template %s as edited does not render; the default is used", name)
    return _substitute(DEFAULTS[name], context)


def check_body(name: str, body: str | None) -> tuple[str, dict[str, str]]:
    """An administrator's text, normalised (line ends, outer spaces), and the reasons it is
    refused, keyed by form field (empty when it is fine)."""
    spec = _spec(name)
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return text, {"body": _("Write the text of the message.")}
    if len(text) > MAX_BODY:
        return text, {
            "body": _(
                "At most %(max)d characters (this text has %(n)d).", max=MAX_BODY, n=len(text)
            )
        }
    if _CONTROL_RE.search(text):
        return text, {"body": _("The text contains control characters; type it again.")}
    try:
        parts = _parse(text)
    except ValueError:
        return text, {
            "body": _(
                "Braces must come in pairs around a field name, like {reference}; "
                "write {{ and }} for a brace itself."
            )
        }
    unknown: list[str] = []
    for _literal, field, spec_text, conversion in parts:
        if field is None:
            continue
        if spec_text or conversion or field not in spec.fields:
            shown = "{" + field + ("!" + conversion if conversion else "")
            shown += (":" + spec_text if spec_text else "") + "}"
            if shown not in unknown:
                unknown.append(shown)
    if unknown:
        return text, {
            "body": _(
                "Unknown field(s) %(unknown)s; this message may use: %(allowed)s.",
                unknown="、".join(unknown),
                allowed="、".join("{" + f + "}" for f in spec.fields),
            )
        }
    return text, {}


def preview(name: str, body: str | None = None) -> str:
    """The message as an applicant would read it, with the template's sample values; ``body``:
    an unsaved text (checked first, TemplateErrors if refused), else the text in force."""
    spec = _spec(name)
    if body is None:
        return render(name, spec.sample)
    text, errors = check_body(name, body)
    if errors:
        raise TemplateErrors(errors)
    return _substitute(text, spec.sample)


def save_override(name: str, body: str | None, actor: User | str) -> bool:
    """Stores the administrator's text (checked; TemplateErrors if refused) and commits, with
    an audit event naming the text before and after. False when nothing changed. A text equal
    to the default is stored as no override at all."""
    text, errors = check_body(name, body)
    if errors:
        raise TemplateErrors(errors)
    row = db.session.get(MessageTemplate, name)
    before = row.body if row is not None else DEFAULTS[name]
    if text == before:
        return False
    if text == DEFAULTS[name]:
        return reset_override(name, actor)
    if row is None:
        row = MessageTemplate(name=name)
        db.session.add(row)
    row.body = text
    row.updated_by = audit.actor_label(actor)
    row.updated_at = utcnow()
    audit.record(
        "message_template_changed",
        actor=actor,
        detail={"template": name, "before": before, "after": text},
    )
    db.session.commit()
    return True


def reset_override(name: str, actor: User | str) -> bool:
    """Back to the shipped wording; audited; commits. False when there was no override."""
    _spec(name)
    row = db.session.get(MessageTemplate, name)
    if row is None:
        return False
    audit.record(
        "message_template_reset",
        actor=actor,
        detail={"template": name, "before": row.body, "after": DEFAULTS[name]},
    )
    db.session.delete(row)
    db.session.commit()
    return True


@dataclass
class TemplateRow:
    name: str
    label: object
    fields: tuple[str, ...]
    text: str
    overridden: bool
    updated_by: str | None
    updated_at: object


def listing() -> list[TemplateRow]:
    """Every template with the text in force, in one read."""
    rows = {r.name: r for r in db.session.execute(db.select(MessageTemplate)).scalars()}
    return [
        TemplateRow(
            name,
            spec.label,
            spec.fields,
            rows[name].body if name in rows else DEFAULTS[name],
            name in rows,
            rows[name].updated_by if name in rows else None,
            rows[name].updated_at if name in rows else None,
        )
        for name, spec in SPECS.items()
    ]
