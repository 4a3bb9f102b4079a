"""Stations sharing one spool (issue 9): each claims only what it will start soon, so both
work; each writes a heartbeat; `burner status` shows who works on a job in active/ and flags a
station gone silent; `burner adopt` takes its job over and another station finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import StationDir, make_job_folder, new_station, serve, stop

from burner.spool import OWNER

SILENT = 8.0          # long enough that a loaded machine starts `adopt` within it


def _pair(tmp_path: Path) -> tuple[StationDir, StationDir]:
    a = new_station(tmp_path / "A", rescan_seconds=0.5)
    b = new_station(tmp_path / "B", rescan_seconds=0.5)
    shared = json.dumps(str(a.spool))
    for station, name in ((a, "stationA"), (b, "stationB")):
        text = station.config.read_text().replace('id = "teststation"', f'id = "{name}"')
        text = text.replace("[spool]", f"[spool]\nsilent_seconds = {SILENT}", 1)
        if station is b:
            text = text.replace("[spool]", f"[spool]\npath = {shared}", 1)
        station.config.write_text(text)
    return a, b


def _done_by(station: StationDir) -> set[str]:
    return {r[0] for r in station.query("SELECT job_id FROM jobs WHERE state = 'done'")}


@pytest.mark.slow
def test_two_stations_share_eight_jobs_each_done_once(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    jobs = [f"S{n}" for n in range(8)]
    for job in jobs:
        a.add_job(job)
    pa, pb = serve(a, tmp_path / "a.log"), serve(b, tmp_path / "b.log")
    try:
        deadline = time.monotonic() + 240
        while len(list(a.folder("done").glob("S*"))) < len(jobs):
            assert time.monotonic() < deadline, (tmp_path / "a.log").read_text()
            time.sleep(0.2)
    finally:
        stop(pa, pb)
    by_a, by_b = _done_by(a), _done_by(b)
    assert by_a and by_b, f"both stations did work: A {sorted(by_a)}, B {sorted(by_b)}"
    assert by_a | by_b == set(jobs) and not by_a & by_b, "every job done exactly once"
    for job in jobs:
        result = json.loads((a.folder("done") / job / "result.json").read_text())
        assert len(result["copies"]) == 1
    status = json.loads(b.cli("status", "--json").stdout)
    copies = {j["job_id"]: j["copies"] for j in status["jobs"] if j["folder"] == "done"}
    assert all(copies[j] == 1 for j in by_a), "A's jobs are not '0 copies' in B's status"


@pytest.mark.slow
def test_a_silent_stations_job_is_flagged_and_adopted(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    a.add_job("K1")
    with open(tmp_path / "a.log", "wb") as out:
        pa = subprocess.Popen(a.command("run", "--once"),
                              env=a.env(BURNER_PAUSE_AT="stage", BURNER_PAUSE_SECONDS="60"),
                              stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (a.data_dir / "paused-stage").exists():
        assert pa.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(pa.pid, signal.SIGKILL)
    pa.wait()

    early = b.cli("adopt", "K1")
    assert early.returncode == 2 and "was seen" in early.stderr, "not while A may be alive"
    time.sleep(SILENT + 0.5)
    (job,) = [j for j in json.loads(b.cli("status", "--json").stdout)["jobs"]
              if j["job_id"] == "K1"]
    assert job["folder"] == "active" and job["owner"] == "stationA" and job["owner_silent"]
    text = b.cli("status").stdout
    assert "K1" in text and "station stationA, last seen" in text and "burner adopt K1" in text

    adopted = b.cli("adopt", "K1")
    assert adopted.returncode == 0, adopted.stderr
    assert "Discs that station may have made for it cannot be confirmed" in adopted.stdout
    assert b.cli("run", "--once").returncode == 0
    assert a.where("K1") == ["done"]            # the shared spool is A's
    assert "K1" in _done_by(b)
    notes = b.query("SELECT detail FROM history WHERE job_id = 'K1' AND event = 'adopted'")
    assert notes and "Taken over from station stationA" in notes[0][0]


def test_a_station_never_heard_of_is_adopted_only_with_force(tmp_path: Path) -> None:
    a, _ = _pair(tmp_path)
    job = a.folder("active") / "G1"
    make_job_folder(job, slices=1)
    (job / OWNER).write_text("ghoststation\n")
    refused = a.cli("adopt", "G1")
    assert refused.returncode == 2 and "has never said it is alive" in refused.stderr
    assert a.where("G1") == ["active"]
    forced = a.cli("adopt", "G1", "--force")
    assert forced.returncode == 0 and a.where("G1") == ["approved"]
