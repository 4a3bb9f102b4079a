"""Duplicate job ids (issue 9): a job folder named like a job the station already has is
rejected at claim, before any work, and nothing of the earlier job is touched."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from conftest import StationDir, make_job_folder

from burner.spool import OWNER

pytestmark = pytest.mark.slow     # each test runs the station service


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


def _snapshot(station: StationDir, job_id: str) -> dict:
    data = station.data_dir
    return {"done": _tree(station.folder("done") / job_id),
            "media": _tree(data / "media" / job_id), "prints": _tree(data / "prints" / job_id),
            "job": station.query("SELECT * FROM jobs WHERE job_id = ?", job_id),
            "copies": station.query("SELECT * FROM copies WHERE job_id = ?", job_id),
            "printed": station.query("SELECT * FROM prints WHERE job_id = ?", job_id),
            "history": station.query("SELECT * FROM history WHERE job_id = ?", job_id)}


def _drop(station: StationDir, job_id: str) -> Path:
    """A new job folder named `job_id`, renamed into approved/ as a producer would."""
    staging = station.folder("incoming") / job_id
    make_job_folder(staging, slices=2)
    target = station.folder("approved") / job_id
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, target)
    return target


def _rejected_duplicate(station: StationDir, job_id: str) -> str:
    (folder,) = [p for p in station.folder("rejected").iterdir()
                 if p.name.startswith(f"{job_id}-duplicate-")]
    assert (folder / "job.json").is_file(), "the release itself is kept, to be renamed"
    return (folder / "reason.txt").read_text(encoding="utf-8")


def test_a_folder_named_like_a_done_job_is_rejected_and_the_old_job_untouched(
        station: StationDir) -> None:
    station.add_job("D1")
    assert station.cli("run", "--once").returncode == 0
    assert station.where("D1") == ["done"]
    before = _snapshot(station, "D1")
    assert before["copies"] and before["media"] and before["done"]

    _drop(station, "D1")
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert list(station.folder("approved").iterdir()) == []
    reason = _rejected_duplicate(station, "D1")
    assert "a job called D1 is already in done/" in reason
    assert "Give this release a new job id" in reason
    assert _snapshot(station, "D1") == before, "nothing of the earlier job changed"
    assert not (station.data_dir / "work" / "D1").exists(), "no work was done"
    status = station.cli("status").stdout
    assert "D1-duplicate-" in status


def test_an_id_the_database_knows_is_rejected_even_without_its_folder(
        station: StationDir) -> None:
    station.add_job("D2")
    assert station.cli("run", "--once").returncode == 0
    shutil.rmtree(station.folder("done") / "D2")      # the record folder was removed by hand
    before = _snapshot(station, "D2")
    _drop(station, "D2")
    assert station.cli("run", "--once").returncode == 0
    reason = _rejected_duplicate(station, "D2")
    assert "was already processed by this station (it ended done)" in reason
    assert _snapshot(station, "D2") == before


def test_a_folder_named_like_an_active_job_is_not_left_in_approved(
        station: StationDir) -> None:
    """Another station's job in active/: the copy in approved/ would wait there forever."""
    active = station.folder("active") / "D3"
    make_job_folder(active, slices=2)
    (active / OWNER).write_text("otherstation")
    _drop(station, "D3")
    assert station.cli("run", "--once").returncode == 0
    assert "a job called D3 is already in active/" in _rejected_duplicate(station, "D3")
    assert station.where("D3") == ["active"]


def test_retry_of_a_held_job_is_not_a_duplicate(station: StationDir) -> None:
    job = station.add_job("D4")
    (job / "job.json").write_text((job / "job.json").read_text()
                                  .replace('"type": "auto"', '"type": "bd"'))
    assert station.cli("run", "--once").returncode == 0
    assert station.where("D4") == ["held"], "no writer takes a BD here"
    assert station.cli("retry", "D4").returncode == 0
    assert station.query("SELECT state FROM jobs WHERE job_id = 'D4'") == [("queued",)]
    assert station.cli("run", "--once").returncode == 0
    assert station.where("D4") == ["held"], "claimed again as itself, held again"
    assert not list(station.folder("rejected").iterdir())
