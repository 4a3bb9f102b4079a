"""The cover sheet handed over with the disc (A4 or Letter): who it is for, what is on it, how
to open it, what to give a doctor, the report text, the job's barcode and QR code, and a
receipt strip the desk cuts off and keeps."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from burner.printout import fonts
from burner.printout.codes import draw_code128, draw_qr
from burner.printout.fit import LEADING, Box, Fitted, fit_lines, wrap_text
from burner.printout.sheet import Sheet
from burner.summary import ExamSummary

MARGIN = 15 * mm         # inside every office printer's printable area
STRIP = 34 * mm          # the receipt strip at the bottom of page 1
CODES = 60 * mm          # the column of the QR code and barcode, top right
GAP = 4
GREY = 0.45

HOW_TO_OPEN = {
    "Windows": ["Put the {m} in the computer.",
                "Open File Explorer and choose the {m} under \"This PC\".",
                "Double-click INDEX.HTM: it opens in your web browser.",
                "Nothing needs installing. If Windows offers to run a program, say no."],
    "macOS": ["Put the {m} in the Mac (or a USB disc drive).",
              "Open it from the desktop or the Finder sidebar.",
              "Double-click INDEX.HTM: it opens in Safari or your browser.",
              "Nothing needs installing; do not run programs from it."],
    "Chromebook": ["Plug in the USB stick, or a USB disc drive with the disc.",
                   "Open the Files app and choose the {m} on the left.",
                   "Click INDEX.HTM: it opens in Chrome.",
                   "README.TXT explains what is on the {m} in plain words."],
}


def page_size(paper: str) -> tuple[float, float]:
    return LETTER if paper.strip().lower() in ("letter", "us-letter", "us letter") else A4


class _Page:
    """A cursor running down one page between the margins."""

    def __init__(self, canvas: Canvas, left: float, right: float, top: float):
        self.c, self.left, self.right, self.y = canvas, left, right, top

    @property
    def width(self) -> float:
        return self.right - self.left

    def text(self, items: list[str], font: str, max_size: float, min_size: float,
             height: float, *, width: float | None = None, gap: float = GAP,
             **kwargs: object) -> Fitted:
        box = Box(self.left, self.y - height, width or self.width, height)
        fitted = fit_lines(items, box, font, max_size, min_size, **kwargs)  # type: ignore[arg-type]
        fitted.draw(self.c)
        self.y = fitted.bottom - gap
        return fitted

    def heading(self, text: str, size: float = 11) -> None:
        self.text([text], fonts.bold(), size, 8, size * LEADING, more=None, gap=2)

    def rule(self) -> None:
        self.c.setStrokeGray(GREY)
        self.c.setLineWidth(0.5)
        self.c.line(self.left, self.y, self.right, self.y)
        self.y -= GAP + 2


def exam_line(exam: ExamSummary, many_discs: bool) -> str:
    parts = [exam.date, exam.title if exam.description else f"{exam.modality} (no description)"]
    if exam.accession:
        parts.append(f"accession {exam.accession}")
    parts.append(f"{exam.images} image{'s' if exam.images != 1 else ''}")
    if many_discs:
        discs = exam.volumes
        parts.append(("disc " if len(discs) == 1 else "discs ") + ", ".join(map(str, discs)))
    return "  ·  ".join(p for p in parts if p)


def _codes(c: Canvas, sheet: Sheet, right: float, top: float) -> float:
    """QR code and Code 128 of the job id in the top right corner; returns their bottom."""
    qr = 26 * mm
    draw_qr(c, sheet.job_id, right - qr, top - qr, qr)
    bar = Box(right - CODES, top - qr - 2 * mm - 12 * mm, CODES, 12 * mm)
    draw_code128(c, sheet.job_id, bar)
    label = Box(right - CODES, bar.y - 11, CODES, 10)
    fit_lines([f"Job {sheet.job_id}"], label, fonts.regular(), 8, 6, align="center",
              more=None).draw(c)
    return label.y


def _header(page: _Page, sheet: Sheet) -> None:
    top = page.y
    bottom = _codes(page.c, sheet, page.right, top)
    narrow = page.width - CODES - 6 * mm
    page.text([sheet.institution or "Imaging department"], fonts.bold(), 15, 10, 38,
              width=narrow, more=None)
    contact = [sheet.address, f"Phone {sheet.phone}" if sheet.phone else ""]
    page.text([t for t in contact if t] or [""], fonts.regular(), 9, 7, 24, width=narrow)
    page.y -= 4
    page.text(["Your medical images"], fonts.bold(), 18, 12, 24, width=narrow, more=None)
    count = sheet.volume_count
    what = f"{count} {sheet.medium_word}{'s' if count > 1 else ''}"
    page.text([f"A copy of your imaging records on {what} ({sheet.content_kind})."],
              fonts.regular(), 10, 7, 26, width=narrow, paragraphs=True)
    page.y = min(page.y, bottom) - 2
    page.rule()


def _people(page: _Page, sheet: Sheet) -> None:
    """Patient on the left, the request on the right."""
    top, half = page.y, (page.width - 6 * mm) / 2
    page.heading("Patient")
    page.text([sheet.patient_name], fonts.bold(), 13, 8, 34, width=half, more=None, gap=1,
              paragraphs=True)
    page.text([f"Born {sheet.birth_date}", f"Patient ID (MRN) {sheet.patient_id}"],
              fonts.regular(), 10, 7, 26, width=half, more=None)
    left_bottom = page.y
    page.y, page.left = top, page.left + half + 6 * mm
    page.heading("Request")
    rows = [f"Reference {sheet.reference}" if sheet.reference else "",
            f"Received {sheet.received}" if sheet.received else "",
            f"Due by {sheet.due}" if sheet.due else "",
            f"Fee {sheet.fee}" if sheet.fee else ""]
    rows = [r for r in rows if r] or ["No request details were given."]
    page.text(rows, fonts.regular(), 10, 7, 52, width=half)
    page.left -= half + 6 * mm
    page.y = min(page.y, left_bottom)
    page.rule()


def _exams(page: _Page, sheet: Sheet, room: float) -> None:
    many = sheet.volume_count > 1
    page.heading("Exams on these discs" if many else f"Exams on this {sheet.medium_word}")
    rows = [exam_line(e, many) for e in sheet.exams] or ["(none listed)"]
    need = len(rows) * 10 * LEADING + 1
    page.text(rows, fonts.regular(), 10, 7, max(min(need, room), 2 * 7 * LEADING))
    if many:
        page.text([f"This release is on {sheet.volume_count} {sheet.medium_word}s, numbered "
                   f"1 of {sheet.volume_count} to {sheet.volume_count} of "
                   f"{sheet.volume_count}. Keep them together; each one opens on its own."],
                  fonts.bold(), 9, 7, 24, paragraphs=True)
    page.rule()


def _how_to(page: _Page, sheet: Sheet) -> None:
    page.heading(f"How to open the {sheet.medium_word}")
    top, width = page.y, (page.width - 2 * 5 * mm) / 3
    bottoms = []
    for n, (system, steps) in enumerate(HOW_TO_OPEN.items()):
        page.y, left = top, page.left
        page.left = left + n * (width + 5 * mm)
        page.text([system], fonts.bold(), 10, 8, 13, width=width, more=None, gap=1)
        items = [f"{i}. {s.format(m=sheet.medium_word)}" for i, s in enumerate(steps, 1)]
        page.text(items, fonts.regular(), 9, 6.5, 96, width=width, paragraphs=True)
        bottoms.append(page.y)
        page.left = left
    page.y = min(bottoms)
    page.text(["Never run programs from a disc or stick you were given: everything opens "
               "in your web browser."], fonts.regular(), 9, 7, 24, paragraphs=True)
    page.rule()


def _electronic(page: _Page, sheet: Sheet) -> None:
    """How to open an electronic copy, and (ZIP) the password of each file: printed here
    and nowhere else."""
    page.heading("Your electronic copy")
    files = [f"{sheet.job_id}-{n}of{sheet.volume_count}" for n in range(1, sheet.volume_count
                                                                        + 1)]
    if sheet.passwords:
        page.text(["The images are in a ZIP file locked with a password. Keep this sheet: "
                   "the password is not written anywhere else."], fonts.regular(), 9.5, 7, 30,
                  paragraphs=True)
        for name, phrase in zip(files, sheet.passwords, strict=True):
            page.text([f"{name}.zip"], fonts.regular(), 9.5, 7, 14, more=None)
            page.text([f"Password: {phrase}"], fonts.bold(), 13, 9, 18, more=None)
        steps = ["Windows: install 7-Zip (7-zip.org), right-click the file, 7-Zip, "
                 "\"Extract here\", type the password.",
                 "Mac: open it with Keka or The Unarchiver. Linux: 7z x FILE.zip.",
                 "The ZIP support built into Windows and macOS cannot open it.",
                 "Then double-click INDEX.HTM in the extracted folder: it opens in your "
                 "web browser."]
    else:
        page.text([f"The images are in the folder {files[0]}" + (" (and the next ones)"
                   if len(files) > 1 else "") + "."], fonts.regular(), 9.5, 7, 20,
                  paragraphs=True)
        steps = ["Double-click INDEX.HTM in the folder: it opens in your web browser.",
                 "Nothing needs installing; README.TXT explains what is in it."]
    page.text([f"{i}. {s}" for i, s in enumerate(steps, 1)], fonts.regular(), 9, 6.5, 60,
              paragraphs=True)
    page.rule()


def _doctor(page: _Page, sheet: Sheet) -> None:
    page.heading("What to give your doctor")
    page.text([f"Give your doctor or the hospital the {sheet.medium_word} and this sheet. "
               "A hospital imports the images into its own system (PACS) from the DICOMDIR "
               "file on the disc: it is standard DICOM, no special software needed. "
               "Reports, when there are any, are in the REPORTS folder."],
              fonts.regular(), 9.5, 7, 40, paragraphs=True)


def _receipt(c: Canvas, sheet: Sheet, left: float, right: float, bottom: float) -> None:
    """The strip the desk cuts off and keeps: who received what, when, signed."""
    top = bottom + STRIP
    c.setStrokeGray(GREY)
    c.setLineWidth(0.6)
    c.setDash(4, 3)
    c.line(left, top, right, top)
    c.setDash()
    scissors = "✂  " if fonts.unicode() else ""      # no such glyph in Helvetica
    fit_lines([f"{scissors}cut here: the desk keeps this part"],
              Box(left, top + 1, right - left, 10), fonts.regular(), 7, 6, align="right",
              more=None).draw(c)
    head = Box(left, top - 18, right - left, 15)
    fit_lines(["Received by patient/representative"], head, fonts.bold(), 11, 8,
              more=None).draw(c)
    count = sheet.volume_count
    facts = [f"Job {sheet.job_id}  ·  {sheet.patient_name}  ·  born {sheet.birth_date}  ·  "
             f"{count} {sheet.medium_word}{'s' if count > 1 else ''} and this sheet"]
    fit_lines(facts, Box(left, top - 31, right - left, 12), fonts.regular(), 9, 6,
              more=None).draw(c)
    c.setStrokeGray(0)
    c.setLineWidth(0.5)
    y = bottom + 10
    name_end = left + (right - left) * 0.36
    sign_end = left + (right - left) * 0.74
    for label, x0, x1 in (("Name (print)", left, name_end - 8),
                          ("Signature", name_end, sign_end - 8), ("Date", sign_end, right)):
        c.line(x0, y + 12, x1, y + 12)
        fit_lines([label], Box(x0, y, x1 - x0, 10), fonts.regular(), 7, 6,
                  more=None).draw(c)


def _report_pages(c: Canvas, sheet: Sheet, page: _Page, size: tuple[float, float],
                  floor: float) -> None:
    """The report text below what is on page 1, continued on further pages."""
    font, pt = fonts.regular(), 9
    pitch = pt * LEADING
    lines = wrap_text(sheet.report_text or "", page.width, font, pt)   # linear in the text
    first, done = True, 0
    if page.y - floor < 5 * pitch:
        c.showPage()
        page.y, floor = size[1] - MARGIN, MARGIN
    while done < len(lines):
        page.heading("Report" if first else
                     f"Report (continued)  ·  {sheet.patient_name}  ·  job {sheet.job_id}")
        first = False
        rows = int((page.y - floor) // pitch)
        chunk, done = lines[done:done + rows], done + rows
        page.text(chunk, font, pt, pt, rows * pitch + 1, more=None)
        if done < len(lines):
            c.showPage()
            page.y, floor = size[1] - MARGIN, MARGIN


def render_cover(sheet: Sheet, path: Path) -> Path:
    """Write the cover sheet PDF of `sheet` to `path`."""
    size = page_size(sheet.paper)
    c = Canvas(str(path), pagesize=size, pageCompression=1)
    c.setTitle(f"Cover sheet {sheet.job_id}")
    c.setAuthor(sheet.institution or "burner")
    c.setFillGray(0)
    page = _Page(c, MARGIN, size[0] - MARGIN, size[1] - MARGIN)
    floor = MARGIN + STRIP + 6 * mm
    _header(page, sheet)
    _people(page, sheet)
    reserved = 222 + (28 if sheet.volume_count > 1 else 0)   # how-to, doctor, disc line
    _exams(page, sheet, max(page.y - floor - reserved, 60))
    if sheet.electronic:
        _electronic(page, sheet)
    else:
        _how_to(page, sheet)
    _doctor(page, sheet)
    _receipt(c, sheet, MARGIN, size[0] - MARGIN, MARGIN)
    if sheet.report_text:
        page.rule()
        _report_pages(c, sheet, page, size, floor)
    c.showPage()
    c.save()
    return path
