"""kill -9 of `burner run --once` inside every stage, then a restart: the job finishes exactly
once, with exactly the copies asked for, and no disc is burned twice (DESIGN.md section 1).

The station pauses inside a stage through the BURNER_PAUSE_AT test hook (JobContext.checkpoint),
which writes <data_dir>/paused-<stage>; the test then kills it with SIGKILL. Discs are burned
by the real xorriso to `stdio:` files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import StationDir, sha256_prefix

from burner.pipeline import STAGES

pytestmark = pytest.mark.slow     # each test kills a running station mid-burn

STAGE_NAMES = [s.NAME for s in STAGES]
COPIES = 2
PAUSE_TIMEOUT = 60.0
PASS_SECONDS = 4.0   # a pause the test lets go by; the next one must be seen within it
ELSEWHERE = ("incoming", "pending", "approved", "active", "held", "rejected")


def kill_in(station: StationDir, stage: str, log: Path, let_pass: int = 0) -> str:
    """Run the station until it pauses in `stage`, kill -9 it; returns the paused job id.

    With `let_pass`, that many pauses (of PASS_SECONDS each) go by before the one killed.
    """
    marker = station.data_dir / f"paused-{stage}"
    pause = PASS_SECONDS if let_pass else 60.0
    env = station.env(BURNER_PAUSE_AT=stage, BURNER_PAUSE_SECONDS=str(pause))
    with open(log, "wb") as out:
        proc = subprocess.Popen(station.command("run", "--once"), env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        for _ in range(let_pass + 1):
            end = time.monotonic() + PAUSE_TIMEOUT
            while not (marker.is_file() and marker.read_text()):
                if proc.poll() is not None:
                    pytest.fail(f"the station ended (exit {proc.returncode}) without pausing "
                                f"in {stage}:\n{log.read_text()}")
                if time.monotonic() > end:
                    pytest.fail(f"the station did not pause in {stage}:\n{log.read_text()}")
                time.sleep(0.02)
            job_id = marker.read_text()
            marker.unlink()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return job_id


def burned_disc(station: StationDir, job_id: str) -> int:
    """The drive holds a complete burn of the job's image; returns its inode."""
    image = station.data_dir / "work" / job_id / "master" / "vol1.iso"
    size = image.stat().st_size
    assert station.drive.stat().st_size >= size
    assert sha256_prefix(station.drive, size) == sha256_prefix(image, size)
    return station.drive.stat().st_ino


def restart(station: StationDir) -> None:
    proc = station.cli("run", "--once", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not list(station.data_dir.glob("paused-*"))


def spoiled_discs(station: StationDir, job_id: str) -> int:
    folder = station.media / job_id / "spoiled"
    return len([p for p in folder.iterdir() if p.is_file()]) if folder.is_dir() else 0


def assert_done_once(station: StationDir, job_id: str, copies: int) -> None:
    """In done/ only, `copies` verified media and nothing more, and recorded done once."""
    assert station.where(job_id) == ["done"]
    for name in ELSEWHERE:
        assert not (station.folder(name) / job_id).exists()
    result = json.loads((station.folder("done") / job_id / "result.json").read_text())
    assert result["state"] == "done"
    (volume,) = result["volumes"]
    listed = result["copies"]
    assert sorted((c["volume"], c["copy"]) for c in listed) == \
        [(1, n) for n in range(1, copies + 1)]
    media = {Path(c["medium"]) for c in listed}
    assert len(media) == copies
    for medium in media:
        assert medium.is_file(), medium
        assert sha256_prefix(medium, volume["bytes"]) == volume["sha256"]
    tray = station.media / job_id
    extra = {p for p in tray.iterdir() if p.name != "spoiled"} - media
    assert not extra, f"media files not listed in result.json: {sorted(extra)}"
    assert (tray / "spoiled").is_dir() or not (tray / "spoiled").exists()
    # The drive is empty again: its last disc went out to media/.
    assert not station.drive.exists() or station.drive.stat().st_size == 0

    assert station.query("SELECT state FROM jobs WHERE job_id=?", job_id) == [("done",)]
    assert station.query("SELECT COUNT(*) FROM copies WHERE job_id=?", job_id) == [(copies,)]
    assert station.query("SELECT COUNT(*) FROM history WHERE job_id=? AND event='done'",
                         job_id) == [(1,)]
    assert station.query("SELECT COUNT(*) FROM history WHERE job_id=? AND event='claimed'",
                         job_id) == [(1,)]
    assert station.query("SELECT COUNT(*) FROM history WHERE job_id=? AND "
                         "event='copy verified'", job_id) == [(copies,)]
    assert station.query("SELECT COUNT(*) FROM history WHERE job_id=? AND "
                         "event IN ('held', 'rejected', 'waiting')", job_id) == [(0,)]


def stage_runs(station: StationDir, job_id: str) -> dict[str, tuple[int, int]]:
    """{stage: (times started, times finished)} from the history."""
    rows = station.query("SELECT stage, event, COUNT(*) FROM history WHERE job_id=? AND "
                         "event IN ('started', 'finished') GROUP BY stage, event", job_id)
    counts = {name: [0, 0] for name in STAGE_NAMES}
    for stage, event, n in rows:
        counts[stage][0 if event == "started" else 1] = n
    return {k: (v[0], v[1]) for k, v in counts.items()}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_kill_in_stage_then_restart(station: StationDir, tmp_path: Path, stage: str,
                                    record_property) -> None:
    station.add_job("K1", copies=COPIES)
    assert kill_in(station, stage, tmp_path / "killed.log") == "K1"
    assert station.where("K1") == ["active"], "killed mid-job, the job stays claimed"
    row = station.query("SELECT state, stage, stages_done FROM jobs WHERE job_id='K1'")
    assert row[0][0] == "active" and row[0][1] == stage
    assert stage not in json.loads(row[0][2])
    in_drive = burned_disc(station, "K1") if stage == "write" else None

    restart(station)
    assert_done_once(station, "K1", COPIES)
    # Resumed, not restarted: only the killed stage ran twice.
    expected = {name: ((2 if name == stage else 1), 1) for name in STAGE_NAMES}
    assert stage_runs(station, "K1") == expected

    spoiled = spoiled_discs(station, "K1")
    record_property("spoiled_discs", spoiled)
    print(f"kill in {stage}: {spoiled} spoiled disc(s)")
    if stage != "write":
        assert spoiled == 0
    else:
        assert spoiled <= 1
        # The disc burned before the kill was read back and kept, not burned again.
        assert (station.media / "K1" / "disc1-copy1.iso").stat().st_ino == in_drive


def test_kill_in_write_between_copies(station: StationDir, tmp_path: Path,
                                     record_property) -> None:
    """Killed while burning copy 2, after copy 1 was verified and recorded."""
    station.add_job("K2", copies=COPIES)
    assert kill_in(station, "write", tmp_path / "killed.log", let_pass=1) == "K2"
    assert station.query("SELECT copy FROM copies WHERE job_id='K2'") == [(1,)]
    assert [p.name for p in (station.media / "K2").iterdir()] == ["disc1-copy1.iso"]
    in_drive = burned_disc(station, "K2")

    restart(station)
    assert_done_once(station, "K2", COPIES)
    assert (station.media / "K2" / "disc1-copy2.iso").stat().st_ino == in_drive
    assert stage_runs(station, "K2")["write"] == (2, 1)
    spoiled = spoiled_discs(station, "K2")
    record_property("spoiled_discs", spoiled)
    print(f"kill in write, copy 2: {spoiled} spoiled disc(s)")
    assert spoiled <= 1


def test_two_jobs_kill_in_first_write(station: StationDir, tmp_path: Path,
                                      record_property) -> None:
    """Two queued jobs, killed while the first burns: after a restart both are done once."""
    station.add_job("Q1", copies=COPIES)
    time.sleep(0.05)   # approved/ is served oldest first (by folder time)
    station.add_job("Q2", copies=COPIES)
    assert kill_in(station, "write", tmp_path / "killed.log") == "Q1"
    assert sorted(station.where("Q1") + station.where("Q2")) == ["active", "active"]
    in_drive = burned_disc(station, "Q1")

    restart(station)
    for job_id in ("Q1", "Q2"):
        assert_done_once(station, job_id, COPIES)
    assert stage_runs(station, "Q1")["write"] == (2, 1)
    assert stage_runs(station, "Q2")["write"] == (1, 1)
    # The second job must never throw away the first job's burned disc.
    assert spoiled_discs(station, "Q2") == 0
    assert (station.media / "Q1" / "disc1-copy1.iso").stat().st_ino == in_drive
    spoiled = spoiled_discs(station, "Q1")
    record_property("spoiled_discs", spoiled)
    assert spoiled <= 1
