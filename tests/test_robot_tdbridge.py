"""Issue 14, Epson: a station burning through EPSON TD Bridge's hot folder
(burner/media/tdbridge.py), against the TD Bridge simulator (tests/sim_tdbridge.py).

The station tests run `burner run` as a separate process, configured with one robot drive
whose hot folder the simulator (a thread of this test) watches; the robot's PC sees the hot
folder as \\\\ROBOTPC\\burner. The parser tests feed the writer hostile status files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import StationDir, new_station, serve, stop
from sim_tdbridge import TdBridgeSimulator, sha256

from burner.config import DriveConfig
from burner.media.robot import CANCELLED, DONE, ERROR, QUEUED, WORKING, RobotFault
from burner.media.tdbridge import (
    STATUS_FILE,
    StatusFileError,
    TdBridgeWriter,
    cancel_text,
    clean,
    job_description,
    merge_text,
    parse_status,
)
from burner.media.writer import BUSY, FAULT, NO_MEDIUM, READY

ROBOT_ROOT = "\\\\ROBOTPC\\burner"
LABEL_DESIGN = "C:\\labels\\patient.tdd"
PUBLISHER = "PP-100"
SET_CAPACITY_MB = 5      # with SET_SLICES slices, the test job becomes a set of two discs
SET_SLICES = 24

Robot = tuple[StationDir, TdBridgeSimulator, Path]


def robot_drive(hot: Path, capacity_mb: int | None = None) -> str:
    q = json.dumps       # a JSON string is a valid TOML basic string
    return "\n".join(["[[drives]]", 'name = "robot"', 'robot = "epson"',
                      f"device = {q(str(hot))}", f"robot_path = {q(ROBOT_ROOT)}",
                      'media = "dvd"', "poll_seconds = 0.1", f"publisher = {q(PUBLISHER)}",
                      f"label_design = {q(LABEL_DESIGN)}", "timeout_minutes = 5",
                      *([f"capacity_mb = {capacity_mb}"] if capacity_mb else [])])


@pytest.fixture
def make_robot(tmp_path: Path) -> Iterator[Callable[..., Robot]]:
    """make_robot(capacity_mb=None) -> (station, running simulator, hot folder); every
    simulator made is stopped at the end."""
    sims: list[TdBridgeSimulator] = []

    def make(capacity_mb: int | None = None) -> Robot:
        hot = tmp_path / "hot"
        station = new_station(tmp_path / "station", drives_toml=robot_drive(hot, capacity_mb))
        sim = TdBridgeSimulator(hot, tmp_path / "out", ROBOT_ROOT, publisher=PUBLISHER)
        sims.append(sim)
        return station, sim.start(), hot

    yield make
    for sim in sims:
        sim.stop()


def in_background(station: StationDir, log: Path) -> subprocess.Popen:
    """`burner run --once` in the background, its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(station.command("run", "--once"), env=station.env(),
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait for a background `burner run --once` to end well."""
    assert proc.wait(timeout=timeout) == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def kill(proc: subprocess.Popen) -> None:
    """End a background station that is still running (a test failed)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def copies_of(station: StationDir, job_id: str) -> list[tuple]:
    return station.query("SELECT volume, copy, medium, sha256 FROM copies WHERE job_id = ? "
                         "ORDER BY volume, copy", job_id)


def result_of(station: StationDir, job_id: str) -> dict:
    return json.loads((station.folder("done") / job_id / "result.json").read_text())


def assert_clean_protocol(sim: TdBridgeSimulator, hot: Path) -> None:
    """Every job file TD Bridge took was valid, and burner left nothing behind."""
    assert sim.problems == []
    assert list((hot / "images").iterdir()) == [], "staged images are removed"
    assert not (hot / "labels").exists() or list((hot / "labels").iterdir()) == []


# --- through a station ------------------------------------------------------------------------


@pytest.mark.slow
def test_two_copies_of_a_two_disc_set_are_four_robot_jobs_and_four_copies(
        make_robot: Callable[..., Robot]) -> None:
    station, sim, hot = make_robot(SET_CAPACITY_MB)
    station.add_job("E1", copies=2, slices=SET_SLICES)
    proc = station.cli("run", "--once", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert station.where("E1") == ["done"], proc.stderr

    labels = [f"disc{v}-copy{c}" for v in (1, 2) for c in (1, 2)]
    assert sim.submissions == {f"E1-{label}": 1 for label in labels}, "one JDF per copy"
    rows = copies_of(station, "E1")
    assert [(v, c, m) for v, c, m, _ in rows] == \
        [(v, c, f"robot:E1-disc{v}-copy{c}") for v in (1, 2) for c in (1, 2)]
    result = result_of(station, "E1")
    assert sorted((c["volume"], c["copy"]) for c in result["copies"]) == \
        [(1, 1), (1, 2), (2, 1), (2, 2)]
    images = {v["index"]: v["sha256"] for v in result["volumes"]}
    assert len(images) == 2 and images[1] != images[2]

    assert len(sim.burns) == 4 and sim.rejected == []
    for burn in sim.burns:
        volume = int(burn.job.split("-disc")[1].split("-")[0])
        assert sha256(burn.path) == burn.sha256 == burn.image_sha256 == images[volume]
    assert sorted(p.name for p in (hot.parent / "out").iterdir()) == \
        sorted(f"E1-{label}-1.iso" for label in labels)

    for label in labels:
        jdf = (hot / f"E1-{label}.DON").read_bytes().decode("cp1252")
        assert f"IMAGE={ROBOT_ROOT}\\images\\E1-{label}.iso\r\n" in jdf
        assert "COPIES=1\r\nDISC_TYPE=DVD\r\n" in jdf and f"LABEL={LABEL_DESIGN}\r\n" in jdf
        fields = sim.merges[f"E1-{label}"]
        assert list(fields)[:5] == ["INSTITUTION", "PATIENT", "BORN", "CONTENT", "DISC"]
        assert fields["PATIENT"] == "Robin Tester" and fields["JOB"] == "E1"
        assert fields["DISC"] == f"Disc {label[4]} of 2"
    assert_clean_protocol(sim, hot)


@pytest.mark.slow
def test_out_of_blank_discs_shows_on_the_board_and_the_job_goes_on_after_a_refill(
        make_robot: Callable[..., Robot], tmp_path: Path) -> None:
    station, sim, hot = make_robot()
    sim.run_out_after(1)
    station.add_job("E2", copies=2)
    log = tmp_path / "run.log"
    proc = in_background(station, log)
    try:
        sim.wait_until(lambda: getattr(sim.jobs.get("E2-disc1-copy2"), "ext", "") == "STP",
                       what="the second copy to wait for a blank disc")
        drives = station.cli("drives")
        assert drives.returncode == 0, drives.stderr
        assert "robot: " in drives.stdout and "out of blank discs" in drives.stdout, \
            drives.stdout
        assert [b.job for b in sim.burns] == ["E2-disc1-copy1"]
        assert proc.poll() is None, "the job waits for the robot"
        sim.refill()
        finish(proc, log)
    finally:
        kill(proc)
    assert station.where("E2") == ["done"]
    assert sim.submissions == {"E2-disc1-copy1": 1, "E2-disc1-copy2": 1}
    assert sorted(b.job for b in sim.burns) == ["E2-disc1-copy1", "E2-disc1-copy2"], \
        "no copy was burned twice"
    assert [(v, c) for v, c, _, _ in copies_of(station, "E2")] == [(1, 1), (1, 2)]
    assert "ready" in station.cli("drives").stdout
    assert_clean_protocol(sim, hot)


@pytest.mark.slow
def test_a_station_killed_while_the_robot_works_adopts_its_job_on_restart(
        make_robot: Callable[..., Robot], tmp_path: Path) -> None:
    station, sim, hot = make_robot()
    sim.slow(1.5)
    station.add_job("E3", copies=2)
    log = tmp_path / "service.log"
    first = serve(station, log)
    second = None
    try:
        sim.wait_until(lambda: (hot / "E3-disc1-copy1.INP").exists()
                       and sim.jobs["E3-disc1-copy1"].burning is not None,
                       what="the robot to work on copy 1")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
        # the robot finishes the disc while the station is down
        sim.wait_until(lambda: (hot / "E3-disc1-copy1.DON").exists(),
                       what="the robot to finish copy 1")
        second = serve(station, log)
        end = time.monotonic() + 120
        while station.where("E3") != ["done"]:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < end, log.read_text()
            time.sleep(0.1)
    finally:
        stop(first, *([second] if second else []))
    assert sim.submissions == {"E3-disc1-copy1": 1, "E3-disc1-copy2": 1}, \
        "the robot job of copy 1 was adopted, not submitted again"
    assert sorted(b.job for b in sim.burns) == ["E3-disc1-copy1", "E3-disc1-copy2"]
    assert [(v, c, m) for v, c, m, _ in copies_of(station, "E3")] == \
        [(1, 1, "robot:E3-disc1-copy1"), (1, 2, "robot:E3-disc1-copy2")]
    assert len(result_of(station, "E3")["copies"]) == 2
    assert "Traceback" not in log.read_text()
    assert_clean_protocol(sim, hot)


@pytest.mark.slow
def test_a_cancel_while_the_robot_works_cancels_the_robot_job(
        make_robot: Callable[..., Robot], tmp_path: Path) -> None:
    station, sim, hot = make_robot()
    sim.slow(60)
    station.add_job("E4")
    log = tmp_path / "run.log"
    proc = in_background(station, log)
    try:
        sim.wait_until(lambda: "E4-disc1-copy1" in sim.jobs
                       and sim.jobs["E4-disc1-copy1"].burning is not None,
                       what="the robot to work on the disc")
        cancel = station.cli("cancel", "E4", "--by", "clerk7")
        assert cancel.returncode == 0, cancel.stderr
        finish(proc, log)
    finally:
        kill(proc)
    assert (hot / "E4-disc1-copy1.CDN").exists(), "TD Bridge took the JCF"
    assert (hot / "E4-disc1-copy1.DON").exists()
    assert sim.cancels == {"E4-disc1-copy1": "CDN"}
    assert station.where("E4") == ["rejected"]
    assert station.query("SELECT state, reason_code FROM jobs WHERE job_id = 'E4'") == \
        [("rejected", "CANCELLED")]
    reason = (station.folder("rejected") / "E4" / "reason.txt").read_text()
    assert "cancelled by an operator" in reason and "the robot was told to stop" in reason
    assert copies_of(station, "E4") == [] and sim.burns == []
    assert sim.submissions == {"E4-disc1-copy1": 1}
    assert_clean_protocol(sim, hot)


@pytest.mark.slow
def test_a_disc_the_robot_rejects_is_replaced_and_the_copy_counted_once(
        make_robot: Callable[..., Robot]) -> None:
    station, sim, hot = make_robot()
    sim.reject_next(1)
    station.add_job("E5")
    proc = station.cli("run", "--once", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert station.where("E5") == ["done"], proc.stderr
    assert len(sim.rejected) == 1 and [b.job for b in sim.burns] == ["E5-disc1-copy1"]
    assert sim.submissions == {"E5-disc1-copy1": 1}
    assert [(v, c) for v, c, _, _ in copies_of(station, "E5")] == [(1, 1)]
    assert len(result_of(station, "E5")["copies"]) == 1
    assert "COMPLETION_NUMBER=1\nERRORDISC_NUMBER=1\n" in (hot / STATUS_FILE).read_text()
    assert_clean_protocol(sim, hot)


# --- the writer against the simulator, without a station ------------------------------------


def writer_for(hot: Path, tmp_path: Path, **settings: object) -> TdBridgeWriter:
    drive = DriveConfig("robot", str(hot), "dvd", robot="epson", robot_path=ROBOT_ROOT,
                        publisher=str(settings.pop("publisher", PUBLISHER)),
                        label_design=LABEL_DESIGN, poll_seconds=0.05, **settings)
    return TdBridgeWriter(drive, tmp_path / "tray", "W1")


def an_image(tmp_path: Path) -> tuple[Path, int, str]:
    image = tmp_path / "vol1.iso"
    image.write_bytes(os.urandom(64 * 1024))
    return image, image.stat().st_size, sha256(image)


def test_robot_faults_in_words_for_the_board(tmp_path: Path) -> None:
    """Ink, a pause (STP) and an empty input stacker, as `burner drives` and the board show
    them; each job goes on when the cause is removed."""
    hot = tmp_path / "hot"
    writer = writer_for(hot, tmp_path)
    assert writer.status().state == FAULT and "TDBStatus.txt is not in the hot folder" in \
        writer.status().words
    with TdBridgeSimulator(hot, tmp_path / "out", ROBOT_ROOT, publisher=PUBLISHER) as sim:
        assert (writer.status().state, writer.status().words) == (READY, "ready")
        sim.set_ink("INK_Y", 4)
        sim.settle()
        assert writer.status().words == "ready; ink low (yellow)"
        sim.set_ink("INK_C", 0)
        sim.settle()
        status = writer.status()
        assert (status.state, status.words) == (FAULT, "ink cartridge empty (cyan): replace it")
        sim.set_ink("INK_C", 100)
        sim.run_out_after(0)
        sim.settle()
        status = writer.status()
        assert status.state == NO_MEDIUM and status.words.startswith("out of blank discs")
        sim.refill()
        sim.slow(0.5)
        sim.pause()
        image, size, digest = an_image(tmp_path)
        staged = hot / "images" / "W1-disc1-copy1.iso"
        staged.parent.mkdir(parents=True)
        staged.write_bytes(image.read_bytes())
        writer.submit("W1-disc1-copy1", writer.robot_path(staged), "disc1-copy1")
        sim.wait_until(lambda: (hot / "W1-disc1-copy1.STP").exists(), what="STP")
        sim.settle()
        job = writer.poll("W1-disc1-copy1")
        assert job is not None and job.state == WORKING and job.words.startswith("paused")
        assert writer.status().state == FAULT and "paused" in writer.status().words
        sim.resume()
        sim.wait_until(lambda: (hot / "W1-disc1-copy1.INP").exists(), what="INP")
        sim.settle()
        assert writer.status().state == BUSY
        sim.wait_until(lambda: (hot / "W1-disc1-copy1.DON").exists(), what="DON")
        sim.settle()
        done = writer.poll("W1-disc1-copy1")
        assert done is not None and (done.state, done.made, done.failed) == (DONE, 1, 0)
        assert sim.burns[0].sha256 == digest and sim.problems == []


def test_write_copy_submits_once_and_adopts_a_job_it_finds(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    image, size, digest = an_image(tmp_path)
    with TdBridgeSimulator(hot, tmp_path / "out", ROBOT_ROOT, publisher=PUBLISHER) as sim:
        writer = writer_for(hot, tmp_path)
        assert writer.write_copy(image, size, digest, "disc1-copy1") == "robot:W1-disc1-copy1"
        # a second writer (a restarted station) finds the memo and the finished job
        again = writer_for(hot, tmp_path)
        assert again.write_copy(image, size, digest, "disc1-copy1") == "robot:W1-disc1-copy1"
        assert sim.submissions == {"W1-disc1-copy1": 1} and len(sim.burns) == 1


# --- the parsers, against hostile files ---------------------------------------------------


def good_status(job: str = "J-1", **job_keys: str) -> str:
    keys = {"PUBLISHER": PUBLISHER, "STATUS": "4", "PUBLICATION_NUMBER": "1",
            "COMPLETION_NUMBER": "1", "ERRORDISC_NUMBER": "0", "IN_STACKER": "1",
            "OUT_STACKER": "4", "ERROR": "", "DETAIL_STATUS": "9", **job_keys}
    return "\r\n".join(["[ACTIVE_JOB]", "[COMPLETE_JOB]", f"JOB1={job}", f"[{job}]",
                        *(f"{k}={v}" for k, v in keys.items()),
                        "[PUBLISHER1]", f"NAME={PUBLISHER}", "STACKER1=40", "STACKER2=0",
                        "STACKER3=-1", "STACKER4=3", "INK_C=50", "INK_M=50", "INK_Y=50",
                        "INK_LC=50", "INK_LM=50", "INK_B=50", ""])


@pytest.fixture
def hot(tmp_path: Path) -> Path:
    folder = tmp_path / "hot"
    folder.mkdir()
    return folder


def test_a_status_file_as_td_bridge_writes_it(hot: Path, tmp_path: Path) -> None:
    text = good_status(FUTURE_KEY="ignored") + "[SOMETHING_NEW]\r\nX=1\r\n"
    status = parse_status(text)
    entry = status.job("J-1")
    assert entry is not None and (entry.status, entry.completion, entry.error_discs) == \
        (4, 1, 0)
    assert status.job("J-2") is None and status.publishers() == {"PUBLISHER1": PUBLISHER}
    (hot / STATUS_FILE).write_text(text)
    (hot / "J-1.DON").write_text("")
    writer = writer_for(hot, tmp_path)
    assert writer.poll("J-1").state == DONE
    assert (writer.status().state, writer.status().words) == (READY, "ready")


@pytest.mark.parametrize(("data", "words"), [
    (b"x" * (300 * 1024), "larger than 256 KB"),
    (b"[J-1]\r\nERROR=" + "\u00e9".encode() * (200 * 1024), "larger than 256 KB"),
    (b"[J-1]\r\nSTATUS=4\x00\x00\xff\r\n", "control characters or binary data"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "line 1 is not KEY=value"),
    (b"[J-1]\r\nSTATUS=4\r\nSTATUS=2\r\n", "STATUS comes twice in its section"),
    (b"[J-1]\r\nSTATUS=4\r\n[J-1]\r\nSTATUS=2\r\n", "the section [J-1] comes twice"),
    (b"STATUS=4\r\n", "is not KEY=value inside a [section]"),
    (b"[J-1]\r\nstatus=4\r\n", "is not KEY=value inside a [section]"),
    (b"[J-1]\r\n STATUS=4\r\n", "is not KEY=value inside a [section]"),
    (b"[J-1]\r\nJUST TEXT\r\n", "is not KEY=value inside a [section]"),
])
def test_a_malformed_status_file_is_refused_by_name(hot: Path, tmp_path: Path, data: bytes,
                                                    words: str) -> None:
    with pytest.raises(StatusFileError, match="TD Bridge's status file"):
        parse_status(data.decode("utf-8", errors="replace"))
    (hot / STATUS_FILE).write_bytes(data)
    (hot / "J-1.DON").write_text("")
    writer = writer_for(hot, tmp_path)
    with pytest.raises(StatusFileError) as caught:
        writer.poll("J-1")          # the job ended: its outcome cannot be known
    assert words in str(caught.value)
    status = writer.status()
    assert status.state == FAULT and words in status.words
    (hot / "J-1.DON").rename(hot / "J-1.INP")
    going = writer.poll("J-1")      # a job still going waits for a better file
    assert going is not None and going.state == WORKING and words in going.words


@pytest.mark.parametrize(("key", "value"), [
    ("COMPLETION_NUMBER", "5"),                # more discs than were asked for
    ("PUBLICATION_NUMBER", "3"),               # not the 1 disc burner asks for
    ("COMPLETION_NUMBER", "99999999999"),      # too long
    ("COMPLETION_NUMBER", "-7"),
    ("COMPLETION_NUMBER", "1e3"),
    ("COMPLETION_NUMBER", "\u0661"),           # an Arabic-Indic digit one
    ("ERRORDISC_NUMBER", "1000000"),
    ("STATUS", "100"),
])
def test_lying_numbers_are_refused(hot: Path, tmp_path: Path, key: str, value: str) -> None:
    (hot / STATUS_FILE).write_text(good_status(**{key: value}), encoding="utf-8")
    (hot / "J-1.DON").write_text("")
    writer = writer_for(hot, tmp_path)
    with pytest.raises(StatusFileError, match="is not believable"):
        writer.poll("J-1")


def test_a_lying_stacker_or_ink_level_is_a_fault_not_a_traceback(hot: Path,
                                                                 tmp_path: Path) -> None:
    (hot / STATUS_FILE).write_text(good_status().replace("STACKER1=40", "STACKER1=250"))
    status = writer_for(hot, tmp_path).status()
    assert status.state == FAULT and "STACKER1=250 is not a number of 0 to 100" in status.words


def test_a_fifo_status_file_never_blocks(hot: Path, tmp_path: Path) -> None:
    os.mkfifo(hot / STATUS_FILE)
    writer = writer_for(hot, tmp_path)
    assert writer.status().state == FAULT
    assert writer.poll("J-1") is None


@pytest.mark.parametrize(("files", "keys", "state", "made"), [
    (["J-1.JDF"], None, QUEUED, 0),
    (["J-1.RJD"], {"STATUS": "1"}, QUEUED, 0),
    (["J-1.INP"], {"STATUS": "1", "COMPLETION_NUMBER": "0"}, QUEUED, 0),
    (["J-1.INP"], {"STATUS": "2", "COMPLETION_NUMBER": "0"}, WORKING, 0),
    (["J-1.STP"], {"STATUS": "3", "COMPLETION_NUMBER": "0"}, WORKING, 0),
    (["J-1.DON"], {}, DONE, 1),
    (["J-1.DON"], {"ERRORDISC_NUMBER": "2"}, DONE, 1),
    (["J-1.DON", "J-1.CDN"], {"COMPLETION_NUMBER": "0"}, CANCELLED, 0),
    (["J-1.DON"], {"COMPLETION_NUMBER": "0", "DETAIL_STATUS": "12"}, CANCELLED, 0),
    (["J-1.DON"], {"COMPLETION_NUMBER": "0"}, DONE, 0),        # robot.py refuses made=0
    (["J-1.ERR"], {"STATUS": "5", "COMPLETION_NUMBER": "0", "ERROR": "E1234"}, ERROR, 0),
    (["J-1.ERR"], {"STATUS": "5", "COMPLETION_NUMBER": "1"}, DONE, 1),
    (["J-1.ERR"], {"STATUS": "6", "DETAIL_STATUS": "14", "COMPLETION_NUMBER": "0"}, ERROR, 0),
    (["J-1.DON"], None, WORKING, 0),          # TD Bridge has not yet written the outcome
    ([], {}, DONE, 1),                        # job files already moved to the log folder
    ([], None, None, 0),
])
def test_the_job_state_from_its_file_and_the_status_file(
        hot: Path, tmp_path: Path, files: list[str], keys: dict | None, state: str | None,
        made: int) -> None:
    for name in files:
        (hot / name).write_text("")
    (hot / STATUS_FILE).write_text(good_status(**keys) if keys is not None else
                                   good_status(job="OTHER"))
    job = writer_for(hot, tmp_path).poll("J-1")
    if state is None:
        assert job is None
        return
    assert job is not None and (job.state, job.made) == (state, made), job
    if keys and keys.get("ERROR"):
        assert "E1234" in job.words


def test_a_hostile_job_id_is_never_a_path(hot: Path, tmp_path: Path) -> None:
    (tmp_path / "x.DON").write_text("")
    writer = writer_for(hot, tmp_path)
    assert writer.poll("../x") is None and writer.poll("a" * 41) is None
    with pytest.raises(RobotFault):
        writer.cancel("../x")


def test_which_publisher(hot: Path, tmp_path: Path) -> None:
    two = good_status() + "[PUBLISHER2]\r\nNAME=PP-50\r\nSTACKER1=10\r\n"
    (hot / STATUS_FILE).write_text(two)
    assert writer_for(hot, tmp_path).status().state == READY
    status = writer_for(hot, tmp_path, publisher="PP-7050").status()
    assert status.state == FAULT and "no disc publisher named PP-7050" in status.words
    status = writer_for(hot, tmp_path, publisher="").status()
    assert status.state == FAULT and "several disc publishers" in status.words


# --- what burner writes -------------------------------------------------------------------


def test_a_patient_name_cannot_inject_lines_or_keys() -> None:
    evil = "DOE^JOHN\r\nCOPIES=999\nREPLACE_FIELD=C:\\evil.txt\t=x\x00\u2028"
    jdf = job_description("J-1", "\\\\ROBOTPC\\burner\\images\\J-1.iso", "DVD", evil,
                          publisher=evil, label=LABEL_DESIGN,
                          replace_field="\\\\ROBOTPC\\burner\\labels\\J-1.txt")
    lines = jdf.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line and "\r" not in line for line in lines)
    keys = [line.partition("=")[0] for line in lines[:-1]]
    assert keys == ["JOB_ID", "PUBLISHER", "COPIES", "DISC_TYPE", "IMAGE", "VOLUME_LABEL",
                    "LABEL", "REPLACE_FIELD"]
    assert "COPIES=1" in lines and "PUBLISHER=DOE^JOHN COPIES 999 REPLACE_FIELD C:\\evil.txt x" \
        in lines
    assert [line.count("=") for line in lines[:-1]] == [1] * len(keys)
    assert "VOLUME_LABEL=DOE_JOHN_COPIES_999_REPLACE_FIEL" in lines

    merge = merge_text({"PATIENT": evil, "bad key=": "x", "BORN": "1975-06-15",
                        "NOTE": "n" * 500})
    rows = merge.split("\r\n")
    assert rows[-1] == "" and len(rows) == 5
    assert rows[0] == "PATIENT=DOE^JOHN COPIES 999 REPLACE_FIELD C:\\evil.txt x"
    assert rows[1] == "BAD_KEY=x" and rows[2] == "BORN=1975-06-15"
    assert rows[3] == "NOTE=" + "n" * 100
    assert all(row.count("=") == 1 for row in rows[:-1])
    assert cancel_text("J-1") == "[CANCEL]\r\nJOB_ID=J-1\r\n"
    with pytest.raises(RobotFault, match="cannot be a TD Bridge job id"):
        job_description("J 1\r\nCOPIES=9", "x", "DVD", "v")


def test_names_keep_what_the_robot_pc_can_print() -> None:
    assert clean("Zoë  Ångström", 100) == "Zoë Ångström"
    assert clean("Łukasz Żółć", 100) == "?ukasz Zó?c"
    assert clean("山田^太郎", 100) == "??^??"
    assert clean("x" * 300, 64) == "x" * 64


def test_the_jdf_file_is_written_whole_in_ansi(hot: Path, tmp_path: Path) -> None:
    writer = writer_for(hot, tmp_path, publisher="Publisher Zoë")
    writer.merge = {"PATIENT": "Zoë Ångström"}
    staged = hot / "images" / "W1-disc1-copy1.iso"
    writer.submit("W1-disc1-copy1", writer.robot_path(staged), "disc1-copy1")
    assert sorted(p.name for p in hot.iterdir()) == ["W1-disc1-copy1.JDF", "labels"]
    jdf = (hot / "W1-disc1-copy1.JDF").read_bytes()
    assert b"PUBLISHER=Publisher Zo\xeb\r\n" in jdf
    assert b"REPLACE_FIELD=\\\\ROBOTPC\\burner\\labels\\W1-disc1-copy1.txt\r\n" in jdf
    assert (hot / "labels" / "W1-disc1-copy1.txt").read_bytes() == \
        b"PATIENT=Zo\xeb \xc5ngstr\xf6m\r\n"
    assert list((hot / "labels").glob(".*")) == [], "no temporary file left"
