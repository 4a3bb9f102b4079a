"""Readiness (issue 9): a job folder in approved/ is claimed only when its whole tree has been
quiet (every entry's mtime and ctime) and its job.json's `expect` counts match; a copy writing
job.json first is never claimed before its last file lands."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import StationDir, make_job_folder, new_station, serve, stop

from burner.readiness import readiness, survey


def _job(folder: Path, **expect: int) -> dict:
    manifest = make_job_folder(folder, slices=3)
    if expect:
        manifest["expect"] = expect
        (folder / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def test_survey_counts_every_file_but_job_json_and_burners_own(tmp_path: Path) -> None:
    job = tmp_path / "J"
    _job(job)
    (job / "reason-1700000000.txt").write_text("an earlier hold")
    (job / ".burner-station").write_text("me")
    (job / "dicom" / "nested").mkdir()
    (job / "dicom" / "nested" / "x.dcm").write_bytes(b"1234")
    tree = survey(job)
    dicom = [p for p in (job / "dicom").rglob("*") if p.is_file()]
    assert tree.files == len(dicom) == 4
    assert tree.bytes == sum(p.stat().st_size for p in dicom)


def test_quiet_is_measured_over_every_entry_not_the_top_folder(tmp_path: Path) -> None:
    job = tmp_path / "J"
    _job(job)
    deep = job / "dicom" / "late.dcm"
    deep.write_bytes(b"x")
    old = time.time() - 3600
    for path in (job, job / "job.json", deep):
        os.utime(path, (old, old))          # a copy that keeps the source's times
    now = time.time()
    assert readiness(job, 5.0, now=now).verdict == "wait", "ctime still says just now"
    assert readiness(job, 5.0, now=now + 6).verdict == "claim"


def test_expect_mismatch_waits_then_rejects_with_the_counts(tmp_path: Path) -> None:
    job = tmp_path / "J"
    _job(job, files=5, bytes=1)
    now = time.time()
    assert readiness(job, 1.0, 120.0, now=now + 2).verdict == "wait"
    verdict = readiness(job, 1.0, 120.0, now=now + 121)
    assert verdict.verdict == "reject"
    tree = survey(job)
    assert (f"expects 5 files of 1 bytes in all, but the folder holds {tree.files} files of "
            f"{tree.bytes} bytes") in verdict.reason
    other = tmp_path / "K"
    _job(other)
    whole = survey(other)
    manifest = json.loads((other / "job.json").read_text())
    manifest["expect"] = {"files": whole.files, "bytes": whole.bytes}
    (other / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert readiness(other, 1.0, now=time.time() + 2).verdict == "claim"


def _copy_job_json_first(source: Path, target: Path, pause: float, done: threading.Event,
                         last_write: list[float]) -> None:
    """As a copy tool may do: the folder and job.json first, then every file, slowly, each
    into a subfolder of its own (the top folder's mtime does not change)."""
    target.mkdir()
    shutil.copy2(source / "job.json", target / "job.json")
    for n, path in enumerate(sorted((source / "dicom").rglob("*.dcm"))):
        time.sleep(pause)
        dest = target / "dicom" / f"series{n}" / path.name
        dest.parent.mkdir(parents=True)
        shutil.copy2(path, dest)
        last_write[0] = time.time()
    done.set()


@pytest.mark.slow
def test_a_copy_writing_job_json_first_is_claimed_only_when_whole(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station", rescan_seconds=0.3, quiet_seconds=1.5)
    source = tmp_path / "export" / "C1"      # job.json's job_id is the folder's name
    _job(source)
    count = len(list((source / "dicom").rglob("*.dcm")))
    log = tmp_path / "service.log"
    proc = serve(station, log)
    try:
        time.sleep(1.0)
        done, last_write = threading.Event(), [0.0]
        (station.folder("approved")).mkdir(parents=True, exist_ok=True)
        copier = threading.Thread(target=_copy_job_json_first, args=(
            source, station.folder("approved") / "C1", 1.0, done, last_write))
        copier.start()
        while not (station.folder("approved") / "C1").is_dir():
            time.sleep(0.01)
        while not done.is_set():
            assert station.where("C1") == ["approved"], "claimed while still being copied"
            time.sleep(0.05)
        copier.join()
        deadline = time.monotonic() + 60
        while station.where("C1") != ["done"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        stop(proc)
    ((claimed,),) = station.query(
        "SELECT at FROM history WHERE job_id = 'C1' AND event = 'claimed'")
    assert claimed >= last_write[0] + 1.5 - 0.05
    result = json.loads((station.folder("done") / "C1" / "result.json").read_text())
    assert result["instances"] == count, "every image of the copy is on the disc"


@pytest.mark.slow
def test_a_copy_short_of_its_expect_counts_is_rejected_naming_them(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station", quiet_seconds=0.2)
    text = station.config.read_text().replace("[spool]\n", "[spool]\nincomplete_seconds = 1.5\n")
    station.config.write_text(text)
    job = station.folder("incoming") / "E1"
    _job(job)
    files = sorted((job / "dicom").rglob("*.dcm"))
    size = sum(p.stat().st_size for p in files)
    manifest = json.loads((job / "job.json").read_text())
    manifest["expect"] = {"files": len(files), "bytes": size}
    (job / "job.json").write_text(json.dumps(manifest))
    files[-1].unlink()                                  # the copy lost its last file
    station.folder("approved").mkdir(exist_ok=True)
    os.rename(job, station.folder("approved") / "E1")
    start = time.monotonic()
    assert station.cli("run", "--once").returncode == 0
    assert time.monotonic() - start >= 1.5, "it waited for the copy first"
    assert station.where("E1") == ["rejected"]
    reason = (station.folder("rejected") / "E1" / "reason.txt").read_text()
    assert f"expects {len(files)} files of {size} bytes" in reason
    assert f"holds {len(files) - 1} files" in reason
    assert not station.query("SELECT * FROM jobs WHERE job_id = 'E1'"), "never claimed"


@pytest.mark.slow
def test_a_complete_copy_with_matching_counts_runs(station: StationDir) -> None:
    job = station.folder("incoming") / "E2"
    _job(job)
    files = sorted((job / "dicom").rglob("*.dcm"))
    manifest = json.loads((job / "job.json").read_text())
    manifest["expect"] = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    (job / "job.json").write_text(json.dumps(manifest))
    station.folder("approved").mkdir(exist_ok=True)
    os.rename(job, station.folder("approved") / "E2")
    assert station.cli("run", "--once").returncode == 0
    assert station.where("E2") == ["done"]


def _wait_for(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_rename_watch_tells_a_rename_from_incoming_from_a_copy(tmp_path: Path) -> None:
    from burner.renames import RenameWatch

    incoming, approved, elsewhere = (tmp_path / n for n in ("incoming", "approved", "other"))
    for folder in (incoming, approved, elsewhere):
        folder.mkdir()
    wake = threading.Event()
    watch = RenameWatch(incoming, approved, wake)
    assert watch.start()
    try:
        (incoming / "R1").mkdir()
        (incoming / "R1" / "job.json").write_text("{}")
        os.rename(incoming / "R1", approved / "R1")
        assert _wait_for(lambda: watch.arrived_at(approved / "R1") is not None)
        assert wake.is_set()
        (elsewhere / "R2").mkdir()                  # renamed in from another folder
        os.rename(elsewhere / "R2", approved / "R2")
        shutil.copytree(approved / "R1", approved / "R3")     # copied in
        time.sleep(0.3)
        assert watch.arrived_at(approved / "R2") is None
        assert watch.arrived_at(approved / "R3") is None
        # The folder of that name replaced by another one: not the one that arrived.
        os.rename(approved / "R1", elsewhere / "R1")
        shutil.copytree(elsewhere / "R1", approved / "R1")
        assert watch.arrived_at(approved / "R1") is None
    finally:
        watch.stop()


def test_a_renamed_folder_is_ready_at_once_unless_it_changed_after(tmp_path: Path) -> None:
    job = tmp_path / "J1"
    job.mkdir()
    (job / "job.json").write_text("{}")
    (job / "a.dcm").write_bytes(b"x")
    now = time.time() + 0.001
    assert readiness(job, 30, now=now).verdict == "wait"
    assert readiness(job, 30, now=now, renamed_at=now).verdict == "claim"
    time.sleep(0.3)
    (job / "b.dcm").write_bytes(b"late")        # written after it arrived
    assert readiness(job, 30, renamed_at=now).verdict == "wait"


@pytest.mark.slow
def test_the_service_claims_a_job_renamed_in_without_waiting_the_quiet_time(
        tmp_path: Path) -> None:
    """quiet_seconds is 60: a job renamed from incoming/ runs at once, while one copied
    straight into approved/ is still waiting."""
    station = new_station(tmp_path / "station", rescan_seconds=0.3, quiet_seconds=60)
    log = tmp_path / "service.log"
    _job(station.folder("incoming") / "Q1")
    _job(tmp_path / "export" / "Q2")
    proc = serve(station, log)
    try:
        # Serving: the heartbeat is written just before the watches start.
        beat = station.spool / ".stations" / "teststation.json"
        assert _wait_for(beat.is_file, 60), log.read_text()
        time.sleep(1.0)
        os.rename(station.folder("incoming") / "Q1", station.folder("approved") / "Q1")
        shutil.copytree(tmp_path / "export" / "Q2", station.folder("approved") / "Q2")
        assert _wait_for(lambda: station.where("Q1") == ["done"], 60), log.read_text()
        assert station.where("Q2") == ["approved"], "a copy still waits for quiet"
    finally:
        stop(proc)
