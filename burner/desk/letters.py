"""The written notice of an extension (45 CFR 164.524(b)(2)): on the institution's letterhead
(`[institution]` name, address, phone), to the patient, with the request, the original due
date, the reason for the delay, the date the records are expected and that this is the one
extension allowed. A PDF made with reportlab; kept as `<data>/letters/<request id>-extension.pdf`.
"""

from __future__ import annotations

import datetime
import io
import os
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from burner.config import Config
from burner.desk.register import Request
from burner.printout import fonts
from burner.printout.cover import page_size
from burner.printout.fit import LEADING, wrap_text
from burner.words import person_name

MARGIN = 22 * mm
ONE_EXTENSION = ("This is the one extension the law allows (45 CFR 164.524(b)(2)): the date "
                 "will not be moved again.")
FORMAT_WORDS = {"cd": "a CD", "dvd": "a DVD", "usb": "a USB stick",
                "electronic": "an electronic copy", "send": "sending them to another hospital"}


class _Cursor:
    """Lines running down the page between the margins, onto a new page when full."""

    def __init__(self, canvas: Canvas, size: tuple[float, float]):
        self.c, self.size = canvas, size
        self.left, self.right = MARGIN, size[0] - MARGIN
        self.y = size[1] - MARGIN

    def lines(self, text: str, font: str, pt: float, *, indent: float = 0,
              after: float = 4) -> None:
        width = self.right - self.left - indent
        for line in wrap_text(text, width, font, pt):
            if self.y - pt * LEADING < MARGIN:
                self.c.showPage()
                self.y = self.size[1] - MARGIN
            self.y -= pt * LEADING
            self.c.setFont(font, pt)
            self.c.drawString(self.left + indent, self.y, line)
        self.y -= after

    def rule(self) -> None:
        self.c.setStrokeGray(0.45)
        self.c.setLineWidth(0.6)
        self.c.line(self.left, self.y, self.right, self.y)
        self.y -= 10

    def fact(self, label: str, value: str) -> None:
        """"Label: value" with the label in bold and the value wrapped beside it."""
        pt, column = 10.5, 48 * mm
        top = self.y
        self.c.setFont(fonts.bold(), pt)
        self.c.drawString(self.left, top - pt * LEADING, label)
        self.y = top
        saved, self.left = self.left, self.left + column
        self.lines(value, fonts.regular(), pt, after=2)
        self.left = saved


def _letterhead(page: _Cursor, institution: dict[str, str]) -> None:
    page.lines(institution.get("name", "") or "Imaging department", fonts.bold(), 16, after=2)
    for line in institution.get("address", "").replace(";", "\n").splitlines():
        if line.strip():
            page.lines(line.strip(), fonts.regular(), 9.5, after=0)
    if institution.get("phone", "").strip():
        page.lines(f"Phone {institution['phone'].strip()}", fonts.regular(), 9.5, after=0)
    page.y -= 6
    page.rule()


def extension_letter(config: Config, request: Request) -> bytes:
    """The notice of `request`'s extension as PDF bytes; ValueError when it has none."""
    extension = request.extension
    if extension is None:
        raise ValueError(f"request {request.id} has no extension")
    original = extension.original_due or request.due
    given = extension.given or datetime.date.fromtimestamp(extension.at)
    name = person_name(request.patient.name)
    size = page_size(config.printing.get("paper", "A4"))
    out = io.BytesIO()
    c = Canvas(out, pagesize=size, pageCompression=1)
    c.setTitle(f"Extension notice {request.id}")
    c.setAuthor(config.institution.get("name", "") or "burner")
    c.setFillGray(0)
    page = _Cursor(c, size)
    regular, bold = fonts.regular(), fonts.bold()
    _letterhead(page, config.institution)
    page.lines(f"Date: {given.isoformat()}", regular, 10.5, after=10)
    page.lines(f"To: {name}", regular, 10.5, after=0)
    if request.requester.kind != "patient" and request.requester.name:
        who = request.requester.name + (f" ({request.requester.relationship})"
                                        if request.requester.relationship else "")
        page.lines(f"Requested by: {who}", regular, 10.5, after=0)
    page.y -= 12
    page.lines(f"Your request {request.id} for copies of your imaging records: more time "
               "is needed", bold, 12.5, after=10)
    fmt = FORMAT_WORDS.get(request.format, request.format)
    page.lines(f"Dear {name},", regular, 10.5, after=8)
    page.lines(f"We received your request for copies of your imaging records, on {fmt}, on "
               f"{request.received.isoformat()}. We were to provide them by "
               f"{original.isoformat()}. We are sorry: we cannot provide them by that date, "
               f"and we expect to provide them by {extension.new_due.isoformat()}.",
               regular, 10.5, after=10)
    page.fact("Request", request.id)
    page.fact("Patient", name)
    page.fact("Received", request.received.isoformat())
    page.fact("Original due date", original.isoformat())
    page.fact("Reason for the delay", extension.reason)
    page.fact("Expected date", extension.new_due.isoformat())
    page.y -= 8
    page.lines(ONE_EXTENSION, bold, 10.5, after=8)
    contact = config.institution.get("phone", "").strip()
    page.lines("If you have questions about your request, please contact us"
               + (f" at {contact}" if contact else "") + f" and give the request number "
               f"{request.id}.", regular, 10.5, after=18)
    page.lines("Yours sincerely,", regular, 10.5, after=2)
    page.lines(config.institution.get("name", "") or "Imaging department", regular, 10.5)
    c.showPage()
    c.save()
    return out.getvalue()


def letter_path(config: Config, request_id: str) -> Path:
    return config.data_dir / "letters" / f"{request_id}-extension.pdf"


def write_extension_letter(config: Config, request: Request) -> Path:
    """Make the notice and keep it under the data folder (replaced whole, never half-way)."""
    path = letter_path(config, request.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = extension_letter(config, request)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)
    return path
