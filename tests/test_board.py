"""The board's detail (issue 11): progress inside a stage and the time left, where each job is,
the writers with their medium (real xorriso), the printers with their CUPS state (a private
cupsd), the free disk, the job page (timeline, volumes, copies with SHA-256, prints, result,
audit) and the problem files of a held job. In process (TestClient) against jobs run by the
real `burner run --once`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import StationDir, require_tool, run_paused
from test_web_app import PASSWORD, _csrf, sign_in

from burner import synth
from burner.config import load_config
from burner.media.optical import OpticalDrive, medium_word
from burner.operations import equipment as equipment_module
from burner.operations.details import timeline
from burner.operations.equipment import equipment, parse_lpstat, printers
from burner.operations.overview import phase_of, problem_lines
from burner.progress import PROGRESS, Progress, Reporter, read_progress
from burner.state import JobRow
from burner.users import Users
from burner.web.app import create_app
from burner.web.board import board_rows
from burner.web.boardview import left_words


@pytest.fixture
def web(station: StationDir):
    config = load_config(station.config)
    with Users(config.db_path) as users:
        users.add("tech", "technician", PASSWORD)
        users.add("desk", "front-desk", PASSWORD)
    return station, config, create_app(config)


def _row(state: str, stage: str, done: tuple[str, ...] = ()) -> JobRow:
    return JobRow("J", state, stage, done, 0, 0, "", False, "", "", 0.0, 0.0)


# --- progress ---------------------------------------------------------------------------------


def test_a_reporter_writes_whole_reports_and_no_more_often_than_it_should(tmp_path: Path) -> None:
    reporter = Reporter(tmp_path, "gather")
    reporter.begin("files read", 1000)
    first = read_progress(tmp_path)
    assert first is not None and (first.step, first.done, first.total) == ("files read", 0, 1000)
    for _ in range(999):
        reporter.add()
    # Throttled: the 999 calls within half a second did not each write a report.
    assert read_progress(tmp_path).done < 999
    reporter.add()                        # the last one is always written
    last = read_progress(tmp_path)
    assert (last.done, last.total, last.words()) == (1000, 1000, "files read 1000 of 1000")


def test_the_time_left_follows_the_pace_so_far() -> None:
    report = Progress("write", "MB written", 100, 400, started=1000.0, at=1010.0)
    assert report.left_seconds() == pytest.approx(30.0)
    assert report.left_seconds(now=1015.0) == pytest.approx(25.0)
    assert Progress("write", "MB written", 0, 400, 1000.0, 1010.0).left_seconds() is None
    assert left_words(30) == "about 30 s left" and left_words(600) == "about 10 min left"
    assert left_words(None) == ""


@pytest.mark.parametrize("text", [
    b"", b"{", b"[]", b'{"stage": "x"}', b"\xff\xfe",
    json.dumps({"stage": "a", "step": "b", "done": -1, "total": 2, "started": 0, "at": 0,
                "writer": ""}).encode(),
    json.dumps({"stage": "a", "step": "b", "done": 1, "total": 2, "started": 0, "at": 0,
                "writer": "", "extra": 1}).encode(),
    json.dumps({"stage": "a" * 100, "step": "b", "done": 1, "total": 2, "started": 0,
                "at": 0, "writer": ""}).encode(),
    b'{"stage": "a", "step": "b", "done": NaN, "total": 2, "started": 0, "at": 0, "writer": ""}',
    b" " * 5000,
])
def test_a_malformed_report_is_no_report(tmp_path: Path, text: bytes) -> None:
    (tmp_path / PROGRESS).write_bytes(text)
    assert read_progress(tmp_path) is None


def test_a_fifo_in_place_of_the_report_does_not_block_the_board(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / PROGRESS)
    assert read_progress(tmp_path) is None


def test_xorriso_progress_lines_reach_the_writer(tmp_path: Path) -> None:
    """A real burn to a stdio: drive reports MB written as xorriso prints them."""
    xorriso = require_tool("xorriso")
    image = tmp_path / "image.iso"
    image.write_bytes(os.urandom(48 * 1024 * 1024))
    drive = OpticalDrive(f"stdio:{tmp_path / 'disc.iso'}", xorriso)
    seen: list[int] = []
    drive.burn(image, progress=seen.append)
    assert seen and all(0 <= n <= image.stat().st_size for n in seen)
    assert seen == sorted(seen)
    assert medium_word(drive.status()) == "closed"


# --- where a job is ------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "row", "phase"), [
    ("approved", None, "queued"),
    ("approved", _row("queued", "validate"), "queued"),
    ("active", _row("active", "gather"), "preparing"),
    ("active", _row("active", "master", ("master",)), "waiting"),
    ("active", _row("waiting", "write"), "waiting"),
    ("active", _row("active", "write"), "writing"),
    ("active", _row("active", "verify"), "verifying"),
    ("active", _row("active", "print"), "printing"),
    ("held", _row("held", "identity"), "held"),
    ("rejected", None, "rejected"),
    ("done", _row("done", "done"), "done"),
    ("missing", _row("held", "write"), "held"),
])
def test_each_job_has_its_place_on_the_board(folder: str, row: JobRow | None,
                                              phase: str) -> None:
    assert phase_of(folder, row) == phase


def test_the_problem_files_come_from_the_reason() -> None:
    text = "Job X is on hold.\n\nSome files.\n  - a/b.dcm: patient ID is Q\n  - c.dcm: x\n\nrun"
    assert problem_lines(text) == ["a/b.dcm: patient ID is Q", "c.dcm: x"]


def test_the_timeline_has_each_stage_with_its_attempts() -> None:
    history = [
        {"stage": "gather", "event": "started", "at": 10.0},
        {"stage": "gather", "event": "finished", "at": 12.5},
        {"stage": "write", "event": "started", "at": 13.0},
        {"stage": "", "event": "waiting", "at": 14.0},
        {"stage": "write", "event": "started", "at": 20.0},
        {"stage": "write", "event": "finished", "at": 29.0},
        {"stage": "verify", "event": "started", "at": 30.0},
    ]
    spans = {s.stage: s for s in timeline(history)}
    assert (spans["gather"].seconds, spans["gather"].attempts) == (2.5, 1)
    assert (spans["write"].start, spans["write"].seconds, spans["write"].attempts) == \
        (13.0, 16.0, 2)
    assert (spans["verify"].outcome, spans["verify"].seconds) == ("running", None)


# --- equipment ---------------------------------------------------------------------------------


def test_lpstat_answers_become_printer_states() -> None:
    idle = "printer labels is idle.  enabled since Thu 03 Dec 2026\n\tAlerts: none\n"
    assert parse_lpstat("labels", idle, 0)[0] == "idle"
    busy = "printer labels now printing labels-7.  enabled since Thu 03 Dec 2026\n"
    assert parse_lpstat("labels", busy, 0)[0] == "printing"
    empty = ("printer labels disabled since Thu 03 Dec 2026 -\n\tmedia-empty-error\n"
             "\tAlerts: media-empty-error\n")
    assert parse_lpstat("labels", empty, 0)[0] == "out of paper"
    stopped = "printer labels disabled since Thu 03 Dec 2026 -\n\tPaused\n"
    assert parse_lpstat("labels", stopped, 0)[0] == "stopped"
    assert parse_lpstat("labels", 'lpstat: Invalid destination name in list "labels".', 1)[0] \
        == "unreachable"


def test_printer_states_from_a_real_cupsd(tmp_path: Path, cups_server, monkeypatch) -> None:
    monkeypatch.setattr(equipment_module, "QUERY_SECONDS", 0.0)
    station = StationDir(tmp_path, require_tool("xorriso"))
    station.write_config()
    station.config.write_text(station.config.read_text() + "\n".join([
        "[printing]", 'mode = "cups"', f'cover_queue = "{cups_server.queue}"',
        f'label_queue = "{cups_server.queue}"', f'server = "{cups_server.socket}"', ""]))
    config = load_config(station.config)
    assert {p.state for p in printers(config)} == {"idle"}
    subprocess.run(["cupsdisable", "-h", cups_server.socket, "-r", "Out of paper",
                    cups_server.queue], check=True, capture_output=True)
    try:
        states = printers(config)
        assert {p.state for p in states} == {"out of paper"}, states
    finally:
        subprocess.run(["cupsenable", "-h", cups_server.socket, cups_server.queue],
                       check=True, capture_output=True)


def test_the_writer_says_what_medium_is_in_it(station: StationDir, monkeypatch) -> None:
    monkeypatch.setattr(equipment_module, "QUERY_SECONDS", 0.0)
    config = load_config(station.config)
    (writer,) = equipment(config, []).writers
    assert (writer.name, writer.state) == ("drive0", "idle")      # a robot loads a blank
    station.drive.parent.mkdir(parents=True, exist_ok=True)
    image = station.root / "x.iso"
    image.write_bytes(os.urandom(2 * 1024 * 1024))
    OpticalDrive(f"stdio:{station.drive}", station.xorriso).burn(image)
    (writer,) = equipment(config, []).writers
    assert writer.medium == "closed", writer
    # A job writing it: the drive is not asked, the board names the job.
    work = config.work_dir / "W9"
    work.mkdir(parents=True)
    reporter = Reporter(work, "write")
    reporter.begin("MB written", 100, writer="drive0")
    (writer,) = equipment(config, ["W9"]).writers
    assert (writer.state, writer.job_id, writer.words) == ("writing", "W9", "writing job W9")


# --- the board and the job page ------------------------------------------------------------


def _wrong_patient_job(station: StationDir, job_id: str) -> Path:
    folder = station.add_job(job_id, where="staging")
    other = synth.Patient(id="OTHER77", name="OTHER^PERSON", birth_date="19500101", sex="F")
    synth.make_ct_study(folder / "dicom" / "stray", other, slices=1, rows=32, cols=32)
    (station.spool / "approved").mkdir(parents=True, exist_ok=True)
    folder.rename(station.spool / "approved" / job_id)
    return station.spool / "approved" / job_id


def test_board_and_job_page_of_a_finished_job(web) -> None:
    station, config, app = web
    station.add_job("D1")
    ran = station.cli("run", "--once")
    assert ran.returncode == 0, ran.stderr
    client = sign_in(app, "tech")
    board = client.get("/board")
    assert board.status_code == 200
    done = re.search(r'<tbody data-phase="done">(.*?)</tbody>', board.text, re.S).group(1)
    assert 'href="/jobs/D1"' in done and '<td class="copies">1</td>' in done
    assert 'aria-label="Reprint job D1"' in done
    writers = re.search(r'<table id="writers">(.*?)</table>', board.text, re.S).group(1)
    assert "drive0" in writers and "dvd" in writers
    assert re.search(r"Free on the data disk: <span class=\"free\">[\d,]+ MB", board.text)

    page = client.get("/jobs/D1")
    assert page.status_code == 200
    (copy,) = station.query("SELECT sha256 FROM copies WHERE job_id='D1'")
    assert page.text.count(copy[0]) >= 2            # the image and the copy read back
    timeline_table = re.search(r'<table id="timeline">(.*?)</table>', page.text, re.S).group(1)
    for stage in ("validate", "gather", "identity", "plan", "stage", "master", "write",
                  "verify", "print", "done"):
        assert f'<th scope="row">{stage}</th>' in timeline_table, stage
    assert re.search(r"\d+\.\d s</td><td>1</td><td>finished", timeline_table)
    assert "audit.xml" in page.text and "&lt;AuditMessage" in page.text
    assert "result.json" in page.text
    api = client.get("/api/jobs/D1").json()
    assert (api["phase"], api["copies"], api["copies_wanted"]) == ("done", 1, None)
    assert client.get("/jobs/NOPE").status_code == 404
    assert client.get("/jobs/..%2Fetc").status_code == 404


def test_reprint_from_the_page(web) -> None:
    station, config, app = web
    station.add_job("R1")
    assert station.cli("run", "--once").returncode == 0
    before = station.query("SELECT item, at FROM prints WHERE job_id='R1'")
    tech = sign_in(app, "tech")
    assert tech.post("/jobs/R1/reprint", data={"csrf": "wrong"}).status_code == 403
    page = tech.get("/jobs/R1")
    done = tech.post("/jobs/R1/reprint", data={"csrf": _csrf(page.text), "back": "job"})
    assert (done.status_code, done.headers["location"]) == (303, "/jobs/R1")
    after = station.query("SELECT item, at FROM prints WHERE job_id='R1'")
    assert len(after) == len(before) and all(a[1] > b[1] for a, b in zip(
        sorted(after), sorted(before), strict=True))
    with Users(config.db_path) as users:
        logged = users.actions(job_id="R1")
    assert [(a["user"], a["action"], a["outcome"]) for a in logged] == \
        [("tech", "reprint", "ok")]
    assert "reprint" in tech.get("/jobs/R1").text


def test_a_wrong_patient_job_shows_its_problem_files(web) -> None:
    station, config, app = web
    _wrong_patient_job(station, "WP1")
    station.cli("run", "--once")
    assert station.where("WP1") == ["held"]
    client = sign_in(app, "tech")
    board = client.get("/board").text
    held = re.search(r'<tbody data-phase="held">(.*?)</tbody>', board, re.S).group(1)
    assert "WRONG_PATIENT" in held and "problem file(s)" in held
    assert "dicom/stray/" in held
    banner = re.search(r'<section class="notices" role="alert"(.*?)</section>', board, re.S)
    assert banner and 'href="/jobs/WP1"' in banner.group(1) and "OTHER" not in banner.group(1)
    live = board_rows(config)
    assert [n["job_id"] for n in live["notices"] if n["kind"] == "held"] == ["WP1"]
    page = client.get("/jobs/WP1").text
    assert re.search(r'<ul class="problems" id="problems"><li>dicom/stray/', page)
    api = client.get("/api/jobs/WP1").json()
    assert api["phase"] == "held" and api["problems"]
    assert all(p.startswith("dicom/stray/") for p in api["problems"])


def test_progress_inside_a_stage_is_on_the_board(web) -> None:
    station, config, app = web
    station.add_job("P5", slices=12)
    proc = run_paused(station, "gather", 30)
    try:
        client = sign_in(app, "tech")
        api = client.get("/api/jobs/P5").json()
        assert api["phase"] == "preparing" and api["stage"] == "gather"
        assert api["progress"]["words"] == "files read 12 of 12"
        board = client.get("/board").text
        assert "files read 12 of 12" in board
        rows = [r for r in board_rows(config)["jobs"] if r["job_id"] == "P5"]
        assert rows and rows[0]["progress"] == "files read 12 of 12"
    finally:
        proc.kill()
        proc.wait()


def test_a_report_older_than_the_stage_is_not_shown(web, tmp_path: Path) -> None:
    station, config, app = web
    station.add_job("P6")
    proc = run_paused(station, "gather", 30)
    try:
        work = config.work_dir / "P6"
        stale = Progress("master", "MB mastered", 5, 10, time.time(), time.time())
        (work / PROGRESS).write_text(json.dumps(stale.__dict__))
        api = sign_in(app, "tech").get("/api/jobs/P6").json()
        assert api["progress"] is None
    finally:
        proc.kill()
        proc.wait()
