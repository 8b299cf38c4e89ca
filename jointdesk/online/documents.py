"""The online receipt as a PDF (reportlab, its built-in CID font STSong-Light: Chinese without
shipping a font file) and as an image (SVG: reference, query code, the status page's QR code).
Both carry the query code: only the submitting browser may download them."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

import qrcode
from flask_babel import gettext as _

from jointdesk.labels import SERVICE_LABELS, STEP_LABELS
from jointdesk.policy.identity import mask_name, mask_phone
from jointdesk.templating import local_time

FONT = "STSong-Light"


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _lines(case, facts: dict) -> list[str]:
    steps = " → ".join(str(STEP_LABELS[s]) for s in facts["steps"])
    lines = [
        _("Applicant") + ": " + mask_name(case.applicant_name, case.applicant_kind),
        _("Mobile phone") + ": " + mask_phone(case.applicant_phone),
        _("Address") + ": " + f"{case.district.name} {case.address_detail}",
        _("Received at") + ": " + local_time(case.created_at),
        _("Services") + ":",
    ]
    for t in case.tickets:
        provider = t.provider.name + (f" ({t.provider.phone})" if t.provider.phone else "")
        lines.append(f"  {SERVICE_LABELS[t.service_code]} — {provider}")
        lines.append("    " + _("Due by %(time)s", time=local_time(t.due_at)))
    lines += [
        _("Process steps") + ": " + steps,
        _(
            "Time limits: at most %(step)s working day(s) per step, %(total)s in all.",
            step=f"{facts['per_step_days']:g}",
            total=f"{facts['total_days']:g}",
        ),
        _("Materials: none needed. Trips: none; each provider contacts you."),
        _("Check progress") + ": " + facts["status_url"],
    ]
    return lines


def receipt_pdf(case, code: str, facts: dict) -> bytes:
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _font()
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    pdf.setTitle(_("Acceptance receipt") + " " + case.reference)
    width, height = A4
    y = height - 60
    pdf.setFont(font, 16)
    pdf.drawString(50, y, _("Acceptance receipt — online application (water, power, gas, heat)"))
    y -= 40
    pdf.setFont(font, 12)
    pdf.drawString(50, y, _("Case reference"))
    pdf.setFont(font, 20)
    pdf.drawString(160, y, case.reference)
    y -= 30
    pdf.setFont(font, 12)
    pdf.drawString(50, y, _("Query code"))
    pdf.setFont(font, 20)
    pdf.drawString(160, y, code)
    widget = QrCodeWidget(facts["status_url"])
    x0, y0, x1, y1 = widget.getBounds()
    size = 110
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, pdf, width - 50 - size, height - 60 - size)
    y -= 50
    pdf.setFont(font, 11)
    for line in _lines(case, facts):
        if y < 60:
            pdf.showPage()
            pdf.setFont(font, 11)
            y = height - 60
        pdf.drawString(50, y, line)
        y -= 18
    y -= 10
    pdf.setFont(font, 9)
    pdf.drawString(50, y, _("Keep the query code secret: with the reference it shows your case."))
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def receipt_svg(case, code: str, facts: dict) -> str:
    """A card: reference, query code, the QR code of the status page (one path of modules)."""
    qr = qrcode.QRCode(border=2)
    qr.add_data(facts["status_url"])
    qr.make(fit=True)
    matrix = qr.get_matrix()
    module = 6
    qr_size = len(matrix) * module
    width = max(360, qr_size + 40)
    path = "".join(
        f"M{x * module} {y * module}h{module}v{module}h-{module}z"
        for y, row in enumerate(matrix)
        for x, dark in enumerate(row)
        if dark
    )
    top = 150
    height = top + qr_size + 60
    texts = [
        (30, 16, _("Online application receipt")),
        (62, 13, _("Case reference")),
        (86, 20, case.reference),
        (112, 13, _("Query code")),
        (136, 20, code),
    ]
    body = "".join(
        f'<text x="20" y="{y}" font-size="{size}">{escape(str(text))}</text>'
        for y, size, text in texts
    )
    caption = escape(_("Scan to check progress"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="PingFang SC, Microsoft YaHei, '
        f'Noto Sans CJK SC, sans-serif">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>{body}'
        f'<g transform="translate(20 {top})"><path d="{path}" fill="#000"/></g>'
        f'<text x="20" y="{top + qr_size + 25}" font-size="12">{caption}</text>'
        f'<text x="20" y="{top + qr_size + 45}" font-size="10">'
        f"{escape(facts['status_url'])}</text></svg>"
    )
