"""Keeping the station itself: make its folders (init), delete what finished jobs no longer
need (cleanup), and rebuild its record after the database was lost (recover)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from burner.config import Config
from burner.errors import JobRejected, Reason
from burner.operations.common import open_db
from burner.retention import Expired
from burner.spool import Spool


@dataclass(frozen=True)
class Initialised:
    station_id: str
    data_dir: Path
    spool_dir: Path


@dataclass(frozen=True)
class Cleaned:
    """What cleanup deleted (or, on a dry run, would delete)."""

    found: list[Expired]
    dry_run: bool
    retention_days: float

    @property
    def cleaned(self) -> list[Expired]:
        return [item for item in self.found if not item.error]

    @property
    def failed(self) -> list[Expired]:
        return [item for item in self.found if item.error]


@dataclass(frozen=True)
class Recovered:
    """One job rebuilt from its folder, its work files and media/."""

    job_id: str
    copies: int                      # copies read back and kept
    unconfirmed: int                 # files set aside
    stages: tuple[str, ...]          # stages counted as done: it goes on after the last


def init(config: Config) -> Initialised:
    """Make this station's data folder, spool folders (also on a share) and drive folders."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    Spool(config.spool_dir).ensure(create=True)
    for d in config.drives:
        if d.is_stdio:
            Path(d.device.removeprefix("stdio:")).parent.mkdir(parents=True, exist_ok=True)
    with open_db(config):
        pass
    return Initialised(config.station_id, config.data_dir, config.spool_dir)


def cleanup(config: Config, dry_run: bool = False) -> Cleaned:
    """Delete the work trees and images of jobs ended more than [retention] days ago."""
    from burner.retention import clean

    with open_db(config) as db:
        found = clean(config, db, dry_run=dry_run)
    return Cleaned(found, dry_run, config.retention_days)


def recover(config: Config, *, accept_lost_state: bool) -> list[Recovered]:
    """Accept a lost database: rebuild the record of this station's jobs in active/ that it
    does not know; copies found in media/ are read back and kept, never burned again. Takes
    the data folder's lock, so it refuses while the station runs."""
    from burner.locks import StationLock
    from burner.rebuild import rebuild_job
    from burner.station import Station

    if not accept_lost_state:
        raise JobRejected("recovering rebuilds the station's record from its folders; say so "
                          "with --accept-lost-state", code=Reason.BAD_REQUEST)
    lock = StationLock(config.data_dir, config.station_id).acquire()
    try:
        station = Station(config)
        try:
            out = []
            for job_id in station.lost_jobs():
                done = rebuild_job(config, station.spool, station.db, job_id)
                out.append(Recovered(job_id, len(done.copies), len(done.unconfirmed),
                                     tuple(done.stages)))
            return out
        finally:
            station.db.close()
    finally:
        lock.release()
