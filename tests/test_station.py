"""The station end to end through the `burner` command line: spool moves, results, refusals,
device faults, the service mode, and `burner build` / `burner verify`.

Every disc is burned by the real xorriso to a `stdio:` file; device faults come from
tests/fake_xorriso.sh, which prints libburn's real failure messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pycdlib
import pytest
from conftest import (
    FAKE_XORRISO,
    StationDir,
    make_job_folder,
    new_station,
    release,
    run_paused,
    sha256_prefix,
    study_patient,
)

from burner import synth
from burner.pipeline import STAGES
from burner.spool import OWNER, REASON_CODE

STRANGER = synth.Patient(id="XQ998877", name="QUIMBY^XAVERIUS", birth_date="19440102", sex="M")
FOREIGN_FILE = "dicom/SE001/IM00003.dcm"
DAMAGED_FILE = "DICOM/ST000001/SE000001/IM000003"


def file_hashes(folder: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every file under `folder`, less the station's marks (owner,
    reason code)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (OWNER, REASON_CODE)}


def read_result(station: StationDir, job_id: str) -> dict:
    return json.loads((station.folder("done") / job_id / "result.json").read_text())


def assert_copies_verified(station: StationDir, job_id: str, copies: int) -> dict:
    """result.json lists `copies` distinct media, each holding the image; returns result."""
    result = read_result(station, job_id)
    assert result["state"] == "done"
    (volume,) = result["volumes"]
    listed = result["copies"]
    assert [c["copy"] for c in listed] == list(range(1, copies + 1))
    assert len({c["medium"] for c in listed}) == copies
    for c in listed:
        medium = Path(c["medium"])
        assert medium.is_absolute() and medium.is_file(), c
        assert medium.parent == station.media / job_id
        assert c["sha256"] == volume["sha256"]
        assert sha256_prefix(medium, volume["bytes"]) == volume["sha256"]
    return result


def faulty_station(tmp_path: Path) -> tuple[StationDir, str]:
    """A station whose xorriso is tests/fake_xorriso.sh (faults chosen per run); real path."""
    wrapper = tmp_path / "xorriso-fake"
    shutil.copyfile(FAKE_XORRISO, wrapper)
    wrapper.chmod(0o755)
    real = shutil.which("xorriso")
    assert real
    return new_station(tmp_path / "station", xorriso=str(wrapper)), real


def nothing_written(station: StationDir, job_id: str) -> None:
    """No medium exists for the job and the drive holds no burned data."""
    assert not station.drive.exists() or station.drive.stat().st_size == 0
    tray = station.media / job_id
    assert not tray.exists() or not [p for p in tray.rglob("*") if p.is_file()]


def make_foreign(job_dir: Path) -> None:
    """Rewrite one file of the job to another (synthetic) patient."""
    target = job_dir / FOREIGN_FILE
    tmp = target.with_name("rewritten.tmp")
    synth.rewrite_patient(target, STRANGER, tmp)
    os.replace(tmp, target)


def status(station: StationDir) -> dict:
    proc = station.cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def job_status(station: StationDir, job_id: str) -> dict:
    (job,) = [j for j in status(station)["jobs"] if j["job_id"] == job_id]
    return job


# --- the happy path ---------------------------------------------------------------------------


@pytest.mark.slow
def test_job_is_burned_verified_and_recorded(station: StationDir) -> None:
    """approved/ -> run --once -> done/ with result.json, audit.xml and a verified disc."""
    station.add_job("R1")
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("R1") == ["done"]
    job_dir = station.folder("done") / "R1"
    result = assert_copies_verified(station, "R1", 1)
    assert result["job_id"] == "R1" and result["approved_by"] == "tester"
    assert result["instances"] == 4 and result["problems"] == []
    assert result["media"] == "dvd" and result["profile"] == "STD-GEN-DVD-JPEG"

    audit = ET.parse(job_dir / "audit.xml").getroot()
    assert audit.tag == "AuditMessage"
    assert audit.find("EventIdentification/EventID").get("csd-code") == "110106"
    media_ids = [p.get("UserID") for p in audit.findall("ActiveParticipant")
                 if p.find("RoleIDCode").get("csd-code") == "110154"]
    assert media_ids == [c["medium"] for c in result["copies"]]

    job = job_status(station, "R1")
    assert job["folder"] == "done" and job["state"] == "done" and job["copies"] == 1
    info = status(station)
    assert info["queue"]["done"] == 1 and info["queue"]["approved"] == 0
    assert info["queue"]["active"] == 0
    assert not station.drive.exists(), "the written disc must leave the drive"

    medium = result["copies"][0]["medium"]
    check = station.cli("verify", medium)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK: every file matches" in check.stdout
    as_json = json.loads(station.cli("verify", medium, "--json").stdout)
    assert as_json["ok"] is True and as_json["files_checked"] >= 8


@pytest.mark.slow
def test_two_copies_are_two_verified_media(station: StationDir) -> None:
    station.add_job("R2", copies=2)
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    result = assert_copies_verified(station, "R2", 2)
    first, second = (Path(c["medium"]) for c in result["copies"])
    assert first != second
    assert sorted(p.name for p in (station.media / "R2").iterdir()) == \
        ["disc1-copy1.iso", "disc1-copy2.iso"]
    assert job_status(station, "R2")["copies"] == 2


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_foreign_patient_is_held_and_never_written(station: StationDir) -> None:
    """One file of another patient: held, named in plain words, nothing burned."""
    job_dir = station.add_job("R3")
    make_foreign(job_dir)
    before = file_hashes(job_dir)
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("R3") == ["held"]
    held = station.folder("held") / "R3"
    reason = (held / "reason.txt").read_text()
    assert "NOT written to any disc" in reason
    assert FOREIGN_FILE in reason
    assert "a different patient ID" in reason and "a different patient name" in reason
    assert "burner retry R3" in reason
    for secret in (STRANGER.id, STRANGER.name, "QUIMBY", "XAVERIUS", STRANGER.birth_date,
                   study_patient().id):
        assert secret not in reason
    other_files = [f for f in before if f.startswith("dicom/") and f != FOREIGN_FILE]
    assert not any(f in reason for f in other_files), "only the foreign file is named"
    assert {k: v for k, v in file_hashes(held).items() if k != "reason.txt"} == before

    job = job_status(station, "R3")
    assert job["state"] == "held" and job["folder"] == "held"
    assert station.query("SELECT state, stage FROM jobs WHERE job_id='R3'") == \
        [("held", "identity")]
    assert station.query("SELECT COUNT(*) FROM copies WHERE job_id='R3'") == [(0,)]
    nothing_written(station, "R3")
    assert not (station.data_dir / "images").exists()


@pytest.mark.slow
def test_invalid_manifest_is_rejected_with_where(station: StationDir) -> None:
    job_dir = station.add_job("R4")
    manifest = json.loads((job_dir / "job.json").read_text())
    manifest["patient"]["birth_date"] = "1975-13-45"
    (job_dir / "job.json").write_text(json.dumps(manifest))
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("R4") == ["rejected"]
    reason = (station.folder("rejected") / "R4" / "reason.txt").read_text()
    assert "patient.birth_date" in reason
    assert job_status(station, "R4")["state"] == "rejected"
    nothing_written(station, "R4")


@pytest.mark.slow
def test_deeply_nested_manifest_is_rejected_not_retried(station: StationDir,
                                                         tmp_path: Path) -> None:
    """A job.json of 100,000 "[" is an invalid manifest (exit 2, rejected/), not a crash that is
    retried and then held."""
    job_dir = station.add_job("R9")
    (job_dir / "job.json").write_text("[" * 100_000)
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("R9") == ["rejected"]
    reason = (station.folder("rejected") / "R9" / "reason.txt").read_text()
    assert "nested more than 32 deep" in reason and "Traceback" not in reason
    assert station.query("SELECT state, attempts FROM jobs WHERE job_id='R9'") == \
        [("rejected", 0)]

    make_job_folder(tmp_path / "jobs" / "B9")
    (tmp_path / "jobs" / "B9" / "job.json").write_text('{"a": ' * 100_000)
    proc = station.cli("build", str(tmp_path / "jobs" / "B9"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nested more than 32 deep" in proc.stdout and "Traceback" not in proc.stderr


# --- burner build -----------------------------------------------------------------------------


def test_build_json_and_exit_codes(station: StationDir, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    make_job_folder(jobs / "B1")
    out = tmp_path / "out"
    proc = station.cli("build", str(jobs / "B1"), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"job_id", "held", "problems", "volumes", "prints"}
    assert data["job_id"] == "B1" and data["held"] is False and data["problems"] == []
    assert set(data["prints"]) >= {"cover", "labels"}
    assert isinstance(data["prints"]["labels"], list)
    (vol,) = data["volumes"]
    assert set(vol) == {"index", "count", "tree", "image", "sha256", "bytes", "media",
                        "profile"}
    assert (vol["index"], vol["count"]) == (1, 1)
    tree, image = Path(vol["tree"]), Path(vol["image"])
    assert tree.is_absolute() and image.is_absolute()
    assert tree.is_dir() and (tree / "DICOMDIR").is_file() and (tree / "README.TXT").is_file()
    assert image.stat().st_size == vol["bytes"]
    assert hashlib.sha256(image.read_bytes()).hexdigest() == vol["sha256"]
    assert vol["media"] == "dvd" and vol["profile"] == "STD-GEN-DVD-JPEG"
    assert not station.drive.exists() and not station.media.exists()

    make_job_folder(jobs / "B2")
    manifest = json.loads((jobs / "B2" / "job.json").read_text())
    manifest["patient"]["birth_date"] = "not a date"
    (jobs / "B2" / "job.json").write_text(json.dumps(manifest))
    proc = station.cli("build", str(jobs / "B2"), "--out", str(tmp_path / "out2"), "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    bad = json.loads(proc.stdout)
    assert bad["volumes"] == [] and any("patient.birth_date" in p for p in bad["problems"])

    make_job_folder(jobs / "B3")
    make_foreign(jobs / "B3")
    proc = station.cli("build", str(jobs / "B3"), "--out", str(tmp_path / "out3"), "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    held = json.loads(proc.stdout)
    assert held["held"] is True and held["volumes"] == []
    assert any(FOREIGN_FILE in p for p in held["problems"])
    assert not any(STRANGER.id in p or "QUIMBY" in p for p in held["problems"])


# --- burner verify on a damaged medium --------------------------------------------------------


@pytest.mark.slow
def test_verify_names_the_damaged_file(station: StationDir, tmp_path: Path) -> None:
    station.add_job("R5")
    assert station.cli("run", "--once").returncode == 0
    medium = Path(read_result(station, "R5")["copies"][0]["medium"])
    damaged = tmp_path / "damaged.iso"
    shutil.copyfile(medium, damaged)
    iso = pycdlib.PyCdlib()
    iso.open(str(damaged))
    try:
        record = iso.get_record(iso_path=f"/{DAMAGED_FILE}.;1")
        start, length = record.extent_location() * 2048, record.get_data_length()
    finally:
        iso.close()
    offset = start + length - 100          # inside the pixel data, far from the header
    with open(damaged, "r+b") as fp:
        fp.seek(offset)
        byte = fp.read(1)
        fp.seek(offset)
        fp.write(bytes([byte[0] ^ 0xFF]))

    proc = station.cli("verify", str(damaged))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert DAMAGED_FILE in proc.stdout
    assert "PROBLEM" in proc.stdout and "OK: every file matches" not in proc.stdout
    proc = station.cli("verify", str(damaged), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert report["mismatched"] == [DAMAGED_FILE]
    # The original medium is untouched and still good.
    assert station.cli("verify", str(medium)).returncode == 0


# --- device faults ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["busy", "write_error"])
def test_device_fault_retries_then_holds_then_retry_finishes(tmp_path: Path, fault: str) -> None:
    """A failing drive: max_attempts tries, then held with a plain reason; nothing lost."""
    station, real = faulty_station(tmp_path)
    job_dir = station.add_job("F1", copies=2)
    before = file_hashes(job_dir)

    proc = station.cli("run", "--once", FAKE_XORRISO_FAULT=fault, REAL_XORRISO=real)
    assert proc.returncode == 0, proc.stderr
    assert station.where("F1") == ["held"]
    held = station.folder("held") / "F1"
    reason = (held / "reason.txt").read_text()
    assert f"after {station.max_attempts} attempts at 'write'" in reason
    assert re.search(rf"[Dd]rive stdio:{re.escape(str(station.drive))}\b", reason), reason
    word = {"busy": "is busy", "write_error": "Writing the disc in drive"}[fault]
    assert word in reason
    assert "burner retry F1" in reason
    assert {k: v for k, v in file_hashes(held).items() if k != "reason.txt"} == before
    assert station.query("SELECT state, attempts FROM jobs WHERE job_id='F1'") == \
        [("held", station.max_attempts)]
    failures = station.query("SELECT COUNT(*) FROM history WHERE job_id='F1' AND stage='write' "
                             "AND event='started'")
    assert failures == [(station.max_attempts,)]
    nothing_written(station, "F1")

    proc = station.cli("retry", "F1")
    assert proc.returncode == 0, proc.stderr
    assert station.where("F1") == ["active"], "a drive fault resumes at the write stage"
    proc = station.cli("run", "--once", REAL_XORRISO=real)
    assert proc.returncode == 0, proc.stderr
    assert station.where("F1") == ["done"]
    assert_copies_verified(station, "F1", 2)
    assert station.query("SELECT COUNT(*) FROM history WHERE job_id='F1' AND stage='stage' "
                         "AND event='started'") == [(1,)], "the disc was not staged again"
    done_files = file_hashes(station.folder("done") / "F1")
    assert {k: v for k, v in done_files.items() if k in before} == before
    assert any(k.startswith("reason-") for k in done_files), "the old reason is kept"


# --- submit / approve / cancel ----------------------------------------------------------------


def _series_folder(tmp_path: Path) -> Path:
    make_job_folder(tmp_path / "export")
    return tmp_path / "export" / "dicom" / "SE001"


def _submit(station: StationDir, files: list[Path], job_id: str, *extra: str,
            ) -> subprocess.CompletedProcess[str]:
    p = study_patient()
    birth = f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}"
    return station.cli("submit", *map(str, files), "--patient-id", p.id, "--patient-name",
                       p.name, "--birth-date", birth, "--job-id", job_id, *extra)


@pytest.mark.slow
def test_submit_approved_runs_to_done(station: StationDir, tmp_path: Path) -> None:
    series = _series_folder(tmp_path)
    files = sorted(series.glob("*.dcm"))
    proc = _submit(station, files, "S1", "--approved-by", "clerk1")
    assert proc.returncode == 0, proc.stderr
    assert station.where("S1") == ["approved"]
    assert station.cli("run", "--once").returncode == 0
    assert station.where("S1") == ["done"]
    result = assert_copies_verified(station, "S1", 1)
    assert result["approved_by"] == "clerk1" and result["instances"] == len(files)


@pytest.mark.slow
def test_submit_pending_then_approve(station: StationDir, tmp_path: Path) -> None:
    series = _series_folder(tmp_path)
    proc = _submit(station, [series], "S2")
    assert proc.returncode == 0, proc.stderr
    assert station.where("S2") == ["pending"]
    assert "approval" not in json.loads(
        (station.folder("pending") / "S2" / "job.json").read_text())
    assert station.cli("run", "--once").returncode == 0
    assert station.where("S2") == ["pending"], "a pending job is never processed"

    proc = station.cli("approve", "S2", "--by", "supervisor2")
    assert proc.returncode == 0, proc.stderr
    assert station.where("S2") == ["approved"]
    approval = json.loads((station.folder("approved") / "S2" / "job.json").read_text())
    assert approval["approval"]["by"] == "supervisor2"
    assert station.cli("run", "--once").returncode == 0
    assert read_result(station, "S2")["approved_by"] == "supervisor2"


@pytest.mark.parametrize("job_id", [".hidden", "..."])
def test_submit_refuses_a_job_id_not_starting_with_a_letter_or_digit(
        station: StationDir, tmp_path: Path, job_id: str) -> None:
    """A name starting with '.' is hidden in the spool: it would be queued and never seen."""
    proc = _submit(station, [_series_folder(tmp_path)], job_id, "--approved-by", "clerk1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f'A job id must start with a letter or digit (got "{job_id}")' in proc.stderr
    assert "Traceback" not in proc.stderr and "queued" not in proc.stdout
    assert list(station.spool.glob("*/*")) == [], "no job folder anywhere in the spool"


@pytest.mark.slow
def test_cancel_approved_job(station: StationDir) -> None:
    station.add_job("C1")
    proc = station.cli("cancel", "C1", "--by", "clerk3")
    assert proc.returncode == 0, proc.stderr
    assert station.where("C1") == ["rejected"]
    reason = (station.folder("rejected") / "C1" / "reason.txt").read_text()
    assert "cancelled" in reason and "clerk3" in reason
    assert station.cli("run", "--once").returncode == 0
    assert station.where("C1") == ["rejected"]
    nothing_written(station, "C1")


def _cancelled_while_paused_in(station: StationDir, job_id: str, where: str) -> None:
    """`burner cancel` while the station is paused inside `where`: the stage finishes, the
    job stops before its next step and ends in rejected/ with the code CANCELLED."""
    proc = run_paused(station, where, 60)
    cancel = station.cli("cancel", job_id, "--by", "clerk5")
    release(station, where)
    assert cancel.returncode == 0, cancel.stderr
    assert "will stop before its next step" in cancel.stdout
    assert proc.wait(timeout=120) == 0
    assert station.where(job_id) == ["rejected"]
    reason = (station.folder("rejected") / job_id / "reason.txt").read_text()
    assert "cancelled by an operator" in reason
    assert station.query("SELECT state, reason_code FROM jobs WHERE job_id = ?", job_id) == \
        [("rejected", "CANCELLED")]
    (job,) = [j for j in json.loads(station.cli("status", "--json").stdout)["jobs"]
              if j["job_id"] == job_id]
    assert (job["folder"], job["reason_code"]) == ("rejected", "CANCELLED")


@pytest.mark.slow
def test_cancel_in_the_prepare_lane_stops_before_the_next_stage(station: StationDir) -> None:
    station.add_job("C2")
    _cancelled_while_paused_in(station, "C2", "gather")
    started = station.query("SELECT stage FROM history WHERE job_id = 'C2' AND "
                            "event = 'started'")
    assert [s for (s,) in started] == ["validate", "retrieve", "gather"], "nothing after gather"
    nothing_written(station, "C2")


@pytest.mark.slow
def test_cancel_in_the_device_lane_finishes_the_disc_and_burns_no_other(
        station: StationDir) -> None:
    """Paused after copy 1 of 2 was burned: that disc is finished but not counted (a
    cancelled job hands none out; the reason says where it is, to be destroyed), copy 2 is
    never burned, and nothing is verified or printed."""
    station.add_job("C3", copies=2)
    _cancelled_while_paused_in(station, "C3", "write")
    assert station.query("SELECT volume, copy FROM copies WHERE job_id = 'C3'") == []
    (aside,) = station.query("SELECT detail FROM history WHERE job_id = 'C3' AND event = "
                             "'copy set aside (the job was cancelled)'")
    assert aside[0].startswith("volume 1 copy 1 on drive0: ")
    reason = (station.folder("rejected") / "C3" / "reason.txt").read_text()
    assert "1 disc(s) or stick(s) were written before the cancel" in reason
    assert "disc1-copy1" in reason and "destroy them" in reason
    started = [s for (s,) in station.query("SELECT stage FROM history WHERE job_id = 'C3' "
                                           "AND event = 'started'")]
    assert started[-1] == "write" and "verify" not in started and "print" not in started
    assert not (station.folder("rejected") / "C3" / "prints").exists()


# --- the service ------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.05)
    return predicate()


@pytest.mark.slow
def test_service_picks_up_a_job_dropped_later(tmp_path: Path) -> None:
    """`burner run` (no --once) serves a job that arrives after it started; SIGTERM stops it."""
    station = new_station(tmp_path / "station", rescan_seconds=300.0)
    log = tmp_path / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(station.command("run"), env=station.env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert _wait_for(station.db_path.exists, 30, proc), log.read_text()
        time.sleep(1.0)   # let the watcher start before the job arrives
        assert proc.poll() is None, log.read_text()
        station.add_job("W1")
        dropped = time.monotonic()
        assert _wait_for(lambda: station.where("W1") == ["done"], 30, proc), log.read_text()
        took = time.monotonic() - dropped
        assert took < 10, f"the service took {took:.1f} s"
        assert_copies_verified(station, "W1", 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_every_stage_is_known() -> None:
    """The pipeline order this module and test_crash_resume.py rely on."""
    assert [s.NAME for s in STAGES] == ["validate", "retrieve", "gather", "identity", "plan",
                                        "stage", "master", "write", "verify", "print", "done"]


@pytest.mark.slow
def test_stations_sharing_a_spool_never_take_each_others_jobs(tmp_path: Path) -> None:
    """Station B, restarted on A's spool while A burns J1, leaves J1 to A: one disc, done once."""
    a = new_station(tmp_path / "A")
    b = new_station(tmp_path / "B")
    shared = json.dumps(str(a.spool))
    b.config.write_text(b.config.read_text()
                        .replace('id = "teststation"', 'id = "otherstation"')
                        .replace("[spool]", f"[spool]\npath = {shared}"))
    a.add_job("J1", copies=1)
    paused = subprocess.Popen(a.command("run", "--once"),
                              env=a.env(BURNER_PAUSE_AT="write", BURNER_PAUSE_SECONDS="120"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (a.data_dir / "paused-write").exists():
        assert time.monotonic() < deadline and paused.poll() is None
        time.sleep(0.05)
    assert b.cli("run", "--once").returncode == 0
    assert a.where("J1") == ["active"], "B must not adopt a job another station owns"
    release(a, "write")
    assert paused.wait(timeout=60) == 0
    assert a.where("J1") == ["done"]
    assert not b.media.exists() or not any(p.is_file() for p in b.media.rglob("*"))
    assert len(read_result(a, "J1")["copies"]) == 1


@pytest.mark.slow
def test_retry_after_a_fault_on_copy_two_keeps_copy_one(tmp_path: Path) -> None:
    """Copy 1 burns, the drive fails on copy 2: after retry only copy 2 is burned."""
    station, real = faulty_station(tmp_path)
    station.add_job("F2", copies=2)
    proc = station.cli("run", "--once", FAKE_XORRISO_FAULT="write_error", REAL_XORRISO=real,
                       FAKE_XORRISO_GOOD_BURNS="1",
                       FAKE_XORRISO_COUNTER=str(tmp_path / "burns"))
    assert proc.returncode == 0, proc.stderr
    assert station.where("F2") == ["held"]
    first = station.query("SELECT copy, medium, at FROM copies WHERE job_id='F2'")
    assert [row[0] for row in first] == [1]
    assert station.cli("retry", "F2").returncode == 0
    assert station.where("F2") == ["active"]
    proc = station.cli("run", "--once", REAL_XORRISO=real)
    assert proc.returncode == 0, proc.stderr
    assert station.where("F2") == ["done"]
    result = assert_copies_verified(station, "F2", 2)
    after = station.query("SELECT copy, medium, at FROM copies WHERE job_id='F2' ORDER BY copy")
    assert after[0] == first[0], "copy 1 was kept, not burned again"
    assert (tmp_path / "burns").read_text().strip() == "1"
    assert len(result["copies"]) == 2


@pytest.mark.slow
def test_retry_of_an_identity_hold_starts_over(tmp_path: Path) -> None:
    """A job held before any image was made goes back to the queue and is checked again."""
    station = new_station(tmp_path / "station")
    make_foreign(station.add_job("H1"))
    assert station.cli("run", "--once").returncode == 0
    assert station.where("H1") == ["held"]
    assert station.cli("retry", "H1").returncode == 0
    assert station.where("H1") == ["approved"]
    assert station.cli("run", "--once").returncode == 0
    assert station.where("H1") == ["held"], "still the wrong patient: held again, not burned"
    nothing_written(station, "H1")


@pytest.mark.slow
def test_media_iso_leaves_verified_images_in_the_output_folder(station: StationDir) -> None:
    job_dir = station.add_job("ISO1", copies=1)
    manifest = json.loads((job_dir / "job.json").read_text())
    manifest["media"]["type"] = "iso"
    (job_dir / "job.json").write_text(json.dumps(manifest))
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("ISO1") == ["done"]
    result = read_result(station, "ISO1")
    (copy,) = result["copies"]
    image = Path(copy["medium"])
    assert image.parent == station.data_dir / "images" / "ISO1"
    assert sha256_prefix(image, result["volumes"][0]["bytes"]) == result["volumes"][0]["sha256"]
    assert station.cli("verify", str(image)).returncode == 0
    assert not station.drive.exists(), "no disc was burned"
