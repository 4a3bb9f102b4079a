"""From request to hand-over as the front desk meets it (issue 12): a real `burner web` and
`burner run` on loopback, printing through a private cupsd with a cups-pdf queue, four eyes
on, and Debian's Chromium through Playwright. The request is registered on its own page, an
exported folder is attached, previewed and approved by two people, the job burns, the cover
sheet's Code 128 is read from the printed PDF with zbarimg and typed into the scan field (what
a keyboard-wedge scanner does), and the hand-over is recorded with a signature drawn with the
mouse. Screenshots go to $BURNER_ARTIFACTS (else the test's folder)."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from pathlib import Path

import pytest
import test_web_browser
from conftest import StationDir, require_tool, study_patient
from cups_server import CupsServer
from pdftools import decode, flat, text_of
from PIL import Image
from test_printing_cups import cups_station
from test_web_browser import PASSWORD, _artefacts

from burner import synth
from burner.config import load_config
from burner.desk import handover as desk
from burner.desk.register import Register, RequestState
from burner.desk.settings import desk_settings

pytestmark = pytest.mark.slow
# test_web_browser.py's fixtures: the web app and the station service on loopback, Chromium.
site = test_web_browser.site
browser = test_web_browser.browser

FOLDER = "CT-EXPORT-1"
VIEWPORT = {"width": 1280, "height": 900}
FOCUSED = "() => document.activeElement ? document.activeElement.id : ''"


@pytest.fixture
def station(tmp_path: Path, cups_server: CupsServer) -> StationDir:
    """The `site` of test_web_browser.py on a station that prints through the private cupsd
    and asks two people to approve each release."""
    for tool in ("chromium", "zbarimg", "pdftoppm", "cupsd"):
        require_tool(tool)
    station = cups_station(tmp_path / "station", cups_server)
    with station.config.open("a", encoding="utf-8") as fp:
        fp.write("[desk]\nfour_eyes = true\n")
    return station


def _watch(page) -> list[str]:
    """Script and console errors of the page (a CSP refusal is one), as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _desk_page(browser, base: str, name: str):  # noqa: ANN001, ANN202
    page = browser.new_context(viewport=VIEWPORT, accept_downloads=True).new_page()
    errors = _watch(page)
    page.goto(base + "/signin")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/board")
    return page, errors


def _preview_and_approve(page) -> str:  # noqa: ANN001
    """Pick the exported folder, preview it, approve; the words the page answers with."""
    page.get_by_label(FOLDER).check()
    page.get_by_role("button", name="Preview").click()
    page.wait_for_selector("#verdict")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("#outcome")
    return page.locator("#outcome").inner_text()


def _done(station: StationDir, job_id: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while station.where(job_id) != ["done"]:
        assert time.monotonic() < deadline, f"{job_id} did not finish: {station.where(job_id)}"
        time.sleep(0.2)


def test_attach_approve_with_four_eyes_burn_scan_and_hand_over(site, browser, cups_server,
                                                                tmp_path: Path) -> None:
    station, base = site
    for name in ("desk1", "desk2"):
        made = station.cli("user", "add", name, "--role", "front-desk", "--password-stdin",
                           input_text=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    config = load_config(station.config)
    art = _artefacts(tmp_path)

    # The imaging department exports the patient's CT into the intake folder (written aside,
    # then moved in whole).
    intake_dir = desk_settings(config).intake_dir
    intake_dir.mkdir(parents=True, exist_ok=True)
    synth.make_ct_study(tmp_path / "export" / FOLDER, study_patient(), slices=4, rows=64,
                        cols=64, accession="HOACC1")
    os.rename(tmp_path / "export" / FOLDER, intake_dir / FOLDER)

    # desk1 registers the request on the register's page (a DVD, collected at the desk).
    one, errors_one = _desk_page(browser, base, "desk1")
    one.goto(base + "/requests/new")
    one.get_by_label("Family name").fill("TESTER")
    one.get_by_label("Given name(s)").fill("ROBIN")
    one.get_by_label("Patient ID (MRN)").fill(study_patient().id)
    one.get_by_label("Birth date").fill("1975-06-15")
    one.get_by_label("The patient", exact=True).check()
    one.get_by_label("Exams (one a line", exact=False).fill("HOACC1 CT chest")
    one.get_by_label("Format asked for").select_option("dvd")
    one.get_by_label("Delivered by").select_option("pickup")
    one.get_by_role("button", name="Check the fee and due date").click()
    one.get_by_role("button", name="Register the request").click()
    one.wait_for_url(re.compile(r".*/requests/RQ-\d{4}-\d{4}\?.*|.*/requests/RQ-\d{4}-\d{4}$"))
    request_id = re.search(r"/requests/(RQ-\d{4}-\d{4})", one.url).group(1)

    # desk1 attaches the folder, sees what is in it, and gives the first approval.
    one.get_by_role("link", name="Attach images and approve").click()
    one.wait_for_url(f"{base}/requests/{request_id}/images")
    assert "two people" in one.locator(".four-eyes").inner_text()
    one.get_by_label(FOLDER).check()
    one.get_by_role("button", name="Preview").click()
    one.wait_for_selector("#verdict")
    assert one.locator("#verdict").inner_text() == (
        "All 4 DICOM file(s) belong to Robin Tester (ID BRN0042, born 1975-06-15).")
    studies = flat(one.locator("#found-studies").inner_text())
    assert "HOACC1" in studies and "CT CHEST ABDOMEN PELVIS" in studies and " 4 yes" in studies
    assert "TESTER^ROBIN BRN0042" in flat(one.locator("#found-patients").inner_text())
    assert "TESTER" not in one.url and "BRN0042" not in one.url
    one.screenshot(path=str(art / "request-images.png"), full_page=True)
    one.get_by_role("button", name="Approve").click()
    one.wait_for_selector("#outcome")
    assert one.locator("#outcome").inner_text() == (
        "Your approval is recorded. A second person must approve before the job is made.")
    assert "desk1 approved the folder" in one.locator("#first-approval").inner_text()

    # The same person cannot give the second approval.
    words = _preview_and_approve(one)
    assert words.startswith("A second person must approve this release: you (desk1) "
                            "approved it already."), words
    assert one.get_by_role("alert").first.inner_text() == words
    assert not list((station.spool / "approved").glob("*")), "nothing was made yet"

    # desk2 approves: the job is made and lands in approved/.
    before = set(cups_server.pdfs())
    two, errors_two = _desk_page(browser, base, "desk2")
    two.goto(f"{base}/requests/{request_id}/images")
    words = _preview_and_approve(two)
    found = re.fullmatch(r"Job (J\d{8}-[0-9A-F]{6}) was made for request (RQ-\S+) and is "
                         r"queued to be written \(approved by desk1 and desk2\)\.", words)
    assert found and found.group(2) == request_id, words
    job_id = found.group(1)
    assert FOLDER not in [p.name for p in intake_dir.iterdir()], "it cannot be attached twice"

    # desk2 watches it burn on the board (live, no reload); the cover sheet, label and insert
    # arrive from cups-pdf.
    two.goto(base + "/board")
    two.wait_for_function("""id => {
        const row = document.getElementById("job-" + id);
        return row !== null && row.dataset.phase === "done"; }""", arg=job_id, timeout=180_000)
    _done(station, job_id)
    arrived = cups_server.wait_for(3, since=before, timeout=60)
    cover = next(p for p in arrived if "_cover" in p.name)
    codes = decode(cover, tmp_path)
    scanned = next(c.split(":", 1)[1] for c in codes if c.startswith("CODE-128:"))
    assert scanned == job_id, codes

    # desk1 scans the cover sheet at the hand-over page: the scanner types, then Enter. (Two
    # desks' pages share one test browser: desk1's comes to the front, as its own screen is.)
    one.bring_to_front()
    one.get_by_role("link", name="Hand-over").click()
    one.wait_for_url(base + "/handover")
    # The page focuses the field once it has loaded; the URL can change before that.
    one.wait_for_function(f"() => ({FOCUSED})() === 'job_id'", timeout=10_000)
    assert one.evaluate(FOCUSED) == "job_id"
    assert one.get_by_label("Scan the cover sheet or type the job number").count() == 1
    one.keyboard.type(scanned)
    one.keyboard.press("Enter")
    one.wait_for_selector("#for-whom")
    assert one.url == base + "/handover/job" and job_id not in one.url
    assert one.locator("#patient").inner_text() == "Robin Tester"
    assert one.locator("#items li").all_inner_texts() == ["disc 1 of 1, copy 1"]
    one.get_by_label("Photo ID checked", exact=False).check()
    one.get_by_label("The patient", exact=True).check()
    pad = one.locator("#signature-pad")
    assert pad.is_visible(), "handover.js shows the signature pad"
    box = pad.bounding_box()
    one.mouse.move(box["x"] + 30, box["y"] + box["height"] * 0.7)
    one.mouse.down()
    for step in range(1, 25):
        one.mouse.move(box["x"] + 30 + step * 12,
                       box["y"] + box["height"] * (0.7 - 0.4 * ((step % 6) / 6)), steps=2)
    one.mouse.up()
    one.screenshot(path=str(art / "handover.png"), full_page=True)
    one.get_by_role("button", name="Record hand-over").click()
    one.wait_for_selector("#recorded")
    assert "disc 1 of 1, copy 1" in one.locator("#items").inner_text()

    record = desk.get(config, job_id)
    assert record is not None and record.by == "desk1" and record.photo_id_checked
    assert record.receiver_kind == "patient" and record.request_id == request_id
    signature = Image.open(io.BytesIO(record.signature)).convert("RGBA")
    assert signature.getextrema()[3][1] == 255, "the drawn strokes are in the signature"
    with Register(config.db_path) as register:
        assert register.get(request_id).state == RequestState.HANDED_OVER

    # The receipt: downloaded, and printed on the cover sheet's printer.
    with one.expect_download() as download:
        one.get_by_role("link", name="Download receipt").click()
    receipt = tmp_path / "receipt.pdf"
    download.value.save_as(receipt)
    text = flat(text_of(receipt))
    for words in (job_id, request_id, "Robin Tester", "the patient", "disc 1 of 1, copy 1",
                  "desk1"):
        assert words in text, (words, text)
    before = set(cups_server.pdfs())
    one.get_by_role("button", name="Print receipt").click()
    one.wait_for_selector("#printed")
    (printed,) = cups_server.wait_for(1, since=before)
    assert "_receipt" in printed.name and job_id in flat(text_of(printed))
    one.screenshot(path=str(art / "handover-done.png"), full_page=True)

    # The office finds it, fulfilled, in the month's CSV.
    one.get_by_role("link", name="Reports").click()
    one.wait_for_url(re.compile(r".*/reports$"))
    with one.expect_download() as download:
        one.get_by_role("link", name="Download as CSV (spreadsheet)").click()
    monthly = tmp_path / "monthly.csv"
    download.value.save_as(monthly)
    _, per_request = monthly.read_text().split("\n\n")
    (row,) = [r for r in csv.DictReader(io.StringIO(per_request)) if r["request"] == request_id]
    assert row["state"] == "handed over", row
    assert "Robin" not in monthly.read_text(), "no names in the office's records"
    # No script or CSP errors; the refused second approval by desk1 answered 409 on purpose.
    errors = [e for e in errors_one + errors_two if "status of 409" not in e]
    assert errors == [], errors
