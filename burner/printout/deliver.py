"""Which PDFs a job gets, and handing them to the printer the configuration names:
[printing] mode = "folder" (PDFs copied to <data>/<folder>/<job>/), "cups" (cover_queue,
label_queue, optional insert_queue, server and cover_/label_/insert_options) or "none"."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from burner.config import Config
from burner.errors import ConfigError, JobRejected
from burner.printout.cover import render_cover
from burner.printout.cups import PrinterError, print_pdf
from burner.printout.label import render_disc_label, render_jewel_insert, render_usb_sticker
from burner.printout.sheet import Sheet
from burner.state import PrintState, StateDB

PRINTS = "prints"        # the folder of a job's printouts, inside its spool folder
KINDS = ("cover", "label", "insert")


@dataclass(frozen=True)
class Printout:
    item: str        # "cover", "label1", "insert1", ...
    path: Path

    @property
    def kind(self) -> str:
        return self.item.rstrip("0123456789")


def render_all(sheet: Sheet, folder: Path) -> list[Printout]:
    """The cover sheet and, per volume, a disc label and jewel-case insert (optical media)
    or a stick sticker (USB), as PDFs in `folder` (made here; its parent, the job's folder,
    never is)."""
    folder.mkdir(exist_ok=True)
    out = [Printout("cover", render_cover(sheet, folder / "cover.pdf"))]
    for n in range(1, sheet.volume_count + 1 if not sheet.electronic else 1):
        label = folder / f"label{n}.pdf"
        if sheet.optical:
            out.append(Printout(f"label{n}", render_disc_label(sheet, n, label)))
            out.append(Printout(f"insert{n}",
                                render_jewel_insert(sheet, folder / f"insert{n}.pdf", n)))
        else:
            out.append(Printout(f"label{n}", render_usb_sticker(sheet, label, n)))
    return out


def mode(config: Config) -> str:
    return config.printing.get("mode", "folder").strip().lower()


def configured(config: Config) -> bool:
    return mode(config) not in ("none", "off", "")


def _queue(config: Config, kind: str) -> str:
    key = f"{kind}_queue"
    queue = config.printing.get(key) or (config.printing.get("cover_queue")
                                         if kind == "insert" else None)
    if not queue:
        raise PrinterError(f"No printer queue is configured for the {kind}: set {key} in "
                           "the [printing] section of the station configuration.")
    return queue


def deliver(config: Config, job_id: str, printout: Printout,
            copies: int = 1) -> tuple[PrintState, str]:
    """Print one PDF; (PRINTED, where) or (PENDING, the printer's fault in words)."""
    how = mode(config)
    try:
        if how == "folder":
            dest = config.data_dir / config.printing.get("folder", "prints") / job_id
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(printout.path, dest / printout.path.name)
            return PrintState.PRINTED, f"saved to {dest / printout.path.name}"
        if how == "cups":
            queue = _queue(config, printout.kind)
            options = config.printing.get(f"{printout.kind}_options", "").split()
            request = print_pdf(queue, printout.path, f"{job_id} {printout.item}",
                                server=config.printing.get("server") or None, copies=copies,
                                options=options, job_id=job_id)
            return PrintState.PRINTED, f"CUPS request {request} on queue {queue}"
        raise PrinterError(f"[printing] mode = {how!r} is not known; use folder, cups or none.")
    except PrinterError as exc:
        return PrintState.PENDING, str(exc)
    except OSError as exc:
        return PrintState.PENDING, f"The PDF could not be saved for printing: {exc}"


def summary(rows: list) -> dict:
    """result.json's "printing" ("printed", "pending", "not configured") and "prints"."""
    if not rows:
        return {"printing": "not configured", "prints": []}
    printed = all(r["state"] == PrintState.PRINTED for r in rows)
    return {"printing": "printed" if printed else "pending",
            "prints": [{"item": r["item"], "file": r["path"], "state": r["state"],
                        "detail": r["detail"]} for r in rows]}


def disc_copies(db: StateDB, job_id: str) -> int:
    """How many copies of each volume the job has: the station prints a label and an insert
    for each, and a reprint does the same."""
    return max((int(r["copy"]) for r in db.copies(job_id)), default=1)


def reprint(config: Config, db: StateDB, job_id: str, job_dir: Path,
            kinds: tuple[str, ...] = KINDS,
            copies: int | None = None) -> list[tuple[str, PrintState, str]]:
    """Send the job's PDFs of `kinds` again, labels and inserts `copies` times each (by default
    as many as the job has discs of each volume, as the station printed them); records and
    returns (item, state, detail)."""
    if not configured(config):
        raise ConfigError("printing is not configured on this station ([printing] mode)")
    files = sorted((job_dir / PRINTS).glob("*.pdf"))
    chosen = [Printout(p.stem, p) for p in files if Printout(p.stem, p).kind in kinds]
    if not chosen:
        raise JobRejected(f"job {job_id} has no {' or '.join(kinds)} PDF to print in "
                          f"{job_dir / PRINTS}")
    each = copies or disc_copies(db, job_id)
    out = []
    for printout in chosen:
        state, detail = deliver(config, job_id, printout,
                                1 if printout.kind == "cover" else each)
        db.record_print(job_id, printout.item, f"{PRINTS}/{printout.path.name}", state, detail)
        out.append((printout.item, state, detail))
    return out
