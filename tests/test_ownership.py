"""One owner per data folder and per drive (issue 9): a second `burner run` on one data folder
refuses and names the first; two stations configured with one drive never write it at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import StationDir, new_station, release, run_paused

pytestmark = pytest.mark.slow     # each test runs stations (and burns)


def _paused(station: StationDir, where: str, seconds: float) -> subprocess.Popen:
    return run_paused(station, where, seconds, stderr=subprocess.PIPE, text=True)


def _copies(station: StationDir, job_id: str) -> list[tuple]:
    return station.query("SELECT volume, copy FROM copies WHERE job_id = ?", job_id)


def test_a_second_station_on_one_data_folder_refuses_and_names_the_first(
        station: StationDir) -> None:
    station.add_job("L1")
    first = _paused(station, "write", 120)
    station.add_job("L2")
    for args in (("run", "--once"), ("run",)):
        proc = station.cli(*args, timeout=30)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Another burner station is already running on the data folder" in proc.stderr
        assert f"PID {first.pid}, station 'teststation'" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert station.where("L2") == ["approved"], "the refused process touched nothing"
    deadline = time.monotonic() + 120
    while first.poll() is None:         # it takes L2 too, and pauses in its write as well
        assert time.monotonic() < deadline, "the first station did not finish"
        release(station, "write")
        time.sleep(0.1)
    assert first.returncode == 0
    assert _copies(station, "L1") == [(1, 1)]
    assert station.where("L1") == ["done"]
    assert station.cli("run", "--once").returncode == 0, "the lock went with the first"
    assert station.where("L2") == ["done"]


def test_a_killed_station_leaves_no_lock_behind(station: StationDir) -> None:
    proc = subprocess.Popen(station.command("run"), env=station.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = station.data_dir / "burner.lock"
    try:
        deadline = time.monotonic() + 60
        # Wait for the service itself to hold the lock (a probe must not race it for it).
        while not (lock.is_file() and f'"pid": {proc.pid}' in lock.read_text()):
            assert proc.poll() is None, "the service ended"
            assert time.monotonic() < deadline, "the service never took its data folder"
            time.sleep(0.1)
        assert station.cli("run", "--once").returncode == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    station.add_job("K1")
    assert station.cli("run", "--once").returncode == 0
    assert station.where("K1") == ["done"]


def test_two_stations_with_one_drive_take_turns(tmp_path: Path) -> None:
    a = new_station(tmp_path / "A")
    b = new_station(tmp_path / "B")
    shared = json.dumps(f"stdio:{a.drive}")
    b.config.write_text(b.config.read_text()
                        .replace('id = "teststation"', 'id = "otherstation"')
                        .replace('device = "stdio:drives/drive0.img"', f"device = {shared}"))
    a.add_job("A1")
    b.add_job("B1")
    holder = _paused(a, "write", 15)       # A has burned A1 and still holds the drive
    proc = b.cli("run", "--once", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert holder.wait(timeout=120) == 0
    waits = b.query("SELECT detail FROM history WHERE job_id = 'B1' AND event = 'waiting'")
    assert waits, "B1 waited for the drive"
    assert "The drive drive0 is being written by another burner process" in waits[0][0]
    assert "station 'teststation'" in waits[0][0]
    attempts = b.query("SELECT attempts FROM jobs WHERE job_id = 'B1'")
    assert attempts == [(0,)], "waiting for a busy drive is not a failed attempt"
    for station, job in ((a, "A1"), (b, "B1")):
        assert station.where(job) == ["done"]
        assert _copies(station, job) == [(1, 1)]
        result = json.loads((station.folder("done") / job / "result.json").read_text())
        (copy,) = result["copies"]
        assert Path(copy["medium"]).is_relative_to(station.media / job)
        assert copy["sha256"] == result["volumes"][0]["sha256"]
