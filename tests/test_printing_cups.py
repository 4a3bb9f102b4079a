"""Printing through a real CUPS: a private cupsd with a cups-pdf queue (tests/cups_server.py).

A station printing to it delivers the cover sheet, disc label and jewel-case insert as PDFs;
their text and codes are read back from what cups-pdf wrote. With the scheduler stopped the
job still finishes with verified media and printing pending, and `burner reprint` prints it
once CUPS is back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import StationDir, new_station
from cups_server import CupsServer
from pdftools import decode, flat, off_the_ring, text_of, words

from burner.printout import label

pytestmark = pytest.mark.slow     # prints through a private cupsd

JOB = "RX-2026-0042"


def cups_station(root: Path, server: CupsServer, label_queue: str | None = None) -> StationDir:
    station = new_station(root)
    q = json.dumps
    with station.config.open("a", encoding="utf-8") as fp:
        fp.write("\n".join(["[printing]", 'mode = "cups"', f"cover_queue = {q(server.queue)}",
                            f"label_queue = {q(label_queue or server.queue)}",
                            'label_options = "media=Custom.120x120mm"',
                            f"server = {q(server.socket)}", 'paper = "Letter"', ""]))
    return station


def result_of(station: StationDir, job_id: str) -> dict:
    return json.loads((station.folder("done") / job_id / "result.json").read_text())


def by_title(pdfs: list[Path]) -> dict[str, str]:
    """{"cover": text, "label1": text, ...} of PDFs cups-pdf named after the job title."""
    out = {}
    for pdf in pdfs:
        item = next(i for i in ("cover", "label1", "insert1") if f"_{i}" in pdf.name)
        out[item] = flat(text_of(pdf))
    return out


def test_cover_and_label_arrive_through_cups(tmp_path: Path, cups_server: CupsServer) -> None:
    station = cups_station(tmp_path / "station", cups_server)
    station.add_job(JOB)
    before = set(cups_server.pdfs())
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where(JOB) == ["done"]
    result = result_of(station, JOB)
    assert result["printing"] == "printed", result["prints"]
    assert {p["item"]: p["state"] for p in result["prints"]} == {
        "cover": "printed", "label1": "printed", "insert1": "printed"}
    assert all("CUPS request PDF-" in p["detail"] for p in result["prints"])

    arrived = cups_server.wait_for(3, since=before)
    texts = by_title(arrived)
    assert set(texts) == {"cover", "label1", "insert1"}
    for item, text in texts.items():
        assert "Robin Tester" in text and JOB in text, item
    assert "TESTACC1" in texts["cover"] and "Born 1975-06-15" in texts["label1"]
    assert "DICOM PLUS WEB" in texts["label1"] and "Disc 1 of 1" in texts["label1"]
    cover = next(p for p in arrived if "_cover" in p.name)
    assert decode(cover, tmp_path) == {f"CODE-128:{JOB}", f"QR-Code:{JOB}"}
    disc = next(p for p in arrived if "_label1" in p.name)
    (size,) = words(disc)[1]
    assert size == (pytest.approx(340, abs=1), pytest.approx(340, abs=1)), \
        "label_options gave the label queue a 120 mm page"
    assert off_the_ring(disc, label.HUB_CLEAR, label.PRINTABLE) == []
    assert decode(disc, tmp_path) == {f"CODE-128:{JOB}"}


def test_printer_outage_leaves_printing_pending_until_reprint(
        tmp_path: Path, cups_server: CupsServer) -> None:
    station = cups_station(tmp_path / "station", cups_server)
    station.add_job(JOB)
    cups_server.stop()
    try:
        proc = station.cli("run", "--once")
        assert proc.returncode == 0, proc.stderr
        assert station.where(JOB) == ["done"], "a dead printer never fails a good disc"
        result = result_of(station, JOB)
        assert result["state"] == "done" and len(result["copies"]) == 1
        assert station.cli("verify", result["copies"][0]["medium"]).returncode == 0
        assert result["printing"] == "pending"
        assert {p["state"] for p in result["prints"]} == {"pending"}
        assert all("not running" in p["detail"] and f"burner reprint {JOB}" in p["detail"]
                   for p in result["prints"])
        status = station.cli("status")
        assert "printing pending" in status.stdout, status.stdout
        assert json.loads(station.cli("status", "--json").stdout)["jobs"][0]["printing"] \
            == "pending"

        still = station.cli("reprint", JOB)
        assert still.returncode == 1
        assert "could not be printed" in still.stderr and f"burner reprint {JOB}" in still.stderr
        assert "Traceback" not in still.stderr
    finally:
        cups_server.start()

    before = set(cups_server.pdfs())
    again = station.cli("reprint", JOB)
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(by_title(cups_server.wait_for(3, since=before))) == {"cover", "label1", "insert1"}
    result = result_of(station, JOB)
    assert result["printing"] == "printed"
    assert {p["state"] for p in result["prints"]} == {"printed"}
    assert "printing pending" not in station.cli("status").stdout
    rows = station.query("SELECT item, state FROM prints WHERE job_id=? ORDER BY item", JOB)
    assert rows == [("cover", "printed"), ("insert1", "printed"), ("label1", "printed")]

    before = set(cups_server.pdfs())
    only = station.cli("reprint", JOB, "--cover")
    assert only.returncode == 0 and "cover: printed" in only.stdout
    assert set(by_title(cups_server.wait_for(1, since=before))) == {"cover"}


def test_unknown_label_queue_is_pending_and_named(tmp_path: Path,
                                                  cups_server: CupsServer) -> None:
    station = cups_station(tmp_path / "station", cups_server, label_queue="NoSuchQueue")
    station.add_job(JOB)
    assert station.cli("run", "--once").returncode == 0
    result = result_of(station, JOB)
    states = {p["item"]: (p["state"], p["detail"]) for p in result["prints"]}
    assert result["printing"] == "pending"
    assert states["cover"][0] == "printed" and states["insert1"][0] == "printed"
    assert states["label1"][0] == "pending"
    assert "NoSuchQueue is not reachable" in states["label1"][1]
    assert "does not exist" in states["label1"][1]
    doctor = station.cli("doctor")
    assert "ok    printer cover_queue PDF" in doctor.stdout, doctor.stdout
    assert "FAIL  printer label_queue NoSuchQueue" in doctor.stdout and doctor.returncode == 1
