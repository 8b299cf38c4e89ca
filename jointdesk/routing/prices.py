"""A provider's published connection prices and charging basis: checked, stored, audited.

The policy makes providers publish them (公示收费标准、收费依据; 公开公示用水用气价格、收费依据、
标准); the cost indicator prices each ticket with its provider's. Nothing is invented: a price
that is not entered stays unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from flask_babel import gettext as _

from jointdesk import audit
from jointdesk.extensions import db
from jointdesk.models import Provider, User
from jointdesk.models.types import utcnow
from jointdesk.policy.process import MAX_BASIS_CHARS, MAX_CONNECTION_FEE, MAX_PRICE_PER_METRE

PRICE_FIELDS = ("connection_fee", "price_per_metre", "price_basis")
_AMOUNT_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")  # ASCII digits, at most two decimals
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class PriceErrors(ValueError):
    """Field-by-field reasons the prices were refused."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _amount(raw: object, maximum: float) -> tuple[Decimal | None, str | None]:
    text = "" if raw is None else str(raw).strip()
    if text == "":
        return None, None
    if _AMOUNT_RE.match(text):
        value = Decimal(text)
        if value > Decimal(str(maximum)):
            return None, _("At most %(max)s yuan: check the amount.", max=f"{maximum:,.0f}")
        return value, None
    if text.startswith("-") and _AMOUNT_RE.match(text[1:]):
        return None, _("A price cannot be negative.")
    return None, _("Enter an amount in yuan with at most two decimals, like 300 or 12.50.")


def parse_prices(values: Mapping[str, object]) -> dict:
    """The three published fields from a form or a command line; PriceErrors if any is wrong.
    An empty amount means not published; a published amount needs its charging basis."""
    errors: dict[str, str] = {}
    fee, message = _amount(values.get("connection_fee"), MAX_CONNECTION_FEE)
    if message:
        errors["connection_fee"] = message
    per_metre, message = _amount(values.get("price_per_metre"), MAX_PRICE_PER_METRE)
    if message:
        errors["price_per_metre"] = message
    raw_basis = values.get("price_basis")
    basis = " ".join(("" if raw_basis is None else str(raw_basis)).split())
    if len(basis) > MAX_BASIS_CHARS:
        errors["price_basis"] = _("At most %(n)d characters.", n=MAX_BASIS_CHARS)
    elif _CONTROL_RE.search(basis):
        errors["price_basis"] = _("Contains control characters.")
    elif not basis and (fee is not None or per_metre is not None) and not errors:
        errors["price_basis"] = _(
            "Published prices need their charging basis (收费依据), e.g. the price document."
        )
    if errors:
        raise PriceErrors(errors)
    return {"connection_fee": fee, "price_per_metre": per_metre, "price_basis": basis or None}


def _shown(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def set_prices(provider: Provider, values: dict, actor: User | str) -> bool:
    """Stores parsed prices; audited with before and after. False when nothing changed."""
    before = {
        "connection_fee": _shown(provider.connection_fee),
        "price_per_metre": _shown(provider.price_per_metre),
        "price_basis": provider.price_basis,
    }
    after = {
        "connection_fee": _shown(values["connection_fee"]),
        "price_per_metre": _shown(values["price_per_metre"]),
        "price_basis": values["price_basis"],
    }
    if before == after:
        return False
    provider.connection_fee = values["connection_fee"]
    provider.price_per_metre = values["price_per_metre"]
    provider.price_basis = values["price_basis"]
    provider.prices_updated_at = utcnow()
    audit.record(
        "provider_prices_changed",
        actor=actor,
        detail={"provider": provider.code, "before": before, "after": after},
    )
    db.session.commit()
    return True
