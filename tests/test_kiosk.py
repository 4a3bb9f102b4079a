"""The label kiosk (issue 12), in process through Starlette's TestClient: who may reach it, the
idle screen without patient data, a scan of a finished job, the reprint of one printout (folder
mode; CUPS is in test_kiosk_browser.py), the plain words for a job that is not there, and
what an attacker might send (no CSRF token, path tricks, markup in a manifest).

One real job is run to done for the module; the other finished jobs are copies of its folder.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from conftest import StationDir, new_station, study_patient
from test_web_app import PASSWORD, _client, _csrf, sign_in

from burner.config import load_config
from burner.errors import ConfigError
from burner.users import Users
from burner.web.app import create_app
from burner.words import person_name

JOB = "K-2026-0001"
NAME = person_name(study_patient().name)          # "Robin Tester", as the label prints it
PATIENT_WORDS = ("Robin", "Tester", "TESTER", study_patient().id)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> StationDir:
    """A station (folder printing, the default) with the finished job JOB and four users."""
    station = new_station(tmp_path_factory.mktemp("kiosk") / "station")
    station.add_job(JOB)
    ran = station.cli("run", "--once")
    assert ran.returncode == 0, ran.stderr
    assert station.where(JOB) == ["done"]
    with Users(station.db_path) as users:
        for name, role in (("kiosk1", "kiosk"), ("tech", "technician"), ("desk", "front-desk"),
                           ("boss", "admin")):
            users.add(name, role, PASSWORD)
    return station


@pytest.fixture
def app(finished: StationDir):
    return create_app(load_config(finished.config))


def copy_job(station: StationDir, job_id: str, patient_name: str | None = None,
             media: str | None = None) -> Path:
    """A finished job made by copying JOB's folder in done/, with another id (and name)."""
    target = station.folder("done") / job_id
    if not target.exists():
        shutil.copytree(station.folder("done") / JOB, target)
    manifest = json.loads((target / "job.json").read_text())
    manifest["job_id"] = job_id
    if patient_name is not None:
        manifest["patient"]["name"] = patient_name
    (target / "job.json").write_text(json.dumps(manifest))
    if media is not None:
        result = json.loads((target / "result.json").read_text())
        result["media"] = media
        (target / "result.json").write_text(json.dumps(result))
    return target


def scan(client, job_id: str):
    """What a scanner does: the job id typed into the idle screen's field, then Enter."""
    idle = client.get("/kiosk")
    assert idle.status_code == 200, idle.text
    return client.post("/kiosk/job", data={"csrf": _csrf(idle.text), "job_id": job_id})


def actions(station: StationDir, user: str) -> list[tuple[str, str, str, str]]:
    with Users(station.db_path) as users:
        return [(a["action"], a["job_id"], a["outcome"], a["detail"])
                for a in reversed(users.actions()) if a["user"] == user]


def urls(page: str) -> list[str]:
    return re.findall(r'(?:href|action|src)="([^"]+)"', page)


# --- who may reach it -------------------------------------------------------------------------


def test_a_kiosk_user_lands_on_the_kiosk_and_reaches_nothing_else(app) -> None:
    client = _client(app)
    form = client.get("/signin")
    signed = client.post("/signin", data={"name": "kiosk1", "password": PASSWORD,
                                          "csrf": _csrf(form.text)})
    assert (signed.status_code, signed.headers["location"]) == (303, "/kiosk")
    assert client.get("/kiosk").status_code == 200
    assert client.get("/").headers["location"] == "/kiosk"       # its start page
    assert 'href="/board"' not in client.get("/board").text       # nor the refusal's link
    for url in ("/board", f"/jobs/{JOB}", "/api/status", f"/api/jobs/{JOB}", "/actions",
                "/admin/users", "/board/events"):
        assert client.get(url).status_code == 403, url
    board_csrf = _csrf(client.get("/kiosk").text)
    assert client.post(f"/jobs/{JOB}/retry", data={"csrf": board_csrf}).status_code == 403


@pytest.mark.parametrize(("user", "home", "kiosk"), [
    ("tech", "/board", 403), ("desk", "/board", 403), ("boss", "/board", 200)])
def test_other_roles_land_on_the_board_and_only_an_admin_may_open_the_kiosk(
        app, user: str, home: str, kiosk: int) -> None:
    client = _client(app)
    form = client.get("/signin")
    signed = client.post("/signin", data={"name": user, "password": PASSWORD,
                                          "csrf": _csrf(form.text)})
    assert signed.headers["location"] == home
    assert client.get("/kiosk").status_code == kiosk
    # Refused either way: no right to the kiosk, or (the admin) a wrong CSRF token.
    assert client.post("/kiosk/job", data={"csrf": "x", "job_id": JOB}).status_code == 403


def test_the_kiosk_needs_a_signed_in_user(app) -> None:
    client = _client(app)
    assert client.get("/kiosk").headers["location"] == "/signin"
    assert client.post("/kiosk/job", data={"job_id": JOB}).headers["location"] == "/signin"


# --- the idle screen --------------------------------------------------------------------------


def test_the_idle_screen_shows_no_patient_data_and_the_printers(app) -> None:
    client = sign_in(app, "kiosk1")
    scan(client, JOB)                      # a job was looked at just before
    page = client.get("/kiosk").text
    for word in PATIENT_WORDS:
        assert word not in page, word
    assert JOB not in page
    assert 'id="job_id"' in page and " autofocus" in page
    assert '<label for="job_id">Scan the disc\'s cover sheet or type the job number</label>' \
        in page
    assert 'data-idle-seconds="60"' in page and 'data-return="no"' in page
    assert page.count('data-key="') == 41          # 0-9, A-Z, - . _, back, clear
    assert "All printouts: ready (saved as a PDF, no printer)" in page
    assert '<script src="/static/kiosk.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+=|\sstyle=", page)
    for name in ("kiosk.css", "kiosk.js"):
        assert client.get(f"/static/{name}").status_code == 200


def test_every_control_of_the_kiosk_is_labelled(app) -> None:
    client = sign_in(app, "kiosk1")
    pages = [client.get("/kiosk").text, scan(client, JOB).text]
    for page in pages:
        for button in re.findall(r"<button[^>]*>([^<]*)</button>", page):
            assert button.strip(), page
        for field in re.findall(r'<input (?![^>]*type="hidden")[^>]*>', page):
            found = re.search(r'id="([^"]+)"', field)
            assert found and f'<label for="{found[1]}">' in page, field


def test_idle_seconds_comes_from_the_configuration(finished: StationDir, tmp_path: Path) -> None:
    config = tmp_path / "burner.toml"
    config.write_text(finished.config.read_text() + "[kiosk]\nidle_seconds = 90\n")
    client = sign_in(create_app(load_config(config)), "kiosk1")
    assert 'data-idle-seconds="90"' in client.get("/kiosk").text


@pytest.mark.parametrize("value", ["0", "-5", '"soon"', "true", "100000"])
def test_a_bad_idle_seconds_is_a_plain_configuration_error(finished: StationDir, tmp_path: Path,
                                                          value: str) -> None:
    config = tmp_path / "burner.toml"
    config.write_text(finished.config.read_text() + f"[kiosk]\nidle_seconds = {value}\n")
    with pytest.raises(ConfigError, match=r"\[kiosk\] idle_seconds must be a number"):
        create_app(load_config(config))


# --- a scan -----------------------------------------------------------------------------------


def test_a_scan_shows_the_job_with_the_patients_name_and_its_printouts(finished, app) -> None:
    client = sign_in(app, "kiosk1")
    answer = scan(client, f"  {JOB}\n")               # a scanner may add blanks
    assert answer.status_code == 200
    page = answer.text
    assert f'<strong id="patient">{NAME}</strong>' in page
    assert f"<h1 id=\"job-heading\">Job {JOB}</h1>" in page
    buttons = re.findall(r'<button type="submit" class="print"[^>]*>([^<]+)</button>', page)
    assert buttons == ["Disc label", "Jewel-case insert", "Cover sheet"]
    assert 'data-return="yes"' in page and 'href="/kiosk"' in page
    for url in urls(page):
        assert JOB not in url and all(w not in url for w in PATIENT_WORDS), url
    assert actions(finished, "kiosk1")[-1] == ("kiosk look-up", JOB, "ok", "")


def test_the_on_screen_keys_type_capitals_and_still_find_the_job(finished, app) -> None:
    copy_job(finished, "lower-case-1")
    page = scan(sign_in(app, "kiosk1"), "LOWER-CASE-1").text
    assert "Job lower-case-1" in page and NAME in page


def test_a_usb_job_has_a_stick_sticker_and_no_insert(finished, app) -> None:
    job = copy_job(finished, "U-1", media="usb")
    (job / "prints" / "insert1.pdf").unlink()
    client = sign_in(app, "kiosk1")
    page = scan(client, "U-1").text
    buttons = re.findall(r'<button type="submit" class="print"[^>]*>([^<]+)</button>', page)
    assert buttons == ["Stick sticker", "Cover sheet"]
    refused = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": "U-1",
                                                  "item": "insert"})
    assert refused.status_code == 400 and "Choose one of the printouts" in refused.text


@pytest.mark.parametrize(("typed", "status", "words"), [
    ("NOPE-12", 404, "No finished job NOPE-12 was found here. Check the number on the cover "
                     "sheet."),
    ("", 400, "Type the job number first"),
    ("   ", 400, "Type the job number first"),
    ("../done/" + JOB, 400, "That is not a job number."),
    (JOB + "/../" + JOB, 400, "That is not a job number."),
    ("..", 400, "That is not a job number."),
    ("/etc/passwd", 400, "That is not a job number."),
    (".burner-station", 400, "That is not a job number."),
    ("<script>alert(1)</script>", 400, "That is not a job number."),
    ("BRN0042^TESTER^ROBIN", 400, "That is not a job number."),
    ("A" * 65, 400, "That is not a job number."),
    ("A" * 999, 400, "That is not a job number."),
    ("K\u0130-1", 400, "That is not a job number."),
])
def test_a_wrong_number_gets_plain_words_on_the_idle_screen(app, typed: str, status: int,
                                                           words: str) -> None:
    answer = scan(sign_in(app, "kiosk1"), typed)
    assert answer.status_code == status
    assert words in answer.text and 'id="job_id"' in answer.text
    assert 'data-return="yes"' in answer.text      # the message goes away by itself
    for word in PATIENT_WORDS:
        assert word not in answer.text
    if "not a job number" in words:
        assert typed not in answer.text and "&lt;script" not in answer.text, \
            "what was scanned is not shown (it may be a wristband's patient data)"


@pytest.mark.parametrize("folder", ["held", "rejected", "approved", "active"])
def test_an_unfinished_job_is_not_shown(finished, app, folder: str) -> None:
    job_id = f"UNF-{folder}"
    target = finished.folder(folder) / job_id
    if not target.exists():
        shutil.copytree(finished.folder("done") / JOB, target)
    answer = scan(sign_in(app, "kiosk1"), job_id)
    assert answer.status_code == 404
    assert f"No finished job {job_id} was found here." in answer.text
    assert NAME not in answer.text


def test_a_finished_job_whose_manifest_cannot_be_read_is_not_shown(finished, app) -> None:
    job = copy_job(finished, "BROKEN-1")
    (job / "job.json").write_text("{not json")
    answer = scan(sign_in(app, "kiosk1"), "BROKEN-1")
    assert answer.status_code == 404 and "No finished job BROKEN-1" in answer.text


def test_a_post_without_the_csrf_token_is_refused(finished, app) -> None:
    client = sign_in(app, "kiosk1")
    before = finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB)
    for data in ({"job_id": JOB}, {"job_id": JOB, "csrf": "guessed"},
                 {"job_id": JOB, "csrf": "ü" * 43}):
        for url in ("/kiosk/job", "/kiosk/reprint"):
            answer = client.post(url, data={**data, "item": "label"})
            assert answer.status_code == 403 and "CSRF" in answer.text, url
            assert NAME not in answer.text
    assert finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB) == before


def test_markup_in_the_patients_name_is_shown_as_text(finished, app) -> None:
    copy_job(finished, "X-1", patient_name="<b>BOLD</b>^<script>alert(1)</script>")
    page = scan(sign_in(app, "kiosk1"), "X-1").text
    assert "<script>alert" not in page and "<b>BOLD" not in page
    assert '<strong id="patient">&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;BOLD&lt;/b&gt;' \
        '</strong>' in page


# --- a reprint --------------------------------------------------------------------------------


def test_a_reprint_saves_the_label_again_and_is_logged(finished, app, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = sign_in(app, "kiosk1")
    page = scan(client, JOB).text
    saved = finished.data_dir / "prints" / JOB
    (saved / "label1.pdf").unlink()
    before = dict(finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB))
    answer = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": JOB,
                                                 "item": "label"})
    assert answer.status_code == 200, answer.text
    assert '<p class="sent" role="status" id="outcome">Sent to the printer: Disc label.</p>' \
        in answer.text
    assert NAME in answer.text, "the job screen again, to print something else"
    assert (saved / "label1.pdf").read_bytes()[:5] == b"%PDF-"
    after = dict(finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB))
    assert after["label1"] > before["label1"]
    assert after["cover"] == before["cover"] and after["insert1"] == before["insert1"]
    assert actions(finished, "kiosk1")[-1] == ("reprint", JOB, "ok",
                                               "kiosk, label: 1 printout(s) sent")
    assert json.loads((finished.folder("done") / JOB / "result.json").read_text())[
        "printing"] == "printed"
    with Users(finished.db_path) as users:
        logged = " ".join(" ".join(str(v) for v in tuple(a)) for a in users.actions())
    for word in PATIENT_WORDS:
        assert word not in caplog.text and word not in logged, word


def test_each_button_prints_its_own_printout(finished, app) -> None:
    copy_job(finished, "EACH-1")
    client = sign_in(app, "kiosk1")
    page = scan(client, "EACH-1").text
    for item, file in (("cover", "cover.pdf"), ("insert", "insert1.pdf")):
        answer = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": "EACH-1",
                                                     "item": item})
        assert answer.status_code == 200 and "Sent to the printer" in answer.text
        assert (finished.data_dir / "prints" / "EACH-1" / file).is_file()
    assert sorted(p.name for p in (finished.data_dir / "prints" / "EACH-1").iterdir()) == \
        ["cover.pdf", "insert1.pdf"]


@pytest.mark.parametrize("item", ["", "label1", "all", "../cover", "LABEL"])
def test_an_unknown_printout_prints_nothing(finished, app, item: str) -> None:
    client = sign_in(app, "kiosk1")
    page = scan(client, JOB).text
    before = finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB)
    answer = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": JOB,
                                                 "item": item})
    assert answer.status_code == 400 and "Choose one of the printouts" in answer.text
    assert finished.query("SELECT item, at FROM prints WHERE job_id=?", JOB) == before


def test_a_reprint_of_a_job_that_is_not_there_prints_nothing(app) -> None:
    client = sign_in(app, "kiosk1")
    page = client.get("/kiosk").text
    answer = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": "GONE-1",
                                                 "item": "label"})
    assert answer.status_code == 404 and "No finished job GONE-1" in answer.text


def test_a_printer_fault_is_said_in_plain_words_and_logged(finished, tmp_path: Path) -> None:
    """[printing] through a CUPS server that is not there: the job screen says the label was
    not printed and why, the printer's state is shown as not reachable."""
    copy_job(finished, "FAULT-1")
    config = tmp_path / "burner.toml"
    config.write_text(finished.config.read_text() + "\n".join([
        "[printing]", 'mode = "cups"', 'cover_queue = "COVERS"', 'label_queue = "LABELS"',
        f"server = {json.dumps(str(tmp_path / 'no-cups.sock'))}", ""]))
    client = sign_in(create_app(load_config(config)), "kiosk1")
    idle = client.get("/kiosk").text
    assert "Disc label (LABELS): not reachable" in idle
    page = scan(client, "FAULT-1").text
    assert "Printer LABELS: not reachable" in page
    answer = client.post("/kiosk/reprint", data={"csrf": _csrf(page), "job_id": "FAULT-1",
                                                 "item": "label"})
    assert answer.status_code == 409
    fault = re.search(r'<p class="problem" role="alert" id="outcome">([^<]+)</p>', answer.text)
    assert fault and fault[1].startswith("The disc label was not printed: The printer queue "
                                         "LABELS is not reachable"), answer.text
    assert "burner reprint" not in fault[1] and "Ask a technician" in fault[1]
    action, job_id, outcome, detail = actions(finished, "kiosk1")[-1]
    assert (action, job_id, outcome) == ("reprint", "FAULT-1", "failed")
    assert detail.startswith("kiosk, label: The printer queue LABELS is not reachable")
