"""The writer base: how one copy of a volume image gets onto a medium and is proven there
(DESIGN.md section 10). The protocol is written once, in `Writer.write_copy`; each backend (an
xorriso drive in optical.py, a USB stick in usb.py, the image folder in images.py) only fills
in its steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from burner.errors import MediaMismatch
from burner.media.kinds import check_image_fits, image_limit

T = TypeVar("T")        # what a backend writes one copy to (a path, a checked stick)

READY, BUSY, NO_MEDIUM, FAULT = "ready", "busy", "no medium", "fault"


@dataclass(frozen=True)
class WriterStatus:
    """How a writer stands, for `burner drives`, `burner doctor` and the web app's board."""

    name: str
    device: str
    media: str
    state: str          # READY, BUSY, NO_MEDIUM or FAULT
    words: str          # what a person reads: "DVD+R, blank", "no stick plugged in"
    medium: str = ""    # what is in it: blank, appendable, closed, written, none ('': unknown)

    @property
    def ok(self) -> bool:
        """Usable as configured (empty is fine: a person puts a medium in)."""
        return self.state in (READY, NO_MEDIUM)


def _nothing(done: int) -> None:
    """No one listens to the progress."""


class Writer(Generic[T]):
    """Puts one copy of an image on a medium and proves it by reading it back.

    write_copy, for every backend:
      1. refuse an image larger than the medium (nothing written);
      2. adopt a copy a crash left behind: one already finished and handed out (`_released`)
         is returned as it is; a medium in the writer that reads back as the image
         (`_adopt`) is not written again;
      3. otherwise write it (`_write`);
      4. read it back (`_read_back`) and compare the SHA-256 with the image's;
      5. release it (`_release`: eject the disc, power the stick off) and say where it is.
    Steps 2 to 4 run on the medium `_target` found for this copy, inside `_lock(target)`.
    """

    name = "writer"
    media = "iso"
    device = ""                   # what it writes ("stdio:...", "/dev/sr0"); "" for a folder
    capacity: int | None = None   # bytes of files its medium holds; None: the medium checks

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None,
                   progress: Callable[[int], None] | None = None) -> str:
        """Write `image` (its first `size` bytes, whose SHA-256 is `sha256`) as the copy
        called `label` ("disc1-copy2"); returns where the verified copy is (a file, or the
        drive). `after_burn` runs between writing and reading back (a test hook); `progress`
        is told the bytes written so far, as often as the backend knows."""
        self._progress = progress or _nothing
        image = Path(image)
        self.refuse_too_big(image, size, label)
        done = self._released(label, size, sha256)
        if done is not None:
            return done
        target = self._target(label, size)
        with self._lock(target):
            if not self._adopt(target, size, sha256):
                self._write(target, image, size)
            self._progress(size)
            if after_burn:
                after_burn()
            if self._read_back(target, size) != sha256:
                raise self._mismatch(target)
        return self._release(target, label)

    _progress: Callable[[int], None] = staticmethod(_nothing)

    def refuse_too_big(self, image: Path, size: int, label: str) -> None:
        """JobHeld, before anything is written, when the image (as recorded, or the file as it
        is now) is larger than this writer's medium: the last guard after master's."""
        if self.capacity is None:
            return
        limit = image_limit(self.media, self.capacity)
        check_image_fits(max(size, image.stat().st_size), limit, self.media,
                         f"{label} in {self.name}")

    # --- the steps a backend fills in ---------------------------------------------------------

    def _released(self, label: str, size: int, sha256: str) -> str | None:
        """Where a copy called `label` is that was written, verified and released just before
        a crash (it reads back as the image); None when there is none."""
        return None

    def _target(self, label: str, size: int) -> T:
        """The medium this copy goes to, checked; a refusal (DeviceError) if there is none."""
        raise NotImplementedError

    def _lock(self, target: T) -> AbstractContextManager[object]:
        """Held from adoption to the read-back (the write stage locks a configured device)."""
        return contextlib.nullcontext()

    def _adopt(self, target: T, size: int, sha256: str) -> bool:
        """True when the medium already reads back as the image (written before a crash)."""
        return False

    def _write(self, target: T, image: Path, size: int) -> None:
        raise NotImplementedError

    def _read_back(self, target: T, size: int) -> str:
        """SHA-256 of the first `size` bytes of the medium; a medium that gives fewer raises."""
        raise NotImplementedError

    def _mismatch(self, target: T) -> MediaMismatch:
        """What a medium reading back differently means for the person at the station."""
        return MediaMismatch(f"The copy written by {self.name} does not read back the same as "
                             "what was written. Retry the job.")

    def _release(self, target: T, label: str) -> str:
        """Hand the verified medium out; returns where the copy is."""
        raise NotImplementedError

    def status(self) -> WriterStatus:
        """How the writer stands now (asks the device; never writes)."""
        raise NotImplementedError
