"""A job whose folder is taken out of active/ while it runs (issue 9): it stops as held with the
reason, and no stage makes the folder again (it once ended done/ holding only prints)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import StationDir, release, run_paused

pytestmark = pytest.mark.slow     # each test pauses a running station


@pytest.mark.parametrize("where", ["verify", "print"])
def test_a_job_whose_folder_is_removed_stops_held(station: StationDir, tmp_path: Path,
                                                  where: str) -> None:
    station.add_job("G1")
    proc = run_paused(station, where, 60, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True)
    shutil.move(station.folder("active") / "G1", tmp_path / "taken-away")
    release(station, where)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert station.where("G1") == [], "no stage made the job folder again"
    assert not (station.data_dir / "prints" / "G1").exists(), "nothing was printed"
    (state, reason), = station.query("SELECT state, reason FROM jobs WHERE job_id = 'G1'")
    assert state == "held"
    assert reason.startswith("The job folder was taken out of active/ while the job was "
                             "running")
    assert "burner retry G1" in reason
    info = json.loads(station.cli("status", "--json").stdout)
    (job,) = [j for j in info["jobs"] if j["job_id"] == "G1"]
    assert job["folder"] == "missing" and job["state"] == "held"
    text = station.cli("status").stdout
    assert "G1" in text and "taken out of active/" in text
    assert "Traceback" not in err


def test_put_back_it_stays_held_until_retry_then_goes_on_without_burning_again(
        station: StationDir, tmp_path: Path) -> None:
    station.add_job("G2")
    proc = run_paused(station, "verify", 60)
    shutil.move(station.folder("active") / "G2", tmp_path / "taken-away")
    release(station, "verify")
    assert proc.wait(timeout=120) == 0
    copies = station.query("SELECT * FROM copies WHERE job_id = 'G2'")
    assert len(copies) == 1

    missing = station.cli("retry", "G2")
    assert missing.returncode == 2 and "Put the folder back in active/" in missing.stderr
    shutil.move(tmp_path / "taken-away", station.folder("active") / "G2")
    assert station.cli("run", "--once").returncode == 0
    assert station.query("SELECT state FROM jobs WHERE job_id = 'G2'") == [("held",)], \
        "a restart does not adopt a held job afresh"
    assert station.query("SELECT * FROM copies WHERE job_id = 'G2'") == copies

    retry = station.cli("retry", "G2")
    assert retry.returncode == 0 and "will go on where it stopped" in retry.stdout
    assert station.cli("run", "--once").returncode == 0
    assert station.where("G2") == ["done"]
    assert station.query("SELECT * FROM copies WHERE job_id = 'G2'") == copies, \
        "copy 1 was not burned again"
    media = [p for p in (station.data_dir / "media" / "G2").glob("*.iso")]
    assert len(media) == 1
