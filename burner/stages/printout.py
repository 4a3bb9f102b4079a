"""print: the cover sheet and, per volume, the disc label and jewel-case insert (or the USB
sticker) as PDFs in the job's prints/ folder, then to the printer. A printer fault never fails
the job: each item is recorded printed / pending / failed, and `burner reprint` sends it later.

Each item is recorded the moment the printer has accepted it, so a stage redone after a crash
prints only what is missing (a cover sheet carries patient data: it is never printed twice);
a cancel stops before the next item."""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING

from burner.printout.deliver import PRINTS, configured, deliver, render_all
from burner.printout.sheet import sheet_for
from burner.state import PrintState

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "print"
LANE = "device"
log = logging.getLogger("burner.print")


def run(ctx: JobContext) -> None:
    folder = ctx.job_dir / PRINTS
    if folder.exists():
        shutil.rmtree(folder)        # this stage owns the folder: the PDFs are made afresh
    printed = {r["item"] for r in ctx.db.prints(ctx.job_id) if r["state"] == PrintState.PRINTED}
    try:
        sheet = sheet_for(ctx)
        printouts = render_all(sheet, folder)
    except Exception as exc:  # noqa: BLE001 - a printout problem never fails a verified disc
        ctx.require_job_folder()     # ...but a job whose folder left the spool stops here
        log.exception("job %s: the printouts could not be made", ctx.job_id)
        ctx.db.record_print(ctx.job_id, "printouts", PRINTS, PrintState.FAILED,
                            f"The cover sheet and labels could not be made "
                            f"({exc.__class__.__name__}); a technician should look at the log.")
        return
    ctx.checkpoint("print")
    ctx.require_job_folder()
    if not configured(ctx.config):
        return
    for printout in printouts:
        if printout.item in printed:
            continue                 # accepted by the printer before a crash: not again
        ctx.check_cancel()
        copies = 1 if printout.kind == "cover" else sheet.copies
        try:
            state, detail = deliver(ctx.config, ctx.job_id, printout, copies)
        except Exception as exc:  # noqa: BLE001 - the disc is good whatever the printer does
            log.exception("job %s: printing %s failed unexpectedly", ctx.job_id, printout.item)
            state, detail = PrintState.PENDING, (
                f"Printing failed unexpectedly ({exc.__class__.__name__}); the disc is fine. "
                f"A technician should look at the log, then run: burner reprint {ctx.job_id}")
        ctx.db.record_print(ctx.job_id, printout.item, f"{PRINTS}/{printout.path.name}",
                            state, detail)
        ctx.checkpoint("print-item")
        if state != PrintState.PRINTED:
            log.warning("job %s: %s not printed: %s", ctx.job_id, printout.item, detail)
