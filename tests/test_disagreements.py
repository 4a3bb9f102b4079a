"""When a job's folder and the station's database disagree, `recover()` repairs it in one
direction (issue 9; DESIGN.md section 2): the folder decides where the job is, the database
which copies exist. One case a row of the README's table."""

from __future__ import annotations

import time

import pytest
from conftest import StationDir

from burner.config import load_config
from burner.spool import write_owner
from burner.state import JobState, StateDB
from burner.station import Station


def _station(station: StationDir) -> Station:
    return Station(load_config(station.config))


def _job(station: StationDir, db: StateDB, job: str, state: JobState, folder: str | None,
         owner: str | None = "teststation") -> None:
    db.add_job(job, "teststation")
    db.record_copy(job, 1, 1, "drive0", "/media/disc1-copy1.iso", "ab" * 32)
    if state != JobState.ACTIVE:
        db.set_state(job, state, f"recorded as {state}")
    if folder is not None:
        path = station.folder(folder) / job
        path.mkdir(parents=True)
        (path / "job.json").write_text("{}")
        if owner is not None:
            write_owner(path, owner, db.generation)


def _row(db: StateDB, job: str):
    row = db.get(job)
    assert row is not None
    return row


@pytest.mark.parametrize(("state", "folder", "expect"), [
    (JobState.ACTIVE, "done", JobState.DONE),        # moved, then the crash
    (JobState.WAITING, "held", JobState.HELD),
    (JobState.ACTIVE, "rejected", JobState.REJECTED),
    (JobState.QUEUED, "held", JobState.HELD),        # retry crashed before its move
    (JobState.ACTIVE, "approved", JobState.QUEUED),  # put back in the queue by hand
    (JobState.WAITING, "pending", JobState.QUEUED),
    (JobState.ACTIVE, None, JobState.HELD),          # taken out of the spool
    (JobState.ACTIVE, "active", JobState.ACTIVE),    # agree: it goes on
    (JobState.HELD, "active", JobState.HELD),        # stays held until burner retry
])
def test_the_folder_decides_where_the_job_is_the_database_keeps_its_copies(
        station: StationDir, state: JobState, folder: str | None, expect: JobState) -> None:
    s = _station(station)
    _job(station, s.db, "D1", state, folder)
    s.recover()
    row = _row(s.db, "D1")
    assert row.state == expect
    assert [(c["volume"], c["copy"]) for c in s.db.copies("D1")] == [(1, 1)]
    assert station.where("D1") == ([folder] if folder else [])
    if folder is None:
        assert "taken out of active/" in row.reason and "burner retry D1" in row.reason


@pytest.mark.parametrize(("state", "dest"), [(JobState.DONE, "done"),
                                             (JobState.REJECTED, "rejected")])
def test_a_finished_job_whose_folder_is_back_in_active_goes_where_it_ended(
        station: StationDir, state: JobState, dest: str) -> None:
    s = _station(station)
    _job(station, s.db, "D2", state, "active")
    s.recover()
    assert station.where("D2") == [dest]
    assert _row(s.db, "D2").state == state
    assert len(s.db.copies("D2")) == 1
    if dest == "rejected":
        assert (station.folder(dest) / "D2" / "reason.txt").read_text().strip() == \
            "recorded as rejected"


def test_a_job_another_station_took_over_is_not_run_here(station: StationDir) -> None:
    """This station was silent, another adopted its job: after a restart it does not burn
    the job as well, and `retry` here refuses it."""
    s = _station(station)
    _job(station, s.db, "D3", JobState.WAITING, "active", owner="otherstation")
    s.recover()
    row = _row(s.db, "D3")
    assert row.state == JobState.HELD and "Station otherstation took this job over" in row.reason
    retry = station.cli("retry", "D3")
    assert retry.returncode == 2 and "that station's to run" in retry.stderr
    assert station.where("D3") == ["active"]


def test_a_job_of_that_name_in_approved_beside_the_running_one_leaves_it_running(
        station: StationDir) -> None:
    s = _station(station)
    _job(station, s.db, "D4", JobState.ACTIVE, "active")
    (station.folder("approved") / "D4").mkdir(parents=True)
    s.recover()
    assert _row(s.db, "D4").state == JobState.ACTIVE
    assert station.where("D4") == ["active", "approved"]


def test_a_stage_stops_when_another_station_took_the_job_over(station: StationDir) -> None:
    """The owner file is checked before and after every stage."""
    s = _station(station)
    station.add_job("D5")
    time.sleep(0.5)                         # quiet for longer than quiet_seconds
    assert s.claim_all() == ["D5"]
    write_owner(station.folder("active") / "D5", "otherstation")
    s.drain()
    row = _row(s.db, "D5")
    assert row.state == JobState.HELD and "took this job over" in row.reason
    assert row.stages_done == ()
    assert station.where("D5") == ["active"]
