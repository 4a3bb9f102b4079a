"""Optical drives through xorriso (libburn): media status, burn, read-back, eject
(`OpticalDrive`), and the writer that makes verified copies with them (`OpticalWriter`).

The same commands serve a real drive (`/dev/sr0`) and an xorriso `stdio:` pseudo-drive (a
regular file), so tests and the embedded default exercise the production code path.
"""

from __future__ import annotations

import errno
import math
import os
import re
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from burner.config import DriveConfig
from burner.errors import DeviceError, MediaMismatch
from burner.media.checksums import sha256_file
from burner.media.kinds import KINDS, drive_capacity
from burner.media.writer import BUSY, FAULT, NO_MEDIUM, READY, Writer, WriterStatus
from burner.workers import die_with_parent

FIFO_SIZE = "64m"
QUERY_TIMEOUT = 300.0            # loading and spinning up a disc can take a while
BURN_OVERHEAD = 300 * 1024 + 64 * 1024  # xorrecord's default padsize=300k + 32-block alignment
READ_ONLY_MEDIA = ("CD-ROM", "DVD-ROM", "BD-ROM")
_PROBLEM = re.compile(r"^\s*(xorriso|libburn|libisofs|libisoburn)\s*:\s*"
                      r"(FATAL|FAILURE|SORRY|MISHAP|ABORT)\s*:\s*(.*)$")
_NOISE = ("aborting", "job could not be performed", "tolerated problem", "-return_with")
_DEVICE = re.compile(r"^\s*\d+\s+-dev\s+'([^']+)'\s+\S+\s+:\s+'([^']*)'\s+'([^']*)'")
_NO_SPACE = re.compile(r"Image size (\d+)s exceeds free space on media (\d+)s")


class OpticalError(DeviceError):
    """An optical drive or its disc failed; the message says what to do."""


class NoMedium(OpticalError):
    """The drive is empty."""


class MediumNotBlank(OpticalError):
    """The disc already holds data."""


class WrongMedium(OpticalError):
    """The disc cannot take this job: read-only, unreadable or too small."""


class WriteError(OpticalError):
    """Writing the disc failed part-way; that disc is probably unusable."""


class DriveBusy(OpticalError):
    """Another program holds the drive, or it stopped answering."""


class DriveNotFound(OpticalError):
    """The drive (or the stdio file's folder) does not exist."""


# What each failure means for the person at the station. Checked in this order: a busy drive
# also says "Cannot acquire drive", so busy comes before not-found.
_FAULTS: tuple[tuple[type[OpticalError], tuple[str, ...]], ...] = (
    (DriveBusy, ("busy", "fcntl-lock")),
    (NoMedium, ("no media", "not present", "no recognizable medium")),
    (MediumNotBlank, ("closed media with data", "not blank", "need blank",
                      "disc status unsuitable for writing")),
    (WrongMedium, ("exceeds free space",)),
    (DriveNotFound, ("neither stdio-path nor its directory exist", "not found",
                     "cannot access", "rejected because", "cannot acquire drive",
                     "cannot open")),
    (WriteError, ("write error", "failure with writing", "cannot write",
                  "failed to find a suitable write mode", "cannot set write type")),
)

_ADVICE: dict[type[OpticalError], str] = {
    OpticalError: "Drive {addr} reported a problem. Retry the job; if it happens again, "
                  "ask a technician to check the drive.",
    NoMedium: "Drive {addr} has no disc in it. Put a blank disc in the drive and retry the job.",
    MediumNotBlank: "The disc in drive {addr} is not blank. Take it out, put a new blank disc "
                    "in and retry the job.",
    WrongMedium: "The disc in drive {addr} cannot be written. Put a blank recordable disc in "
                 "and retry the job.",
    WriteError: "Writing the disc in drive {addr} failed. Set that disc aside (it may be "
                "unusable), put a new blank disc in and retry the job.",
    DriveBusy: "Drive {addr} is busy: another program is using it or it did not answer. "
               "Wait a minute, then retry the job.",
    DriveNotFound: "Drive {addr} was not found. Check that it is connected and switched on "
                   "and that the station configuration names it correctly, then retry.",
}


@dataclass(frozen=True)
class MediaStatus:
    """What xorriso says about the disc in a drive."""

    present: bool
    blank: bool
    appendable: bool
    closed: bool
    media_type: str
    free_bytes: int
    raw: str


@dataclass(frozen=True)
class DriveInfo:
    """One drive found by `xorriso -devices`."""

    address: str
    vendor: str
    model: str


def _megabytes(nbytes: int, up: bool) -> int:
    return math.ceil(nbytes / 1e6) if up else math.floor(nbytes / 1e6)


def _too_small_text(addr: str, need: int, free: int) -> str:
    return (f"The disc in drive {addr} is too small for this job: it needs "
            f"{_megabytes(need, True)} MB but the disc has only {_megabytes(free, False)} MB "
            "free. Put a bigger blank disc in (for example a DVD instead of a CD) and retry "
            "the job.")


def _problem_lines(text: str) -> list[str]:
    """xorriso's and libburn's SORRY/FAILURE/... lines, without the bookkeeping ones."""
    lines = [ln.strip() for ln in text.splitlines() if _PROBLEM.match(ln)]
    return [ln for ln in lines if not any(n in ln.lower() for n in _NOISE)]


def _with_detail(message: str, detail: str) -> str:
    """The plain sentence first, then xorriso's own words for a technician."""
    return f"{message} (xorriso: {detail})" if detail else message


def classify(addr: str, output: str, default: type[OpticalError] = OpticalError,
             ) -> OpticalError:
    """Turn failed xorriso output into the error a person can act on (plus the raw line)."""
    lines = _problem_lines(output)
    kind, culprit = default, (lines[-1] if lines else "")
    for cls, needles in _FAULTS:
        hit = next((ln for ln in lines if any(n in ln.lower() for n in needles)), None)
        if hit:
            kind, culprit = cls, hit
            break
    sizes = _NO_SPACE.search(culprit)
    if kind is WrongMedium and sizes:
        message = _too_small_text(addr, int(sizes[1]) * 2048, int(sizes[2]) * 2048)
    elif kind is DriveNotFound and addr.startswith("stdio:"):
        message = (f"The disc-image drive {addr} cannot be used: its folder "
                   f"{Path(addr[6:]).parent} does not exist. Create the folder or correct "
                   "the drive in the station configuration, then retry the job.")
    else:
        message = _ADVICE[kind].format(addr=addr)
    return kind(_with_detail(message, culprit))


def _run(xorriso: str, args: list[str], timeout: float, addr: str,
         on_timeout: type[OpticalError] = DriveBusy) -> subprocess.CompletedProcess[str]:
    """Run xorriso without a shell; a missing program or a hang becomes an OpticalError."""
    try:
        return subprocess.run([xorriso, *args], capture_output=True, text=True,
                              errors="replace", stdin=subprocess.DEVNULL, timeout=timeout,
                              preexec_fn=die_with_parent)
    except OSError as exc:  # not installed, or not executable
        raise OpticalError(_with_detail(
            f"The burning program '{xorriso}' is not installed or cannot be started on this "
            "station. Ask a technician to install the xorriso package, then retry the job.",
            exc.strerror or str(exc))) from exc
    except subprocess.TimeoutExpired as exc:
        detail = f"no answer within {timeout:.0f} s"
        raise on_timeout(_with_detail(_ADVICE[on_timeout].format(addr=addr), detail)) from exc


# "xorriso : UPDATE :   12 of  143 MB written (fifo 99%) [buf  50%]   4.0x." (MiB)
_WRITTEN = re.compile(r"UPDATE :\s+(\d+) of\s+(\d+) MB written")
_KEEP_OUTPUT = 1 << 20       # characters of xorriso's output kept for the error message


def _run_watching(xorriso: str, args: list[str], timeout: float, addr: str,
                  line: Callable[[str], None]) -> tuple[int, str]:
    """Run xorriso like _run, handing each line of its output (progress lines end in CR) to
    `line` as it comes; (exit code, output)."""
    try:
        proc = subprocess.Popen([xorriso, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
    except OSError as exc:
        raise OpticalError(_with_detail(
            f"The burning program '{xorriso}' is not installed or cannot be started on this "
            "station. Ask a technician to install the xorriso package, then retry the job.",
            exc.strerror or str(exc))) from exc
    deadline = time.monotonic() + timeout
    kept, pending = "", ""
    assert proc.stdout is not None
    with proc, selectors.DefaultSelector() as watch:
        watch.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                detail = f"no answer within {timeout:.0f} s"
                raise WriteError(_with_detail(_ADVICE[WriteError].format(addr=addr), detail))
            if not watch.select(min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            text = chunk.decode("utf-8", errors="replace")
            kept = (kept + text)[-_KEEP_OUTPUT:]
            *lines, pending = (pending + text).replace("\r", "\n").split("\n")
            pending = pending[-4096:]         # a line never grows without end
            for one in lines:
                line(one)
        line(pending)
        returncode = proc.wait()
    return returncode, kept


def _field(text: str, key: str) -> str:
    match = re.search(rf"^{re.escape(key)}\s*:\s*(.*)$", text, re.MULTILINE)
    return match[1].strip() if match else ""


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _free_bytes(text: str) -> int:
    """Free space from -tell_media_space ("Media space : 123s"), else from the summary."""
    space = re.search(r"^Media space\s*:\s*(\d+)s", text, re.MULTILINE)
    if space:
        return int(space[1]) * 2048
    summary = re.search(r"([\d.]+)\s*([kmgt]?)\s+free", _field(text, "Media summary"))
    return int(float(summary[1]) * _UNITS[summary[2]]) if summary else 0


def parse_status(text: str) -> MediaStatus:
    """Build a MediaStatus from `-toc -tell_media_space` output."""
    state = _field(text, "Media status")
    present = bool(state) and "not present" not in state
    return MediaStatus(
        present=present,
        blank=present and state.startswith("is blank"),
        appendable="is appendable" in state,
        closed="is closed" in state,
        media_type=_field(text, "Media current"),
        free_bytes=_free_bytes(text) if present else 0,
        raw=text,
    )


def medium_word(st: MediaStatus) -> str:
    """What libburn says is in the drive, in one word: blank, appendable, closed or none."""
    if not st.present:
        return "none"
    if st.blank:
        return "blank"
    if st.appendable:
        return "appendable"
    return "closed" if st.closed else "written"


def parse_devices(text: str) -> list[DriveInfo]:
    """Drives from `xorriso -devices` lines like `0  -dev '/dev/sr0' rwrw-- :  'V' 'M'`."""
    found = (_DEVICE.match(line) for line in text.splitlines())
    return [DriveInfo(m[1], m[2].strip(), m[3].strip()) for m in found if m]


def discover_drives(xorriso: str = "xorriso") -> list[DriveInfo]:
    """The optical drives this station can see; none is an empty list, not an error."""
    proc = _run(xorriso, ["-devices"], QUERY_TIMEOUT, "(all drives)")
    text = proc.stdout + "\n" + proc.stderr
    drives = parse_devices(text)
    if proc.returncode != 0 and not drives and "No drives found" not in text:
        raise classify("(all drives)", text)
    return drives


class OpticalDrive:
    """One writer, addressed as xorriso does: `/dev/sr0` or `stdio:/path/to/file`."""

    def __init__(self, address: str, xorriso: str = "xorriso", timeout: float = 3600):
        self.address = address
        self.xorriso = xorriso
        self.timeout = timeout

    @property
    def is_stdio(self) -> bool:
        return self.address.startswith("stdio:")

    @property
    def path(self) -> Path:
        """The file or device node that holds the medium's bytes."""
        return Path(self.address[len("stdio:"):] if self.is_stdio else self.address)

    def _query(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = _run(self.xorriso, ["-outdev", self.address, *args],
                    min(self.timeout, QUERY_TIMEOUT), self.address)
        if proc.returncode != 0:
            raise classify(self.address, proc.stdout + "\n" + proc.stderr)
        return proc

    def status(self) -> MediaStatus:
        """Ask the drive what is in it (reads only; a missing stdio file stays missing)."""
        proc = self._query("-toc", "-tell_media_space")
        return parse_status(proc.stdout + "\n" + proc.stderr)

    def check_writable(self, image_bytes: int) -> MediaStatus:
        """Raise unless a blank, writable disc with room for `image_bytes` is in the drive."""
        if self.is_stdio:
            self._check_stdio_folder()
        st = self.status()
        if not st.present:
            raise NoMedium(_ADVICE[NoMedium].format(addr=self.address))
        read_only = st.media_type.startswith(READ_ONLY_MEDIA) or "read-only" in st.media_type
        if read_only or st.media_type == "is not recognizable":
            raise WrongMedium(_with_detail(_ADVICE[WrongMedium].format(addr=self.address),
                                           f"Media current: {st.media_type}"))
        if not st.blank:
            raise MediumNotBlank(_with_detail(
                _ADVICE[MediumNotBlank].format(addr=self.address),
                f"Media status : {_field(st.raw, 'Media status')}"))
        need = image_bytes + BURN_OVERHEAD
        if st.free_bytes < need:
            raise WrongMedium(_with_detail(_too_small_text(self.address, need, st.free_bytes),
                                           f"Media space : {st.free_bytes // 2048}s"))
        return st

    def _check_stdio_folder(self) -> None:
        """A `stdio:` drive in a folder burner may not write looks to xorriso like a disc with
        no room; say what it really is."""
        folder = self.path.parent
        if not folder.is_dir():
            return                      # classify() names a missing folder
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        if read_only or not os.access(folder, os.W_OK | os.X_OK):
            why = "is on a read-only file system" if read_only else "may not be written by burner"
            raise WriteError(f"The disc-image drive {self.address} cannot be written: its "
                             f"folder {folder} {why}. Correct the folder's permissions (or "
                             "the drive's device in the configuration), then retry the job.")

    def burn(self, image: Path, progress: Callable[[int], None] | None = None) -> None:
        """Write `image` to the blank disc as one closed session (xorriso -as cdrecord);
        `progress` is told the bytes written so far, from xorriso's progress lines."""
        image = Path(image)
        if not image.is_file():
            raise WriteError(f"The disc image {image} is missing, so nothing was written. "
                             "Retry the job so the image is made again.")
        self.check_writable(image.stat().st_size)
        # A 64 MiB fifo keeps a real drive fed and is ~5x faster than the default on stdio:.
        args = ["-as", "cdrecord", "-v", f"dev={self.address}", f"fs={FIFO_SIZE}",
                str(image.resolve())]
        def line(text: str) -> None:
            found = _WRITTEN.search(text)
            if found and progress:
                progress(int(found[1]) * 1024 * 1024)

        returncode, text = _run_watching(self.xorriso, args, self.timeout, self.address, line)
        if returncode != 0 or "completed successfully" not in text:
            raise classify(self.address, text, default=WriteError)

    def read_back_sha256(self, nbytes: int) -> str:
        """SHA-256 of the first `nbytes` of the medium; fewer bytes raise MediaMismatch."""
        try:
            digest, done = sha256_file(self.path, nbytes, uncached=not self.is_stdio)
        except OSError as exc:
            if exc.errno == getattr(errno, "ENOMEDIUM", 123):
                raise NoMedium(_ADVICE[NoMedium].format(addr=self.address)) from exc
            raise MediaMismatch(f"The disc in drive {self.address} could not be read back "
                                f"({exc.strerror}). Set it aside and retry the job.") from exc
        if done < nbytes:
            raise MediaMismatch(
                f"The disc in drive {self.address} gave back only {done} of {nbytes} bytes, "
                "so it is incomplete. Set it aside and retry the job.")
        return digest

    def eject(self) -> None:
        """Open the tray (`-eject all`); for a stdio file this does nothing harmful."""
        self._query("-eject", "all")


class OpticalWriter(Writer[Path]):
    """An optical drive through xorriso; a `stdio:` drive with auto_load_blank behaves like a
    disc robot: a blank goes in before each copy and the written disc comes out to the tray
    (media/<job>/<label>.iso)."""

    def __init__(self, drive: DriveConfig, xorriso: str, tray: Path):
        self.drive = drive
        self.name = drive.name
        self.media = drive.media
        self.device = drive.device
        self.capacity = drive_capacity(drive) or KINDS[drive.media].capacity
        self.optical = OpticalDrive(drive.device, xorriso)
        self.tray = tray

    @property
    def robot(self) -> bool:
        """A stdio: drive that loads a blank itself and puts each written disc in the tray."""
        return self.drive.is_stdio and self.drive.auto_load_blank

    def _out(self, label: str) -> Path:
        return self.tray / f"{label}{KINDS[self.media].suffix}"

    def _released(self, label: str, size: int, sha256: str) -> str | None:
        # Burned, verified and ejected to the tray just before a crash.
        out = self._out(label)
        if self.robot and out.exists() and sha256_file(out, size)[0] == sha256:
            return str(out)
        return None

    def _target(self, label: str, size: int) -> Path:
        return self.optical.path

    def _adopt(self, target: Path, size: int, sha256: str) -> bool:
        """The disc in the drive is this very image: burned before a crash, not yet ejected."""
        if self.robot:
            return target.exists() and target.stat().st_size >= max(size, 1) and \
                self.optical.read_back_sha256(size) == sha256
        status = self.optical.status()
        if not status.present or status.blank:
            return False
        try:
            return self.optical.read_back_sha256(size) == sha256
        except DeviceError:
            return False

    def _write(self, target: Path, image: Path, size: int) -> None:
        if self.robot:
            # The robot's load: a disc left in the drive that is not this image goes aside.
            if target.exists() and target.stat().st_size > 0:
                spoiled = self.tray / "spoiled"
                spoiled.mkdir(parents=True, exist_ok=True)
                os.replace(target, spoiled / f"{int(time.time() * 1000)}-{target.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
        self.optical.burn(image, self._progress)

    def _read_back(self, target: Path, size: int) -> str:
        return self.optical.read_back_sha256(size)

    def _mismatch(self, target: Path) -> MediaMismatch:
        return MediaMismatch(
            f"The disc in {self.drive.name} does not read back the same as what was written "
            "(bad disc or drive). Put in a new blank disc; the job will retry.")

    def _release(self, target: Path, label: str) -> str:
        self.optical.eject()
        if self.robot:
            out = self._out(label)
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, out)
            return str(out)
        return self.drive.device

    def status(self) -> WriterStatus:
        """What xorriso says is in the drive: "DVD+R, blank", "no disc, empty"."""
        if self.robot and not self.optical.path.exists():
            # Nothing written yet: the robot loads a blank for the first copy.
            return WriterStatus(self.name, self.device, self.media, READY,
                                "a blank is loaded for each copy", "blank")
        try:
            st = self.optical.status()
        except DeviceError as exc:
            state = BUSY if isinstance(exc, DriveBusy) else FAULT
            return WriterStatus(self.name, self.device, self.media, state, str(exc))
        words = "blank" if st.blank else ("written" if st.present else "empty")
        # A robot loads a blank itself; a person must put one in any other drive.
        state = READY if st.blank or self.robot else NO_MEDIUM
        return WriterStatus(self.name, self.device, self.media, state,
                            f"{st.media_type or 'no disc'}, {words}", medium_word(st))
