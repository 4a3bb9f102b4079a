"""The label kiosk as its users meet it (issue 12): a real `burner web` and `burner run` on
loopback printing through a private cupsd with a cups-pdf queue, and Debian's Chromium at
1024x768 through Playwright. A scan is what a keyboard-wedge scanner does (the job id typed
into the focused field, then Enter); the 60 s return to the idle screen runs on Playwright's
injected clock, not on a sleep. Screenshots go to $BURNER_ARTIFACTS (else the test's folder).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import test_web_browser
from conftest import StationDir, require_tool, study_patient
from cups_server import CupsServer
from pdftools import flat, text_of
from test_printing_cups import cups_station
from test_web_browser import PASSWORD, _artefacts

from burner.words import person_name

pytestmark = pytest.mark.slow
# test_web_browser.py's fixtures: the web app and the station service on loopback, Chromium.
site = test_web_browser.site
browser = test_web_browser.browser

JOB = "KB-2026-7"
NAME = person_name(study_patient().name)          # "Robin Tester"
VIEWPORT = {"width": 1024, "height": 768}
FOCUSED = "() => document.activeElement ? document.activeElement.id : ''"


@pytest.fixture
def station(tmp_path: Path, cups_server: CupsServer) -> StationDir:
    """The `site` of test_web_browser.py, on a station that prints through the private cupsd
    (cover, label and insert on its cups-pdf queue)."""
    require_tool("chromium")
    return cups_station(tmp_path / "station", cups_server)


def _done(station: StationDir, job_id: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while station.where(job_id) != ["done"]:
        assert time.monotonic() < deadline, f"{job_id} did not finish: {station.where(job_id)}"
        time.sleep(0.2)


def _watch(page) -> list[str]:
    """Script errors and console errors (a CSP refusal is one) of the page, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_scan_reprint_a_label_through_cups_and_back_to_idle(site, browser, cups_server,
                                                             tmp_path: Path) -> None:
    station, base = site
    made = station.cli("user", "add", "kiosk1", "--role", "kiosk", "--password-stdin",
                       input_text=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    before = set(cups_server.pdfs())
    station.add_job(JOB)
    _done(station, JOB)
    cups_server.wait_for(3, since=before)          # the job's own cover, label and insert
    before = set(cups_server.pdfs())

    page = browser.new_page(viewport=VIEWPORT)
    errors = _watch(page)
    page.clock.install()                           # the page's timers run on this clock
    page.goto(base + "/kiosk")
    assert page.url == base + "/signin", "the kiosk needs a signed-in user"
    page.get_by_label("User name").fill("kiosk1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/kiosk")

    # The idle screen: no patient data, the field has the focus, large targets, no scrolling.
    assert page.evaluate(FOCUSED) == "job_id"
    assert NAME not in page.locator("body").inner_text()
    size = page.evaluate("() => [document.documentElement.scrollWidth, "
                         "document.documentElement.scrollHeight]")
    assert size[0] <= VIEWPORT["width"] and size[1] <= VIEWPORT["height"], size
    heights = page.evaluate("() => Array.from(document.querySelectorAll('main button'), "
                            "b => b.getBoundingClientRect().height)")
    assert len(heights) == 42 and min(heights) >= 64, heights
    assert "Disc label (PDF): ready" in page.locator("section.printers").inner_text()
    page.screenshot(path=str(_artefacts(tmp_path) / "kiosk-idle.png"))

    # The on-screen keys type into the field, and keep the focus there.
    for key in ("X", "9", "hyphen", "Q"):
        page.get_by_role("button", name=key, exact=True).click()
    page.get_by_role("button", name="Delete the last character").click()
    assert page.input_value("#job_id") == "X9-"
    assert page.evaluate(FOCUSED) == "job_id"
    page.get_by_role("button", name="OK", exact=True).click()
    page.wait_for_selector("#message")
    assert page.get_by_role("alert").inner_text() == (
        "No finished job X9- was found here. Check the number on the cover sheet.")
    assert page.evaluate(FOCUSED) == "job_id"

    # A scan: the scanner types the job id into the focused field, then Enter.
    page.keyboard.type(JOB)
    page.keyboard.press("Enter")
    page.wait_for_selector("#patient")
    assert page.locator("#patient").inner_text() == NAME
    assert page.locator("#job-heading").inner_text() == f"Job {JOB}"
    assert JOB not in page.url and "Tester" not in page.url
    labels = page.locator("button.print").all_inner_texts()
    assert labels == ["Disc label", "Jewel-case insert", "Cover sheet"], labels
    assert page.locator("#printer-label").inner_text().startswith("Printer PDF: ready")
    page.screenshot(path=str(_artefacts(tmp_path) / "kiosk-job.png"))

    # From here the page's clock stands still unless moved on: the job screen that answers the
    # press arms its 60 s at this time, however long the checks below take.
    page.clock.pause_at(page.evaluate("() => Date.now()") / 1000 + 1)    # seconds
    page.get_by_role("button", name="Disc label").click()
    page.wait_for_selector("#outcome")
    assert page.get_by_role("status").inner_text() == "Sent to the printer: Disc label."
    (arrived,) = cups_server.wait_for(1, since=before)
    assert "_label1" in arrived.name, arrived.name     # cups-pdf names it after the title
    text = flat(text_of(arrived))
    assert NAME in text and JOB in text
    time.sleep(1)
    assert set(cups_server.pdfs()) - before == {arrived}, "the label only, once"
    rows = station.query("SELECT action, job_id, outcome FROM actions WHERE user='kiosk1' "
                         "ORDER BY id")
    assert rows[-1] == ("reprint", JOB, "ok"), rows
    page.screenshot(path=str(_artefacts(tmp_path) / "kiosk-printed.png"))

    # No touch for 60 s: back to the idle screen, which shows no patient name.
    page.clock.fast_forward("00:59")
    page.wait_for_timeout(1000)                    # a navigation it began would be seen
    assert page.url == base + "/kiosk/reprint", "not yet after 59 s"
    assert page.locator("#patient").inner_text() == NAME
    page.mouse.click(900, 700)                     # a touch: the 60 s start again
    page.clock.fast_forward("00:59")
    page.wait_for_timeout(1000)
    assert page.url == base + "/kiosk/reprint", "a touch keeps the job screen"
    assert page.locator("#patient").count() == 1
    page.clock.fast_forward("00:02")
    page.wait_for_url(base + "/kiosk")
    page.wait_for_selector("#job_id")
    body = page.locator("body").inner_text()
    assert NAME not in body and "Tester" not in body and "Robin" not in body
    assert page.evaluate(FOCUSED) == "job_id"

    # Left alone, the idle screen loads itself again within the session's idle time, so the
    # kiosk stays signed in (nobody could type a password at it).
    keep = int(page.locator("body").get_attribute("data-keep-seconds"))
    assert 0 < keep <= 15 * 60 / 2
    page.evaluate("() => { window.stillTheSamePage = true; }")
    page.clock.fast_forward(keep * 1000 + 1000)
    page.wait_for_function("() => window.stillTheSamePage !== true")
    assert page.url == base + "/kiosk" and page.locator("#job_id").count() == 1

    # No script or CSP errors; the one failed load is the answer for the unknown job (404).
    assert errors == ["Failed to load resource: the server responded with a status of 404 "
                      "(Not Found)"], errors

    # The kiosk user reaches nothing else.
    for url in ("/board", f"/jobs/{JOB}", "/api/status"):
        answer = page.goto(base + url)
        assert answer is not None and answer.status == 403, url
