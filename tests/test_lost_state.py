"""Lost memory is noticed (issue 9): a database emptied, truncated or replaced while active/
holds this station's jobs is a refusal to start, and `burner recover --accept-lost-state`
rebuilds the record from the job folders and media/: no copy is burned twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import sha256_prefix
from test_crash_resume import kill_in
from test_station import faulty_station


def _truncate_database(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            path.write_bytes(b"")


@pytest.mark.slow
def test_a_truncated_database_is_refused_then_recovered_without_burning_twice(
        tmp_path: Path, monkeypatch) -> None:
    station, _real = faulty_station(tmp_path)
    burns = tmp_path / "burns"
    monkeypatch.setenv("FAKE_XORRISO_GOOD_BURNS", "1000")   # every burn real, and counted
    monkeypatch.setenv("FAKE_XORRISO_COUNTER", str(burns))
    station.add_job("M1", copies=2)
    kill_in(station, "write", tmp_path / "run1.log", let_pass=1)   # copy 2 burned, unrecorded
    assert burns.read_text().strip() == "2"
    first = station.media / "M1" / "disc1-copy1.iso"
    inode = first.stat().st_ino

    _truncate_database(station.db_path)
    refused = station.cli("run", "--once")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not know 1 job(s) this station was working on (M1)" in refused.stderr
    assert "burner recover --accept-lost-state" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert station.where("M1") == ["active"] and first.stat().st_ino == inode

    rec = station.cli("recover", "--accept-lost-state")
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert "M1: 1 cop(ies) read back and kept" in rec.stdout
    assert station.cli("run", "--once").returncode == 0
    assert station.where("M1") == ["done"]
    assert burns.read_text().strip() == "2", "no copy was burned again"
    assert first.stat().st_ino == inode
    result = json.loads((station.folder("done") / "M1" / "result.json").read_text())
    assert sorted((c["volume"], c["copy"]) for c in result["copies"]) == [(1, 1), (1, 2)]
    (volume,) = result["volumes"]
    for copy in result["copies"]:
        assert sha256_prefix(Path(copy["medium"]), volume["bytes"]) == volume["sha256"]
    notes = station.query("SELECT detail FROM history WHERE job_id='M1' AND event='rebuilt'")
    assert notes and "cannot be confirmed" in notes[0][0]


@pytest.mark.slow
def test_a_replaced_database_is_refused_too(tmp_path: Path, monkeypatch) -> None:
    """An older copy of the database (restored from a backup) does not know the job either."""
    station, _real = faulty_station(tmp_path)
    station.add_job("M2")
    assert station.cli("status").returncode == 0         # a database of this station's own
    backup = station.db_path.read_bytes()
    station.db_path.unlink()
    monkeypatch.setenv("FAKE_XORRISO_GOOD_BURNS", "1000")
    monkeypatch.setenv("FAKE_XORRISO_COUNTER", str(tmp_path / "burns"))
    kill_in(station, "stage", tmp_path / "run1.log")
    for suffix in ("", "-wal", "-shm"):
        station.db_path.with_name(station.db_path.name + suffix).unlink(missing_ok=True)
    station.db_path.write_bytes(backup)
    refused = station.cli("run", "--once")
    assert refused.returncode == 1 and "was lost, emptied or replaced" in refused.stderr
    assert station.cli("recover", "--accept-lost-state").returncode == 0
    assert station.cli("run", "--once").returncode == 0
    assert station.where("M2") == ["done"]


def test_recover_needs_its_flag_and_says_when_there_is_nothing(station) -> None:
    proc = station.cli("recover")
    assert proc.returncode == 2 and "--accept-lost-state" in proc.stderr
    ok = station.cli("recover", "--accept-lost-state")
    assert ok.returncode == 0 and "nothing to recover" in ok.stdout


def _held_after_one_copy(tmp_path: Path, job: str):
    """Copy 1 of 2 burned and verified, copy 2 failed: the job is held; then its work tree
    (the disc image with it) is lost."""
    import shutil

    station, real = faulty_station(tmp_path)
    burns = tmp_path / "burns"
    station.add_job(job, copies=2)
    proc = station.cli("run", "--once", FAKE_XORRISO_FAULT="write_error", REAL_XORRISO=real,
                       FAKE_XORRISO_GOOD_BURNS="1", FAKE_XORRISO_COUNTER=str(burns))
    assert proc.returncode == 0 and station.where(job) == ["held"]
    assert burns.read_text().strip() == "1"
    shutil.rmtree(station.data_dir / "work" / job)
    return station, real, burns


def _run_counted(station, real: str, burns: Path):
    return station.cli("run", "--once", REAL_XORRISO=real, FAKE_XORRISO_GOOD_BURNS="1000",
                       FAKE_XORRISO_COUNTER=str(burns))


@pytest.mark.slow
def test_retry_after_a_lost_work_tree_makes_only_the_missing_copy(tmp_path: Path) -> None:
    station, real, burns = _held_after_one_copy(tmp_path, "W1")
    first = station.media / "W1" / "disc1-copy1.iso"
    before = first.read_bytes()
    again = station.cli("retry", "W1")
    assert again.returncode == 0, again.stderr
    assert "queued again; its 1 verified copy made already count" in again.stdout
    assert _run_counted(station, real, burns).returncode == 0
    assert station.where("W1") == ["done"]
    assert burns.read_text().strip() == "2", "copy 1 was not burned again"
    assert first.read_bytes() == before
    result = json.loads((station.folder("done") / "W1" / "result.json").read_text())
    assert sorted((c["volume"], c["copy"]) for c in result["copies"]) == [(1, 1), (1, 2)]


@pytest.mark.slow
def test_start_over_makes_every_copy_and_keeps_the_old_ones_in_history(tmp_path: Path) -> None:
    station, real, burns = _held_after_one_copy(tmp_path, "W2")
    again = station.cli("retry", "W2", "--start-over")
    assert again.returncode == 0 and again.stdout.strip() == "W2: queued again"
    assert _run_counted(station, real, burns).returncode == 0
    assert station.where("W2") == ["done"]
    assert burns.read_text().strip() == "3", "both copies were made anew"
    aside = station.query("SELECT detail FROM history WHERE job_id='W2' "
                          "AND event='copy set aside (start over)'")
    assert len(aside) == 1 and "volume 1 copy 1" in aside[0][0]


@pytest.mark.slow
def test_copies_of_an_earlier_build_with_other_objects_hold_the_job(tmp_path: Path) -> None:
    """Between the lost work tree and the retry an image left the job folder: the copy made
    before holds other objects than the rebuilt disc would, so nothing more is burned."""
    station, real, burns = _held_after_one_copy(tmp_path, "W3")
    folder = station.folder("held") / "W3"
    next(iter(sorted((folder / "dicom").rglob("*.dcm")))).unlink()
    assert station.cli("retry", "W3").returncode == 0
    assert _run_counted(station, real, burns).returncode == 0
    assert station.where("W3") == ["held"]
    assert burns.read_text().strip() == "1", "nothing more was burned"
    reason = (station.folder("held") / "W3" / "reason.txt").read_text()
    assert "cannot be shown to hold the same images" in reason
    assert "disc 1 copy 1" in reason and "burner retry W3 --start-over" in reason
