"""The label kiosk (/kiosk): a touch page for a small screen beside the station. A person scans
a disc's cover sheet (a keyboard-wedge scanner types the job id, then Enter) or types the job
number on the screen's keys, checks the patient's name on the screen against the disc they
hold, and prints the disc label, the jewel-case insert or the cover sheet again.

The idle screen (GET /kiosk) never shows patient data; the job screen is only ever the answer
to a POST, so job ids travel in form bodies, never in a URL, and the patient's name is on the
screen only (never in a URL, the action log or the station's log). kiosk.js goes back to the
idle screen after `[kiosk] idle_seconds` (60) without a touch or a key.
"""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import json
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException
from fastapi.responses import Response

from burner.config import Config
from burner.errors import BurnerError, ConfigError
from burner.operations.equipment import PrinterView, printers
from burner.spool import job_id_problem
from burner.untrusted import read_small
from burner.users import Right, Session
from burner.web.kit import WebKit
from burner.words import person_name

log = logging.getLogger("burner.web")

IDLE_SECONDS = 60.0
# What each button prints, in the order the job screen shows them.
ITEMS = ("label", "insert", "cover")
ITEM_WORDS = {"label": "Disc label", "insert": "Jewel-case insert", "cover": "Cover sheet"}
STICKER_WORDS = "Stick sticker"      # a USB job's "label" is the sticker for the stick
# A printer queue's state (equipment.PrinterView.state) in the kiosk's words.
STATE_WORDS = {"idle": "ready", "printing": "ready (printing now)",
               "folder": "ready (saved as a PDF, no printer)", "stopped": "stopped",
               "out of paper": "out of paper or labels", "unreachable": "not reachable"}
# The keys of the on-screen keypad, row by row (what a job id is made of, README).
KEY_ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM._")
Field = Annotated[str, Form(max_length=1000)]


@dataclass(frozen=True)
class PrinterState:
    """A printer as the kiosk shows it: where the printout goes and whether it can print."""

    queue: str
    words: str
    ok: bool


@dataclass(frozen=True)
class Button:
    item: str              # label, insert, cover
    words: str             # "Disc label"
    printer: PrinterState


@dataclass(frozen=True)
class FoundJob:
    job_id: str
    patient: str           # the name as the label prints it ("Robin Tester")
    buttons: list[Button]


def idle_seconds(config: Config) -> float:
    """`[kiosk] idle_seconds`, checked: how long the job screen stays without a touch."""
    value = config.raw.get("kiosk", {}).get("idle_seconds", IDLE_SECONDS)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 5 <= value <= 3600:
        raise ConfigError(f"[kiosk] idle_seconds must be a number of seconds from 5 to 3600, "
                          f"not {value!r}")
    return float(value)


def printer_state(views: list[PrinterView], item: str) -> PrinterState:
    """Where `item` prints and in what state (an insert without its own queue goes to the
    cover sheet's, as deliver.py sends it; in folder mode everything goes to the folder)."""
    chosen = {v.item: v for v in views}
    view = chosen.get(item) or (chosen.get("cover") if item == "insert" else None) \
        or chosen.get("all")
    if view is None:
        return PrinterState("", f"no printer is set up for the {ITEM_WORDS[item].lower()}",
                            False)
    return PrinterState(view.queue if view.state != "folder" else "",
                        STATE_WORDS.get(view.state, view.state), view.ok)


def find_done(config: Config, job_id: str) -> str | None:
    """The name of the finished job `job_id` in done/: exactly it, or else the one job whose
    name differs only in capitals (the on-screen keys type capitals); None when there is none."""
    done = config.spool_dir / "done"
    if (done / job_id).is_dir():
        return job_id
    try:
        alike = [name for name in (p.name for p in done.iterdir() if p.is_dir())
                 if name.lower() == job_id.lower()]
    except OSError:
        return None
    return alike[0] if len(alike) == 1 else None


def found_job(config: Config, job_id: str) -> FoundJob | None:
    """The finished job's screen: its patient as printed on its label and a button for each
    printout it has; None when done/ holds no such job (or its record cannot be read)."""
    from burner.manifest import load_manifest
    from burner.printout.deliver import PRINTS, Printout

    job_dir = config.spool_dir / "done" / job_id
    try:
        manifest = load_manifest(job_dir)
    except BurnerError:
        return None
    kinds = {Printout(p.stem, p).kind for p in (job_dir / PRINTS).glob("*.pdf")}
    try:
        media = json.loads(read_small(job_dir / "result.json", 1 << 20) or "{}").get("media")
    except (ValueError, AttributeError):
        media = None
    views = printers(config)
    buttons = [Button(item, STICKER_WORDS if item == "label" and media == "usb"
                      else ITEM_WORDS[item], printer_state(views, item))
               for item in ITEMS if item in kinds]
    return FoundJob(job_id, person_name(manifest.patient_name), buttons)


def printer_list(views: list[PrinterView]) -> list[tuple[str, PrinterState]]:
    """The printers on the idle screen: what each prints, where and in what state."""
    if not views:
        return []
    if any(v.item == "all" for v in views):
        return [("All printouts", printer_state(views, "cover"))]
    return [(ITEM_WORDS[item], printer_state(views, item)) for item in ITEMS]


def plain_fault(detail: str) -> str:
    """A printer's fault as the kiosk says it: without the command-line advice."""
    return detail.split(" The disc is fine;")[0].strip()


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config
    seconds = idle_seconds(config)
    # The idle screen loads itself again well within the session's idle timeout, so the
    # kiosk stays signed in (kiosk.js).
    keep = max(1, min(240, int(kit.idle / 2)))
    Kiosk = Annotated[Session, Depends(kit.allowed(Right.KIOSK))]

    def idle(current: Session, message: str = "", status_code: int = 200) -> Response:
        return kit.render("kiosk.html", status_code, session=current, user=current.user,
                          screen="idle", message=message, keys=KEY_ROWS,
                          printers=printer_list(printers(config)),
                          idle_seconds=int(seconds), keep_seconds=keep, job=None, sent="",
                          fault="")

    def job_screen(current: Session, job: FoundJob, sent: str = "", fault: str = "",
                   status_code: int = 200) -> Response:
        return kit.render("kiosk.html", status_code, session=current, user=current.user,
                          screen="job", message="", printers=[], keys=KEY_ROWS,
                          idle_seconds=int(seconds), keep_seconds=keep, job=job, sent=sent,
                          fault=fault)

    @app.get("/kiosk")
    def kiosk(current: Kiosk) -> Response:
        return idle(current)

    def lookup(current: Session, csrf: str, job_id: str) -> FoundJob | Response:
        """The finished job the form names, or the idle screen saying why there is none."""
        kit.csrf_ok(current, csrf)
        typed = job_id.strip()
        if not typed:
            return idle(current, "Type the job number first, or scan the cover sheet.", 400)
        if job_id_problem(typed):
            # Not echoed: a wrong bar code (a wristband, say) may carry patient data.
            return idle(current, "That is not a job number. Check the number on the cover "
                                 "sheet and try again.", 400)
        name = find_done(config, typed)
        found = found_job(config, name) if name else None
        if found is None:
            return idle(current, f"No finished job {typed} was found here. Check the number "
                                 "on the cover sheet.", 404)
        return found

    @app.post("/kiosk/job")
    def kiosk_job(current: Kiosk, csrf: Field = "", job_id: Field = "") -> Response:
        found = lookup(current, csrf, job_id)
        if isinstance(found, Response):
            return found
        with kit.users() as store:
            store.record(current.user.name, "kiosk look-up", found.job_id)
        return job_screen(current, found)

    @app.post("/kiosk/reprint")
    def kiosk_reprint(current: Kiosk, csrf: Field = "", job_id: Field = "",
                      item: Field = "") -> Response:
        from burner.operations.prints import reprint

        if not current.user.may(Right.REPRINT):
            raise HTTPException(403, f"Your role ({current.user.role}) may not do this.")
        found = lookup(current, csrf, job_id)
        if isinstance(found, Response):
            return found
        button = next((b for b in found.buttons if b.item == item), None)
        if button is None:
            return job_screen(current, found, fault="Choose one of the printouts below.",
                              status_code=400)
        with kit.users() as store:
            try:
                # One of each: the person holds the disc that needs it.
                done = reprint(config, found.job_id, kinds=[item], copies=1)
            except BurnerError as exc:
                store.record(current.user.name, "reprint", found.job_id, "refused",
                             f"kiosk, {item}: {exc}")
                log.warning("web: kiosk reprint of %s refused", found.job_id)
                return job_screen(current, found, fault=f"It could not be printed: {exc}",
                                  status_code=409)
            failed = [s for s in done.sent if s.state != "printed"]
            if failed:
                words = plain_fault(failed[0].detail)
                store.record(current.user.name, "reprint", found.job_id, "failed",
                             f"kiosk, {item}: {words}")
                log.warning("web: kiosk reprint of %s failed at the printer", found.job_id)
                return job_screen(current, found, status_code=409,
                                  fault=f"The {button.words.lower()} was not printed: {words} "
                                        "Ask a technician to look at the printer.")
            store.record(current.user.name, "reprint", found.job_id, "ok",
                         f"kiosk, {item}: {len(done.sent)} printout(s) sent")
        log.info("web: kiosk reprint %s %s by %s", found.job_id, item, current.user.name)
        return job_screen(current, found, sent=f"Sent to the printer: {button.words}.")
