"""Primera disc publishers through PTBurn (issue 14): burner/media/ptburn.py against PTBurn's
published protocol, through tests/sim_ptburn.py (a simulator of PTBurn, written from the same
reference) and through real stations.

The unit tests read and write the protocol's files by hand: job requests a patient's name
cannot add a line to, status files read as hostile input, each file extension's meaning. The
station tests (slow) run `burner run --once` with one robot drive and the simulator: every copy
one robot job, counted exactly; waiting out of discs; adopted after kill -9; cancelled through
a .PTM; a rejected disc; a failed robot job retried as a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import StationDir, new_station
from sim_ptburn import PtBurnSimulator, disc_digests, running

from burner.config import DriveConfig, load_config
from burner.media import ptburn
from burner.media.ptburn import (
    IniFile,
    PtBurnWriter,
    StatusError,
    clean_value,
    job_details,
    jrq_text,
    parse_status,
    read_status,
)
from burner.media.robot import CANCELLED, DONE, ERROR, QUEUED, WORKING, RobotJob
from burner.media.writer import FAULT, NO_MEDIUM, READY
from burner.operations.equipment import writers
from burner.spool import reason_code

ROBOT = "Disc Publisher SIM"
ROBOT_ROOT = "C:\\PTBurnJobs"
DESIGN = "C:\\PTBurnJobs\\labels\\patient.std"
MERGE = {"INSTITUTION": "General Hospital", "PATIENT": "Tester, Robin", "BORN": "1975-06-15",
         "CONTENT": "CT", "DISC": "Disc 1 of 1", "NOTE": "", "EXAMS": "2026-01-02",
         "MADE": "2026-12-03", "JOB": "J1"}


def drive(folder: Path, **changes: object) -> DriveConfig:
    settings: dict = {"name": "bravo", "device": str(folder), "media": "dvd", "robot": "primera",
                      "robot_path": ROBOT_ROOT, "publisher": ROBOT, "label_design": DESIGN,
                      "poll_seconds": 0.05, "timeout_minutes": 1.0}
    settings.update(changes)
    return DriveConfig(**settings)


def writer(tmp_path: Path, **changes: object) -> PtBurnWriter:
    out = PtBurnWriter(drive(tmp_path / "PTBurnJobs", **changes), tmp_path / "tray", "J1")
    out.folder.mkdir(parents=True, exist_ok=True)
    out.merge = dict(MERGE)
    return out


def lines_of(path: Path) -> list[tuple[str, str]]:
    """A JRQ or PTM as PTBurn reads it: CR LF lines of Key=Value."""
    data = path.read_bytes().decode("cp1252")
    assert data.endswith("\r\n") and "\n" not in data.replace("\r\n", "")
    return [tuple(line.split("=", 1)) for line in data.split("\r\n")[:-1]]  # type: ignore[misc]


def status(folder: Path, system: list[str], robot: list[str] | None = None) -> None:
    """Status/SystemStatus.txt and Status/<ROBOT>.txt as PTBurn would write them."""
    (folder / "Status").mkdir(parents=True, exist_ok=True)
    (folder / "Status" / "SystemStatus.txt").write_text("\r\n".join(system) + "\r\n")
    if robot is not None:
        (folder / "Status" / f"{ROBOT}.txt").write_text("\r\n".join(robot) + "\r\n")


SYSTEM_OK = ["[RobotList]", f"Robot0={ROBOT}", "[System]", "SysErrorNumber=0",
             "SysErrorString=No Errors", f"[{ROBOT}]", "Status=System OK",
             "DiscsInLeftBin=40", "DiscsInRightBin=-1", "CartridgeFill0=90", "CartridgeFill1=80"]


# --- job requests --------------------------------------------------------------------------------


def test_jrq_asks_for_one_verified_labelled_copy(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.submit("J1-disc1-copy1", "C:\\PTBurnJobs\\images\\J1-disc1-copy1.iso", "disc1-copy1")
    assert sorted(p.name for p in w.folder.iterdir()) == ["J1-disc1-copy1.JRQ"]
    fields = lines_of(w.folder / "J1-disc1-copy1.JRQ")
    assert fields[:11] == [
        ("JobID", "J1-disc1-copy1"), ("ClientID", "burner"),
        ("ImageFile", "C:\\PTBurnJobs\\images\\J1-disc1-copy1.iso"),
        ("ImageType", "MODE_1_2048"), ("DiscType", "DVDR"), ("Copies", "1"),
        ("VerifyDisc", "YES"), ("RejectIfNotBlank", "YES"), ("CloseDisc", "YES"),
        ("DeleteFiles", "NO"), ("RobotName", ROBOT)]
    assert fields[11] == ("PrintLabel", DESIGN)
    assert fields[12:] == [("MergeField", v) for v in MERGE.values()], "the label's order"


def test_jrq_without_a_design_prints_nothing(tmp_path: Path) -> None:
    w = writer(tmp_path, label_design="", publisher="")
    w.submit("J1-disc1-copy1", "C:\\x.iso", "disc1-copy1")
    keys = [k for k, _ in lines_of(w.folder / "J1-disc1-copy1.JRQ")]
    assert "PrintLabel" not in keys and "MergeField" not in keys and "RobotName" not in keys


def test_jrq_escapes_a_patient_name_with_line_breaks(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.merge = {"PATIENT": 'DOE^JOHN\r\nDeleteFiles=YES\rCopies=50\nRobotName=Evil\x00"x"',
               "NOTE": "a\u2028b\u202ec\td\x85e", "BORN": "Müller Ŝ 山田"}
    w.submit("J1-disc1-copy1", "C:\\x.iso", "disc1-copy1")
    fields = lines_of(w.folder / "J1-disc1-copy1.JRQ")
    keys = [k for k, _ in fields]
    assert keys.count("DeleteFiles") == 1 and ("DeleteFiles", "NO") in fields
    assert keys.count("Copies") == 1 and ("Copies", "1") in fields
    assert keys.count("RobotName") == 1 and ("RobotName", ROBOT) in fields
    merged = [v for k, v in fields if k == "MergeField"]
    assert merged == ["DOE^JOHN DeleteFiles=YES Copies=50 RobotName=Evil 'x'", "a b c d e",
                      "Müller S ??"]


def test_clean_value_and_jrq_text_refuse_what_is_not_one_line() -> None:
    assert clean_value("x" * 400) == "x" * ptburn.FIELD_LIMIT
    assert clean_value(" \n a \r\n\r\n b \t") == "a b"
    assert jrq_text([("Message", "ABORT\r\nClientID=Administrator")]) == \
        b"Message=ABORT ClientID=Administrator\r\n"
    with pytest.raises(ValueError, match="not a PTBurn key"):
        jrq_text([("Bad\nKey", "x")])
    w = PtBurnWriter(drive(Path("/nonexistent")), Path("/nonexistent"), "J1")
    with pytest.raises(ValueError, match="not a robot job id"):
        w.submit("../evil", "C:\\x.iso", "disc1-copy1")
    with pytest.raises(ValueError, match="not a path"):
        w.submit("J1", "C:\\x.iso\r\nCopies=9", "disc1-copy1")


def test_jrq_is_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PTBurn never sees a half-written .JRQ: it is written under a name no *.JRQ matches."""
    w = writer(tmp_path)
    seen = []
    real = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append((Path(src).name, Path(dst).name))
        assert Path(src).read_bytes().endswith(b"\r\n") and not Path(dst).exists()
        real(src, dst)

    monkeypatch.setattr(ptburn.os, "replace", spy)
    w.submit("J1-disc1-copy1", "C:\\x.iso", "disc1-copy1")
    w.cancel("J1-disc1-copy1")
    assert seen == [(".J1-disc1-copy1-jrq.tmp", "J1-disc1-copy1.JRQ"),
                    (".J1-disc1-copy1-ptm.tmp", "J1-disc1-copy1.PTM")]


def test_cancel_writes_an_abort_message(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.cancel("J1-disc1-copy1")
    assert lines_of(w.folder / "J1-disc1-copy1.PTM") == [("Message", "ABORT"),
                                                        ("ClientID", "burner")]


# --- status files, read as hostile ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "said"), [
    ("[System]\nSysErrorNumber=0\n\x00\x01\x02", "NUL bytes"),
    ("\ufffd\ufffdS\x00y\x00s\x00", "UTF-16"),
    ("[System]\n\x1b[31mred\x07 junk\n", "neither [Section] nor Key=Value"),
    ("[System\nSysErrorNumber=0\n", "line 1 is neither"),
    ("=value\n", "neither"),
    ("[J1]\nGood Discs\n", "line 2"),
])
def test_parser_refuses_what_is_not_a_status_file(text: str, said: str) -> None:
    with pytest.raises(StatusError, match=re.escape(said)) as caught:
        parse_status(text, "Status/X.txt")
    assert str(caught.value).startswith("Status/X.txt")
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)


def test_parser_takes_windows_ini_as_it_is() -> None:
    ini = parse_status("\ufeff; comment\r\n[Job List]\r\n  Job0 = A \r\n\r\n[SYSTEM]\r\n"
                       "SysErrorNumber=7\r\nSome Unknown.Key(1)=whatever\r\n", "S")
    assert ini.get("job list", "JOB0") == "A"
    assert ini.number("System", "syserrornumber", 0, 99) == 7
    assert ini.get("System", "Missing") is None and ini.number("Nope", "X", 0, 1) is None


def test_a_huge_status_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "SystemStatus.txt"
    with open(path, "wb") as fp:
        fp.write(b"[System]\r\n" + b"Filler=" + b"x" * 100 + b"\r\n")
        fp.truncate(2 * 1024**3)                        # 2 GB, sparse
    start = time.monotonic()
    with pytest.raises(StatusError, match="larger than 256 KB"):
        read_status(path, "Status/SystemStatus.txt")
    assert time.monotonic() - start < 2


def test_status_reads_never_block_or_follow_links(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.txt")
    assert read_status(tmp_path / "fifo.txt", "fifo") is None      # returns at once
    (tmp_path / "real.txt").write_text("[System]\nSysErrorNumber=0\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    assert read_status(tmp_path / "link.txt", "link") is None
    assert read_status(tmp_path / "missing.txt", "missing") is None
    (tmp_path / "empty.txt").touch()
    with pytest.raises(StatusError, match="empty.txt is empty"):
        read_status(tmp_path / "empty.txt", "Status/empty.txt")


@pytest.mark.parametrize(("lines", "said"), [
    (["GoodDiscs=1", "GoodDiscs=0"], "GoodDiscs is there 2 times"),
    (["GoodDiscs=5"], "GoodDiscs says 5 discs were made for a job of 1"),
    (["GoodDiscs=-1"], "GoodDiscs is '-1', not a whole number from 0 to 10000"),
    (["GoodDiscs=1e3"], "not a whole number"),
    (["GoodDiscs=99999999999999999999"], "not a whole number"),
    (["BadDiscs=0x10"], "BadDiscs is '0x10'"),
    (["JobState=9"], "JobState is '9', not a whole number from 0 to 4"),
    (["DiscsRemaining=7"], "DiscsRemaining"),
    (["JobErrorNumber= "], "JobErrorNumber is '', not"),
    (["JobState=\u0661"], "JobState"),                     # an Arabic-Indic digit one
])
def test_job_details_refuse_numbers_that_are_not_or_cannot_be(lines: list[str],
                                                              said: str) -> None:
    ini = parse_status("\n".join(["[J1]", *lines]), "Status/R.txt")
    with pytest.raises(StatusError, match=re.escape(said)) as caught:
        job_details(ini, "J1")
    assert str(caught.value).startswith("Status/R.txt: [J1]")


def test_job_details_read_the_documented_keys() -> None:
    ini = parse_status("[J1]\nCurrentStatusState=2\nGoodDiscs=1\nBadDiscs=2\nJobState=2\n"
                       "JobErrorNumber=0\nDuplicate=1\nDuplicate=2\n[Other]\nGoodDiscs=5\n"
                       "GoodDiscs=6\n", "S")
    details = job_details(ini, "j1")
    assert details is not None
    assert (details.state, details.good, details.bad, details.error, details.words) == \
        (2, 1, 2, 0, "verifying the disc")
    assert job_details(ini, "J2") is None


def test_an_untrusted_word_reaches_people_on_one_line() -> None:
    ini = IniFile("S", {"j1": [("CurrentStatus", "Recording\x1b[2J\u202e" + "x" * 500)]})
    words = ini.words("J1", "CurrentStatus")
    assert "\x1b" not in words and "\u202e" not in words and len(words) <= 123


# --- poll: the extensions first, the status for counts and words ---------------------------------


@pytest.mark.parametrize(("name", "state"), [
    ("J1.JRQ", QUEUED), ("J1.QRJ", QUEUED), ("J1.INP", WORKING), ("J1.DON", DONE),
    ("J1.don", DONE), ("J1.ERR", ERROR), ("J1.err", ERROR),
])
def test_poll_follows_the_file_extension(tmp_path: Path, name: str, state: str) -> None:
    w = writer(tmp_path)
    status(w.folder, SYSTEM_OK, ["[System]", "SystemStatus=System OK"])
    assert w.poll("J1") is None
    (w.folder / name).write_text("JobID=J1\r\n")
    found = w.poll("J1")
    assert found is not None and found.state == state
    assert found.made == (1 if state == DONE else 0)


def test_poll_finds_a_job_while_ptburn_renames_it(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """PTBurn renames .JRQ to .QRJ (and on) between two of burner's looks: never "lost"."""
    w = writer(tmp_path)
    (w.folder / "J1.JRQ").touch()
    real = Path.lstat
    moves = iter([("J1.JRQ", "J1.QRJ"), ("J1.QRJ", "J1.INP"), ("J1.INP", "J1.DON")])

    def renamed_just_before(path: Path) -> os.stat_result:
        if path.parent == w.folder and (path.parent / path.name).exists():
            step = next(moves, None)
            if step is not None and step[0] == path.name:
                os.rename(w.folder / step[0], w.folder / step[1])
        return real(path)

    monkeypatch.setattr(Path, "lstat", renamed_just_before)
    found = w.poll("J1")
    assert found is not None and found.state == DONE
    monkeypatch.undo()
    (w.folder / "J2.QRJ").touch()
    (w.folder / "J2.INP").touch()                 # a copy then a delete, seen half way
    j2 = w.poll("J2")
    assert j2 is not None and j2.state == QUEUED


def test_poll_takes_counts_and_errors_from_the_job_section(tmp_path: Path) -> None:
    w = writer(tmp_path)
    robot = ["[System]", "SystemStatus=System OK", "[J1]", "CurrentStatus=Recording Disc",
             "GoodDiscs=0", "BadDiscs=1", "JobState=1", "[J2]", "JobState=3",
             "JobErrorNumber=16", "JobErrorString=The job was aborted.", "[J3]", "JobState=3",
             "JobErrorNumber=18", "JobErrorString=Error recording the disc\x1b]0;x\x07",
             "[J4]", "JobState=3", "JobErrorNumber=10", "[J5]", "JobState=2", "GoodDiscs=1",
             "[J6]", "JobState=2", "GoodDiscs=0", "[J7]", "JobState=1", "GoodDiscs=0"]
    status(w.folder, SYSTEM_OK, robot)
    for name in ("J1.INP", "J2.ERR", "J3.ERR", "J4.DON", "J6.DON"):
        (w.folder / name).touch()
    j1 = w.poll("J1")
    assert j1 is not None and (j1.state, j1.made, j1.failed, j1.words) == \
        (WORKING, 0, 1, "Recording Disc")
    j2 = w.poll("J2")
    assert j2 is not None and (j2.state, j2.words) == (CANCELLED, "the job was aborted")
    j3 = w.poll("J3")
    assert j3 is not None and j3.state == ERROR
    assert j3.words.startswith("PTBurn job error 18: Error recording the disc\\x1b")
    j4 = w.poll("J4")            # .DON, but its section says it failed: never counted
    assert j4 is not None and (j4.state, j4.made) == (ERROR, 0)
    j5 = w.poll("J5")            # its .DON deleted after Status_Time: the section says done
    assert j5 is not None and (j5.state, j5.made) == (DONE, 1)
    j6 = w.poll("J6")
    assert j6 is not None and (j6.state, j6.made) == (ERROR, 0)
    j7 = w.poll("J7")            # no file, but PTBurn says it runs the job: not lost
    assert j7 is not None and j7.state == WORKING and "job file is gone" in j7.words


@pytest.mark.parametrize("robot", [
    ["[J1]", "GoodDiscs=7", "JobState=2"],                          # lies
    ["[J1]", "JobState=1", "JobState=2"],                           # twice
    ["[J1]\x00\x00\x00"],                                           # binary
    ["[J1", "GoodDiscs=1"],                                         # half written
])
def test_poll_never_ends_a_job_on_a_status_file_it_cannot_trust(tmp_path: Path,
                                                                 robot: list[str]) -> None:
    w = writer(tmp_path)
    status(w.folder, SYSTEM_OK, robot)
    (w.folder / "J1.INP").touch()
    working = w.poll("J1")
    assert working is not None and working.state == WORKING
    assert "PTBurn's status cannot be read: Status/Disc Publisher SIM.txt" in working.words
    os.rename(w.folder / "J1.INP", w.folder / "J1.DON")
    done = w.poll("J1")
    assert done is not None and (done.state, done.made) == (DONE, 1), "the extension rules"


def test_poll_reads_the_old_ptstatus_file(tmp_path: Path) -> None:
    w = writer(tmp_path, publisher="")
    (w.folder / "Status").mkdir()
    (w.folder / "Status" / "PTSTATUS.TXT").write_text(
        "[JobList]\r\nJob0=J1\r\n[J1]\r\nGoodDiscs=0\r\nBadDiscs=2\r\nJobState=1\r\n")
    (w.folder / "J1.INP").touch()
    found = w.poll("J1")
    assert found is not None and (found.state, found.failed) == (WORKING, 2)


# --- robot_state: what `burner drives` and the board say -----------------------------------------


def with_robot(**keys: str) -> list[str]:
    lines = list(SYSTEM_OK)
    for key, value in keys.items():
        lines = [line for line in lines if not line.startswith(f"{key}=")] + [f"{key}={value}"]
    return lines


@pytest.mark.parametrize(("system", "robot", "state", "words"), [
    (SYSTEM_OK, None, READY, "ready"),
    (with_robot(Status="Out of Discs"), None, NO_MEDIUM, "out of blank discs"),
    (with_robot(DiscsInLeftBin="0", DiscsInRightBin="0"), None, NO_MEDIUM,
     "out of blank discs"),
    (with_robot(DiscsInLeftBin="0", DiscsInRightBin="-1"), None, NO_MEDIUM,
     "out of blank discs"),
    (with_robot(DiscsInLeftBin="-1", DiscsInRightBin="-1"), None, READY, "ready"),
    (with_robot(CartridgeFill1="0"), None, FAULT, "out of ink"),
    (with_robot(CartridgeFill1="4"), None, READY, "ready; ink low in cartridge 1 (4%)"),
    (with_robot(CartridgeFill1="0", CartridgeType1="0"), None, READY, "ready"),  # no cartridge
    (with_robot(CartridgeType0="x"), None, FAULT, "CartridgeType0 is 'x'"),
    (with_robot(Status="Ink Low"), None, FAULT, "ink low"),
    (SYSTEM_OK, ["[System]", "SystemStatus=Ink Low", "SysErrorNumber=6",
                 "SysErrorString=Ink Low"], FAULT, "ink low: replace"),
    (with_robot(Status="Printer Offline"), None, FAULT, "offline"),
    (SYSTEM_OK, ["[System]", "SystemStatus=Cover Open", "SysErrorNumber=12",
                 "SysErrorString=Cover open\x1b[2J"], FAULT, "error 12: Cover open\\x1b"),
    (with_robot(CartridgeFill0="400"), None, FAULT, "CartridgeFill0 is '400'"),
    (with_robot(DiscsInLeftBin="many"), None, FAULT, "DiscsInLeftBin is 'many'"),
    (["[RobotList]"], None, FAULT, "does not know the robot"),
    (["\x00junk"], None, FAULT, "NUL bytes"),
])
def test_robot_state_in_words(tmp_path: Path, system: list[str], robot: list[str] | None,
                              state: str, words: str) -> None:
    w = writer(tmp_path)
    status(w.folder, system, robot)
    found = w.robot_state()
    assert found.state == state and words in found.words, found
    assert w.status().words == found.words


def test_robot_state_without_status_or_of_another_robot(tmp_path: Path) -> None:
    w = writer(tmp_path)
    found = w.robot_state()
    assert found.state == FAULT and "no Status/SystemStatus.txt" in found.words
    status(w.folder, ["[RobotList]", "Robot0=Disc Publisher XRP", "[Disc Publisher XRP]",
                      "Status=System OK"])
    found = w.robot_state()
    assert found.state == FAULT and "does not know the robot 'Disc Publisher SIM'" in found.words
    unnamed = writer(tmp_path, publisher="")
    assert unnamed.robot_state().words == "ready", "the first robot of [RobotList]"
    status(w.folder, ["[RobotList]", "Robot0=../../etc/passwd"])
    assert "lists no disc publisher" in unnamed.robot_state().words


# --- the writer against the simulator (in this process) -----------------------------------------


def image_file(path: Path, size: int = 64 * 2048) -> tuple[Path, str]:
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_copy_through_the_simulator(tmp_path: Path) -> None:
    w = writer(tmp_path)
    image, digest = image_file(tmp_path / "vol1.iso")
    with running(w.folder, robot=ROBOT) as sim:
        medium = w.write_copy(image, image.stat().st_size, digest, "disc1-copy1")
    assert medium == "bravo:J1-disc1-copy1"
    assert sim.submitted == ["J1-disc1-copy1"]
    assert disc_digests(sim) == {"J1-disc1-copy1": digest}
    assert sim.extension("J1-disc1-copy1") == "DON"
    assert not (w.folder / "images" / "J1-disc1-copy1.iso").exists(), "its image removed"
    assert sim.requests["J1-disc1-copy1"].values("MergeField") == list(MERGE.values())


def test_a_job_the_robot_works_on_is_adopted_not_resubmitted(tmp_path: Path) -> None:
    """A writer that died while the robot worked: a new one follows the same robot job."""
    w = writer(tmp_path)
    image, digest = image_file(tmp_path / "vol1.iso")
    with running(w.folder, robot=ROBOT, burn_seconds=0.5) as sim:
        w.tray.mkdir(parents=True)
        (w.tray / "disc1-copy1.robotjob").write_text("J1-disc1-copy1")
        staged = w.folder / "images" / "J1-disc1-copy1.iso"
        staged.parent.mkdir()
        staged.write_bytes(image.read_bytes())
        w.submit("J1-disc1-copy1", w.robot_path(staged), "disc1-copy1")
        sim.wait_for(sim.working, why="the job in process")
        again = writer(tmp_path)
        medium = again.write_copy(image, image.stat().st_size, digest, "disc1-copy1")
    assert medium == "bravo:J1-disc1-copy1"
    assert sim.submitted == ["J1-disc1-copy1"] and len(sim.good_burns()) == 1


def copy_in_thread(w: PtBurnWriter, image: Path, digest: str) -> tuple[threading.Thread,
                                                                      list[object]]:
    """write_copy of disc1-copy1 in a thread; its result (or exception) lands in the list."""
    said: list[object] = []

    def work() -> None:
        try:
            said.append(w.write_copy(image, image.stat().st_size, digest, "disc1-copy1"))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            said.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, said


def test_a_robot_stopped_mid_job_is_waited_for(tmp_path: Path) -> None:
    w = writer(tmp_path)
    image, digest = image_file(tmp_path / "vol1.iso")
    with running(w.folder, robot=ROBOT, burn_seconds=0.3) as sim:
        thread, said = copy_in_thread(w, image, digest)
        sim.wait_for(sim.working, why="the job in process")
        sim.halt()
        time.sleep(0.6)
        state = w.poll("J1-disc1-copy1")
        assert state is not None and state.state == WORKING and not said
        sim.resume()
        thread.join(timeout=30)
    assert said == ["bravo:J1-disc1-copy1"] and len(sim.good_burns()) == 1


def test_out_of_ink_is_a_fault_and_the_label_waits_for_new_ink(tmp_path: Path) -> None:
    w = writer(tmp_path)
    image, digest = image_file(tmp_path / "vol1.iso")
    with running(w.folder, robot=ROBOT) as sim:
        sim.run_out_of_ink()
        sim.wait_for(lambda: w.robot_state().state == FAULT, why="the ink fault")
        assert w.robot_state().words.startswith("out of ink: replace the robot's ink cartridge")
        assert w.status().state == FAULT
        thread, said = copy_in_thread(w, image, digest)
        sim.wait_for(lambda: "Ink Low" in (w.poll("J1-disc1-copy1") or RobotJob("")).words,
                     why="the job to wait for ink")
        assert not said
        sim.replace_ink()
        thread.join(timeout=30)
        assert w.robot_state().words == "ready"
    assert said == ["bravo:J1-disc1-copy1"]


# --- through a station ---------------------------------------------------------------------------


def robot_station(tmp_path: Path, *, capacity_mb: int | None = None) -> tuple[StationDir, Path]:
    folder = tmp_path / "PTBurnJobs"
    folder.mkdir()
    q = json.dumps
    lines = ["[[drives]]", 'name = "bravo"', 'robot = "primera"', f"device = {q(str(folder))}",
             f"robot_path = {q(ROBOT_ROOT)}", 'media = "dvd"', "poll_seconds = 0.1",
             f"publisher = {q(ROBOT)}", f"label_design = {q(DESIGN)}"]
    if capacity_mb:
        lines.append(f"capacity_mb = {capacity_mb}")
    station = new_station(tmp_path / "station", drives_toml="\n".join(lines),
                          extra_toml='[institution]\nname = "General Hospital"')
    return station, folder


def run_once(station: StationDir) -> subprocess.CompletedProcess[str]:
    proc = station.cli("run", "--once", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def start_once(station: StationDir, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(station.command("run", "--once"), env=station.env(),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def result_of(station: StationDir, job_id: str) -> dict:
    assert station.where(job_id) == ["done"]
    return json.loads((station.folder("done") / job_id / "result.json").read_text())


def copies_counted(station: StationDir, job_id: str) -> int:
    return station.query("SELECT COUNT(*) FROM copies WHERE job_id=?", job_id)[0][0]


@pytest.mark.slow
def test_two_copies_of_a_two_disc_set(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path, capacity_mb=5)
    station.add_job("R1", copies=2, slices=24)
    with running(folder, robot=ROBOT) as sim:
        run_once(station)
    result = result_of(station, "R1")
    volumes = {v["index"]: v for v in result["volumes"]}
    assert sorted(volumes) == [1, 2], "split into two discs"
    labels = [f"disc{v}-copy{c}" for v in (1, 2) for c in (1, 2)]
    assert sorted(sim.submitted) == sorted(f"R1-{label}" for label in labels)
    assert copies_counted(station, "R1") == 4
    assert sorted((c["volume"], c["copy"]) for c in result["copies"]) == \
        [(v, c) for v in (1, 2) for c in (1, 2)]
    assert {c["medium"] for c in result["copies"]} == {f"bravo:R1-{label}" for label in labels}
    discs = disc_digests(sim)
    assert len(sim.burns) == 4 and len(discs) == 4
    for label in labels:
        assert discs[f"R1-{label}"] == volumes[int(label[4])]["sha256"], label
    # Each request: the documented keys, the site's design, this disc's label fields.
    for name, job in sim.requests.items():
        assert job.value("ImageFile") == f"{ROBOT_ROOT}\\images\\{name}.iso"
        assert (job.value("Copies"), job.value("DeleteFiles")) == ("1", "NO")
        assert (job.value("RobotName"), job.value("PrintLabel")) == (ROBOT, DESIGN)
        merged = job.values("MergeField")
        assert len(merged) == 9 and merged[0] == "General Hospital"
        assert "robin" in merged[1].lower() and merged[-1] == "R1"
        assert merged[4] == f"Disc {name[7]} of 2"
    assert not list((folder / "images").iterdir()), "every staged image removed"


@pytest.mark.slow
def test_out_of_discs_waits_says_so_and_goes_on_after_a_refill(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path)
    station.add_job("R2", copies=2)
    log = tmp_path / "run.log"
    with running(folder, robot=ROBOT, blanks=1) as sim:
        proc = start_once(station, log)
        try:
            sim.wait_for(sim.out_of_discs, why="the robot to run out of discs")
            assert sim.working() == ["R2-disc1-copy2"]
            drives = station.cli("drives")
            assert drives.returncode == 0, drives.stderr
            assert "bravo: " in drives.stdout and "out of blank discs" in drives.stdout
            config = load_config(station.config)
            (idle,) = writers(config, {})
            assert (idle.state, idle.medium) == ("no medium", "none")
            assert idle.words.startswith("out of blank discs")
            (board,) = writers(config, {"bravo": "R2"})     # as the board sees it now
            assert board.job_id == "R2" and "out of blank discs" in board.words
            time.sleep(0.5)
            assert proc.poll() is None and len(sim.burns) == 1, "it waits, burns nothing"
            sim.refill(5)
        finally:
            finish(proc, log)
    result_of(station, "R2")
    assert copies_counted(station, "R2") == 2
    assert len(sim.burns) == 2 and sim.submitted == ["R2-disc1-copy1", "R2-disc1-copy2"]


@pytest.mark.slow
def test_kill_9_while_the_robot_works_adopts_its_job(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path)
    station.add_job("R3", copies=2)
    log = tmp_path / "killed.log"
    with running(folder, robot=ROBOT, burn_seconds=1.5) as sim:
        proc = start_once(station, log)
        try:
            sim.wait_for(sim.working, why="the robot to work")
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert station.where("R3") == ["active"]
        run_once(station)
    result_of(station, "R3")
    assert sim.submitted == ["R3-disc1-copy1", "R3-disc1-copy2"], "one JRQ per copy, ever"
    assert copies_counted(station, "R3") == 2
    assert len(sim.burns) == 2 and len(disc_digests(sim)) == 2


@pytest.mark.slow
def test_cancel_while_the_robot_works(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path)
    station.add_job("R4", copies=1)
    log = tmp_path / "run.log"
    with running(folder, robot=ROBOT, burn_seconds=30) as sim:
        proc = start_once(station, log)
        try:
            sim.wait_for(sim.working, why="the robot to work")
            cancel = station.cli("cancel", "R4", "--by", "clerk7")
            assert cancel.returncode == 0, cancel.stderr
            sim.wait_for(lambda: sim.messages, why="a .PTM")
        finally:
            finish(proc, log, timeout=60)
    (message,) = sim.messages
    assert (message.name, message.lines) == ("R4-disc1-copy1",
                                             [("Message", "ABORT"), ("ClientID", "burner")])
    assert sim.extension("R4-disc1-copy1") == "ERR"
    assert station.where("R4") == ["rejected"]
    assert reason_code(station.folder("rejected") / "R4") == "CANCELLED"
    assert copies_counted(station, "R4") == 0 and sim.good_burns() == []


@pytest.mark.slow
def test_a_rejected_disc_is_not_counted(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path)
    station.add_job("R5", copies=2)
    with running(folder, robot=ROBOT) as sim:
        sim.reject_next(1)
        run_once(station)
    result = result_of(station, "R5")
    assert copies_counted(station, "R5") == 2 and len(result["copies"]) == 2
    assert [b.good for b in sim.burns] == [False, True, True]
    assert sim.submitted == ["R5-disc1-copy1", "R5-disc1-copy2"]
    assert sim.requests["R5-disc1-copy1"].bad == 1


@pytest.mark.slow
def test_a_failed_robot_job_is_tried_again_as_a_new_one(tmp_path: Path) -> None:
    station, folder = robot_station(tmp_path)
    station.add_job("R6", copies=1)
    with running(folder, robot=ROBOT) as sim:
        sim.fail_next(3)
        run_once(station)
    result_of(station, "R6")
    assert sim.submitted == ["R6-disc1-copy1", "R6-disc1-copy1-2"]
    assert sim.extension("R6-disc1-copy1") == "ERR"
    assert copies_counted(station, "R6") == 1 and len(sim.good_burns()) == 1


def test_the_simulator_honours_delete_files_as_documented(tmp_path: Path) -> None:
    """Why burner always sends DeleteFiles=NO: PTBurn deletes the whole first subfolder."""
    folder = tmp_path / "PTBurnJobs"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.iso").write_bytes(b"a" * 2048)
    (folder / "images" / "other-copy.iso").write_bytes(b"b" * 2048)
    with running(folder, robot=ROBOT) as sim:
        (folder / "A.JRQ").write_bytes(
            b"JobID=A\r\nImageFile=C:\\PTBurnJobs\\images\\a.iso\r\nDeleteFiles=YES\r\n")
        sim.wait_for(lambda: sim.extension("A") == "DON", why="the job")
    assert not (folder / "images").exists()


def test_simulator_refuses_a_request_it_cannot_read(tmp_path: Path) -> None:
    folder = tmp_path / "PTBurnJobs"
    with running(folder, robot=ROBOT) as sim:
        (folder / "B.JRQ").write_bytes(b"JobID=B\r\nthis is no key value line\r\n")
        (folder / "C.JRQ").write_bytes(b"JobID=C\r\nImageFile=D:\\elsewhere.iso\r\n")
        sim.wait_for(lambda: sim.extension("B") == sim.extension("C") == "ERR", why="errors")
    w = writer(tmp_path)
    b, c = w.poll("B"), w.poll("C")
    assert b is not None and b.words == "PTBurn job error 8: The job request file is invalid."
    assert c is not None and c.words.startswith("PTBurn job error 4: The file/s")


def test_simulator_stops_its_thread(tmp_path: Path) -> None:
    sim = PtBurnSimulator(tmp_path / "PTBurnJobs").start()
    sim.stop()
    assert sim._thread is None
