"""JSON answers written by orjson: the API's case view is a large document of Chinese text,
and the standard library's encoder (with every non-ASCII character escaped) was a tenth of its
cost. Answers read the same: keys in their builders' order, moments already ISO strings,
anything else (dates, decimals, lazy translations, dataclasses) converted exactly as Flask's
default provider converts it. Text orjson refuses (a lone surrogate, an integer beyond 64 bits)
falls back to the standard encoder, so no answer fails because of what it carries. Request
bodies are still parsed by the standard library: it keeps every integer exact and lets the
schema name a field whose text is not Unicode."""

from __future__ import annotations

import typing as t

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


class JSONProvider(DefaultJSONProvider):
    sort_keys = False  # the builders' order: reference first, tickets in their order

    def _bytes(self, obj: t.Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is one; escaped, the text is plain ASCII
            return super().dumps(obj, separators=(",", ":")).encode()

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        if kwargs:  # a caller's own settings (indentation, sorting): the standard encoder
            return super().dumps(obj, **kwargs)
        return self._bytes(obj).decode()

    def response(self, *args: t.Any, **kwargs: t.Any):
        obj = self._prepare_response_obj(args, kwargs)
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented, for a developer
        return self._app.response_class(self._bytes(obj) + b"\n", mimetype=self.mimetype)
