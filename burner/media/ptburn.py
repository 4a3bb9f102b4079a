"""Primera Bravo disc publishers through PTBurn's shared job folder (issue 14).

PTBurn runs on the robot's PC and watches its Job Request Folder (by default C:\\PTBurnJobs;
here `device` is that folder as this station mounts it, `robot_path` as the robot's PC names
it). The protocol is Primera's "PTBurn 3 SDK" (revision 3.24 of 2011); section numbers below
are that document's ("SDK 2.1.6"), and "SDK 2005" is the older PTBurn SDK it replaced.

- A job is a text file `<job>.JRQ` of Key=Value lines in the Job Request Folder (SDK 2):
  burner asks for one copy (Copies=1) of an ISO image it staged in `images/`, verified,
  refused on a disc that is not blank, closed, and printed with the site's SureThing label
  design and burner's label fields as MergeField values, in the design's order (SDK 2.1.40).
  It is written under another name first and renamed, so PTBurn never reads half a job.
- PTBurn renames the file as the job goes (SDK 3): .JRQ submitted, .QRJ discovered (queued),
  .INP in process, .DON completed, .ERR failed or aborted.
- PTBurn writes its status as INI-like files in `Status/` (SDK 3.1, 3.2): SystemStatus.txt
  ([RobotList], [System] and one section per robot: bins, ink, status words) and one
  `<RobotName>.txt` per robot, whose section named after a job (its JRQ file name without the
  extension) says how it goes (GoodDiscs, BadDiscs, JobState, JobErrorNumber...). PTBurn
  before version 3 wrote the job sections to Status/PTSTATUS.TXT (SDK 2005 3); it is read
  too. These files come from another computer and are read as hostile: a bounded read that
  never blocks on a FIFO, a strict parser, and a refusal in words for anything malformed.
- A job is aborted with `<job>.PTM` holding Message=ABORT and the job's ClientID (SDK 4.1);
  PTBurn then ends it .ERR with job error 16, "The job was aborted" (SDK Appendix C).

DeleteFiles is always NO: PTBurn would delete "everything within the first subfolder under
the Shared Job Folder" (SDK 2.1.7), that is the whole `images/` folder with the images of
other copies still waiting; robot.py deletes each copy's own image when its job has ended.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from burner.errors import DeviceError
from burner.media.robot import (
    CANCELLED,
    DONE,
    ERROR,
    FAULT,
    NO_MEDIUM,
    QUEUED,
    READY,
    WORKING,
    HotFolderRobot,
    RobotJob,
    RobotState,
)
from burner.untrusted import one_line, read_small

__all__ = ["CLIENT_ID", "IniFile", "JobDetails", "PtBurnWriter", "StatusError", "clean_value",
           "job_details", "jrq_text", "parse_status", "read_status"]

# --- the protocol's names (SDK 3 and 3.1) ----------------------------------------------------

JRQ, QRJ, INP, DON, ERR, PTM = "JRQ", "QRJ", "INP", "DON", "ERR", "PTM"
# The extensions in the order a job goes through them, looked for in that order: a file that
# only ever moves forward is then found even while PTBurn renames it between two looks.
EXTENSIONS = (JRQ, QRJ, INP, DON, ERR)
STATUS = "Status"
SYSTEM_STATUS = "SystemStatus.txt"
OLD_STATUS = "PTSTATUS.TXT"          # SDK 2005 3: PTBurn 2's one status file
CLIENT_ID = "burner"                 # SDK 2.1.2; an ABORT must name it again (SDK 4.1)
IMAGE_TYPE = "MODE_1_2048"           # SDK 2.1.8: an ISO 9660 image's 2048-byte blocks
JRQ_ENCODING = "cp1252"              # PTBurn's ANSI build reads the Windows code page
DISC_TYPES = {"cd": "CDR", "dvd": "DVDR", "dvd-dl": "DVDR"}   # SDK 2005 2.1.4

# --- what PTBurn's numbers mean (SDK 3.2.4.12, 3.2.4.20, 4.5, Appendix C) ---------------------

NOT_STARTED, RUNNING, COMPLETED, FAILED, MOVED = range(5)           # JobState
JOB_ABORTED = 16                     # job error 16: "The job was aborted."
INK_LOW_ERRORS = frozenset({5, 6, 7})  # system errors IGNORE_INKLOW clears (SDK 4.5)
STATUS_STATES = ("recording the disc", "reading the disc", "verifying the disc",
                 "printing the disc", "loading a disc", "unloading the disc",
                 "waiting for the printer", "waiting for the recorder", "finishing the disc",
                 "rejecting a disc", "job complete", "job paused", "job resumed", "job aborted",
                 "starting the job", "job failed", "pre-mastering", "system OK")
MAX_COPIES = 10_000                  # SDK 2.1.11
COPIES = 1                           # one robot job makes one copy (robot.py)
INK_LOW_PERCENT = 10                 # said beside "ready"; PTBurn decides when to stop

# --- limits on what another computer's files may make burner do ------------------------------

STATUS_LIMIT = 256 * 1024            # a status file larger than this is refused
MAX_ROBOTS = 8                       # robots of a [RobotList] whose files are read
FIELD_LIMIT = 250                    # characters of one JRQ value
ID_LIMIT = 32                        # SDK 2.1.1, 2.1.2: JobID and ClientID
_JOB = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NUMBER = re.compile(r"-?[0-9]{1,9}")
_SECTION = re.compile(r"\[([^\[\]]{1,200})\]")
_KEY = re.compile(r"[A-Za-z0-9_. ()-]{1,100}")
_OUT_OF_DISCS = re.compile(r"out of (blank )?(discs|media)|no (more )?discs|bin (is )?empty",
                           re.IGNORECASE)
_INK_LOW = re.compile(r"\bink\b.*\b(low|empty|out)\b|\bout of ink\b", re.IGNORECASE)
_OFFLINE = re.compile(r"\boffline\b|\bnot connected\b|\bdisconnected\b", re.IGNORECASE)
_FINE = re.compile(r"^\s*(system ok|ok|ready|idle|no errors?)?\s*$", re.IGNORECASE)


class StatusError(DeviceError):
    """A PTBurn status file burner will not trust: too large, not text, not INI-like, a key
    twice, or a number that is no number or cannot be true. The message names the file, the
    section and the key."""


# --- reading PTBurn's status files ---------------------------------------------------------------


def _shown(text: str, limit: int = 40) -> str:
    """Untrusted text quoted in a message: one line, at most `limit` characters."""
    text = one_line(text)
    return "'" + (text if len(text) <= limit else text[:limit] + "...") + "'"


@dataclass(frozen=True)
class IniFile:
    """A parsed status file: its sections (names case-folded, as Windows compares them),
    each with its Key=Value lines in order. Nothing is refused for being unknown; a key burner
    asks for is refused when it is there twice or its value is not what it must be."""

    name: str                                    # for messages: "Status/SystemStatus.txt"
    sections: dict[str, list[tuple[str, str]]]

    def has(self, section: str) -> bool:
        return section.casefold() in self.sections

    def items(self, section: str) -> list[tuple[str, str]]:
        return list(self.sections.get(section.casefold(), []))

    def get(self, section: str, key: str) -> str | None:
        """The value of `key` in `section`; None when absent, StatusError when there twice."""
        found = [v for k, v in self.sections.get(section.casefold(), [])
                 if k.casefold() == key.casefold()]
        if len(found) > 1:
            raise StatusError(f"{self.name}: [{one_line(section)}] {key} is there "
                              f"{len(found)} times, so burner cannot tell which to believe")
        return found[0] if found else None

    def words(self, section: str, key: str, limit: int = 120) -> str:
        """A text value as people may read it: one line, at most `limit` characters."""
        value = one_line(self.get(section, key) or "").strip()
        return value if len(value) <= limit else value[:limit] + "..."

    def number(self, section: str, key: str, low: int, high: int) -> int | None:
        """A whole number from `low` to `high`; None when absent; StatusError otherwise."""
        value = self.get(section, key)
        if value is None:
            return None
        text = value.strip()
        if _NUMBER.fullmatch(text) and low <= int(text) <= high:
            return int(text)
        raise StatusError(f"{self.name}: [{one_line(section)}] {key} is {_shown(value)}, not "
                          f"a whole number from {low} to {high}")


def parse_status(text: str, name: str) -> IniFile:
    """Parse the text of a PTBurn status file strictly: every line is blank, a ;comment, a
    [Section] or a Key=Value; anything else, or a NUL (binary, or UTF-16 text), is refused."""
    if "\x00" in text:
        raise StatusError(f"{name} holds NUL bytes: it is binary, or UTF-16 text, which "
                          "burner does not read")
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = sections.setdefault("", [])
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith((";", "#")):
            continue
        header = _SECTION.fullmatch(line)
        if header:
            current = sections.setdefault(header.group(1).strip().casefold(), [])
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key.strip()):
            raise StatusError(f"{name}: line {number} is neither [Section] nor Key=Value: "
                              f"{_shown(line)}")
        current.append((key.strip(), value.strip()))
    return IniFile(name, sections)


def read_status(path: Path, name: str) -> IniFile | None:
    """The status file at `path`, parsed; None when it is not there (or is no regular file:
    a FIFO or a symlink is never opened for reading). Empty, or larger than STATUS_LIMIT:
    refused."""
    text = read_small(path, STATUS_LIMIT + 1)
    if not text:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(path.lstat().st_mode):
                raise StatusError(f"{name} is empty (PTBurn may be writing it)")
        return None
    # read_small decodes with "replace": each byte it read is at least one byte here again.
    if len(text.encode("utf-8")) > STATUS_LIMIT:
        raise StatusError(f"{name} is larger than {STATUS_LIMIT // 1024} KB; a PTBurn status "
                          "file is a few KB")
    return parse_status(text, name)


@dataclass(frozen=True)
class JobDetails:
    """A job's section of a robot status file (SDK 3.2.4)."""

    state: int | None          # JobState: NOT_STARTED ... MOVED
    good: int                  # GoodDiscs
    bad: int                   # BadDiscs
    error: int                 # JobErrorNumber (0: none)
    error_words: str           # JobErrorString
    words: str                 # CurrentStatus, else CurrentStatusState in words


def job_details(ini: IniFile, job: str, copies: int = COPIES) -> JobDetails | None:
    """The details of `job` in `ini`, None when it has no section there; StatusError for a
    number that is malformed or cannot be true of a job of `copies` discs."""
    if not ini.has(job):
        return None
    good = ini.number(job, "GoodDiscs", 0, MAX_COPIES) or 0
    if good > copies:
        raise StatusError(f"{ini.name}: [{job}] GoodDiscs says {good} discs were made for a "
                          f"job of {copies}")
    bad = ini.number(job, "BadDiscs", 0, MAX_COPIES) or 0
    ini.number(job, "DiscsRemaining", 0, copies)
    state = ini.number(job, "JobState", NOT_STARTED, MOVED)
    code = ini.number(job, "CurrentStatusState", 0, 99)
    error = ini.number(job, "JobErrorNumber", 0, 9999) or 0
    words = ini.words(job, "CurrentStatus")
    if not words and code is not None:
        words = STATUS_STATES[code] if code < len(STATUS_STATES) else f"state {code}"
    return JobDetails(state, good, bad, error, ini.words(job, "JobErrorString"), words)


# --- writing job requests ------------------------------------------------------------------------


def clean_value(value: object, limit: int = FIELD_LIMIT) -> str:
    """`value` made safe as the value of one Key=Value line: every control character (line
    breaks above all: a patient name must never add a line to a job) a space, runs of space
    one, double quotes single (PTBurn writes MergeField values into a quoted merge file, SDK
    2.1.40), what the Windows code page lacks without its accents or as "?", and at most
    `limit` characters."""
    text = "".join(c if c.isprintable() else " " for c in str(value)).replace('"', "'")
    text = " ".join(text.split())
    out = []
    for char in text:
        try:
            char.encode(JRQ_ENCODING)
        except UnicodeEncodeError:
            bare = "".join(c for c in unicodedata.normalize("NFKD", char)
                           if not unicodedata.combining(c))
            char = bare if bare and all(_encodes(c) for c in bare) else "?"
        out.append(char)
    return "".join(out)[:limit].strip()


def _encodes(char: str) -> bool:
    try:
        char.encode(JRQ_ENCODING)
    except UnicodeEncodeError:
        return False
    return char.isprintable()


def jrq_text(fields: list[tuple[str, str]]) -> bytes:
    """A job request file: one Key=Value line per field, CR LF, in the Windows code page.
    Every value passes through clean_value here, whatever the caller did."""
    lines = []
    for key, value in fields:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a PTBurn key: {key!r}")
        lines.append(f"{key}={clean_value(value)}")
    return ("\r\n".join(lines) + "\r\n").encode(JRQ_ENCODING)


def _write_atomic(path: Path, data: bytes) -> None:
    """`data` as `path`, never seen half-written: a temporary name PTBurn does not look at
    (its extension is not .JRQ or .PTM, in its long or its 8.3 short name) renamed into
    place."""
    part = path.with_name(f".{path.stem}-{path.suffix.lstrip('.').lower()}.tmp")
    try:
        with open(part, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(part, path)
    finally:
        with contextlib.suppress(OSError):
            part.unlink()


def _plain_name(name: str) -> bool:
    """A robot's name or status file name fit to be a file name in Status/."""
    return (0 < len(name) <= 120 and name.isprintable() and not name.startswith(".")
            and not any(c in name for c in '/\\:*?"<>|'))


# --- the writer ----------------------------------------------------------------------------------


class PtBurnWriter(HotFolderRobot):
    """A Primera disc publisher: one JRQ per copy, followed through its renames and PTBurn's
    status files (the shared part, adoption after a crash included, is robot.py's)."""

    vendor = "primera"

    # --- files ---------------------------------------------------------------------------------

    def _job_file(self, job: str, extension: str) -> Path:
        if not _JOB.fullmatch(job):
            raise ValueError(f"not a robot job id: {job!r}")
        return self.folder / f"{job}.{extension}"

    def _extension(self, job: str) -> str | None:
        """The extension the job's file has now (upper or lower case: PTBurn's own words
        use both, and a share may keep either); the earliest when there are two."""
        for extension in EXTENSIONS:
            for name in (extension, extension.lower()):
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(self._job_file(job, name).lstat().st_mode):
                        return extension
        return None

    # --- status ----------------------------------------------------------------------------------

    def _status(self, name: str) -> IniFile | None:
        return read_status(self.folder / STATUS / name, f"{STATUS}/{name}")

    def _robots(self, system: IniFile | None) -> list[str]:
        """The robots whose status counts: the configured one (RobotName), else those of
        SystemStatus.txt's [RobotList] (SDK 3.1.2), first first."""
        if self.drive.publisher:
            return [self.drive.publisher]
        if system is None:
            return []
        names = [value for _key, value in system.items("RobotList") if _plain_name(value)]
        return list(dict.fromkeys(names))[:MAX_ROBOTS]

    def _robot_file(self, system: IniFile | None, robot: str) -> IniFile | None:
        """`<RobotName>.txt`, or the StatusFile SystemStatus.txt names for it (SDK 3.1.3.5)."""
        named = system.get(robot, "StatusFile") if system is not None else None
        name = named if named and _plain_name(named) else f"{robot}.txt"
        return self._status(name) if _plain_name(name) else None

    def _details(self, job: str) -> tuple[JobDetails | None, str]:
        """The job's section in a robot's status file or PTSTATUS.TXT, and what made a file
        unreadable ('' when nothing did)."""
        problem = ""
        try:
            system = self._status(SYSTEM_STATUS)
        except StatusError as exc:
            system, problem = None, str(exc)
        readers = [lambda r=robot: self._robot_file(system, r) for robot in self._robots(system)]
        readers.append(lambda: self._status(OLD_STATUS))
        for read in readers:
            try:
                ini = read()
                found = job_details(ini, job) if ini is not None else None
            except StatusError as exc:
                problem = problem or str(exc)
                continue
            if found is not None:
                return found, problem
        return None, problem

    # --- the four steps ------------------------------------------------------------------------

    def submit(self, job: str, image: str, volume_label: str) -> None:
        """`<job>.JRQ` for one verified, closed copy of `image` (the robot's path to it),
        printed with the site's design and this volume's label fields."""
        if not image or not image.isprintable():
            raise ValueError(f"not a path PTBurn can be given: {image!r}")
        fields = [("JobID", job[:ID_LIMIT]), ("ClientID", CLIENT_ID),
                  ("ImageFile", image), ("ImageType", IMAGE_TYPE)]
        if self.media in DISC_TYPES:
            fields.append(("DiscType", DISC_TYPES[self.media]))
        fields += [("Copies", str(COPIES)), ("VerifyDisc", "YES"), ("RejectIfNotBlank", "YES"),
                   ("CloseDisc", "YES"), ("DeleteFiles", "NO")]
        if self.drive.publisher:
            fields.append(("RobotName", self.drive.publisher))
        if self.drive.label_design:
            fields.append(("PrintLabel", self.drive.label_design))
            # Positional (SDK 2.1.40): an empty field keeps its place in the design.
            fields += [("MergeField", value) for value in self.merge.values()]
        _write_atomic(self._job_file(job, JRQ), jrq_text(fields))

    def poll(self, job: str) -> RobotJob | None:
        """How `job` stands: its file's extension first (SDK 3), PTBurn's job section for
        the counts and words. A status file that cannot be read never ends a job: it is said
        in the words, and the next poll reads it again."""
        extension = self._extension(job)
        details, problem = self._details(job)
        note = f"; PTBurn's status cannot be read: {problem}" if problem else ""
        good, bad = (details.good, details.bad) if details else (0, 0)
        if extension in (JRQ, QRJ):
            waiting = "waiting for PTBurn to pick up the job" if extension == JRQ \
                else "queued in PTBurn"
            return RobotJob(QUEUED, 0, 0, waiting + self._robot_note() + note)
        if extension == INP:
            doing = (details.words if details and details.words else "working")
            return RobotJob(WORKING, good, bad, doing + self._robot_note() + note)
        if extension == ERR or (details and extension is None and details.state == FAILED):
            return self._failed(details, note)
        if extension == DON:
            if details and details.state == FAILED:
                return self._failed(details, note)
            if details and details.state == COMPLETED and good < COPIES:
                return RobotJob(ERROR, good, bad, "PTBurn completed the job but says no disc "
                                "was made" + note)
            # .DON: "The job has been completed" (SDK 3); it asked for one copy.
            return RobotJob(DONE, COPIES, bad, "done" + note)
        if details and details.state == COMPLETED:
            # Its .DON was deleted already (PTSETUP.INI Status_Time); the section remains.
            return RobotJob(DONE if good >= COPIES else ERROR, good, bad,
                            "done" if good >= COPIES else "no disc was made")
        if details and details.state in (NOT_STARTED, RUNNING):
            # Its file is gone (a person moved it?) but PTBurn says it has the job: never
            # "lost", which would burn the copy again beside it; the timeout still applies.
            return RobotJob(WORKING if details.state == RUNNING else QUEUED, good, bad,
                            "PTBurn has the job, but its job file is gone" + note)
        return None

    def _failed(self, details: JobDetails | None, note: str) -> RobotJob:
        good, bad = (details.good, details.bad) if details else (0, 0)
        if details and details.error == JOB_ABORTED:
            return RobotJob(CANCELLED, good, bad, "the job was aborted" + note)
        if details and details.error:
            said = details.error_words or "no words given"
            return RobotJob(ERROR, good, bad,
                            f"PTBurn job error {details.error}: {said}{note}")
        return RobotJob(ERROR, good, bad, "PTBurn ended the job with an error" + note)

    def _robot_note(self) -> str:
        """What keeps the robot from going on, for the words of a waiting job."""
        state = self.robot_state()
        return "" if state.state == READY else f" ({state.words})"

    def cancel(self, job: str) -> None:
        """`<job>.PTM`: ABORT, with the ClientID the job was submitted with (SDK 4.1)."""
        _write_atomic(self._job_file(job, PTM),
                      jrq_text([("Message", "ABORT"), ("ClientID", CLIENT_ID)]))

    def robot_state(self) -> RobotState:
        """Ready, out of blank discs, or why not, from SystemStatus.txt and the robot's own
        status file (SDK 3.1.3, 3.2.5); a file burner cannot trust is a fault in words."""
        try:
            return self._robot_state()
        except StatusError as exc:
            return RobotState(FAULT, f"PTBurn's status cannot be read: {exc}")

    def _robot_state(self) -> RobotState:
        system = self._status(SYSTEM_STATUS)
        if system is None:
            return RobotState(FAULT, f"PTBurn has written no {STATUS}/{SYSTEM_STATUS} in "
                                     f"{self.folder}: is PTBurn running on the robot's PC, "
                                     "and is this its job folder?")
        robots = self._robots(system)
        if not robots:
            return RobotState(FAULT, "PTBurn lists no disc publisher: is the robot switched "
                                     "on and connected to its PC?")
        robot = robots[0]
        own = self._robot_file(system, robot)
        if not system.has(robot) and own is None:
            return RobotState(FAULT, f"PTBurn does not know the robot {one_line(robot)!r} "
                                     "(publisher in burner's configuration)")
        said = (own.words("System", "SystemStatus") if own else "") \
            or system.words(robot, "Status")
        error = self._count(system, own, "System", "SysErrorNumber", 0, 9999) or 0
        error_words = (own.words("System", "SysErrorString") if own else "") \
            or system.words("System", "SysErrorString")
        bins = [n for key in ("DiscsInLeftBin", "DiscsInRightBin")
                for n in [self._count(system, own, robot, key, -1, MAX_COPIES)]
                if n is not None and n >= 0]
        # CartridgeFillX in percent; a CartridgeTypeX of 0 is CARTRIDGE_NONE (SDK 3.1.3.8).
        inks = {i: n for i in range(10)
                for n in [self._count(system, own, robot, f"CartridgeFill{i}", 0, 100)]
                if n is not None
                and self._count(system, own, robot, f"CartridgeType{i}", 0, 99) != 0}
        if _OFFLINE.search(said):
            return RobotState(FAULT, f"the robot is offline ({said}): switch it on or "
                                     "reconnect it")
        if _OUT_OF_DISCS.search(said) or (bins and not any(bins)):
            return RobotState(NO_MEDIUM, "out of blank discs: put blank discs in the robot's "
                                         "input bin")
        empty = sorted(i for i, fill in inks.items() if fill == 0)
        if empty:
            return RobotState(FAULT, "out of ink: replace the robot's ink cartridge "
                                     f"(cartridge {', '.join(map(str, empty))} is empty)")
        detail = (error_words if error else "") or said or f"error {error}"
        if error in INK_LOW_ERRORS or _INK_LOW.search(said):
            return RobotState(FAULT, f"ink low: replace the robot's ink cartridge ({detail})")
        if error:
            return RobotState(FAULT, f"the robot reports error {error}: {detail}")
        low = sorted(i for i, fill in inks.items() if fill < INK_LOW_PERCENT)
        if low:
            return RobotState(READY, "ready; ink low in cartridge "
                                     + ", ".join(f"{i} ({inks[i]}%)" for i in low))
        if not _FINE.match(said):
            return RobotState(READY, f"ready ({said})")
        return RobotState(READY, "ready")

    @staticmethod
    def _count(system: IniFile, own: IniFile | None, robot: str, key: str, low: int,
               high: int) -> int | None:
        """A number of the robot: its own file's [System] first, then SystemStatus.txt."""
        found = own.number("System", key, low, high) if own is not None else None
        return found if found is not None else system.number(robot, key, low, high)
