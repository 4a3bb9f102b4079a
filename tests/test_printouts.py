"""The cover sheet, disc label, USB sticker and jewel-case insert: what they say, that a
60-character name and 12 exams stay inside the printable area and off the hub (checked on the
rendered pages with poppler), that the barcode and QR code decode to the job id, and that
`burner build --json` and a station's folder printer deliver them."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import StationDir, make_job_folder, require_tool
from pdftools import decode, flat, ink, off_the_ring, text_of, words

from burner.printout import cover, label
from burner.printout.deliver import render_all
from burner.printout.sheet import Sheet, fee_text
from burner.summary import ExamSummary
from burner.words import person_name as display_name

MM = 72 / 25.4
LONG_NAME = "Maximiliane Theodora Müller-Lüdenscheidt Alexandrescu-Wolken"
JOB = "R2026-000123"
assert len(LONG_NAME) == 60


def make_sheet(*, name: str = LONG_NAME, exams: int = 12, volumes: int = 2, media: str = "dvd",
               paper: str = "A4", report: str | None = None, label: str = "") -> Sheet:
    rows = [ExamSummary(study_uid=f"1.2.3.{n}", date=f"2026-{1 + n % 12:02d}-{10 + n:02d}",
                        modality="CT" if n % 2 else "MR",
                        description="CT CHEST WITHOUT CONTRAST" if n % 2
                        else "MR BRAIN WITH AND WITHOUT CONTRAST",
                        accession=f"ACC{n:05d}", objects=100 + n, images=100 + n,
                        volumes=(1 + n * volumes // exams,)) for n in range(exams)]
    return Sheet(job_id=JOB, patient_name=name, birth_date="1970-01-01", patient_id="MRN12345",
                 institution="General Hospital of Springfield, Department of Radiology",
                 address="1 Hospital Way, Springfield, IL 62701", phone="+1 555 0100",
                 exams=rows, volume_count=volumes, media=media, web=True, created="2026-11-28",
                 reference="ROI-1234", received="2026-11-20", due="2026-12-20",
                 fee="$6.50 flat", report_text=report, paper=paper, label_text=label)


# --- the facts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("pn", "shown"), [
    ("DOE^JANE", "Jane Doe"), ("MÜLLER^JÜRGEN^K", "Jürgen K Müller"),
    ("O'BRIEN^SEAN^^DR", "Dr Sean O'Brien"), ("van der Berg^Anna", "Anna van der Berg"),
    ("DOE^JANE=ドウ^ジェーン", "Jane Doe"), ("SINGLE", "Single")])
def test_display_name(pn: str, shown: str) -> None:
    assert display_name(pn) == shown


def test_fee_text() -> None:
    assert fee_text(Decimal("6.5"), "USD", "flat") == "$6.50 flat"
    assert fee_text(Decimal("12"), "CHF", None) == "12.00 CHF"
    assert fee_text(None, "USD", "flat") is None


# --- fitting on the rendered pages ---------------------------------------------------------


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_cover_sheet_keeps_everything_inside_the_printable_area(tmp_path: Path,
                                                                paper: str) -> None:
    require_tool("pdftotext")
    report = "FINDINGS: " + "The lungs are clear. No pleural effusion. " * 150
    sheet = make_sheet(paper=paper, report=report + "\n\nIMPRESSION: Normal chest CT.")
    pdf = cover.render_cover(sheet, tmp_path / "cover.pdf")
    found, pages = words(pdf)
    assert len(pages) >= 2, "a long report continues on a second page"
    limit = cover.MARGIN - 2
    for w in found:
        width, height = pages[w.page]
        assert limit <= w.x0 and w.x1 <= width - limit, w
        assert limit <= w.y0 and w.y1 <= height - limit, w
    for page in ink(pdf):
        edge = math.floor(12 * MM * 100 / 72)      # 12 mm at 100 dpi: no ink at all there
        assert not page[:edge].any() and not page[-edge:].any()
        assert not page[:, :edge].any() and not page[:, -edge:].any()
    text = flat(text_of(pdf))
    assert LONG_NAME in text and JOB in text and "MRN12345" in text
    assert all(f"ACC{n:05d}" in text for n in range(12)), "all 12 exams are listed"
    for needed in ("ROI-1234", "2026-11-20", "2026-12-20", "$6.50 flat", "Windows", "macOS",
                   "Chromebook", "INDEX.HTM", "DICOMDIR", "Received by patient/representative",
                   "Signature", "IMPRESSION: Normal chest CT.", "DICOM PLUS WEB",
                   "1 Hospital Way"):
        assert needed in text, needed


def test_a_report_of_one_huge_word_is_set_in_linear_time(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MB one-word text report: every character is measured a few times in all, not once
    per line it is cut into (quadratic: a 5 MB word stalled the print lane for hours)."""
    require_tool("pdftotext")
    from reportlab.pdfbase import pdfmetrics

    word = "W" * 1_000_000
    real, measured = pdfmetrics.stringWidth, []

    def counting(text: str, *args: object, **kwargs: object) -> float:
        measured.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(pdfmetrics, "stringWidth", counting)
    pdf = cover.render_cover(make_sheet(report=word + "\n\nIMPRESSION: normal."),
                             tmp_path / "cover.pdf")
    monkeypatch.undo()
    assert sum(measured) <= 6 * len(word), "characters measured"
    text = text_of(pdf)
    assert "IMPRESSION: normal." in flat(text)
    assert sum(map(len, re.findall("W{20,}", text))) == len(word), "all of the report printed"


def test_disc_label_keeps_text_in_the_ring(tmp_path: Path) -> None:
    require_tool("pdftotext")
    pdf = label.render_disc_label(make_sheet(), 1, tmp_path / "label.pdf")
    found, pages = words(pdf)
    assert pages == [(pytest.approx(120 * MM), pytest.approx(120 * MM))] and len(found) > 20
    assert off_the_ring(pdf, label.HUB_CLEAR, label.PRINTABLE) == []
    (page,) = ink(pdf, dpi=150)
    ys, xs = np.nonzero(page)
    r = np.hypot((xs + 0.5) - page.shape[1] / 2, (ys + 0.5) - page.shape[0] / 2) * 25.4 / 150
    assert r.min() >= 21.5 - 0.3 and r.max() <= 59 + 0.3   # mm: hub clear, inside 118 mm
    text = flat(text_of(pdf))
    assert "DICOM PLUS WEB" in text and "Disc 1 of 2" in text and "Born 1970-01-01" in text
    assert "Springfield" in text and "Made 2026-11-28" in text and JOB in text
    assert re.search(r"\+\d+ more", text), "6 exams on disc 1 do not all fit: +N more"
    assert "Alexandrescu-Wolken" in text or "…" in text


LABEL_TEXT = ("Copy for Dr Adaeze Okafor, Cardiology, St. Mary's Hospital; second opinion "
              "requested 2026-11-20. Keep it with the patient's file and bring it to the "
              "appointment on 2026-12-03 at 9:30.")


def ring_ok(pdf: Path) -> None:
    """Every word and every inked pixel of a disc label between the hub and the edge."""
    assert off_the_ring(pdf, label.HUB_CLEAR, label.PRINTABLE) == []
    (page,) = ink(pdf, dpi=150)
    ys, xs = np.nonzero(page)
    r = np.hypot((xs + 0.5) - page.shape[1] / 2, (ys + 0.5) - page.shape[0] / 2) * 25.4 / 150
    assert r.min() >= 21.5 - 0.3 and r.max() <= 59 + 0.3   # mm: hub clear, inside 118 mm


@pytest.mark.parametrize("extra", ["For Dr Okafor", LABEL_TEXT, "W" * 200])
def test_label_text_is_printed_inside_the_ring(tmp_path: Path, extra: str) -> None:
    """media.label_text (up to 200 characters) on the disc face, the stick sticker and the
    jewel-case insert, fitted like everything else."""
    require_tool("pdftotext")
    assert len(LABEL_TEXT) <= 200
    sheet = make_sheet(label=extra)
    pdf = label.render_disc_label(sheet, 1, tmp_path / "label.pdf")
    ring_ok(pdf)
    text = flat(text_of(pdf))
    if extra.startswith("WWW"):      # one unbroken word of 200 characters: cut, ends in "…"
        assert re.search("W{30,}", text)
    else:
        assert extra in text
    assert "DICOM PLUS WEB" in text and "Born 1970-01-01" in text and JOB in text
    assert re.search(r"\d{4}-\d{2}-\d{2} (CT|MR)", text), "exams still listed"

    for pdf, size in ((label.render_usb_sticker(make_sheet(media="usb", volumes=1, label=extra),
                                                tmp_path / "usb.pdf"), (50, 30)),
                      (label.render_jewel_insert(sheet, tmp_path / "insert.pdf"), (120, 120))):
        found, _ = words(pdf)
        edge = 1.5 * MM
        for w in found:
            assert edge <= w.x0 and w.x1 <= size[0] * MM - edge, w
            assert edge <= w.y0 and w.y1 <= size[1] * MM - edge, w
        printed = flat(text_of(pdf))
        first = extra.split()[0][:20]
        assert first in printed, (pdf.name, printed)
        assert decode(pdf, tmp_path) == {f"CODE-128:{JOB}"}, pdf.name
    assert LABEL_TEXT[:40] not in flat(text_of(label.render_disc_label(
        make_sheet(), 1, tmp_path / "plain.pdf"))), "no label text: nothing extra printed"


def test_usb_sticker_and_jewel_insert_fit(tmp_path: Path) -> None:
    require_tool("pdftotext")
    usb = render_all(make_sheet(media="usb", volumes=1), tmp_path / "usb")
    assert [p.item for p in usb] == ["cover", "label1"]
    dvd = render_all(make_sheet(), tmp_path / "dvd")
    assert [p.item for p in dvd] == ["cover", "label1", "insert1", "label2", "insert2"]
    for pdf, size in ((usb[1].path, (50, 30)), (dvd[2].path, (120, 120))):
        found, pages = words(pdf)
        assert pages == [(pytest.approx(size[0] * MM), pytest.approx(size[1] * MM))]
        edge = 1.5 * MM
        for w in found:
            assert edge <= w.x0 and w.x1 <= size[0] * MM - edge, w
            assert edge <= w.y0 and w.y1 <= size[1] * MM - edge, w
    assert "USB stick 1 of 1" in flat(text_of(usb[1].path))
    insert = flat(text_of(dvd[2].path))
    assert "Disc 1 of 2" in insert and "ACC00000" in insert and "MRN12345" in insert


def test_barcode_and_qr_code_decode_to_the_job_id(tmp_path: Path) -> None:
    sheet = make_sheet(volumes=1, exams=2, name="Jane Müller")
    printouts = render_all(sheet, tmp_path / "prints")
    assert decode(printouts[0].path, tmp_path) == {f"CODE-128:{JOB}", f"QR-Code:{JOB}"}
    for p in printouts[1:]:
        assert decode(p.path, tmp_path) == {f"CODE-128:{JOB}"}, p.item
    usb = render_all(make_sheet(media="usb", volumes=1), tmp_path / "usb")
    assert decode(usb[1].path, tmp_path) == {f"CODE-128:{JOB}"}


# --- delivered by burner build and by a station ---------------------------------------------


def test_build_json_lists_cover_and_labels(station: StationDir, tmp_path: Path) -> None:
    make_job_folder(tmp_path / "jobs" / "B7")
    out = tmp_path / "out"
    proc = station.cli("build", str(tmp_path / "jobs" / "B7"), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    prints = json.loads(proc.stdout)["prints"]
    assert prints["cover"] == str(out / "cover.pdf")
    assert prints["labels"] == [str(out / "label1.pdf")]
    for path in [prints["cover"], *prints["labels"], *prints["inserts"]]:
        assert Path(path).read_bytes().startswith(b"%PDF")
    text = flat(text_of(Path(prints["cover"])))
    assert "Robin Tester" in text and "TESTACC1" in text and "B7" in text
    assert not (station.data_dir / "prints").exists(), "build never prints"


def test_build_prints_the_label_text_of_job_json(station: StationDir, tmp_path: Path) -> None:
    job = tmp_path / "jobs" / "B8"
    manifest = make_job_folder(job)
    manifest["media"]["label_text"] = "For Dr Okafor\n(second\topinion)"
    (job / "job.json").write_text(json.dumps(manifest))
    proc = station.cli("build", str(job), "--out", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr
    prints = json.loads(proc.stdout)["prints"]
    assert len(prints["labels"]) == 1 and len(prints["inserts"]) == 1
    for path in prints["labels"] + prints["inserts"]:
        assert "For Dr Okafor (second opinion)" in flat(text_of(Path(path))), path
    ring_ok(Path(prints["labels"][0]))


@pytest.mark.slow
def test_station_folder_printer_keeps_the_pdfs(station: StationDir) -> None:
    """The embedded default prints into <data>/prints/<job>/; result.json says printed."""
    station.add_job("F1")
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((station.folder("done") / "F1" / "result.json").read_text())
    assert result["printing"] == "printed"
    assert [p["item"] for p in result["prints"]] == ["cover", "insert1", "label1"]
    assert all(p["state"] == "printed" for p in result["prints"])
    for name in ("cover.pdf", "label1.pdf", "insert1.pdf"):
        assert (station.data_dir / "prints" / "F1" / name).is_file()
        assert (station.folder("done") / "F1" / "prints" / name).is_file()
