"""The web app as its users meet it (issue 11): a real `burner web` (uvicorn) and `burner run`
on loopback, driven by Debian's Chromium through Playwright; every process stopped by its PID.
Screenshots of the pages go to $BURNER_ARTIFACTS (else the test's own folder)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import StationDir, require_tool, serve, stop

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site(station: StationDir, tmp_path: Path):
    """(station, base URL): the web app and the station service running."""
    require_tool("chromium")
    port = _free_port()
    station.config.write_text(station.config.read_text()
                              + f'[web]\nlisten = "127.0.0.1:{port}"\nsession_minutes = 15\n')
    for name, role in (("tech", "technician"), ("desk", "front-desk")):
        made = station.cli("user", "add", name, "--role", role, "--password-stdin",
                           input_text=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    with open(tmp_path / "web.log", "ab") as out:
        web = subprocess.Popen(station.command("web"), env=station.env(), stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    runner = serve(station, tmp_path / "run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/signin", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert web.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "burner web did not answer"
                time.sleep(0.2)
        yield station, base
    finally:
        stop(web, runner)
    assert web.returncode is not None and runner.returncode is not None


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BURNER_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(page, base: str, name: str) -> None:
    page.goto(base + "/board")
    assert page.url.endswith("/signin"), "the board needs a signed-in user"
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/board")


def test_sign_in_see_a_job_done_and_retry_a_held_one(site, browser, tmp_path) -> None:
    station, base = site
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, base, "tech")
    station.add_job("B1")                        # while the board is open: no reload below
    seen: list[str] = []
    deadline = time.monotonic() + 120
    row = page.locator("#job-B1")
    while not seen or seen[-1] != "done":
        assert time.monotonic() < deadline, f"B1 did not reach done on the board: {seen}"
        state = row.get_attribute("data-state", timeout=120_000)
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.1)
    assert station.where("B1") == ["done"]
    assert len(seen) >= 2, f"the row changed live: {seen}"
    assert page.locator("#live").inner_text().startswith("Updated")
    page.screenshot(path=str(_artefacts(tmp_path) / "board.png"), full_page=True)

    held = station.add_job("B2", where="rejected")
    (held / "reason.txt").write_text("Job B2 was not processed: a test.")
    page.reload()
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Retry job B2").click()     # asked, then "no"
    page.wait_for_timeout(500)
    assert asked == ["Retry job B2?"] and station.where("B2") == ["rejected"]
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Retry job B2").click()
    page.wait_for_url(base + "/board")
    deadline = time.monotonic() + 120
    while station.where("B2") != ["done"]:
        assert time.monotonic() < deadline, "the retried job did not finish"
        time.sleep(0.3)
    assert errors == [], errors     # no script or CSP errors


def test_front_desk_sees_no_retry_and_is_refused_it(site, browser) -> None:
    station, base = site
    held = station.add_job("F1", where="rejected")
    (held / "reason.txt").write_text("Job F1 was not processed: a test.")
    page = browser.new_page()
    _sign_in(page, base, "desk")
    assert page.locator("#job-F1").count() == 1
    assert page.get_by_role("button", name="Retry job F1").count() == 0
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    status = page.evaluate("""async ([url, csrf]) => {
        const r = await fetch(url, {method: "POST", body: new URLSearchParams({csrf}),
                                    redirect: "manual"});
        return r.status; }""", [base + "/jobs/F1/retry", csrf])
    assert status == 403
    assert station.where("F1") == ["rejected"]


def test_the_sign_in_page_works_with_the_keyboard_alone(site, browser) -> None:
    _, base = site
    page = browser.new_page()
    page.goto(base + "/signin")
    focused = "document.activeElement.id || document.activeElement.textContent.trim()"
    order = [page.evaluate(focused)]             # the user name field has the focus at once
    for _ in range(2):
        page.keyboard.press("Tab")
        order.append(page.evaluate(focused))
    assert order == ["name", "password", "Sign in"], order
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused control is visibly marked"
    page.focus("#name")
    page.keyboard.type("tech")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/board")


def test_the_web_app_stops_at_once_with_a_board_open(site, browser) -> None:
    """An open event stream never ends by itself; SIGTERM must still stop the app quickly
    (systemctl stop), not after the unit's stop timeout."""
    import signal

    station, base = site
    page = browser.new_page()
    _sign_in(page, base, "tech")
    page.wait_for_function("document.getElementById('live').textContent !== ''")
    web = next(p for p in __import__("psutil").process_iter(["cmdline"])
               if p.info["cmdline"] and "web" in p.info["cmdline"]
               and str(station.config) in p.info["cmdline"])
    started = time.monotonic()
    web.send_signal(signal.SIGTERM)
    web.wait(timeout=20)
    assert time.monotonic() - started < 10
