"""The fonts of every printout: DejaVu Sans (Unicode, so "Müller" prints) when the system has
it, else the PDF base font Helvetica."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@cache
def fonts() -> tuple[str, str]:
    """(regular, bold) font names registered with reportlab."""
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdfmetrics.registerFont(TTFont("BurnerSans", str(regular)))
        pdfmetrics.registerFont(TTFont("BurnerSans-Bold", str(bold)))
        return "BurnerSans", "BurnerSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def regular() -> str:
    return fonts()[0]


def bold() -> str:
    return fonts()[1]


def unicode() -> bool:
    """True when the printouts use the Unicode TTF (not the PDF base font)."""
    return regular() != "Helvetica"


def text_width(text: str, font: str, size: float) -> float:
    """Width of `text` in points."""
    return pdfmetrics.stringWidth(text, font, size)
