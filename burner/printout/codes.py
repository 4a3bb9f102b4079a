"""The job id as a Code 128 barcode and a QR code, for the hand-over desk's scanner."""

from __future__ import annotations

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from burner.printout.fit import Box

QUIET = 10              # quiet zone each side, in modules (ISO/IEC 15417 asks for 10)
MAX_BAR = 0.38 * mm     # no wider modules than this, even with room to spare


def _code128(value: str, bar: float, height: float) -> Code128:
    return Code128(value, barWidth=bar, barHeight=height, quiet=True, lquiet=QUIET * bar,
                   rquiet=QUIET * bar, humanReadable=False)


def code128_modules(value: str) -> float:
    """Width of the barcode of `value` in modules, quiet zones included."""
    return _code128(value, 1.0, 1.0).width


def draw_code128(canvas: Canvas, value: str, box: Box, *, max_bar: float = MAX_BAR) -> float:
    """Draw the Code 128 of `value` centred in `box`, as wide as fits; returns its module
    width (points)."""
    bar = min(max_bar, box.width / code128_modules(value))
    code = _code128(value, bar, box.height)
    code.drawOn(canvas, box.x + (box.width - code.width) / 2, box.y)
    return bar


def draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of `value` as a `size` square (4-module quiet zone included)."""
    widget = QrCodeWidget(value, barLevel="M", barBorder=4)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0,
                                             size / (top - bottom), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
