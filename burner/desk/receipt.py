"""The hand-over receipt (issue 12): a one-page PDF saying who received which discs or sticks
of a job for which request, that a photo ID was checked, by whom and when (or the mail-out's
tracking number), with the receiver's signature when they signed on the screen. The desk
prints it (the cover sheet's printer) or gives a copy; it is made again from the record each
time, never kept as a file."""

from __future__ import annotations

import datetime
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from burner.config import Config
from burner.desk.handover import Handover
from burner.errors import ConfigError
from burner.printout import fonts
from burner.printout.cover import MARGIN, page_size
from burner.printout.fit import Box, fit_lines
from burner.words import person_name


@dataclass(frozen=True)
class Printed:
    ok: bool
    words: str


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


def receipt_lines(h: Handover, patient_name: str) -> list[tuple[str, str]]:
    """(what, value) rows of the receipt, in order."""
    rows = [("Request", h.request_id or "(none: the job was not made from a request)"),
            ("Job", h.job_id),
            ("Patient", person_name(patient_name)),
            ("Received by" if not h.mailed else "Mailed to", h.receiver_words)]
    if h.mailed:
        rows.append(("Tracking number", h.tracking))
    else:
        rows.append(("Photo ID checked", "yes" if h.photo_id_checked else "no"))
    rows += [("Handed over by" if not h.mailed else "Mailed by", h.by),
             ("When", _when(h.at))]
    for n, item in enumerate(h.items):
        rows.append(("Discs and sticks" if n == 0 else "", item.words))
    return rows


def render_receipt(config: Config, h: Handover, patient_name: str,
                   out: Path | io.BytesIO) -> None:
    """Draw the receipt of `h` into `out` (a file or a buffer)."""
    size = page_size(config.printing.get("paper", "A4"))
    target = str(out) if isinstance(out, Path) else out
    c = Canvas(target, pagesize=size, pageCompression=1)
    c.setTitle(f"Hand-over receipt {h.job_id}")
    institution = config.institution
    c.setAuthor(institution.get("name", "") or "burner")
    left, right = MARGIN, size[0] - MARGIN
    width = right - left
    y = size[1] - MARGIN
    head = [t for t in (institution.get("name", ""), institution.get("address", ""),
                        institution.get("phone", "")) if t]
    if head:
        fit_lines(head, Box(left, y - 40, width, 40), fonts.regular(), 10, 7,
                  more=None).draw(c)
        y -= 48
    fit_lines(["Receipt for copies of medical images"], Box(left, y - 22, width, 22),
              fonts.bold(), 18, 12, more=None).draw(c)
    y -= 36
    label_width = 45 * mm
    for what, value in receipt_lines(h, patient_name):
        if what:
            fit_lines([what], Box(left, y - 14, label_width - 4, 14), fonts.bold(), 10.5, 7,
                      more=None).draw(c)
        fit_lines([value], Box(left + label_width, y - 14, width - label_width, 14),
                  fonts.regular(), 10.5, 7, more=None).draw(c)
        y -= 18
    y -= 12
    fit_lines(["Signature of the receiver"], Box(left, y - 14, width, 14), fonts.bold(), 10.5,
              8, more=None).draw(c)
    y -= 18
    box_h = 35 * mm
    if h.signature:
        image = ImageReader(_on_white(h.signature))
        iw, ih = image.getSize()
        scale = min(width * 0.6 / iw, box_h / ih)
        c.drawImage(image, left, y - ih * scale, iw * scale, ih * scale)
    else:
        c.setLineWidth(0.5)
        c.line(left, y - box_h + 6, left + width * 0.6, y - box_h + 6)
        note = ("not signed (mailed)" if h.mailed else
                "not signed on the screen: sign on the line, or keep the cover sheet's strip")
        fit_lines([note], Box(left, y - box_h - 8, width, 12), fonts.regular(), 8, 6,
                  more=None).draw(c)
    y -= box_h + 24
    fit_lines(["Keep this receipt with the request's records (45 CFR 164.524)."],
              Box(left, y - 12, width, 12), fonts.regular(), 8, 6, more=None).draw(c)
    c.showPage()
    c.save()


def _on_white(png: bytes) -> Image.Image:
    """The signature (strokes on a transparent canvas) on white: no transparency in the PDF,
    which a print path through PostScript would turn into a picture of the whole page."""
    with Image.open(io.BytesIO(png)) as drawn:
        rgba = drawn.convert("RGBA")
    page = Image.new("RGB", rgba.size, "white")
    page.paste(rgba, mask=rgba.getchannel("A"))
    return page


def receipt_pdf(config: Config, h: Handover, patient_name: str) -> bytes:
    out = io.BytesIO()
    render_receipt(config, h, patient_name, out)
    return out.getvalue()


def print_receipt(config: Config, h: Handover, patient_name: str) -> Printed:
    """Send the receipt to the cover sheet's printer ([printing] mode "cups"), or save it in
    the prints folder (mode "folder"), as the job's other printouts go."""
    from burner.printout.cups import PrinterError, print_pdf
    from burner.printout.deliver import Printout, deliver, mode

    how = mode(config)
    if how in ("none", "off", ""):
        raise ConfigError("Printing is not set up at this station; download the receipt "
                          "and print it from this computer instead.")
    with tempfile.TemporaryDirectory(prefix="burner-receipt-") as tmp:
        pdf = Path(tmp) / f"receipt-{h.job_id}.pdf"
        render_receipt(config, h, patient_name, pdf)
        if how == "cups":
            queue = config.printing.get("cover_queue")
            if not queue:
                return Printed(False, "No printer queue is set for the cover sheet "
                                      "([printing] cover_queue), so the receipt cannot be "
                                      "printed.")
            try:
                request = print_pdf(queue, pdf, f"{h.job_id} receipt",
                                    server=config.printing.get("server") or None,
                                    options=config.printing.get("cover_options", "").split())
            except PrinterError as exc:
                return Printed(False, str(exc).split(" The disc is fine;")[0])
            return Printed(True, f"Sent to the printer {queue} (request {request}).")
        state, detail = deliver(config, h.job_id, Printout("receipt", pdf))
        return Printed(state == "printed", "Saved in the prints folder." if state == "printed"
                       else detail)
