"""What a stage is handed: the job's folders, the station's services and the job record."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burner.config import Config
from burner.errors import JobCancelled, JobFolderGone, Reason
from burner.progress import Reporter
from burner.record import JobRecord
from burner.spool import Spool
from burner.state import StateDB
from burner.untrusted import one_line


@dataclass
class JobContext:
    """What a stage may use: the job's folder, its work folder and the station's services."""

    config: Config
    spool: Spool
    db: StateDB
    job_id: str
    job_dir: Path
    work: Path
    stage_name: str = ""
    writer: str | None = None    # the writer (drive name) of the lane running the job
    writes: bool = True          # False for `burner build`: images only, nothing is written
    _record: JobRecord | None = field(default=None, repr=False)
    _progress: Reporter | None = field(default=None, repr=False)

    @classmethod
    def for_spool(cls, config: Config, spool: Spool, db: StateDB, job_id: str) -> JobContext:
        """A job claimed into the spool's active/ folder."""
        return cls(config, spool, db, job_id, spool.path("active", job_id),
                   config.work_dir / job_id)

    def out(self, stage_name: str | None = None) -> Path:
        """The work folder of a stage (this one by default)."""
        return self.work / (stage_name or self.stage_name)

    @property
    def record(self) -> JobRecord:
        """The results of the stages run so far (record.py), read when first asked for."""
        if self._record is None:
            self._record = JobRecord(self.work)
        return self._record

    @property
    def progress(self) -> Reporter:
        """Where this stage says how far it is (progress.py), for the board."""
        if self._progress is None or self._progress.stage != self.stage_name:
            self._progress = Reporter(self.work, self.stage_name)
        return self._progress

    def save(self, value: Any) -> None:
        """Keep this stage's result durably for the stages after it."""
        self.record.save(self.stage_name, value)

    def check_cancel(self) -> None:
        row = self.db.get(self.job_id)
        if row is not None and row.cancel_requested:
            raise JobCancelled("the job was cancelled by an operator")

    def require_job_folder(self) -> None:
        """JobFolderGone when the job's folder is no longer where the job runs from: no stage
        may go on (or make the folder again) for a job someone took out of the spool."""
        if not self.job_dir.is_dir():
            raise JobFolderGone(folder_gone_words(self.job_dir.parent.name, self.job_id))
        owner = self.spool.owner(self.job_dir) if self.writes else None
        if owner not in (None, self.config.station_id):
            # Another station took the job over (burner adopt) while this one was silent.
            raise JobFolderGone(taken_over_words(owner), code=Reason.TAKEN_OVER)

    def checkpoint(self, where: str) -> None:
        """Test hook: pause inside a stage so a test can act (or kill the station) there. The
        pause lasts BURNER_PAUSE_SECONDS, or until the test deletes the marker file: a test
        that acts, then releases, does not depend on how fast a loaded machine is."""
        wanted = os.environ.get("BURNER_PAUSE_AT")
        if wanted and wanted == where:
            if self._progress is not None:       # the board shows where it stopped
                self._progress.flush()
            marker = self.config.data_dir / f"paused-{where}"
            marker.write_text(self.job_id)
            end = time.monotonic() + float(os.environ.get("BURNER_PAUSE_SECONDS", "60"))
            while time.monotonic() < end and marker.exists():
                time.sleep(0.05)


def folder_gone_words(where: str, job_id: str) -> str:
    return (f"The job folder was taken out of {where}/ while the job was running, so burner "
            "stopped it there; nothing more was written or printed. Put the folder back in "
            f"{where}/ and run: burner retry {one_line(job_id)}")


def taken_over_words(owner: str) -> str:
    return (f"Station {one_line(owner)} took this job over (burner adopt), so this station "
            "stopped working on it; nothing more was written or printed here. Discs this "
            "station made for it are listed in its history.")
