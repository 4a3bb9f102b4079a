"""From a request to a job (issue 12): a folder exported from PACS is dropped into the intake
folder (`[desk] intake_dir`), picked for a request, previewed (patients, exams, counts, and the
identity check the pipeline will run, in the pipeline's own words and rules) and approved. With
`[desk] four_eyes` a second person must approve; the first approval is kept until then. The job
is made through the operations layer (operations.intake.submit) like any other and lands in
approved/; the folder then moves out of the intake folder, so it cannot be attached twice.

Patient data read here goes to the page and the request's history only, never to a log.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import shutil
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from burner.config import Config
from burner.desk.register import (
    NoSuchRequest,
    Register,
    Request,
    RequestRefused,
    RequestState,
)
from burner.desk.settings import DeskSettings
from burner.dicom.headers import Instance, NotUsable, read_instance
from burner.dicom.parse import Damaged
from burner.patient import Approved, approved_from, mismatches
from burner.retention import INTAKE_DONE
from burner.tables import StationTables
from burner.untrusted import one_line
from burner.words import dicom_date, person_name

MAX_FOLDERS = 200            # folders listed from the intake folder
MAX_FILES = 50_000           # files one exported folder may hold
MAX_DEPTH = 16               # folders inside folders
DONE_FOLDER = INTAKE_DONE    # under the data folder: folders already made into jobs
CLAIMING = ".approving"      # inside the intake folder: a folder being made into a job
# What the desk asks for and the medium the job gets; what is not here is not made here yet.
MEDIA = {"cd": "cd", "dvd": "dvd", "usb": "usb", "send": "dicom", "electronic": "zip"}
NOT_YET: dict[str, str] = {}
APPROVABLE = (RequestState.OPEN, RequestState.AWAITING_SECOND)
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")       # job.schema.json request.fee
_CURRENCY = re.compile(r"[A-Z]{3}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_approvals (
    request_id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL
);
"""


# --- the intake folder -------------------------------------------------------------------


def intake_folders(settings: DeskSettings) -> list[str]:
    """The folders waiting in the intake folder (names only, one level, sorted): no links,
    no hidden or unfinished ones (a name starting with '.'), at most MAX_FOLDERS."""
    root = settings.intake_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries
                           if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return names[:MAX_FOLDERS]


def pick(settings: DeskSettings, name: str) -> Path:
    """The intake folder `name` (one of intake_folders), or RequestRefused saying why not."""
    if name not in intake_folders(settings):
        raise RequestRefused("That folder is not in the intake folder (any more). Choose one "
                             "of the folders listed; if yours is missing, export it again.")
    return settings.intake_dir / name


# --- the preview -------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundPatient:
    """One patient as the files name them (values as found)."""

    name: str
    id: str
    issuer: str
    birth_date: str
    files: int
    matches: bool           # the request's patient by the pipeline's rules


@dataclass(frozen=True)
class FoundStudy:
    uid: str
    date: str
    description: str
    accession: str
    modalities: str
    series: int
    instances: int
    matches: bool           # every file of it is the request's patient's


@dataclass(frozen=True)
class Preview:
    """What an exported folder holds, checked against the request's patient."""

    folder: str
    files: int
    bytes: int
    dicom: int
    patients: list[FoundPatient]
    studies: list[FoundStudy]
    strays: list[tuple[str, str]]        # (file, why it is not the patient's)
    damaged: list[tuple[str, str]]
    not_dicom: list[tuple[str, str]]     # left off the disc, with why
    problems: list[str]                  # links, special files, too many, disagreements
    fingerprint: str                     # of every file's name, size and time
    patient_words: str                   # the request's patient, for the sentences

    @property
    def ok(self) -> bool:
        """May this folder be made into the request's job?"""
        return self.dicom > 0 and not (self.strays or self.damaged or self.problems)

    @property
    def verdict(self) -> str:
        """The identity check's result in plain words."""
        out = []
        if self.strays:
            out.append(f"{len(self.strays)} file(s) belong to someone else, not to "
                       f"{self.patient_words}: they must not go on this patient's disc. Take "
                       "them out of the folder (or export the right exams again) and preview "
                       "again.")
        if self.damaged:
            out.append(f"{len(self.damaged)} file(s) are damaged, so nothing of this folder "
                       "may go on a disc. Export them again and preview again.")
        out += self.problems
        if self.dicom == 0 and not self.problems:
            out.append("No DICOM images were found in this folder, so there is nothing to put "
                       "on a disc. Check that the export finished, or export again.")
        if out:
            return " ".join(out)
        return f"All {self.dicom} DICOM file(s) belong to {self.patient_words}."


def scope_notes(request: Request, studies: list[FoundStudy]) -> list[str]:
    """Where the exams found differ from what the patient asked for (listed exams by
    accession number, or a date range): said before approval, not a refusal, as the desk
    may know better (an exam listed by its description, an exam the patient added)."""
    notes = []
    listed = {e.strip().upper() for e in request.scope.exams if e.strip()}
    found = {s.accession.strip().upper() for s in studies if s.accession.strip()}
    missing = sorted(listed - found)
    if missing:
        notes.append("Asked for but not in this folder (by accession number): "
                     + ", ".join(missing) + ".")
    if listed:
        extra = [s for s in studies if s.accession.strip().upper() not in listed]
        if extra:
            notes.append(f"{len(extra)} exam(s) in this folder were not asked for: "
                         + ", ".join(f"{s.date} {s.description or s.accession or s.uid}"
                                     for s in extra[:10]) + ".")
    low, high = request.scope.date_from, request.scope.date_to
    if low or high:
        outside = [s for s in studies if len(s.date) == 8 and s.date.isdigit() and (
            (low and s.date < low.strftime("%Y%m%d"))
            or (high and s.date > high.strftime("%Y%m%d")))]
        if outside:
            notes.append(f"{len(outside)} exam(s) in this folder are outside the dates asked "
                         "for: " + ", ".join(s.date for s in outside[:10]) + ".")
    return notes


def approved_identity(config: Config, request: Request) -> Approved:
    """The identity the job will be checked against: the request's patient with the site's
    default issuer, exactly as the pipeline makes it from the job's manifest."""
    from burner.manifest import validate_manifest

    manifest = validate_manifest(_manifest_stub(request), "preview")
    return approved_from(manifest, config)


def _manifest_stub(request: Request) -> dict:
    p = request.patient
    patient = {"id": p.id, "name": p.name, "birth_date": p.birth_date.isoformat()}
    if p.issuer:
        patient["issuer"] = p.issuer
    return {"version": 1, "patient": patient,
            "approval": {"by": "preview", "at": "2000-01-01T00:00:00Z"}}


def _walk(root: Path) -> tuple[list[tuple[Path, str]], list[str], int, str]:
    """(files as (path, name shown), problems, bytes, fingerprint) of the folder `root`: no
    link is followed; hidden names are left off as the pipeline leaves them off."""
    files: list[tuple[Path, str]] = []
    problems: list[str] = []
    digest = hashlib.sha256()
    total = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"The folder {_shown(root, folder)} cannot be read "
                            f"({exc.strerror}).")
            continue
        for entry in reversed(entries):     # the stack pops them back in name order
            path = Path(entry.path)
            shown = _shown(root, path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                problems.append(f"{shown} vanished or cannot be read; preview again.")
                continue
            digest.update(f"{shown}\0{info.st_size}\0{info.st_mtime_ns}\0".encode(
                "utf-8", "surrogateescape"))
            if entry.name.startswith("."):
                continue
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"{shown} is a link to somewhere else; put the files "
                                "themselves into the folder instead.")
            elif stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DEPTH:
                    problems.append(f"{shown} lies more than {MAX_DEPTH} folders deep.")
                else:
                    stack.append((path, depth + 1))
            elif stat.S_ISREG(info.st_mode):
                files.append((path, shown))
                total += info.st_size
            else:
                problems.append(f"{shown} is not an ordinary file (a device or a pipe).")
            if len(files) > MAX_FILES:
                return [], [f"The folder holds more than {MAX_FILES:,} files, more than one "
                            "release at this station may hold."], total, ""
    files.sort(key=lambda f: f[1])
    return files, problems, total, digest.hexdigest()


def _shown(root: Path, path: Path) -> str:
    return one_line(path.relative_to(root).as_posix()) if path != root else "(the folder)"


def preview(config: Config, folder: Path, request: Request) -> Preview:
    """Read every file's header in `folder` with the pipeline's bounded parse and check it
    against the request's patient with the pipeline's rules (nothing is written)."""
    approved = approved_identity(config, request)
    files, problems, total, fingerprint = _walk(folder)
    instances: list[Instance] = []
    damaged: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    # One file after the other, in this process: the web app's threads must not fork a pool.
    for path, shown in files:
        try:
            instances.append(read_instance(path, shown, limits=config.limits))
        except Damaged as exc:
            damaged.append((shown, str(exc)))
        except NotUsable as exc:
            refused.append((shown, str(exc)))
    patients: dict[tuple[str, str, str, str], list[bool]] = {}
    studies: dict[str, dict] = {}
    strays = []
    for inst in instances:
        found = inst.found
        why = mismatches(found, approved) if found is not None else ["no patient module"]
        if why:
            strays.append((inst.rel, ", ".join(why)))
        if found is not None:
            key = (found.name, found.patient_id, found.issuer, dicom_date(found.birth_date))
            patients.setdefault(key, []).append(not why)
        study = studies.setdefault(inst.study_uid, {
            "date": dicom_date(inst.get("StudyDate")), "description": str(inst.get(
                "StudyDescription")), "accession": str(inst.get("AccessionNumber")),
            "modalities": Counter(), "series": set(), "count": 0, "ok": True})
        study["modalities"][str(inst.get("Modality") or "?")] += 1
        study["series"].add(inst.series_uid)
        study["count"] += 1
        study["ok"] = study["ok"] and not why
    sexes = {str(i.found.sex).upper() for i in instances if i.found and i.found.sex}
    if not approved.sex and len(sexes) > 1:
        problems.append(f"The files disagree on the patient's sex ({', '.join(sorted(sexes))}); "
                        "the station would hold this job. Ask the imaging department which "
                        "is right.")
    return Preview(
        folder=folder.name, files=len(files), bytes=total, dicom=len(instances),
        patients=[FoundPatient(k[0], k[1], k[2], k[3], len(v), all(v))
                  for k, v in sorted(patients.items(), key=lambda kv: -len(kv[1]))],
        studies=[FoundStudy(uid, s["date"], s["description"], s["accession"],
                            ", ".join(m for m, _ in s["modalities"].most_common()),
                            len(s["series"]), s["count"], s["ok"])
                 for uid, s in sorted(studies.items(), key=lambda kv: kv[1]["date"])],
        strays=strays, damaged=damaged, not_dicom=refused,
        problems=problems, fingerprint=fingerprint, patient_words=_patient_words(request))


def _patient_words(request: Request) -> str:
    p = request.patient
    return f"{person_name(p.name)} (ID {p.id}, born {p.birth_date.isoformat()})"


# --- approval ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstApproval:
    by: str
    folder: str
    at: float
    fingerprint: str = field(repr=False, default="")


@dataclass(frozen=True)
class Approval:
    """What an approval did: the job made, or (four eyes) the first approval kept."""

    request_id: str
    job_id: str | None          # None: waiting for a second person
    approvers: tuple[str, ...]
    words: str


class Approvals(StationTables):
    """First approvals waiting for a second person (four eyes), in the station database."""

    SCHEMA = _SCHEMA

    def first(self, request_id: str) -> FirstApproval | None:
        row = self._conn.execute("SELECT * FROM request_approvals WHERE request_id=?",
                                 (request_id,)).fetchone()
        return FirstApproval(row["by"], row["folder"], row["at"], row["fingerprint"]) \
            if row else None

    def keep(self, request_id: str, first: FirstApproval) -> None:
        self._conn.execute("INSERT OR REPLACE INTO request_approvals (request_id, folder, "
                           "fingerprint, by, at) VALUES (?,?,?,?,?)",
                           (request_id, first.folder, first.fingerprint, first.by, first.at))

    def forget(self, request_id: str) -> None:
        self._conn.execute("DELETE FROM request_approvals WHERE request_id=?", (request_id,))


def first_approval(config: Config, request_id: str) -> FirstApproval | None:
    """The first approval waiting for a second person, if any."""
    with Approvals(config.db_path) as approvals:
        return approvals.first(request_id)


def media_for(request: Request) -> str:
    """The job's medium for what the request asks; RequestRefused for what is not made here."""
    if request.format in NOT_YET:
        raise RequestRefused(f"{NOT_YET[request.format]} is not available at this station "
                             "yet. Make a disc or a USB stick instead (change the format the "
                             "request asks for, with the requester's agreement).")
    if request.format not in MEDIA:
        raise RequestRefused(f"The request asks for {request.format!r}, which this station "
                             "does not make.")
    return MEDIA[request.format]


def destinations(config: Config) -> list[str]:
    """The hospitals this station sends to (`[destinations.NAME]`)."""
    table = config.raw.get("destinations", {})
    return sorted(table) if isinstance(table, dict) else []


def check_media(config: Config, media: str, destination: str) -> None:
    """RequestRefused unless this station makes `media` (and knows `destination` for a
    send)."""
    from burner.media.writers import served_media

    if media == "dicom":
        if not destinations(config):
            raise RequestRefused("No hospital to send images to is set up at this station. "
                                 "Ask a technician.")
        if destination not in destinations(config):
            raise RequestRefused("Choose the hospital to send the images to.")
        return
    if media not in served_media(config):
        raise RequestRefused(f"No writer for a {media.upper()} is set up at this station, "
                             "so this copy cannot be made here. Ask a technician.")


def approvable(config: Config, register: Register, request_id: str,
               destination: str) -> tuple[Request, str]:
    """The request and the medium its job gets, or RequestRefused saying why it cannot be
    approved now (no such request, its state, a medium or destination not made here)."""
    try:
        request = register.get(request_id)
    except NoSuchRequest:
        raise RequestRefused(f"There is no request {request_id}.") from None
    _check_state(request)
    media = media_for(request)
    check_media(config, media, destination)
    return request, media


def approve(config: Config, request_id: str, folder: str, user: str,
            settings: DeskSettings, destination: str = "") -> Approval:
    """Approve making the intake folder `folder` into the request's job, as `user`.

    The folder is previewed again (an earlier preview is never trusted) and refused when any
    file is another patient's or damaged. Without four eyes the job is made at once; with it
    the first approval is kept and the second, by another person, makes the job. RequestRefused
    says in plain words why nothing was made. A send goes to `destination`."""
    with Register(config.db_path) as register:
        request, media = approvable(config, register, request_id, destination)
        path = pick(settings, folder)
        seen = preview(config, path, request)
        if not seen.ok:
            raise RequestRefused(f"Nothing was approved: {seen.verdict}")
        with Approvals(config.db_path) as approvals:
            first = approvals.first(request_id) if settings.four_eyes else None
            if settings.four_eyes and (first is None or first.folder != folder
                                       or first.fingerprint != seen.fingerprint):
                return _first(register, approvals, request, folder, seen, user, first)
            if first is not None and first.by == user:
                raise RequestRefused(
                    f"A second person must approve this release: you ({user}) approved it "
                    "already. Ask a colleague to check the preview and approve it.")
            approvers = (first.by, user) if first is not None else (user,)
            job_id = _make_job(config, register, request, path, media, approvers, user,
                               seen.studies, destination)
            approvals.forget(request_id)
    return Approval(request_id, job_id, approvers,
                    f"Job {job_id} was made for request {request_id} and is queued to be "
                    "written" + (f" (approved by {' and '.join(approvers)})."
                                 if len(approvers) > 1 else "."))


def _check_state(request: Request) -> None:
    if request.state in APPROVABLE:
        return
    if request.state == RequestState.CANCELLED:
        raise RequestRefused(f"Request {request.id} was cancelled, so nothing can be made "
                             "for it.")
    raise RequestRefused(f"Request {request.id} is {request.state} already: its job was made. "
                         "To add more images, register them with a technician.")


def _first(register: Register, approvals: Approvals, request: Request, folder: str,
           seen: Preview, user: str, earlier: FirstApproval | None) -> Approval:
    """Keep the first of two approvals (four eyes); nothing is made yet."""
    approvals.keep(request.id, FirstApproval(user, folder, time.time(), seen.fingerprint))
    changed = earlier is not None and earlier.by != user
    register.set_state(request.id, RequestState.AWAITING_SECOND, user,
                       f"first approval of the folder {folder} ({seen.dicom} DICOM files)"
                       + (f"; the folder changed since {earlier.by} approved it"
                          if changed else ""))
    words = (f"The files changed since {earlier.by} approved them, so this is the first "
             "approval again. " if changed else "Your approval is recorded. ")
    return Approval(request.id, None, (user,),
                    words + "A second person must approve before the job is made.")


def _make_job(config: Config, register: Register, request: Request, path: Path, media: str,
              approvers: tuple[str, ...], user: str, studies: list[FoundStudy],
              destination: str = "") -> str:
    """Claim the folder (a rename: only one approval can win it), make the job from it through
    the operations layer, link it to the request and move the folder out of the intake."""
    from burner.operations.intake import submit

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{request.id}-{stamp}"
    claimed = path.parent / CLAIMING / name
    try:
        claimed.parent.mkdir(exist_ok=True)
        # the DICOM listener puts what arrives after this into a new folder (network.received)
        os.rename(path, claimed)
    except FileNotFoundError:
        raise RequestRefused("The folder is no longer in the intake folder: it was approved "
                             "already, or moved. Look at the request's jobs.") from None
    except OSError as exc:
        raise RequestRefused(f"The folder could not be taken from the intake folder "
                             f"({exc.strerror}); nothing was made.") from None
    try:
        _check_state(register.get(request.id))      # another approval may have won meanwhile
        p = request.patient
        note = f"four eyes: {' and '.join(approvers)}" if len(approvers) > 1 else None
        made = submit(config, [claimed], patient_id=p.id, patient_name=p.name,
                      birth_date=p.birth_date.isoformat(), issuer=p.issuer or None,
                      approved_by=user, media=media, request=request_block(request),
                      note=note, studies=[(s.uid, s.accession) for s in studies],
                      media_options={"destination": destination} if media == "dicom"
                      else None)
    except Exception:
        _put_back(claimed, path)
        raise
    register.link_job(request.id, made.job_id, user)
    register.event(request.id, user, "approved",
                   f"job {made.job_id} from the folder {path.name}; approved by "
                   f"{' and '.join(approvers)}")
    register.set_state(request.id, RequestState.IN_PROGRESS, user, f"job {made.job_id}")
    done = config.data_dir / DONE_FOLDER / name
    with contextlib.suppress(OSError):  # else it stays hidden in .approving: never listed
        done.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(claimed, done)
        os.utime(done)                  # kept [retention] days from now (retention.py)
    return made.job_id


def _put_back(claimed: Path, path: Path) -> None:
    with contextlib.suppress(OSError):
        os.rename(claimed, path)


def request_block(request: Request) -> dict:
    """job.json's request block (DESIGN.md section 3): the desk's request the job is for."""
    block: dict = {"reference": request.id, "received": request.received.isoformat(),
                   "requester": request.requester.kind, "due": request.due.isoformat()}
    fee = request.fee
    if _AMOUNT.fullmatch(fee.amount.strip()) and _CURRENCY.fullmatch(fee.currency):
        block["fee"] = {"amount": fee.amount.strip(), "currency": fee.currency,
                        "basis": fee.basis}
    return block
