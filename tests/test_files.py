"""What burner leaves on the machine (issue 8): its files are private to the station's user
(or its group, when configured), finished jobs' work trees and images go after [retention] days
and nothing else does, and `burner status` shows the disk."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import StationDir, make_job_folder, new_station, serve, stop, study_patient

from burner import synth

STRANGER = synth.Patient(id="XX0001", name="STRANGER^PAT", birth_date="19500101", sex="M")


def _configure(station: StationDir, extra: str) -> None:
    """Work trees kept after done (so there are some to check), and `extra` settings."""
    text = station.config.read_text(encoding="utf-8")
    station.config.write_text(text.replace("[job]\n", "[job]\nkeep_work = true\n", 1)
                              + extra, encoding="utf-8")


def _station(tmp_path: Path, extra: str) -> StationDir:
    """A station whose data folder burner itself creates (the test's umask makes nothing)."""
    station = new_station(tmp_path / "station")
    shutil.rmtree(station.data_dir)
    _configure(station, extra)
    return station


def _run(station: StationDir, *args: str) -> subprocess.CompletedProcess[str]:
    """`burner ARGS` started from a shell-like umask of 022."""
    proc = subprocess.run(station.command(*args), env=station.env(), capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, umask=0o022)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _submit(station: StationDir, source: Path, job_id: str) -> None:
    p = study_patient()
    birth = f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}"
    _run(station, "submit", str(source), "--patient-id", p.id, "--patient-name", p.name,
         "--birth-date", birth, "--approved-by", "clerk1", "--job-id", job_id)


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def _source_study(tmp_path: Path) -> Path:
    """A study as an export leaves it: world-readable files."""
    source = tmp_path / "export"
    os.umask(old := os.umask(0o022))
    try:
        synth.make_ct_study(source, study_patient(), slices=3, rows=64, cols=64)
    finally:
        os.umask(old)
    assert all(p.stat().st_mode & 0o004 for p in source.iterdir())
    return source


def _modes_after_a_job(tmp_path: Path, extra: str) -> dict[str, int]:
    """Submit and finish one job from a umask-022 shell; the modes of all burner made."""
    station = _station(tmp_path, extra)
    _submit(station, _source_study(tmp_path), "P1")
    _run(station, "run", "--once")
    data = station.data_dir
    for path in (data / "burner.sqlite", data / "burner.log", data / "media" / "P1",
                 data / "prints" / "P1", data / "work" / "P1",
                 station.folder("done") / "P1" / "dicom"):
        assert path.exists(), path
    modes = _modes(data)
    assert len(modes) > 40
    return modes


@pytest.mark.slow
def test_files_burner_makes_are_private(tmp_path: Path) -> None:
    modes = _modes_after_a_job(tmp_path, "")
    readable = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert not readable, f"readable by others than the station's user: {readable}"


@pytest.mark.slow
def test_group_access_lets_the_group_read_and_nobody_else(tmp_path: Path) -> None:
    modes = _modes_after_a_job(tmp_path, "\n[files]\ngroup_access = true\n")
    assert not {p: oct(m) for p, m in modes.items() if m & 0o027}, "group write or others"
    assert all(m & 0o040 for m in modes.values()), "the group may read everything"
    sqlite = modes["burner.sqlite"]
    assert sqlite & 0o040 and not sqlite & 0o004


# --- retention ---------------------------------------------------------------------------


RETENTION_SECONDS = 3.0


def _retention_station(tmp_path: Path) -> StationDir:
    station = new_station(tmp_path / "station")
    _configure(station, f"\n[retention]\ndays = {RETENTION_SECONDS / 86400}\n")
    return station


def _add_jobs(station: StationDir) -> None:
    station.add_job("D1")                                  # done, written to the dvd drive
    iso = station.add_job("D2")                            # done, an image in images/
    manifest = json.loads((iso / "job.json").read_text())
    manifest["media"]["type"] = "iso"
    (iso / "job.json").write_text(json.dumps(manifest))
    held = station.add_job("H1")                           # held: a file of another patient
    target = sorted((held / "dicom").rglob("*.dcm"))[0]
    synth.rewrite_patient(target, STRANGER, target.with_name("x.tmp"))
    os.replace(target.with_name("x.tmp"), target)
    rejected = station.folder("approved") / "R1"           # rejected: job.json is not JSON
    make_job_folder(rejected)
    (rejected / "job.json").write_text("{not json")
    assert station.cli("run", "--once").returncode == 0
    assert station.where("D1") == station.where("D2") == ["done"]
    assert station.where("H1") == ["held"] and station.where("R1") == ["rejected"]
    for job in ("H1", "R1"):     # a held job's work tree, as a person may need it (and R1's)
        (station.data_dir / "work" / job).mkdir(parents=True, exist_ok=True)
        (station.data_dir / "work" / job / "kept.txt").write_text("evidence")


def _products(station: StationDir) -> set[str]:
    data = station.data_dir
    return {f"{base}/{p.name}" for base in ("work", "images", "media")
            if (data / base).is_dir() for p in (data / base).iterdir()}


@pytest.mark.slow
def test_cleanup_deletes_only_finished_jobs_after_the_retention_time(tmp_path: Path) -> None:
    station = _retention_station(tmp_path)
    _add_jobs(station)
    before = _products(station)
    assert {"work/D1", "media/D1", "work/D2", "images/D2", "work/H1", "work/R1"} <= before

    young = station.cli("cleanup")
    assert young.returncode == 0 and "0 finished job(s)" in young.stdout
    assert _products(station) == before

    time.sleep(RETENTION_SECONDS + 0.5)
    dry = station.cli("cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for job in ("D1", "D2", "R1"):
        assert f"{job}: would delete" in dry.stdout
    assert "H1" not in dry.stdout, "a held job keeps its work files"
    assert _products(station) == before

    proc = station.cli("cleanup")
    assert proc.returncode == 0, proc.stderr
    assert "3 finished job(s)" in proc.stdout
    assert _products(station) == before - {"work/D1", "media/D1", "work/D2", "images/D2",
                                           "work/R1"}
    assert (station.data_dir / "work" / "H1" / "kept.txt").read_text() == "evidence"
    for job in ("D1", "D2"):     # the spool's record of the job stays
        assert (station.folder("done") / job / "result.json").is_file()
    assert (station.folder("rejected") / "R1" / "reason.txt").is_file()
    events = station.query("SELECT job_id, event FROM history WHERE stage = 'retention'")
    assert sorted(events) == [("D1", "deleted"), ("D2", "deleted"), ("R1", "deleted")]


@pytest.mark.slow
def test_a_done_folder_the_database_does_not_call_done_is_kept(tmp_path: Path) -> None:
    """A job moved into done/ by hand while the database says held is not finished."""
    station = _retention_station(tmp_path)
    _add_jobs(station)
    os.rename(station.folder("held") / "H1", station.folder("done") / "H1")
    (station.folder("done") / "H1" / "result.json").write_text("{}")
    time.sleep(RETENTION_SECONDS + 0.5)
    proc = station.cli("cleanup")
    assert proc.returncode == 0 and "H1" not in proc.stdout
    assert (station.data_dir / "work" / "H1" / "kept.txt").exists()


@pytest.mark.slow
def test_the_service_cleans_up_when_it_starts(tmp_path: Path) -> None:
    station = _retention_station(tmp_path)
    _add_jobs(station)
    time.sleep(RETENTION_SECONDS + 0.5)
    log = tmp_path / "service.log"
    proc = serve(station, log)
    try:
        end = time.monotonic() + 30
        gone = ("work/D1", "media/D1", "work/D2", "images/D2")
        while time.monotonic() < end and _products(station) & set(gone):
            time.sleep(0.1)
        assert not (station.data_dir / "work" / "D1").exists(), log.read_text()
        assert not (station.data_dir / "images" / "D2").exists()
        assert (station.data_dir / "work" / "H1" / "kept.txt").exists()
    finally:
        stop(proc)
    assert "job D1: deleted its work files and images" in log.read_text()


@pytest.mark.slow
def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station")
    _configure(station, "\n[retention]\ndays = 0\n")
    station.add_job("K1")
    assert station.cli("run", "--once").returncode == 0
    before = _products(station)
    proc = station.cli("cleanup")
    assert proc.returncode == 0 and "nothing deleted" in proc.stdout
    assert _products(station) == before


@pytest.mark.slow
def test_status_shows_disk_use(tmp_path: Path) -> None:
    station = _retention_station(tmp_path)
    station.add_job("S1")
    assert station.cli("run", "--once").returncode == 0
    proc = station.cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    disk = json.loads(proc.stdout)["disk"]
    assert set(disk["used"]) == {"spool", "work", "images", "media", "database"}
    assert disk["used"]["media"] > 300_000          # the burned disc file of S1
    assert disk["used"]["database"] > 0
    assert 0 < disk["free"] <= disk["total"]
    text = station.cli("status").stdout
    line = next(x for x in text.splitlines() if x.startswith("disk: "))
    assert "media " in line and " free of " in line and line.endswith("images kept 3 seconds")


def _unit_station(tmp_path: Path, state: str) -> tuple:
    """A data folder with job U1 done (or `state`) now, and its three kinds of products."""
    from burner.config import load_config
    from burner.state import JobState, StateDB

    config_file = tmp_path / "burner.toml"
    config_file.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    config = load_config(config_file)
    db = StateDB(config.db_path)
    db.add_job("U1", "test")
    db.set_state("U1", JobState(state))
    folder = config.spool_dir / ("done" if state == "done" else state) / "U1"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("{}")
    for base in (config.work_dir, config.images_dir, config.media_dir):
        (base / "U1").mkdir(parents=True)
        (base / "U1" / "f.bin").write_bytes(b"x" * 1000)
    return config, db


def test_retention_counts_days_from_when_the_job_was_done(tmp_path: Path) -> None:
    from burner import retention

    config, db = _unit_station(tmp_path, "done")
    now = time.time()
    assert retention.expired(config, db, now + 6.9 * 86400) == []
    (item,) = retention.expired(config, db, now + 7.1 * 86400)
    assert item.job_id == "U1" and item.bytes == 3000 and len(item.paths) == 3
    db.close()


def test_retention_never_touches_a_job_the_database_calls_held(tmp_path: Path) -> None:
    from burner import retention

    config, db = _unit_station(tmp_path, "held")
    assert retention.clean(config, db, time.time() + 100 * 86400) == []
    assert (config.work_dir / "U1" / "f.bin").exists()
    db.close()


def test_a_failed_deletion_is_reported_and_not_recorded(tmp_path: Path, monkeypatch) -> None:
    from burner import retention

    config, db = _unit_station(tmp_path, "done")

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(retention.shutil, "rmtree", refuse)
    (item,) = retention.clean(config, db, time.time() + 8 * 86400)
    assert item.error.startswith("Permission denied (") and "U1" in item.error
    assert (config.work_dir / "U1" / "f.bin").exists()
    assert [r["event"] for r in db.history("U1")].count("deleted") == 0
    db.close()


@pytest.mark.slow
def test_status_shows_the_work_files_a_held_job_keeps(tmp_path: Path) -> None:
    station = _retention_station(tmp_path)
    _add_jobs(station)
    (job,) = [j for j in json.loads(station.cli("status", "--json").stdout)["jobs"]
              if j["job_id"] == "H1"]
    assert job["work_bytes"] > 0
    assert "its work files take" in station.cli("status").stdout
