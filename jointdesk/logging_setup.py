"""Logging that never writes a whole ID number or phone number."""

from __future__ import annotations

import logging
import re

from flask import Flask

# 18-character IDs and credit codes, then 11-digit mobile numbers, anywhere in a message
_ID_RE = re.compile(r"(?<![0-9A-Za-z])([0-9A-Z]{4})[0-9A-Z]{10}([0-9A-Z]{3}[0-9X])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def redact(text: str) -> str:
    text = _ID_RE.sub(r"\1**********\2", text)
    return _PHONE_RE.sub(r"\1****\2", text)


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
            record.msg = f"{record.msg}\n{record.exc_text}"
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
