"""Logging that never writes a whole ID number or phone number."""

from __future__ import annotations

import logging
import re
import unicodedata

from flask import Flask

# 18-character IDs and credit codes, then 11-digit mobile numbers, anywhere in a message; they
# run on a folded copy of the text (below), so they only ever see ASCII
_ID_RE = re.compile(
    r"(?<![0-9A-Za-z])([0-9A-Z]{4})[0-9A-Z]{10}([0-9A-Z]{3}[0-9X])(?![0-9A-Za-z])", re.ASCII
)
_PHONE_RE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])", re.ASCII)
# what people put between groups of digits: spaces (also full-width and no-break), dashes, dots
_SEPARATORS = frozenset(
    " .-_/\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f"
    "\u3000\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d\uff0e"
)


def _fold(ch: str) -> str:
    """One character as ASCII where it is a digit or a full-width letter, else itself:
    any Unicode decimal digit (full-width, Arabic-Indic, Devanagari...) becomes 0-9."""
    if ch.isascii():
        return ch
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 and folded.isascii() else ch


def _folded(text: str, drop_separators: bool) -> tuple[str, list[int]]:
    """The text folded character by character, and for each folded character its index in
    the text; with ``drop_separators``, separators between two digits are left out."""
    chars: list[str] = []
    where: list[int] = []
    folded = [_fold(ch) for ch in text]
    for i, ch in enumerate(folded):
        if (
            drop_separators
            and text[i] in _SEPARATORS
            and chars
            and chars[-1].isdigit()
            and i + 1 < len(folded)
            and folded[i + 1].isdigit()
        ):
            continue
        chars.append(ch)
        where.append(i)
    return "".join(chars), where


def redact(text: str) -> str:
    """Masks every ID number, credit code and mobile number, in whatever digits they are
    written (ASCII, full-width, other Unicode digits) and with or without separators."""
    return _redact_ascii(text) if text.isascii() else _redact_folding(text)


def _redact_folding(text: str) -> str:
    """``redact`` for any text: each character folded to ASCII first."""
    masked = list(text)
    for drop in (False, True):
        folded, where = _folded(text, drop)
        for match in _ID_RE.finditer(folded):
            for j in range(match.start() + 4, match.end() - 4):
                masked[where[j]] = "*"
        for match in _PHONE_RE.finditer(folded):
            for j in range(match.start() + 3, match.end() - 4):
                masked[where[j]] = "*"
    return "".join(masked)


# an ASCII separator between two digits: what the second pass of ``redact`` leaves out
_ASCII_SEPARATOR = re.compile(r"(?<=[0-9])[ ._/-](?=[0-9])", re.ASCII)
# eleven digits or capitals, a separator allowed between any two: every mobile number and
# every ID number or credit code (eighteen) holds such a run, in either pass
_CANDIDATE = re.compile(r"[0-9A-Z](?:[ ._/-]?[0-9A-Z]){10}", re.ASCII)


def _redact_ascii(text: str) -> str:
    """``redact`` for ASCII text (every log line of the workers and most of the web's), the
    same two passes without folding character by character: the text is its own folded
    form, and the second pass differs from the first only where a separator stands between
    two digits. Text without eleven digits or capitals in a row has nothing to mask."""
    if _CANDIDATE.search(text) is None:
        return text
    passes = [(text, None)]
    dropped = {m.start() for m in _ASCII_SEPARATOR.finditer(text)}
    if dropped:
        where = [i for i in range(len(text)) if i not in dropped]
        passes.append((_ASCII_SEPARATOR.sub("", text), where))
    masked = None
    for folded, where in passes:
        for pattern, head in ((_ID_RE, 4), (_PHONE_RE, 3)):
            for match in pattern.finditer(folded):
                masked = masked or list(text)
                for j in range(match.start() + head, match.end() - 4):
                    masked[j if where is None else where[j]] = "*"
    return text if masked is None else "".join(masked)


class RedactingFilter(logging.Filter):
    """Masks identity and phone numbers in a record's message and in its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # render the traceback now, masked, so no handler prints the raw one
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None
            # the message with its arguments applied: the traceback may hold "%(" (any SQL
            # error does), which must not be taken for a placeholder later
            record.msg = f"{record.getMessage()}\n{record.exc_text}"
            record.args = None
            record.exc_text = None
        return True


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        if not root.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            root.addHandler(handler)
            root.setLevel(logging.INFO)
        for handler in root.handlers:
            handler.addFilter(RedactingFilter())
    # werkzeug's access log carries query strings, which may hold a query code: keep it quiet
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
