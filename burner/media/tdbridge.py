"""Epson Discproducer (PP-50, PP-100 family) driven through EPSON TD Bridge's hot folder.

What TD Bridge expects and says, from its Technical Reference Guide ("Development Guide for a
Cooperative Application"; M00009302 Rev.C for PP-100/PP-100N, M00009311 Rev.L for PP-100II):

* A job description file (JDF) is ANSI text with the extension JDF, moved into the monitoring
  folder; any file name. TD Bridge renames it as the job goes: JDF -> RJD (preprocessing) ->
  INP (waiting or publishing) -> DON (done, and also after a cancel), RJD or INP -> ERR (ended
  abnormally), INP <-> STP (paused: a cover opened, paused in Total Disc Monitor; it goes on
  when the cause is removed). The files move to a log folder an hour or two after the job ends.
  A job may be cancelled from JDF, RJD, INP and STP. ("JDF File Transition", "Error handling",
  "Canceling the job", "Pausing the job".)
* JDF lines are KEY=value: keys are case-sensitive, no spaces around them; the value runs from
  just after "=" to the line feed or the end of the file. JOB_ID is at most 40 of A-Z, a-z,
  0-9, "-", "_"; PUBLISHER at most 64 characters. ("Setting Item List".)
* TDBStatus.txt (the STF file) in the monitoring folder, rewritten every five seconds: INI
  sections [ACTIVE_JOB], [COMPLETE_JOB], one [<job id>] per job (PUBLISHER, STATUS,
  PUBLICATION_NUMBER, COMPLETION_NUMBER, ERRORDISC_NUMBER, IN_STACKER, OUT_STACKER, ERROR,
  DETAIL_STATUS...), one [PUBLISHER<n>] per machine (NAME, STACKER1-4 and INK_C, INK_M, INK_Y,
  INK_LC, INK_LM, INK_B in percent, -1 unknown, ink "0" = replace the cartridge). STATUS: 1
  waiting, 2 publishing, 3 paused, 4 completed (also after a cancel, with no disc made), 5
  ended abnormally (even when discs were made), 6 not accepted, 99 unknown. DETAIL_STATUS 12 is
  "user cancel done", 13 "error cancel done", 14 "reception refused". ("STF File", "STF File
  Status", "STF File Status Transition".)
* A job cancel file (JCF) holds "[CANCEL]" and "JOB_ID=<id>"; TD Bridge renames it CDN when
  the job was cancelled, CER when it could not be. ("JCF File".)

Everything read from the hot folder is hostile: TDBStatus.txt is read bounded and FIFO-safe
(burner.untrusted.read_small) and parsed strictly; a file that cannot be believed is refused
with StatusFileError, never a traceback. Values written into job files never carry a line
break or an "=" from patient data.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from burner.media.robot import (
    BUSY,
    CANCELLED,
    DONE,
    ERROR,
    FAULT,
    IMAGES,
    NO_MEDIUM,
    QUEUED,
    READY,
    WORKING,
    HotFolderRobot,
    RobotFault,
    RobotJob,
    RobotState,
)
from burner.untrusted import one_line, read_small

STATUS_FILE = "TDBStatus.txt"
STATUS_LIMIT = 256 * 1024          # bytes of TDBStatus.txt read at most
STALE_SECONDS = 300.0              # TD Bridge rewrites it every 5 s; older means it stopped
LABELS = "labels"                  # inside the hot folder: the label merge (replace) files
ANSI = "cp1252"                    # "ANSI text": the Windows code page of the robot's PC
EOL = "\r\n"
DISC_TYPES = {"cd": "CD", "dvd": "DVD", "dvd-dl": "DVD-DL", "bd": "BD"}
IMAGE_KEY = "IMAGE"                # the JDF key naming a prepared disc image to burn
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
PUBLISHER_MAX = 64
VOLUME_LABEL_MAX = 32
MERGE_VALUE_MAX = 100
LOW_INK = 10                       # percent: "ink low" on the board, still ready
INKS = {"INK_C": "cyan", "INK_M": "magenta", "INK_Y": "yellow", "INK_LC": "light cyan",
        "INK_LM": "light magenta", "INK_B": "black"}
NUMBER_MAX = 100_000               # no count or time in TDBStatus.txt is larger

# Job STATUS and DETAIL_STATUS values (STF File Status)
WAITING, PUBLISHING, PAUSED, COMPLETED, ABNORMAL, NOT_ACCEPTED = 1, 2, 3, 4, 5, 6
USER_CANCEL_DONE, ERROR_CANCEL_DONE, RECEPTION_REFUSED = 12, 13, 14

# The job file's extensions, latest first (a job file has one of them at a time).
_EXTENSIONS = ("DON", "ERR", "STP", "INP", "RJD", "JDF")
_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_SECTION = re.compile(r"\[([^\[\]]{1,128})\]")
_NUMBER = re.compile(r"-?[0-9]{1,9}")
_PUBLISHER_SECTION = re.compile(r"PUBLISHER([0-9]{1,3})")
_PAUSED_WORDS = ("paused at the robot (a cover may be open, or the job was paused in "
                 "Total Disc Monitor)")


class StatusFileError(RobotFault):
    """TDBStatus.txt cannot be read as TD Bridge writes it, or says what cannot be true."""


# --- what burner writes ---------------------------------------------------------------------


def clean(text: object, limit: int) -> str:
    """`text` as one JDF or merge-file value: no line break, tab, "=" or other control
    character (each becomes a space), spaces collapsed, at most `limit` characters, and only
    characters the robot PC's ANSI code page has (others lose their accents, else become
    "?")."""
    out = []
    for char in unicodedata.normalize("NFC", str(text)):
        if char == "=" or not (char.isprintable() or char == " "):
            out.append(" ")
            continue
        try:
            char.encode(ANSI)
            out.append(char)
        except UnicodeEncodeError:
            base = "".join(c for c in unicodedata.normalize("NFKD", char)
                           if not unicodedata.combining(c))
            try:
                base.encode(ANSI)
                out.append(base or "?")
            except UnicodeEncodeError:
                out.append("?")
    return " ".join("".join(out).split())[:limit].rstrip()


def volume_label(text: str) -> str:
    """A volume label the disc's file system takes: A-Z, 0-9 and "_", at most 32."""
    return (re.sub(r"[^A-Z0-9_]+", "_", text.upper()).strip("_")[:VOLUME_LABEL_MAX]
            or "DISC")


def job_description(job: str, image: str, disc_type: str, volume: str, *,
                    publisher: str = "", label: str = "", replace_field: str = "",
                    out_stacker: str = "", priority: str = "",
                    image_format: str = "") -> str:
    """The text of a JDF asking for one copy of the disc image `image` (a path as the robot's
    PC sees it). Keys in the order of the guide's example; empty settings are left out so
    TD Bridge uses its own."""
    if not JOB_ID.fullmatch(job):
        raise RobotFault(f"{job!r} cannot be a TD Bridge job id (at most 40 of A-Z, a-z, "
                         "0-9, - and _)")
    lines = [("JOB_ID", job), ("PUBLISHER", clean(publisher, PUBLISHER_MAX)),
             ("COPIES", "1"), ("OUT_STACKER", clean(out_stacker, 8)),
             ("DISC_TYPE", disc_type), ("FORMAT", clean(image_format, 32)),
             (IMAGE_KEY, clean(image, 1024)), ("VOLUME_LABEL", volume_label(volume)),
             ("LABEL", clean(label, 1024)), ("REPLACE_FIELD", clean(replace_field, 1024)),
             ("PRIORITY", clean(priority, 16))]
    return "".join(f"{key}={value}{EOL}" for key, value in lines if value)


def merge_text(fields: dict[str, str]) -> str:
    """The label's replace-field file: one FIELD=text line per merge field, in order."""
    out = []
    for name, value in fields.items():
        key = re.sub(r"[^A-Z0-9_]+", "_", str(name).upper()).strip("_")[:32]
        if key:
            out.append(f"{key}={clean(value, MERGE_VALUE_MAX)}{EOL}")
    return "".join(out)


def cancel_text(job: str) -> str:
    """The text of a JCF cancelling `job`."""
    return f"[CANCEL]{EOL}JOB_ID={job}{EOL}"


def _put(path: Path, text: str) -> None:
    """Write `path` whole: a temporary name TD Bridge does not watch, then a rename."""
    part = path.with_name(f".{path.name}.part")
    with open(part, "wb") as fp:
        fp.write(text.encode(ANSI, errors="replace"))
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(part, path)


# --- what TD Bridge says --------------------------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    """One [<job id>] section of TDBStatus.txt."""

    job: str
    status: int | None             # None: unknown (missing, empty, 99)
    detail: int | None
    publication: int | None        # discs asked for (None: unknown)
    completion: int                # discs made
    error_discs: int               # discs rejected
    in_stacker: int | None
    error: str


@dataclass
class StatusFile:
    """TDBStatus.txt, parsed: section -> {key: value}, in file order."""

    sections: dict[str, dict[str, str]] = field(default_factory=dict)

    def number(self, section: str, key: str, largest: int = NUMBER_MAX) -> int | None:
        """A whole number of 0 to `largest`; None when missing, empty or -1 (unknown)."""
        text = self.sections.get(section, {}).get(key, "")
        if text == "" or text == "-1":
            return None
        if not _NUMBER.fullmatch(text) or not 0 <= int(text) <= largest:
            raise StatusFileError(f"TD Bridge's status file {STATUS_FILE} is not believable: "
                                  f"[{one_line(section)[:40]}] {key}={one_line(text)[:20]} "
                                  f"is not a number of 0 to {largest:,}")
        return int(text)

    def job(self, job: str) -> JobStatus | None:
        """The job's section, checked; None when TD Bridge lists no such job."""
        if job not in self.sections:
            return None
        status = self.number(job, "STATUS", 99)
        publication = self.number(job, "PUBLICATION_NUMBER")
        completion = self.number(job, "COMPLETION_NUMBER") or 0
        error_discs = self.number(job, "ERRORDISC_NUMBER") or 0
        asked = publication if publication is not None else 1
        if publication not in (None, 1) or completion > asked:
            raise StatusFileError(
                f"TD Bridge's status file {STATUS_FILE} is not believable: job {job} was "
                f"asked for 1 disc, but the file says {publication or '?'} asked and "
                f"{completion} made")
        return JobStatus(job, None if status == 99 else status,
                         self.number(job, "DETAIL_STATUS", 99), publication, completion,
                         error_discs, self.number(job, "IN_STACKER", 9),
                         one_line(self.sections[job].get("ERROR", ""))[:200])

    def active(self) -> list[str]:
        """The ids of the jobs TD Bridge is publishing or has waiting, in its order."""
        return [v for _k, v in sorted(self.sections.get("ACTIVE_JOB", {}).items())
                if JOB_ID.fullmatch(v)]

    def publishers(self) -> dict[str, str]:
        """section -> NAME of each [PUBLISHER<n>]."""
        return {s: one_line(keys.get("NAME", ""))[:PUBLISHER_MAX]
                for s, keys in self.sections.items() if _PUBLISHER_SECTION.fullmatch(s)}


def parse_status(text: str) -> StatusFile:
    """TDBStatus.txt's text, strictly: blank lines, [section] and KEY=value lines only (CRLF
    or LF), no key twice in a section nor a section twice, no control character."""
    if len(text) > STATUS_LIMIT:
        raise StatusFileError(f"TD Bridge's status file {STATUS_FILE} is larger than "
                              f"{STATUS_LIMIT // 1024} KB: it is not one TD Bridge wrote")
    parsed = StatusFile()
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.removesuffix("\r")
        where = f"TD Bridge's status file {STATUS_FILE}, line {number}"
        if not line.strip():
            continue
        if not line.isprintable():
            raise StatusFileError(f"{where} holds control characters or binary data")
        section = _SECTION.fullmatch(line)
        if section:
            name = section.group(1)
            if name in parsed.sections:
                raise StatusFileError(f"{where}: the section [{one_line(name)[:40]}] comes "
                                      "twice")
            current = parsed.sections[name] = {}
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key) or current is None or len(value) > 1024:
            raise StatusFileError(f"{where} is not KEY=value inside a [section]")
        if key in current:
            raise StatusFileError(f"{where}: {key} comes twice in its section")
        current[key] = value
    return parsed


# --- the writer -----------------------------------------------------------------------------


class TdBridgeWriter(HotFolderRobot):
    """An Epson Discproducer behind EPSON TD Bridge (drive.robot = "epson")."""

    vendor = "epson"
    image_format = ""       # JDF FORMAT for an image; "": TD Bridge's own (see the report)

    @property
    def status_path(self) -> Path:
        return self.folder / STATUS_FILE

    # --- submit / cancel ----------------------------------------------------------------

    def _merge_path(self, job: str) -> Path:
        return self.folder / LABELS / f"{job}.txt"

    def submit(self, job: str, image: str, volume_label: str) -> None:
        replace = ""
        if self.drive.label_design and self.merge:
            merge = self._merge_path(job)
            merge.parent.mkdir(parents=True, exist_ok=True)
            _put(merge, merge_text(self.merge))
            replace = self.robot_path(merge)
        text = job_description(
            job, image, DISC_TYPES[self.media], volume_label,
            publisher=self.drive.publisher, label=self.drive.label_design,
            replace_field=replace, out_stacker=str(getattr(self.drive, "out_stacker", "")),
            priority=str(getattr(self.drive, "priority", "")), image_format=self.image_format)
        _put(self.folder / f"{job}.JDF", text)

    def cancel(self, job: str) -> None:
        if not JOB_ID.fullmatch(job):
            raise RobotFault(f"{job!r} cannot be a TD Bridge job id")
        _put(self.folder / f"{job}.JCF", cancel_text(job))

    # --- reading ----------------------------------------------------------------------------

    def read_status(self) -> StatusFile | None:
        """TDBStatus.txt parsed; None when there is none (or it is no regular file)."""
        text = read_small(self.status_path, STATUS_LIMIT + 1)
        if not text:
            return None
        try:
            size = os.stat(self.status_path, follow_symlinks=False).st_size
        except OSError:
            size = 0
        if size > STATUS_LIMIT:        # what was read may be fewer characters than bytes
            raise StatusFileError(f"TD Bridge's status file {STATUS_FILE} is larger than "
                                  f"{STATUS_LIMIT // 1024} KB: it is not one TD Bridge wrote")
        return parse_status(text)

    def _job_file(self, job: str) -> str | None:
        """The job file's extension now (upper case); None when there is none."""
        for ext in _EXTENSIONS:
            for name in (f"{job}.{ext}", f"{job}.{ext.lower()}"):
                if (self.folder / name).is_file():
                    return ext
        return None

    def _cancelled(self, job: str) -> bool:
        return any((self.folder / f"{job}.{ext}").is_file() for ext in ("CDN", "cdn"))

    def poll(self, job: str) -> RobotJob | None:
        if not JOB_ID.fullmatch(job):
            return None
        ext = self._job_file(job)
        problem: StatusFileError | None = None
        status: StatusFile | None = None
        entry: JobStatus | None = None
        try:
            status = self.read_status()
            entry = status.job(job) if status else None
        except StatusFileError as exc:
            problem = exc
        if ext in ("JDF", "RJD", "INP", "STP"):
            return self._going(ext, entry, status, problem)
        if entry is None:
            if problem is not None:
                raise problem
            if ext is None:
                return None
            return RobotJob(WORKING, words="finishing: TD Bridge has not yet said how the "
                                           "job ended")
        outcome = self._ended(job, ext, entry)
        if outcome.state != WORKING:
            # TD Bridge is through with the job's inputs: its label merge file and its staged
            # image (robot.py keeps the image when the job ends in a cancel)
            self._merge_path(job).unlink(missing_ok=True)
            (self.folder / IMAGES / f"{job}.iso").unlink(missing_ok=True)
        return outcome

    def _going(self, ext: str, entry: JobStatus | None, status: StatusFile | None,
               problem: StatusFileError | None) -> RobotJob:
        """A job TD Bridge has not finished."""
        made = entry.completion if entry else 0
        failed = entry.error_discs if entry else 0
        if problem is not None:
            return RobotJob(QUEUED if ext in ("JDF", "RJD") else WORKING,
                            words=f"waiting; {problem}")
        if ext == "JDF":
            return RobotJob(QUEUED, words="waiting for TD Bridge to take the job")
        if ext == "RJD":
            return RobotJob(QUEUED, words="TD Bridge is preparing the job")
        if ext == "STP" or (entry and entry.status == PAUSED):
            try:
                why = self._judge(status) if status else None
            except StatusFileError:
                why = None
            words = (f"paused at the robot: {why.words}" if why and why.state != READY
                     and why.state != BUSY else _PAUSED_WORDS)
            return RobotJob(WORKING, made, failed, words)
        if entry is not None and entry.status == WAITING:
            return RobotJob(QUEUED, made, failed, "waiting for the robot (a job ahead of it "
                                                  "goes first)")
        return RobotJob(WORKING, made, failed, "publishing")

    def _ended(self, job: str, ext: str | None, entry: JobStatus) -> RobotJob:
        """A job TD Bridge lists as ended (or the job file says it ended)."""
        made, failed = entry.completion, entry.error_discs
        said = f" (TD Bridge error {entry.error})" if entry.error else ""
        if self._cancelled(job) or entry.detail == USER_CANCEL_DONE:
            return RobotJob(CANCELLED, made, failed, "cancelled")
        abnormal = (ext == "ERR" or entry.status in (ABNORMAL, NOT_ACCEPTED)
                    or entry.detail in (ERROR_CANCEL_DONE, RECEPTION_REFUSED))
        if abnormal:
            if made >= 1 and entry.status != NOT_ACCEPTED:
                # COPIES=1 and the disc was published before the job's error
                return RobotJob(DONE, made, failed, f"disc made; the job then ended with an "
                                                    f"error{said}")
            refused = entry.status == NOT_ACCEPTED or entry.detail == RECEPTION_REFUSED
            return RobotJob(ERROR, made, failed,
                            ("TD Bridge refused the job" if refused else
                             "the robot could not make the disc") + said)
        if entry.status == COMPLETED:
            if made < 1:
                return RobotJob(DONE, made, failed, "the robot ended the job without making "
                                                    "a disc")
            return RobotJob(DONE, made, failed, "disc made" + (
                f" ({failed} disc(s) rejected on the way)" if failed else ""))
        return RobotJob(WORKING, made, failed, "finishing")

    # --- the robot as a whole ---------------------------------------------------------------

    def robot_state(self) -> RobotState:
        try:
            status = self.read_status()
        except StatusFileError as exc:
            return RobotState(FAULT, str(exc))
        if status is None:
            return RobotState(FAULT, f"TD Bridge's status file {STATUS_FILE} is not in the "
                                     "hot folder: is TD Bridge running on the robot's PC, and "
                                     "is this its monitoring folder?")
        try:
            age = time.time() - self.status_path.stat().st_mtime
        except OSError:
            age = 0.0
        if age > STALE_SECONDS:
            return RobotState(FAULT, f"TD Bridge has not updated {STATUS_FILE} for "
                                     f"{age / 60:.0f} minutes: is TD Bridge running on the "
                                     "robot's PC?")
        try:
            return self._judge(status)
        except StatusFileError as exc:
            return RobotState(FAULT, str(exc))

    def _publisher(self, status: StatusFile) -> str | RobotState:
        """The [PUBLISHER<n>] section of this drive's machine, or why there is none."""
        found = status.publishers()
        wanted = clean(self.drive.publisher, PUBLISHER_MAX)
        if wanted:
            for section, name in found.items():
                if name == wanted:
                    return section
            names = ", ".join(sorted(found.values())) or "none"
            return RobotState(FAULT, f"TD Bridge knows no disc publisher named {wanted} "
                                     f"(it knows: {names})")
        if len(found) == 1:
            return next(iter(found))
        if not found:
            return RobotState(FAULT, "TD Bridge lists no disc publisher: register the robot "
                                     "in EPSON Total Disc Setup")
        return RobotState(FAULT, "TD Bridge lists several disc publishers: set publisher in "
                                 "this drive's configuration")

    def _judge(self, status: StatusFile) -> RobotState:
        """How the robot stands, from its [PUBLISHER<n>] section and the active jobs."""
        section = self._publisher(status)
        if isinstance(section, RobotState):
            return section
        jobs = [j for j in (status.job(a) for a in status.active()) if j is not None]
        inputs = {j.in_stacker for j in jobs if j.in_stacker} or {1, 2}
        levels = [status.number(section, f"STACKER{n}", 100) for n in sorted(inputs)]
        known = [level for level in levels if level is not None]
        if known and not any(known):
            stackers = " and ".join(str(n) for n in sorted(inputs))
            return RobotState(NO_MEDIUM, f"out of blank discs (input stacker {stackers} "
                                         "empty): put blank discs in")
        inks = {words: status.number(section, key, 100) for key, words in INKS.items()}
        empty = [words for words, level in inks.items() if level == 0]
        if empty:
            return RobotState(FAULT, f"ink cartridge empty ({', '.join(empty)}): replace it")
        if any(j.status == PAUSED for j in jobs):
            return RobotState(FAULT, _PAUSED_WORDS)
        low = [words for words, level in inks.items() if level is not None
               and level < LOW_INK]
        note = f"; ink low ({', '.join(low)})" if low else ""
        if any(j.status == PUBLISHING for j in jobs):
            return RobotState(BUSY, f"publishing ({len(jobs)} job(s) at the robot){note}")
        return RobotState(READY, f"ready{note}")


__all__ = ["STATUS_FILE", "StatusFile", "StatusFileError", "TdBridgeWriter", "cancel_text",
           "clean", "job_description", "merge_text", "parse_status", "volume_label"]
