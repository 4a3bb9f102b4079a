"""A full disk is a state, not a loop (issue 9): on a small tmpfs, a job too big for the space
left waits with "disk full: ..." (its partial output removed, no restart storm) while a small
job finishes; once there is room it goes on by itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    StationDir,
    make_job_folder,
    new_station,
    require_tool,
    serve,
    stop,
    unavailable,
)

from burner import synth

SIZE_MB = 256


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs of SIZE_MB mounted for the test (root only); unmounted afterwards."""
    require_tool("mount")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the full-disk test: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _fill(disk: Path, leave_mb: int) -> Path:
    filler = disk / "filler.bin"
    free = shutil.disk_usage(disk).free - leave_mb * 1024 * 1024
    with open(filler, "wb") as fp:
        os.posix_fallocate(fp.fileno(), 0, max(0, free))
    return filler


def _state(station: StationDir, job: str) -> tuple[str, str]:
    rows = station.query("SELECT state, reason FROM jobs WHERE job_id = ?", job)
    return rows[0] if rows else ("", "")


def test_recording_a_state_works_on_a_full_disk(small_disk: Path) -> None:
    """The database gives up its reserve when the disk is full, so the failure is recorded."""
    from burner.state import JobState, StateDB

    db = StateDB(small_disk / "burner.sqlite")
    db.add_job("J1", "test")
    assert db.reserve.stat().st_size == 8 * 1024 * 1024
    _fill(small_disk, leave_mb=0)
    reason = "disk full: " + "x" * 300_000          # more than any page the disk has left
    db.set_state("J1", JobState.WAITING, reason)
    assert db.get("J1").state == JobState.WAITING and db.get("J1").reason == reason
    assert not db.reserve.exists()
    db.close()


@pytest.mark.slow
def test_a_job_too_big_waits_the_small_one_runs_then_it_goes_on(small_disk: Path,
                                                                 tmp_path: Path) -> None:
    station = new_station(small_disk / "station", rescan_seconds=0.5)
    big = station.folder("incoming") / "BIG"
    make_job_folder(big, slices=1)
    for path in (big / "dicom").rglob("*.dcm"):
        path.unlink()
    synth.make_ct_study(big / "dicom", synth.Patient(id="BRN0042", name="TESTER^ROBIN",
                                                     birth_date="19750615", sex="O"),
                        slices=320, rows=256, cols=256, accession="TESTACC1")
    station.folder("approved").mkdir(parents=True, exist_ok=True)
    manifest = json.loads((big / "job.json").read_text())
    del manifest["studies"]                           # the study was made anew just above
    (big / "job.json").write_text(json.dumps(manifest))
    station.add_job("SMALL")
    filler = _fill(small_disk, leave_mb=30)           # room for the small job only
    os.rename(big, station.folder("approved") / "BIG")
    log = tmp_path / "service.log"
    proc = serve(station, log)
    try:
        deadline = time.monotonic() + 120
        while station.where("SMALL") != ["done"] or not _state(station, "BIG")[1]:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        state, reason = _state(station, "BIG")
        assert state == "waiting" and reason.startswith("disk full: "), (state, reason)
        assert station.where("BIG") == ["active"]
        time.sleep(12)                                  # long enough for a restart storm
        starts = station.query("SELECT COUNT(*) FROM history WHERE job_id = 'BIG' AND "
                               "event = 'started'")[0][0]
        assert starts <= 6, f"{starts} stage starts in a few seconds: a restart loop"
        attempts = station.query("SELECT attempts FROM jobs WHERE job_id = 'BIG'")[0][0]
        assert attempts == 0, "waiting for room is not a failed attempt"
        work = station.data_dir / "work" / "BIG"
        partial = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
        assert sum(p.stat().st_size for p in partial) < 2_000_000, "partial output freed"

        filler.unlink()
        deadline = time.monotonic() + 120
        while station.where("BIG") != ["done"]:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()


def test_submit_onto_a_full_disk_leaves_no_half_job(small_disk: Path, tmp_path: Path) -> None:
    station = new_station(small_disk / "station")
    source = tmp_path / "export"
    synth.make_ct_study(source, synth.Patient(id="BRN0042", name="TESTER^ROBIN",
                                              birth_date="19750615", sex="O"),
                        slices=40, rows=256, cols=256)
    _fill(small_disk, leave_mb=2)
    proc = station.cli("submit", str(source), "--patient-id", "BRN0042", "--patient-name",
                       "TESTER^ROBIN", "--birth-date", "1975-06-15", "--approved-by", "clerk1",
                       "--job-id", "FULL1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the files could not be copied into the spool, so no job was made" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert station.where("FULL1") == [], "no half-made job anywhere in the spool"


@pytest.mark.slow
def test_a_drive_in_a_read_only_folder_is_named_not_called_too_small(
        small_disk: Path) -> None:
    station = new_station(small_disk / "station", max_attempts=2)
    drives = station.drive.parent
    drives.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                              str(drives)], capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, mounted.stderr
    try:
        station.add_job("RO1")
        assert station.cli("run", "--once").returncode == 0
        assert station.where("RO1") == ["held"]
        reason = (station.folder("held") / "RO1" / "reason.txt").read_text()
        assert f"its folder {drives} is on a read-only file system" in reason
        assert "too small" not in reason
    finally:
        subprocess.run(["umount", "-l", str(drives)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("fresh", [True, False])
def test_a_full_disk_at_start_is_said_in_words(small_disk: Path, fresh: bool) -> None:
    """`burner run` on a disk with no room at all: a fresh station cannot make its folders
    and database, an existing one cannot open its database for writing; both say so."""
    station = new_station(small_disk / "station")
    if not fresh:
        station.add_job("F1")
        assert station.cli("status").returncode == 0       # folders and database made
        (station.db_path.parent / "burner.sqlite.reserve").unlink(missing_ok=True)
    _fill(small_disk, leave_mb=0)
    proc = station.cli("run", "--once")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"the disk holding {station.data_dir}" in proc.stderr, proc.stderr
    assert "is full. Free some space" in proc.stderr
    if not fresh:
        assert station.where("F1") in (["approved"], ["active"])
