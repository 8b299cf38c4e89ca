"""Any supervision table as CSV (UTF-8 with BOM, so that Excel reads the Chinese) or Excel."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from flask import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str) and (
        value[:1] in ("=", "+", "-", "@", "\t", "\r", "|")
        or value.lstrip()[:1] in ("=", "+", "-", "@")
    ):
        return "'" + value  # never a formula in a spreadsheet (CSV injection)
    return value


def table_bytes(fmt: str, headers: Sequence[str], rows: Sequence[Sequence]) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([str(h) for h in headers])
        for row in rows:
            writer.writerow([_cell(v) for v in row])
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append([str(h) for h in headers])
    for row in rows:
        sheet.append([_cell(v) if not isinstance(v, int | float) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(fmt: str, name: str, headers: Sequence[str], rows: Sequence[Sequence]) -> Response:
    body = table_bytes(fmt, headers, rows)
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
