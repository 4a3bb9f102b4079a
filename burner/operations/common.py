"""What every operation needs: the station's spool and database, and a job found by its id."""

from __future__ import annotations

from pathlib import Path

from burner.config import Config
from burner.errors import NoSuchJob
from burner.spool import Spool
from burner.state import StateDB


def open_spool(config: Config) -> Spool:
    """The station's spool, made if it lies in the data folder (a share must be one already)."""
    spool = Spool(config.spool_dir)
    spool.ensure(create=config.spool_is_local)
    return spool


def open_db(config: Config) -> StateDB:
    """The station's database; use it in a `with` block."""
    return StateDB(config.db_path)


def find_job(spool: Spool, job_id: str) -> tuple[str, Path]:
    """(spool folder, job folder) of `job_id`, or NoSuchJob."""
    found = spool.locate(job_id)
    if found is None:
        raise NoSuchJob(f"there is no job called {job_id}")
    return found
