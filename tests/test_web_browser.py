"""The web app as its users meet it (issue 11): a real `burner web` (uvicorn) and `burner run`
on loopback, driven by Debian's Chromium through Playwright; every process stopped by its PID.
Screenshots of the pages go to $BURNER_ARTIFACTS (else the test's own folder)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import StationDir, require_tool, serve, stop

from burner import synth

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site(station: StationDir, tmp_path: Path, request: pytest.FixtureRequest):
    """(station, base URL): the web app and the station service running. Its [web] settings
    can be changed through indirect parametrization, e.g.
    @pytest.mark.parametrize("site", [{"session_minutes": 0.05}], indirect=True);
    "run_env" there is the environment of `burner run` (a checkpoint to pause at)."""
    require_tool("chromium")
    port = _free_port()
    wanted = dict(getattr(request, "param", {}))
    run_env = wanted.pop("run_env", {})
    web = {"session_minutes": 15, **wanted}
    station.config.write_text(station.config.read_text() + f'[web]\nlisten = "127.0.0.1:{port}"\n'
                              + "".join(f"{k} = {v}\n" for k, v in web.items()))
    for name, role in (("tech", "technician"), ("desk", "front-desk"), ("boss", "admin")):
        made = station.cli("user", "add", name, "--role", role, "--password-stdin",
                           input_text=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    with open(tmp_path / "web.log", "ab") as out:
        web = subprocess.Popen(station.command("web"), env=station.env(), stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    runner = serve(station, tmp_path / "run.log", **run_env)
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


def _snapshots(page, job_id: str, until: str, seconds: float = 120) -> list[tuple[str, ...]]:
    """(phase, stage, progress, time left, copies) of the job's row on the open board, each
    time it changed, until its phase is `until`."""
    seen: list[tuple[str, ...]] = []
    deadline = time.monotonic() + seconds
    read = """id => { const row = document.getElementById("job-" + id);
        return row ? [row.dataset.phase || "", ...["stage", "progress", "left", "copies"].map(
            name => row.querySelector("td." + name).textContent)] : null; }"""
    while not seen or seen[-1][0] != until:
        assert time.monotonic() < deadline, f"{job_id} did not reach {until}: {seen}"
        now = page.evaluate(read, job_id)          # the whole row at one moment
        if now is not None and (not seen or seen[-1] != tuple(now)):
            seen.append(tuple(now))
        time.sleep(0.05)
    return seen


WRITE_PAUSE = {"run_env": {"BURNER_PAUSE_AT": "write", "BURNER_PAUSE_SECONDS": "3"}}


@pytest.mark.parametrize("site", [WRITE_PAUSE], indirect=True)
def test_a_job_moves_live_through_its_stages_to_done(site, browser, tmp_path) -> None:
    """Submitted while the board is open, the job appears and goes through its stages to done
    without a reload, with progress numbers that increase (the station stops for 3 s after
    each of its two copies is written, so the count after the first is surely seen)."""
    station, base = site
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, base, "tech")
    station.add_job("B1", slices=40, copies=2)
    seen = _snapshots(page, "B1", "done")
    assert station.where("B1") == ["done"]
    phases = [s[0] for s in seen]
    assert phases[-1] == "done" and "writing" in phases, seen
    assert len(set(phases)) >= 2, f"it moved on the open board: {seen}"
    written = [re.fullmatch(r"MB written ([\d.]+) of ([\d.]+)", s[2]) for s in seen]
    numbers = [(float(m[1]), float(m[2])) for m in written if m]
    done = [d for d, _ in numbers]
    assert len(set(done)) >= 2 and done == sorted(done), seen
    assert numbers[-1][0] == numbers[-1][1], seen
    assert any(0 < d < total for d, total in numbers), f"no count half-way: {seen}"
    copies = [s[4] for s in seen if s[0] == "writing"]
    assert "1 of 2" in copies, seen
    assert seen[-1][4] == "2", seen                      # copies made
    assert page.locator("#live").inner_text().startswith("Updated")
    page.screenshot(path=str(_artefacts(tmp_path) / "board.png"), full_page=True)
    page.goto(base + "/jobs/B1")
    assert page.locator("#timeline tbody tr").count() >= 9
    assert page.locator("#copies td.hash").first.inner_text() == station.query(
        "SELECT sha256 FROM copies WHERE job_id='B1'")[0][0]
    page.screenshot(path=str(_artefacts(tmp_path) / "job.png"), full_page=True)
    assert errors == [], errors     # no script or CSP errors


def test_a_wrong_patient_job_is_held_with_its_files_then_fixed_and_retried(site, browser,
                                                                          tmp_path) -> None:
    station, base = site
    page = browser.new_page()
    _sign_in(page, base, "tech")
    folder = station.add_job("WP1", where="staging")
    stray = folder / "dicom" / "stray"
    other = synth.Patient(id="OTHER77", name="OTHER^PERSON", birth_date="19500101", sex="F")
    synth.make_ct_study(stray, other, slices=2, rows=32, cols=32)
    (station.spool / "approved").mkdir(parents=True, exist_ok=True)
    folder.rename(station.spool / "approved" / "WP1")
    _snapshots(page, "WP1", "held")
    row = page.locator("#job-WP1")
    assert "WRONG_PATIENT" in row.locator("td.why").inner_text()
    row.locator("details.problems summary").click()
    files = row.locator("details.problems li").all_inner_texts()
    assert len(files) == 2 and all(f.startswith("dicom/stray/") for f in files), files
    assert page.locator("section.notices").get_by_text("WP1").count() >= 1
    page.screenshot(path=str(_artefacts(tmp_path) / "board-held.png"), full_page=True)
    # The technician takes the stray files out of the held job's folder, then retries it.
    shutil.rmtree(station.spool / "held" / "WP1" / "dicom" / "stray")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Retry job WP1").click()
    page.wait_for_url(base + "/board")
    _snapshots(page, "WP1", "done")
    assert station.where("WP1") == ["done"]
    assert station.query("SELECT count(*) FROM copies WHERE job_id='WP1'") == [(1,)]


@pytest.mark.parametrize("site", [WRITE_PAUSE], indirect=True)
def test_cancel_while_writing_ends_cancelled_with_no_copy_counted(site, browser) -> None:
    station, base = site
    page = browser.new_page()
    _sign_in(page, base, "tech")
    station.add_job("CW1", copies=2)
    _snapshots(page, "CW1", "writing")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel job CW1").click()
    page.wait_for_url(base + "/board")
    _snapshots(page, "CW1", "rejected")
    row = page.locator("#job-CW1")
    assert "CANCELLED" in row.locator("td.why").inner_text()
    assert row.locator("td.copies").inner_text() == "0"
    assert station.where("CW1") == ["rejected"]
    assert station.query("SELECT count(*) FROM copies WHERE job_id='CW1'") == [(0,)]
    page.goto(base + "/jobs/CW1")
    assert "copy set aside (the job was cancelled)" in page.locator("#history").inner_text()


def test_retry_from_the_page_asks_first(site, browser) -> None:
    station, base = site
    page = browser.new_page()
    _sign_in(page, base, "tech")
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


def test_a_post_without_the_csrf_token_is_refused_in_the_browser(site, browser) -> None:
    """A technician may retry, but not with a form that lacks the page's token (a forged
    request from another site or a script)."""
    station, base = site
    held = station.add_job("F2", where="rejected")
    (held / "reason.txt").write_text("Job F2 was not processed: a test.")
    page = browser.new_page()
    _sign_in(page, base, "tech")
    post = """async ([url, body]) => {
        const r = await fetch(url, {method: "POST", body: new URLSearchParams(body),
                                    redirect: "manual"});
        return [r.status, await r.text()]; }"""
    status, text = page.evaluate(post, [base + "/jobs/F2/retry", {}])
    assert status == 403 and "CSRF" in text
    status, _ = page.evaluate(post, [base + "/jobs/F2/retry", {"csrf": "forged"}])
    assert status == 403
    assert station.where("F2") == ["rejected"]


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
    page.wait_for_function(UPDATED)
    web = next(p for p in __import__("psutil").process_iter(["cmdline"])
               if p.info["cmdline"] and "web" in p.info["cmdline"]
               and str(station.config) in p.info["cmdline"])
    started = time.monotonic()
    web.send_signal(signal.SIGTERM)
    web.wait(timeout=20)
    assert time.monotonic() - started < 10


# --- lock-out, idle timeout, accessibility and the keyboard (issue: browser acceptance) ------

# The board has had its first event. A function, not an expression: Playwright evaluates an
# expression with eval() while it polls, which the app's Content-Security-Policy forbids.
UPDATED = "() => document.getElementById('live').textContent.startsWith('Updated')"


def _submit_sign_in(page, name: str, password: str) -> str:
    """Fill and send the sign-in form on the page as it is; the refusal it shows, or ''."""
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    problem = page.locator("p.problem")
    return problem.inner_text() if problem.count() else ""


def test_five_wrong_passwords_lock_the_account_in_the_browser(site, browser) -> None:
    station, base = site
    page = browser.new_page()
    page.goto(base + "/signin")
    said = [_submit_sign_in(page, "tech", "not the password") for _ in range(5)]
    assert said[:4] == ["The user name or the password is not right."] * 4, said
    assert said[4] == "This account is now locked for 15 minutes after 5 failed sign-ins.", said
    assert page.get_by_role("alert").inner_text() == said[4]
    # The sixth, with the right password, is refused all the same.
    sixth = _submit_sign_in(page, "tech", PASSWORD)
    assert sixth.startswith("This account is locked after 5 failed sign-ins; try again in "), sixth
    assert page.url == base + "/signin"
    page.goto(base + "/board")
    assert page.url == base + "/signin", "the board is not reachable"
    assert station.query("SELECT COUNT(*) FROM sessions") == [(0,)]
    assert station.query("SELECT COUNT(*) FROM actions WHERE user='tech' AND "
                         "action='sign in' AND outcome='refused'") == [(6,)]


# Records the board's "signed-out" events where they outlive the page (sessionStorage), so
# the test knows that the event stream, not anything else, sent the page to sign in.
RECORD_SIGNED_OUT = """
(() => {
  const Original = window.EventSource;
  if (!Original) { return; }
  window.EventSource = function (url, options) {
    const source = new Original(url, options);
    source.addEventListener("signed-out", () => sessionStorage.setItem("signed-out", url));
    return source;
  };
})();
"""


@pytest.mark.parametrize("site", [{"session_minutes": 0.05}], indirect=True)   # 3 seconds
def test_an_idle_board_goes_to_sign_in_by_itself(site, browser) -> None:
    station, base = site
    page = browser.new_page()
    page.add_init_script(RECORD_SIGNED_OUT)
    _sign_in(page, base, "tech")
    opened = time.monotonic()
    page.wait_for_function(UPDATED)
    page.wait_for_url(base + "/signin", timeout=20_000)       # no input from here on
    waited = time.monotonic() - opened
    assert waited > 2, f"signed out after {waited:.1f} s, before the 3 s idle timeout"
    assert page.evaluate("sessionStorage.getItem('signed-out')") == "/board/events"
    page.goto(base + "/board")
    assert page.url == base + "/signin"
    assert station.query("SELECT COUNT(*) FROM sessions") == [(0,)]


def _jobs_on_the_board(station: StationDir) -> None:
    """A1 done (by the running station), A2 and A3 rejected (retry), A4 pending (cancel)."""
    station.add_job("A1")
    for job_id in ("A2", "A3"):
        held = station.add_job(job_id, where="rejected")
        (held / "reason.txt").write_text(f"Job {job_id} was not processed: a test.")
    station.add_job("A4", where="pending", approved_by=None)
    deadline = time.monotonic() + 120
    while station.where("A1") != ["done"]:
        assert time.monotonic() < deadline, "A1 did not reach done"
        time.sleep(0.2)


def _axe_problems(page, what: str, folder: Path) -> list[str]:
    """axe-core's serious and critical violations on the page, each with its help text and
    the selectors it found; every result is kept in `folder` as axe-WHAT.json."""
    import json

    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    (folder / f"axe-{what}.json").write_text(json.dumps(results.response["violations"],
                                                        indent=2))
    assert results.response["testEngine"]["name"] == "axe-core"
    return [f"{what}: {v['id']} ({v['impact']}): {v['help']} at "
            f"{', '.join(' '.join(n['target']) for n in v['nodes'])}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_no_serious_accessibility_problems(site, browser, tmp_path) -> None:
    station, base = site
    _jobs_on_the_board(station)
    folder = _artefacts(tmp_path)
    page = browser.new_page()
    page.goto(base + "/signin")
    problems = _axe_problems(page, "signin", folder)
    # The check can fail: axe, under the app's Content-Security-Policy, finds a button
    # without a name.
    page.evaluate("document.querySelector('main').append(document.createElement('button'))")
    assert any(" button-name (critical)" in p for p in _axe_problems(page, "probe", folder))
    page.reload()
    assert _submit_sign_in(page, "tech", "not the password")
    assert page.get_by_role("alert").count() == 1
    problems += _axe_problems(page, "signin-refused", folder)
    assert _submit_sign_in(page, "tech", PASSWORD) == ""
    assert page.url == base + "/board"
    page.wait_for_function(UPDATED)
    for job_id in ("A1", "A2", "A3", "A4"):
        assert page.locator(f"#job-{job_id}").count() == 1, f"{job_id} is on the board"
    problems += _axe_problems(page, "board", folder)
    page.goto(base + "/jobs/A1")                          # a finished job's page
    assert page.locator("#copies td.hash").count() == 1
    problems += _axe_problems(page, "job", folder)
    page.goto(base + "/board")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(base + "/signin")
    _sign_in(page, base, "boss")
    page.get_by_role("link", name="Action log").click()
    page.wait_for_url(base + "/actions")
    assert page.locator("tbody tr").count() >= 3          # sign-ins and a sign-out
    problems += _axe_problems(page, "actions", folder)
    page.get_by_role("link", name="Users").click()
    page.wait_for_url(base + "/admin/users")
    problems += _axe_problems(page, "users", folder)
    assert problems == [], "\n".join(problems)


# The focused element, as the test names it: its accessible label or text, and whether it
# is visibly marked (an outline or a box shadow) and on the screen.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    name: (el.getAttribute("aria-label") || el.textContent || el.value || "").trim(),
    tag: el.tagName.toLowerCase(),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== "none",
    shown: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
           && box.left < window.innerWidth && box.top < window.innerHeight,
  };
}"""

# Every element the keyboard should reach (in SELECTOR), in document order, by name.
FOCUSABLE = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter(el => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length)
  .map(el => (el.getAttribute("aria-label") || el.textContent || el.value || "").trim())"""
CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]"


def test_the_board_works_with_the_keyboard_alone(site, browser) -> None:
    station, base = site
    _jobs_on_the_board(station)
    page = browser.new_page()
    _sign_in(page, base, "tech")
    page.wait_for_function(UPDATED)
    page.goto(base + "/board")                 # from the top, nothing focused
    page.wait_for_function(UPDATED)
    assert page.evaluate(FOCUSED) is None
    reached: list[dict] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or (reached and focused == reached[0]):
            break                              # out of the page, or round to the start
        reached.append(focused)
    names = [f["name"] for f in reached]
    assert names == page.evaluate(FOCUSABLE, CONTROLS), "Tab follows the document order"
    buttons = page.evaluate(FOCUSABLE, "#jobs tr[id^='job-'] button")   # each job's, in order
    assert {"Retry job A2", "Retry job A3", "Cancel job A4"} <= set(buttons), buttons
    wanted = ["Skip to the content", "Board", "Sign out", *buttons]
    assert [n for n in names if n in wanted] == wanted, names
    for f in reached:
        assert f["name"], f"a {f['tag']} without an accessible name"
        assert f["outline"] or f["shadow"], f"{f['name']} is not visibly marked when focused"
        assert f["shown"], f"{f['name']} is off the screen when focused"
    # The skip link takes the keyboard past the header, to the content.
    page.goto(base + "/board")
    page.wait_for_function(UPDATED)
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["name"] == "Skip to the content"
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/board#main", timeout=10_000)
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")
    # And a job's button works from the keyboard: Enter, then the question answered yes.
    for _ in range(40):
        if page.evaluate(FOCUSED)["name"] == "Cancel job A4":
            break
        page.keyboard.press("Tab")
    page.once("dialog", lambda d: d.accept())
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/board")
    assert station.where("A4") == ["rejected"]
