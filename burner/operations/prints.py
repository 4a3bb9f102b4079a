"""Printing a finished job's cover sheet, disc labels and inserts again (`burner reprint`, the
kiosk page)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from burner.config import Config
from burner.errors import BurnerError, NoSuchJob, Reason
from burner.operations.common import open_db, open_spool
from burner.spool import write_atomic

KINDS = ("cover", "label", "insert")


@dataclass(frozen=True)
class Sent:
    item: str          # cover, label1, insert1, ...
    state: str         # printed, pending, failed (state.PrintState)
    detail: str


@dataclass(frozen=True)
class Reprinted:
    job_id: str
    sent: list[Sent]

    @property
    def failed(self) -> list[str]:
        return [s.item for s in self.sent if s.state != "printed"]

    def problem(self) -> BurnerError | None:
        """The error to report when an item did not print (a PrinterError), else None."""
        if not self.failed:
            return None
        from burner.printout.cups import PrinterError

        return PrinterError(f"{', '.join(self.failed)} of job {self.job_id} could not be "
                            "printed; the printing stays pending. Check the printer, then "
                            f"run: burner reprint {self.job_id}", code=Reason.PRINTER_FAULT)


def reprint(config: Config, job_id: str, kinds: Sequence[str] = (),
            copies: int | None = None) -> Reprinted:
    """Send the job's printouts of `kinds` (cover, label, insert; none named: all) again,
    labels and inserts `copies` times each (default: as many as the job has copies). Each
    item's outcome is recorded; result.json of a done job is brought up to date."""
    from burner.printout import deliver

    found = open_spool(config).locate(job_id)
    if found is None or found[0] not in ("done", "active"):
        raise NoSuchJob(f"there is no finished job called {job_id} (only jobs in done/ or "
                        "active/ have printouts)")
    where, job_dir = found
    chosen = tuple(k for k in KINDS if k in kinds) or deliver.KINDS
    with open_db(config) as db:
        sent = deliver.reprint(config, db, job_id, job_dir, chosen, copies)
        result = job_dir / "result.json"
        if where == "done" and result.is_file():
            outcome = json.loads(result.read_text())
            outcome.update(deliver.summary(db.prints(job_id)))
            write_atomic(result, json.dumps(outcome, indent=2).encode("utf-8"))
    return Reprinted(job_id, [Sent(item, str(state), detail) for item, state, detail in sent])
