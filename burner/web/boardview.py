"""What the technicians' board shows, made once for the page and for its live updates: every
job by where it is (queued, preparing, waiting, writing, verifying, printing, held, rejected,
done today) with its progress and an estimate of the time left, the writers, the printers and
the free disk."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from burner import notices
from burner.config import Config
from burner.errors import ConfigError
from burner.notices import Notice
from burner.operations.equipment import Equipment, equipment
from burner.operations.overview import PHASES, JobInfo, Status, status

log = logging.getLogger("burner.web")

HEADINGS = {"held": "Held", "writing": "Writing", "verifying": "Verifying",
            "printing": "Printing", "waiting": "Waiting for a writer or the disk",
            "preparing": "Preparing", "queued": "Queued", "rejected": "Rejected",
            "done": "Done today"}
RETRY_PHASES = ("held", "rejected")
CANCEL_PHASES = ("queued", "preparing", "waiting", "writing", "verifying")


@dataclass(frozen=True)
class BoardView:
    status: Status
    equipment: Equipment
    groups: dict[str, list[JobInfo]]      # phase -> its jobs, in PHASES order
    done_earlier: int                     # done before today (not listed)
    notices: list[Notice]                 # the banner (notices.py)

    def rows(self) -> list[dict]:
        """The jobs as the live updates send them."""
        return [row(j) for jobs in self.groups.values() for j in jobs]

    def live(self) -> dict:
        """One live update: the jobs, the equipment and the counts."""
        return {"jobs": self.rows(), "equipment": self.equipment.as_dict(),
                "counts": {phase: len(jobs) for phase, jobs in self.groups.items()},
                "done_earlier": self.done_earlier,
                "notices": [{"kind": n.kind, "words": n.words, "job_id": n.job_id}
                            for n in self.notices]}


def left_words(seconds: float | None) -> str:
    """ "about 3 min left" """
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def megabytes(nbytes: int) -> str:
    return f"{nbytes / 1_000_000:,.0f} MB"


def row(job: JobInfo) -> dict:
    """One job's line on the board."""
    progress = job.progress or {}
    copies = str(job.copies) if job.copies_wanted is None else \
        f"{job.copies} of {job.copies_wanted}"
    return {"job_id": job.job_id, "phase": job.phase, "state": job.state, "stage": job.stage,
            "progress": progress.get("words", ""),
            "left": left_words(progress.get("left_seconds")),
            "done": progress.get("done"), "total": progress.get("total"),
            "copies": copies, "reason_code": job.reason_code, "reason": job.reason,
            "problems": job.problems[:50], "more_problems": max(0, len(job.problems) - 50),
            "may_retry": job.phase in RETRY_PHASES, "may_cancel": job.phase in CANCEL_PHASES,
            "may_reprint": job.phase == "done"}


def board_view(config: Config, all_done: bool = False) -> BoardView:
    """The board now; done jobs of earlier days only with `all_done`."""
    current = status(config)
    active = [j.job_id for j in current.jobs if j.folder == "active"]
    midnight = datetime.datetime.combine(datetime.date.today(), datetime.time()).timestamp()
    groups: dict[str, list[JobInfo]] = {phase: [] for phase in PHASES}
    earlier = 0
    for job in current.jobs:
        if job.phase == "done" and not all_done and job.updated < midnight:
            earlier += 1
            continue
        groups.setdefault(job.phase, []).append(job)
    for jobs in groups.values():
        jobs.sort(key=lambda j: (-j.updated, j.job_id) if j.phase == "done" else
                  (j.updated, j.job_id))
    equip = equipment(config, active)
    try:
        banner = notices.current(config, current, equip)
    except ConfigError as exc:          # a wrong [notices] table must not take the board away
        log.warning("board: no notices: %s", exc)
        banner = []
    return BoardView(current, equip, groups, earlier, banner)

