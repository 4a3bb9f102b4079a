"""The front desk as its users meet it (issue 12): a real `burner web` and `burner run` on
loopback (test_web_browser's `site`), Debian's Chromium through Playwright. A request is
registered with its fee and due date shown first, extended with a letter downloaded and read
back with pdftotext; one received 40 days ago cannot be extended; the work list is kept as
worklist.png in $BURNER_ARTIFACTS; the monthly CSV lists the request. The server runs on the
real calendar, so the dates here are counted from today."""

from __future__ import annotations

import csv
import datetime
import io
import re
from pathlib import Path

import pytest
from conftest import require_tool
from pdftools import flat, text_of
from test_web_browser import _artefacts, _axe_problems, _sign_in, browser, site  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

ONE_DAY = datetime.timedelta(days=1)


def _register(page, base: str, family: str, received: datetime.date,
              fmt: str = "dvd", shot: Path | None = None) -> str:
    """Fill in the register form, check the fee and due date, register; the request id."""
    page.goto(base + "/requests")
    page.get_by_role("link", name="Register a new request").click()
    page.wait_for_url(base + "/requests/new")
    page.get_by_label("Family name", exact=True).fill(family)
    page.get_by_label("Given name(s)", exact=True).fill("Quentin")
    page.get_by_label("Patient ID (MRN)", exact=True).fill("MRN-4455")
    page.get_by_label("Birth date", exact=True).fill("1961-07-23")
    page.get_by_label("Exams (one a line: accession number or description and date)",
                      exact=True).fill("ACC-1 CT chest")
    page.get_by_label("Format asked for", exact=True).select_option(fmt)
    page.get_by_label("Date received", exact=True).fill(received.isoformat())
    page.get_by_role("button", name="Check the fee and due date").click()
    page.wait_for_selector("#check")
    due = received + 30 * ONE_DAY
    assert page.locator("#check-fee").inner_text() == "6.50 USD"
    assert page.locator("#check-due").inner_text().startswith(due.isoformat())
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    page.get_by_role("button", name="Register the request").click()
    page.wait_for_url(re.compile(r".*/requests/RQ-\d{4}-\d{4}\?done=registered$"))
    request_id = re.search(r"/requests/(RQ-\d{4}-\d{4})", page.url)[1]
    assert page.get_by_role("status").inner_text() == "The request is registered."
    assert page.locator("#due").inner_text().startswith(due.isoformat())
    assert page.locator("#fee").inner_text().startswith("6.50 USD")
    return request_id


def test_the_front_desk_registers_extends_lists_and_reports(
        site, browser, tmp_path) -> None:  # noqa: F811 - test_web_browser's fixtures
    require_tool("pdftotext")
    station, base = site
    folder = _artefacts(tmp_path)
    today = datetime.date.today()
    page = browser.new_page(accept_downloads=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, base, "desk")
    assert page.locator("#desk-summary").count() == 1
    problems = _axe_problems(page, "desk-board", folder)

    # A request received 10 days ago: extended, with the letter.
    page.goto(base + "/requests/new")
    problems += _axe_problems(page, "request-new", folder)
    first = _register(page, base, "Zanzibar", today - 10 * ONE_DAY,
                      shot=folder / "request-new.png")
    problems += _axe_problems(page, "request", folder)
    new_due = today + 30 * ONE_DAY                        # 10 days past the due date
    reason = "The older images are being moved to a new archive."
    page.get_by_label("Reason for the delay (goes into the letter)").fill(reason)
    page.get_by_label("Date the records are expected").fill(new_due.isoformat())
    page.get_by_role("button", name="Record the extension and make the letter").click()
    page.wait_for_url(f"{base}/requests/{first}?done=extended")
    assert "extended" in page.locator("#due").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the letter to the patient (PDF)").click()
    assert download.value.suggested_filename == f"{first}-extension.pdf"
    letter = tmp_path / "letter.pdf"
    download.value.save_as(letter)
    text = flat(text_of(letter))
    assert reason in text and f"Expected date {new_due.isoformat()}" in text
    assert f"Original due date {(today + 20 * ONE_DAY).isoformat()}" in text and first in text
    assert "one extension the law allows" in text
    page.screenshot(path=str(folder / "request.png"), full_page=True)

    # A request received 40 days ago is past day 30: no extension, said in words.
    late = _register(page, base, "Yellowstone", today - 40 * ONE_DAY, fmt="usb")
    refusal = page.locator("#no-extension").inner_text()
    assert f"Request {late} is past day 30" in refusal and "too late to extend" in refusal
    assert page.get_by_role("button", name="Record the extension and make the letter"
                            ).count() == 0

    # The work list: the late one on top, in red and with the word; the extended one marked.
    page.get_by_role("link", name="Requests", exact=True).click()
    page.wait_for_url(base + "/requests")
    rows = page.locator("#worklist tbody tr")
    assert rows.nth(0).get_attribute("id") == f"request-{late}"
    assert rows.nth(1).get_attribute("id") == f"request-{first}"
    assert rows.nth(0).get_attribute("class") == "overdue"
    assert "overdue by 10 days" in rows.nth(0).inner_text()
    background = rows.nth(0).locator("td").first.evaluate(
        "el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(253, 226, 226)", background
    assert "extended" in rows.nth(1).inner_text()
    page.screenshot(path=str(folder / "worklist.png"), full_page=True)
    problems += _axe_problems(page, "worklist", folder)
    page.get_by_label("overdue only").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(base + "/requests?state=&format=&overdue=1&q=")
    assert page.locator("#worklist tbody tr").count() == 1

    # The office's records: the month's CSV lists both.
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r".*/reports$"))
    page.get_by_label("Received from").fill((today - 60 * ONE_DAY).isoformat())
    page.get_by_label("to", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/reports\?from=.*"))
    problems += _axe_problems(page, "reports", folder)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV (spreadsheet)").click()
    saved = tmp_path / "monthly.csv"
    download.value.save_as(saved)
    _, requests = saved.read_text().split("\n\n")      # the months, then each request
    listed = {r["request"]: r for r in csv.DictReader(io.StringIO(requests))}
    assert set(listed) == {first, late}
    assert listed[first]["extended"] == "yes" and listed[late]["overdue"] == "yes"
    assert "Zanzibar" not in saved.read_text()
    assert problems == [], "\n".join(problems)
    assert errors == [], errors                 # no script or CSP errors
    Path(folder / "monthly.csv").write_bytes(saved.read_bytes())
