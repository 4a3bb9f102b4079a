"""Lost memory is noticed (issue 9): a database emptied, truncated or replaced while active/
holds this station's jobs is a refusal to start, and `burner recover --accept-lost-state`
rebuilds the record from the job folders and media/: no copy is burned twice."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import sha256_prefix
from test_crash_resume import kill_in
from test_station import faulty_station


def _truncate_database(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            path.write_bytes(b"")


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


def test_retry_after_a_lost_work_tree_does_not_burn_made_copies_unasked(tmp_path: Path) -> None:
    """Copy 1 burned, copy 2 failed, then the work tree was lost: retry would make copy 1
    again, so it refuses and says how to start over on purpose."""
    import shutil

    station, real = faulty_station(tmp_path)
    burns = tmp_path / "burns"
    station.add_job("W1", copies=2)
    proc = station.cli("run", "--once", FAKE_XORRISO_FAULT="write_error", REAL_XORRISO=real,
                       FAKE_XORRISO_GOOD_BURNS="1", FAKE_XORRISO_COUNTER=str(burns))
    assert proc.returncode == 0 and station.where("W1") == ["held"]
    shutil.rmtree(station.data_dir / "work" / "W1")
    refused = station.cli("retry", "W1")
    assert refused.returncode == 2
    assert "already has 1 verified cop(ies), but its disc images are gone" in refused.stderr
    assert "burner retry W1 --start-over" in refused.stderr
    assert station.where("W1") == ["held"]
    assert (station.folder("held") / "W1" / "reason.txt").is_file(), "left as it was"

    again = station.cli("retry", "W1", "--start-over")
    assert again.returncode == 0 and "queued again" in again.stdout
    assert station.cli("run", "--once", REAL_XORRISO=real).returncode == 0
    assert station.where("W1") == ["done"]
