"""The texts of applicants' messages. Each template is Python ``str.format`` text with named
fields; these defaults are the shipped Chinese wording."""

from __future__ import annotations

DEFAULTS: dict[str, str] = {
    "verification_code": (
        "【郑州水电气暖联办】您的验证码为{code}，{minutes}分钟内有效。请勿泄露给他人。"
    ),
}


class UnknownTemplate(KeyError):
    pass


def template_text(name: str) -> str:
    try:
        return DEFAULTS[name]
    except KeyError as exc:
        raise UnknownTemplate(name) from exc


def render(name: str, context: dict) -> str:
    return template_text(name).format(**context)
