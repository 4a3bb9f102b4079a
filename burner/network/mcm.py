"""Media Creation Management (PS3.4 Annex S) as an SCP: a RIS or PACS asks for a disc.

N-CREATE keeps a media creation request (its referenced instances and options) in the station
database; N-ACTION "initiate" (with Number of Copies and Priority) makes it a job once every
referenced instance has arrived over the network (those still missing after `[dicom]
arrival_seconds` go to the Failed SOP Sequence and the request fails); "cancel" cancels it or
its job; N-GET says how it stands, from the job's state and reason code. The job is made like
any other (operations.intake.submit): approved at once by the calling AE when `[dicom.peers]`
says so, else waiting in pending/ for the front desk; the identity gate applies to it as to
every job.

The functions here take and return pydicom Datasets and status codes; listener.py binds them
to pynetdicom's events.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import time
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from burner.config import Config
from burner.dicom.fileid import fileset_id
from burner.errors import BurnerError, NoSuchJob, Reason
from burner.network import received
from burner.network.scu import is_uid, text
from burner.network.settings import Peer
from burner.tables import StationTables

log = logging.getLogger("burner.network")

MCM_SOP_CLASS = "1.2.840.10008.5.1.1.33"
MAX_REFERENCES = 20_000
# PS3.4 Annex S statuses, and Failure Reason (0008,1197) values of Failed SOP Sequence items.
SUCCESS, INVALID_VALUE, MISSING_ATTRIBUTE, PROCESSING_FAILURE = 0x0000, 0x0106, 0x0120, 0x0110
NO_SUCH_INSTANCE, NO_SUCH_ACTION, NOT_AUTHORISED = 0x0112, 0x0123, 0x0124
ALREADY_INITIATED, ALREADY_DONE, CANNOT_INTERRUPT, CANCEL_DENIED = 0xA510, 0xC201, 0xC202, 0xC203
FAILED_NO_INSTANCE, FAILED_PROCESSING = 0x0112, 0x0110
INITIATE, CANCEL = 1, 2
_PROFILES = {"STD-GEN-CD": "cd", "STD-GEN-DVD-JPEG": "dvd", "STD-GEN-DVD-J2K": "dvd",
             "STD-GEN-USB-JPEG": "usb", "STD-GEN-USB-J2K": "usb",
             "STD-GEN-BD-JPEG": "bd", "STD-GEN-BD-J2K": "bd"}
_FILESET_ID = re.compile(r"[A-Z0-9_]{1,16}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS media_requests (
    uid TEXT PRIMARY KEY,
    calling_ae TEXT NOT NULL,
    created REAL NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1,
    priority TEXT NOT NULL DEFAULT 'MED',
    deadline REAL NOT NULL DEFAULT 0,
    job_id TEXT,
    failed TEXT NOT NULL DEFAULT '[]',
    info TEXT NOT NULL DEFAULT '',
    files TEXT NOT NULL DEFAULT '{}'
);
"""

# A request's own states; once it has a job, the job says how it stands.
IDLE, WAITING, MADE, FAILED, CANCELLED = "idle", "waiting", "made", "failed", "cancelled"


class Refused(Exception):
    """A request refused with a DIMSE status; the message is for the peer's ErrorComment."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaRequest:
    uid: str
    calling_ae: str
    created: float
    options: dict
    state: str
    copies: int
    priority: str
    deadline: float
    job_id: str | None
    failed: list[list]           # [SOP Class UID, SOP Instance UID, Failure Reason]
    info: str
    files: dict                  # job file name -> SOP Instance UID


class MediaRequests(StationTables):
    SCHEMA = _SCHEMA

    def add(self, uid: str, calling_ae: str, options: dict) -> None:
        try:
            self._conn.execute(
                "INSERT INTO media_requests (uid, calling_ae, created, options, state) "
                "VALUES (?,?,?,?,?)", (uid, calling_ae, time.time(), json.dumps(options), IDLE))
        except Exception as exc:        # sqlite3.IntegrityError: the UID is taken
            raise Refused(0x0111, "a media creation request with this UID exists") from exc

    def get(self, uid: str) -> MediaRequest | None:
        row = self._conn.execute("SELECT * FROM media_requests WHERE uid=?", (uid,)).fetchone()
        if row is None:
            return None
        return MediaRequest(row["uid"], row["calling_ae"], row["created"],
                            json.loads(row["options"]), row["state"], row["copies"],
                            row["priority"], row["deadline"], row["job_id"],
                            json.loads(row["failed"]), row["info"], json.loads(row["files"]))

    def update(self, uid: str, **values: object) -> None:
        for key in ("failed", "files"):
            if key in values:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k}=?" for k in values)
        self._conn.execute(f"UPDATE media_requests SET {sets} WHERE uid=?",
                           (*values.values(), uid))

    def waiting(self) -> list[MediaRequest]:
        rows = self._conn.execute("SELECT uid FROM media_requests WHERE state=?", (WAITING,))
        return [r for r in (self.get(row["uid"]) for row in rows.fetchall()) if r is not None]


# --- N-CREATE ------------------------------------------------------------------------------


def _yes_no(ds: Dataset, keyword: str, default: str) -> str:
    value = str(ds.get(keyword, "") or default).strip().upper()
    if value not in ("YES", "NO"):
        raise Refused(INVALID_VALUE, f"{keyword} must be YES or NO")
    return value


def request_options(ds: Dataset) -> dict:
    """The options of an N-CREATE attribute list, checked; Refused says what is wrong."""
    refs = ds.get("ReferencedSOPSequence")
    if not refs:
        raise Refused(MISSING_ATTRIBUTE, "Referenced SOP Sequence (0008,1199) is required")
    if len(refs) > MAX_REFERENCES:
        raise Refused(INVALID_VALUE, f"more than {MAX_REFERENCES} referenced instances")
    items, seen, profiles = [], set(), set()
    for item in refs:
        cls, inst = item.get("ReferencedSOPClassUID"), item.get("ReferencedSOPInstanceUID")
        if not is_uid(cls) or not is_uid(inst):
            raise Refused(INVALID_VALUE, "every Referenced SOP Sequence item needs a valid "
                          "Referenced SOP Class UID and Instance UID")
        if inst in seen:
            raise Refused(INVALID_VALUE, "an instance is referenced twice (DUPL_REF_INST)")
        seen.add(inst)
        profile = text(item.get("RequestedMediaApplicationProfile", ""), 16).strip()
        profiles.add(profile)
        items.append([str(cls), str(inst), profile])
    fs_id = text(ds.get("StorageMediaFileSetID", ""), 16).strip()
    if fs_id and not _FILESET_ID.fullmatch(fs_id):
        raise Refused(INVALID_VALUE, "Storage Media File-Set ID must be 1 to 16 of A-Z, 0-9, _")
    known = {p for p in profiles if p}
    if len(known) > 1:
        raise Refused(INVALID_VALUE, "the items ask for different application profiles "
                      "(INST_AP_CONFLICT); one request makes one kind of medium")
    profile = known.pop() if known else ""
    if profile and profile not in _PROFILES:
        raise Refused(INVALID_VALUE, f"application profile {profile} is not made here "
                      f"(NOT_SUPPORTED); made here: {', '.join(sorted(_PROFILES))}")
    return {"items": items, "profile": profile, "fileset_id": fs_id,
            "label_text": text(ds.get("LabelText", ""), 200),
            "label_from_instances": _yes_no(ds, "LabelUsingInformationExtractedFromInstances",
                                            "YES"),
            "barcode": text(ds.get("BarcodeValue", ""), 64),
            "split": _yes_no(ds, "AllowMediaSplitting", "YES"),
            "viewer": _yes_no(ds, "IncludeDisplayApplication", "YES"),
            "non_dicom": _yes_no(ds, "IncludeNonDICOMObjects", "YES")}


def create(config: Config, peer: Peer, uid: str, ds: Dataset) -> Dataset:
    """N-CREATE: keep the request; returns the attribute list of the response."""
    options = request_options(ds)
    with MediaRequests(config.db_path) as requests:
        requests.add(uid, peer.ae_title, options)
    log.info("media creation request %s from %s: %d instance(s)", uid, peer.ae_title,
             len(options["items"]))
    out = Dataset()
    out.ExecutionStatus = "IDLE"
    out.ExecutionStatusInfo = "NORMAL"
    return out


# --- N-ACTION ------------------------------------------------------------------------------


def action(config: Config, peer: Peer, uid: str, action_type: int, ds: Dataset | None,
           arrival_seconds: float) -> Dataset | None:
    """N-ACTION initiate (1) or cancel (2)."""
    with MediaRequests(config.db_path) as requests:
        request = requests.get(uid)
        if request is None or request.calling_ae != peer.ae_title:
            raise Refused(NO_SUCH_INSTANCE, "there is no such media creation request")
        if action_type == INITIATE:
            if request.state != IDLE:
                raise Refused(ALREADY_INITIATED, "this request was initiated already")
            copies, priority = _initiate_options(ds)
            requests.update(uid, state=WAITING, copies=copies, priority=priority,
                            deadline=time.time() + arrival_seconds)
        elif action_type == CANCEL:
            _cancel(config, requests, request)
        else:
            raise Refused(NO_SUCH_ACTION, "the action must be 1 (initiate) or 2 (cancel)")
    if action_type == INITIATE:
        advance(config)
    return None


def _initiate_options(ds: Dataset | None) -> tuple[int, str]:
    ds = ds or Dataset()
    try:
        given = ds.get("NumberOfCopies")
        copies = 1 if given in (None, "") else int(given)
    except (TypeError, ValueError):
        raise Refused(INVALID_VALUE, "Number of Copies must be a number") from None
    if not 1 <= copies <= 20:
        raise Refused(INVALID_VALUE, "Number of Copies must be from 1 to 20")
    priority = str(ds.get("RequestPriority", "") or "MED").strip().upper()
    if priority not in ("HIGH", "MED", "LOW"):
        raise Refused(INVALID_VALUE, "Request Priority must be HIGH, MED or LOW")
    return copies, priority


def _cancel(config: Config, requests: MediaRequests, request: MediaRequest) -> None:
    from burner.operations.control import cancel

    if request.state in (FAILED, CANCELLED):
        raise Refused(ALREADY_DONE, "this request has ended already")
    if request.job_id:
        from burner.operations.overview import job

        try:
            if job(config, request.job_id).phase == "done":
                raise Refused(ALREADY_DONE, "the media of this request are made already")
        except NoSuchJob:
            pass
        try:
            cancel(config, request.job_id, by=f"AE {request.calling_ae}")
        except NoSuchJob:
            pass
        except BurnerError as exc:
            # done, or finishing: its media are made
            raise Refused(CANCEL_DENIED, str(exc)[:64]) from None
    requests.update(request.uid, state=CANCELLED, info="CANCELLED")


# --- from request to job -------------------------------------------------------------------


def advance(config: Config) -> None:
    """Make a job of every initiated request whose instances have all arrived; fail those
    still missing some after their deadline. Run after each initiate and from the listener's
    timer."""
    from burner.desk.settings import desk_settings

    intake = desk_settings(config).intake_dir
    with MediaRequests(config.db_path) as requests:
        for request in requests.waiting():
            uids = [item[1] for item in request.options["items"]]
            have = received.where(intake, uids)
            missing = [item for item in request.options["items"] if item[1] not in have]
            if missing and time.time() < request.deadline:
                continue
            if missing:
                requests.update(request.uid, state=FAILED, info="NO_INSTANCE",
                                failed=[[c, i, FAILED_NO_INSTANCE] for c, i, _ in missing])
                log.warning("media creation request %s: %d instance(s) never arrived",
                            request.uid, len(missing))
                continue
            try:
                job_id, files = _make_job(config, request, [have[u] for u in uids], uids)
            except BurnerError as exc:
                log.warning("media creation request %s: no job made: %s", request.uid, exc)
                requests.update(request.uid, state=FAILED, info="PROC_FAILURE")
                continue
            requests.update(request.uid, state=MADE, job_id=job_id, files=files)
            log.info("media creation request %s: job %s", request.uid, job_id)


def _identity(path) -> tuple[str, str, str, str]:
    """(Patient ID, issuer, name, birth date as YYYY-MM-DD) of the first instance: the
    patient the job is released for; the identity gate holds any other patient's object."""
    from burner.dicom.headers import read_instance

    found = read_instance(path, path.name).found
    if found is None or not found.patient_id or not found.name:
        raise BurnerError("the first referenced instance names no patient")
    try:
        born = datetime.datetime.strptime(found.birth_date, "%Y%m%d").date().isoformat()
    except ValueError:
        raise BurnerError("the first referenced instance has no valid birth date, which a "
                          "release needs") from None
    return found.patient_id, found.issuer, found.name, born


def _job_id(config: Config, request: MediaRequest) -> str | None:
    from burner.operations.common import open_db, open_spool

    wanted = request.options.get("fileset_id") or ""
    if wanted and fileset_id(wanted) == wanted:
        with open_db(config) as db:
            if open_spool(config).locate(wanted) is None and db.get(wanted) is None:
                return wanted
    return None


def _make_job(config: Config, request: MediaRequest, paths: list, uids: list[str]
              ) -> tuple[str, dict]:
    from burner.network.settings import dicom_settings
    from burner.operations.intake import submit

    peer = dicom_settings(config).peers.get(request.calling_ae)
    patient_id, issuer, name, born = _identity(paths[0])
    options = request.options
    media = _PROFILES.get(options["profile"], "auto")
    with_extras = options["non_dicom"] == "YES"
    made = submit(config, paths, patient_id=patient_id, patient_name=name, birth_date=born,
                  issuer=issuer or None,
                  approved_by=f"AE {request.calling_ae}" if peer and peer.approve_at_once
                  else None,
                  job_id=_job_id(config, request), media=media, copies=request.copies,
                  note="Media Creation Management request from a RIS trusted to release "
                  "(its release workflow was done there)",
                  media_options={"profile": options["profile"] or "auto",
                                  "label_text": options["label_text"],
                                  "split": options["split"] == "YES",
                                  "viewer": with_extras and options["viewer"] == "YES",
                                  "web": with_extras})
    # submit names the copies 001_<name>, 002_<name>... in the order given
    pairs = enumerate(zip(paths, uids, strict=True), 1)
    files = {f"{n:03d}_{p.name}": uid for n, (p, uid) in pairs}
    return made.job_id, files


# --- N-GET ---------------------------------------------------------------------------------


def _status_of_job(config: Config, request: MediaRequest) -> tuple[str, str, int]:
    """(Execution Status, Execution Status Info, pieces of media made) from the job."""
    from burner.operations.overview import job

    try:
        info = job(config, request.job_id or "")
    except NoSuchJob:
        return "FAILURE", "PROC_FAILURE", 0
    code = info.reason_code
    if info.phase == "done":
        return "DONE", "NORMAL", info.copies
    if info.phase == "queued":
        return "PENDING", "QUEUED", 0
    if info.phase in ("held", "rejected"):
        return "FAILURE", {Reason.CANCELLED: "CANCELLED", Reason.TOO_BIG: "SET_OVERSIZED",
                           Reason.DRIVE_FAULT: "MCD_FAILURE",
                           Reason.MEDIA_MISMATCH: "MCD_FAILURE",
                           Reason.NO_WRITER: "NOT_SUPPORTED"}.get(code, "PROC_FAILURE"), 0
    if info.phase == "waiting":
        return "CREATING", {Reason.DEVICE_BUSY: "MCD_BUSY", Reason.DISK_FULL: "INSUFFIC_MEMORY",
                            Reason.DRIVE_FAULT: "CHECK_MCD_OP"}.get(code, "MCD_BUSY"), info.copies
    return "CREATING", "NORMAL", info.copies


def _problem_instances(config: Config, request: MediaRequest) -> list[list]:
    """Failed SOP Sequence items for the files a held job names."""
    from burner.operations.overview import job

    try:
        problems = job(config, request.job_id or "").problems
    except NoSuchJob:
        return []
    classes = {i: c for c, i, _ in request.options["items"]}
    out = []
    for name, uid in request.files.items():
        if any(name in line for line in problems):
            out.append([classes.get(uid, ""), uid, FAILED_PROCESSING])
    return out


def status(config: Config, peer: Peer, uid: str) -> Dataset:
    """N-GET: how the request stands."""
    with MediaRequests(config.db_path) as requests:
        request = requests.get(uid)
    if request is None or request.calling_ae != peer.ae_title:
        raise Refused(NO_SUCH_INSTANCE, "there is no such media creation request")
    failed = list(request.failed)
    pieces = 0
    if request.state == IDLE:
        words = ("IDLE", "NORMAL")
    elif request.state == WAITING:
        words = ("PENDING", "QUEUED")
    elif request.state == CANCELLED:
        words = ("FAILURE", "CANCELLED")
    elif request.state == FAILED:
        words = ("FAILURE", request.info or "PROC_FAILURE")
    else:
        *words, pieces = _status_of_job(config, request)
        if words[0] == "FAILURE":
            failed += _problem_instances(config, request)
    out = Dataset()
    out.ExecutionStatus, out.ExecutionStatusInfo = words
    out.TotalNumberOfPiecesOfMediaCreated = pieces
    out.FailedSOPSequence = Sequence([_failed_item(*f) for f in failed])
    out.ReferencedStorageMediaSequence = Sequence(
        _media_items(config, request.job_id) if words[0] == "DONE" and request.job_id else [])
    return out


def _failed_item(cls: str, inst: str, reason: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = cls
    item.ReferencedSOPInstanceUID = inst
    item.FailureReason = reason
    return item


def _media_items(config: Config, job_id: str) -> list[Dataset]:
    """One item per volume of the job: its File-set ID (and UID when recorded)."""
    from burner.operations.common import open_db

    with open_db(config) as db:
        volumes = sorted({r["volume"] for r in db.copies(job_id)})
    items = []
    for volume in volumes or [1]:
        item = Dataset()
        # as stage.py names each volume's file-set
        item.StorageMediaFileSetID = fileset_id(job_id if len(volumes) <= 1
                                                else f"{job_id[:13]}_{volume}")
        items.append(item)
    return items
