"""Identity numbers and phone numbers: checksums and masking.

- Resident identity number: GB 11643-1999, 17 digits and an ISO 7064 MOD 11-2 check character.
- Unified social credit code: GB 32100-2015, 18 characters with a MOD 31 check character.
- Mainland mobile number: 11 digits starting with 1[3-9].

Input is normalised first (Unicode NFKC: full-width ``４１０１`` becomes ``4101``), then only
ASCII digits count: a regex ``\\d`` would also take Arabic-Indic and other Unicode digits, which
``int()`` reads, so a number written with them would pass its checksum and be stored as sent.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def normalize_id(value: str) -> str:
    """NFKC (full-width digits and letters become ASCII), trimmed, upper case."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def normalize_phone(value: str) -> str:
    """NFKC (full-width digits become ASCII), trimmed."""
    return unicodedata.normalize("NFKC", value).strip()


# what people put between groups of digits when they read a number out or copy it from a
# document: spaces (full-width too) and dashes of every width
_SEPARATORS = re.compile(r"[\s\u2010-\u2015\u2212\-]+")


def without_separators(value: str) -> str:
    """The number as typed without its spaces and dashes (``138 0013-8000`` is
    ``13800138000``); NFKC first, so full-width spaces and dashes go too."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))


WORK_PHONE_MAX = 20


def clean_work_phone(value: str | None) -> str | None:
    """A work phone as stored: digits with an optional leading ``+``, separators (spaces,
    dashes) dropped, 3 to 20 characters (``95598`` and ``0371-67436789`` alike); None for an
    empty value. ValueError for anything else."""
    text = without_separators(value or "")
    if not text:
        return None
    body = text[1:] if text.startswith("+") else text
    if not body.isascii() or not body.isdigit() or not 3 <= len(text) <= WORK_PHONE_MAX:
        raise ValueError("not a phone number")
    return text


def resident_id_check_char(first17: str) -> str:
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_resident_id(value: str, today: date | None = None) -> bool:
    """18-digit resident identity number with a real birth date and a correct check char."""
    value = normalize_id(value)
    if not _ID_RE.fullmatch(value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or date.today()):
        return False
    return resident_id_check_char(value[:17]) == value[17]


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """18-character unified social credit code with a correct check character."""
    value = normalize_id(value)
    if not _USCC_RE.fullmatch(value):
        return False
    return uscc_check_char(value[:17]) == value[17]


def is_valid_mobile(value: str) -> bool:
    return bool(_MOBILE_RE.fullmatch(normalize_phone(value)))


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return f"{value[:3]}****{value[-4:]}"


def mask_id_number(value: str | None) -> str:
    """Keeps the region prefix and the last four characters, as service halls print them."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_name(value: str | None, kind: str = "person") -> str:
    """A person keeps the family name; an enterprise keeps its first and last two characters."""
    if not value:
        return ""
    if kind == "enterprise":
        if len(value) <= 4:
            return value[0] + "*" * (len(value) - 1)
        return value[:2] + "*" * (len(value) - 4) + value[-2:]
    if len(value) == 1:
        return "*"
    return value[0] + "*" * (len(value) - 1)
