"""Disc label (a 120 mm disc face for disc printers), USB stick sticker and jewel-case insert.

The disc face keeps the hub clear: nothing is printed inside a 43 mm circle (the hub is
41 mm), and text stays in the ring between 47 mm and 114 mm diameter, inside the 118 mm
printable face. Every text block is fitted with fit_lines, so long names and many exams
shrink, wrap or end in "+N more" instead of running off the disc.
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from burner.printout import fonts
from burner.printout.codes import draw_code128
from burner.printout.fit import Box, RingBox, fit_lines
from burner.printout.sheet import Sheet
from burner.summary import ExamSummary

DISC = 120 * mm           # the page: exactly the disc
PRINTABLE = 59 * mm       # radius of the printable face (118 mm)
HUB_CLEAR = 21.5 * mm     # radius left blank around the hub (43 mm; the hub itself is 41 mm)
TEXT_OUTER = 57 * mm      # text keeps this far inside ...
TEXT_INNER = 23.5 * mm    # ... and this far outside the centre
STICKER = (50 * mm, 30 * mm)
INSERT = 120 * mm
GUIDE_GREY = 0.75


def _canvas(path: Path, size: tuple[float, float], title: str, sheet: Sheet) -> Canvas:
    c = Canvas(str(path), pagesize=size, pageCompression=1)
    c.setTitle(title)
    c.setAuthor(sheet.institution or "burner")
    return c


def _ring(y0: float, y1: float, x0: float = -DISC / 2, x1: float = DISC / 2) -> RingBox:
    """A box in disc-centred millimetres-as-points, limited to the text ring's outer circle."""
    c = DISC / 2
    return RingBox(c + x0, c + y0, x1 - x0, y1 - y0, cx=c, cy=c, radius=TEXT_OUTER)


def exam_dates(exams: list[ExamSummary]) -> list[str]:
    """Short exam lines for a label: date, modality and description ("CT CHEST")."""
    return [" ".join(p for p in (e.date, e.title) if p) for e in exams]


def render_disc_label(sheet: Sheet, volume_index: int, path: Path) -> Path:
    """The face of disc `volume_index` (1-based) as a 120 x 120 mm page."""
    c = _canvas(path, (DISC, DISC), f"Disc label {sheet.job_id} {volume_index}", sheet)
    centre = DISC / 2
    c.setStrokeGray(GUIDE_GREY)
    c.setLineWidth(0.4)
    c.circle(centre, centre, PRINTABLE - 0.5 * mm)
    c.circle(centre, centre, HUB_CLEAR + 0.7 * mm)
    regular, bold = fonts.regular(), fonts.bold()
    inner, outer = TEXT_INNER, TEXT_OUTER
    fit_lines([sheet.institution], _ring(45 * mm, 52.5 * mm), regular, 8, 5, align="center",
              more=None).draw(c)
    fit_lines([sheet.patient_name], _ring(31.5 * mm, 44.5 * mm), bold, 14, 7,
              align="center", more=None, paragraphs=True).draw(c)
    fit_lines([f"Born {sheet.birth_date}"], _ring(inner + 0.5 * mm, 31 * mm), regular, 9, 6,
              align="center", more=None).draw(c)
    fit_lines([sheet.content_kind], _ring(-10 * mm, 10 * mm, -outer, -inner - 1 * mm), bold,
              10, 6, align="center", more=None).draw(c)
    fit_lines([sheet.volume_word(volume_index)], _ring(-10 * mm, 10 * mm, inner + 1 * mm, outer),
              bold, 11, 6, align="center", more=None).draw(c)
    exams = _ring(-36.5 * mm, -inner - 0.5 * mm)
    if sheet.label_text:          # job.json media.label_text, just below the hub
        fit_lines([sheet.label_text], _ring(-30.5 * mm, -inner - 0.5 * mm), regular, 7.5, 4.5,
                  align="center", more=None, paragraphs=True).draw(c)
        exams = _ring(-36.5 * mm, -31 * mm)
    fit_lines(exam_dates(sheet.exams_on(volume_index)), exams, regular, 7.5, 5,
              align="center").draw(c)
    draw_code128(c, sheet.job_id, Box(centre - 28 * mm, centre - 45.5 * mm, 56 * mm, 7.5 * mm))
    fit_lines([f"Made {sheet.created}", f"Job {sheet.job_id}"], _ring(-53 * mm, -46.5 * mm),
              regular, 6, 4.5, align="center", more=None).draw(c)
    c.showPage()
    c.save()
    return path


def render_usb_sticker(sheet: Sheet, path: Path, volume_index: int = 1) -> Path:
    """A 50 x 30 mm sticker for a USB stick."""
    width, height = STICKER
    c = _canvas(path, STICKER, f"USB sticker {sheet.job_id} {volume_index}", sheet)
    m = 2 * mm
    inner = width - 2 * m
    regular, bold = fonts.regular(), fonts.bold()
    fit_lines([sheet.patient_name], Box(m, 21.5 * mm, inner, height - m - 21.5 * mm), bold, 9,
              5, more=None, paragraphs=True).draw(c)
    fit_lines([f"Born {sheet.birth_date} · made {sheet.created}"],
              Box(m, 18.6 * mm, inner, 2.9 * mm), regular, 6.5, 4.5, more=None).draw(c)
    fit_lines([sheet.institution], Box(m, 15.7 * mm, inner, 2.9 * mm), regular, 6.5, 4.5,
              more=None).draw(c)
    fit_lines([f"{sheet.content_kind} · {sheet.volume_word(volume_index)}"],
              Box(m, 12.6 * mm, inner, 3.1 * mm), bold, 6.5, 4.5, more=None).draw(c)
    bar = 9.8 * mm
    if sheet.label_text:          # job.json media.label_text, above a lower barcode
        bar = 6 * mm
        fit_lines([sheet.label_text], Box(m, m + bar + 0.4 * mm, inner, 12.4 * mm - m - bar),
                  regular, 6, 4.5, more=None, paragraphs=True).draw(c)
    draw_code128(c, sheet.job_id, Box(m, m, inner, bar), max_bar=0.3 * mm)
    c.showPage()
    c.save()
    return path


def render_jewel_insert(sheet: Sheet, path: Path, volume_index: int = 1) -> Path:
    """The 120 x 120 mm front insert of a jewel case."""
    c = _canvas(path, (INSERT, INSERT), f"Jewel case insert {sheet.job_id} {volume_index}",
                sheet)
    m = 6 * mm
    inner = INSERT - 2 * m
    regular, bold = fonts.regular(), fonts.bold()
    c.setStrokeGray(GUIDE_GREY)
    c.setLineWidth(0.4)
    c.rect(1 * mm, 1 * mm, INSERT - 2 * mm, INSERT - 2 * mm)

    def block(items: list[str], top: float, height: float, font: str, big: float, small: float,
              **kwargs: object) -> float:
        fitted = fit_lines(items, Box(m, top - height, inner, height), font, big, small,
                           **kwargs)  # type: ignore[arg-type]
        fitted.draw(c)
        return fitted.bottom - 1.5 * mm

    y = INSERT - m
    y = block([sheet.institution], y, 9 * mm, bold, 11, 7, more=None)
    y = block([f"Medical images · {sheet.content_kind} · {sheet.volume_word(volume_index)}"],
              y, 5 * mm, regular, 9, 6, more=None)
    y = block([sheet.patient_name], y, 16 * mm, bold, 18, 9, more=None, paragraphs=True)
    y = block([f"Born {sheet.birth_date}  ·  Patient ID {sheet.patient_id}"], y, 5 * mm,
              regular, 9, 6, more=None)
    exams = [" · ".join(p for p in (e.date, e.title, e.accession) if p)
             for e in sheet.exams_on(volume_index)]
    floor = 33 * mm
    if sheet.label_text:          # job.json media.label_text, above the instructions
        block([sheet.label_text], floor + 11 * mm, 11 * mm, bold, 9, 6, more=None,
              paragraphs=True)
        floor += 12 * mm
    block(exams, y - 1 * mm, y - 1 * mm - floor, regular, 9, 6)
    block(["Open INDEX.HTM in a web browser; nothing needs installing. Hospitals import the "
           "images from DICOMDIR.", f"Made {sheet.created}"],
          30 * mm, 11 * mm, regular, 7.5, 5.5)
    draw_code128(c, sheet.job_id, Box(m, m, 60 * mm, 11 * mm))
    fit_lines([f"Job {sheet.job_id}"], Box(m + 62 * mm, m, inner - 62 * mm, 11 * mm), regular,
              9, 6, align="right", more=None).draw(c)
    c.showPage()
    c.save()
    return path
