"""Writers: where a verified copy of a volume image goes. One base owns the bookkeeping
(adopting a copy a crash left behind, read-back comparison); each backend only writes."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from burner.config import Config, DriveConfig
from burner.errors import DeviceError, JobHeld, MediaMismatch
from burner.media import checksums
from burner.media.kinds import KINDS, check_image_fits, drive_capacity, image_limit
from burner.media.optical import OpticalDrive


class Writer:
    """Puts one copy of an image on a medium and proves it by reading it back."""

    name = "writer"
    media = "iso"
    device = ""                   # what it writes ("stdio:...", "/dev/sr0"); "" for a folder
    capacity: int | None = None   # bytes of files its medium holds; None: the medium checks

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None) -> str:
        """Write `image`; returns where the verified copy is (a file, or the drive)."""
        raise NotImplementedError

    def refuse_too_big(self, image: Path, size: int, label: str) -> None:
        """JobHeld, before anything is written, when the image (as recorded, or the file as it
        is now) is larger than this writer's medium: the last guard after master's."""
        if self.capacity is None:
            return
        limit = image_limit(self.media, self.capacity)
        check_image_fits(max(size, image.stat().st_size), limit, self.media,
                         f"{label} in {self.name}")


class ImageFolderWriter(Writer):
    """media.type "iso": verified images in the output folder, for another tool or an archive."""

    name = "images"
    capacity = KINDS["iso"].capacity

    def __init__(self, folder: Path):
        self.folder = folder

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None) -> str:
        self.refuse_too_big(image, size, label)
        self.folder.mkdir(parents=True, exist_ok=True)
        dest = self.folder / f"{label}.iso"
        if not (dest.exists() and checksums.sha256_file(dest, size)[0] == sha256):
            tmp = dest.with_name(f".{dest.name}.part")
            shutil.copyfile(image, tmp)
            os.replace(tmp, dest)
        if checksums.sha256_file(dest, size)[0] != sha256:
            raise MediaMismatch(f"the copy in {dest} does not match the image", [dest.name])
        return str(dest)


class OpticalWriter(Writer):
    """An optical drive through xorriso; a `stdio:` drive with auto_load_blank behaves like a
    disc robot: a blank goes in before each copy and the written disc comes out to media/."""

    def __init__(self, drive: DriveConfig, xorriso: str, tray: Path):
        self.drive = drive
        self.name = drive.name
        self.media = drive.media
        self.device = drive.device
        self.capacity = drive_capacity(drive) or KINDS[drive.media].capacity
        self.optical = OpticalDrive(drive.device, xorriso)
        self.tray = tray

    def _load_blank(self, size: int, sha256: str) -> bool:
        """Robot load for stdio drives; True when the drive already holds this very image."""
        path = self.optical.path
        if path.exists() and path.stat().st_size > 0:
            if path.stat().st_size >= size and self.optical.read_back_sha256(size) == sha256:
                return True
            spoiled = self.tray / "spoiled"
            spoiled.mkdir(parents=True, exist_ok=True)
            os.replace(path, spoiled / f"{int(time.time() * 1000)}-{path.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return False

    def _holds(self, size: int, sha256: str) -> bool:
        status = self.optical.status()
        if not status.present or status.blank:
            return False
        try:
            return self.optical.read_back_sha256(size) == sha256
        except DeviceError:
            return False

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None) -> str:
        self.refuse_too_big(image, size, label)
        out = self.tray / f"{label}.iso"
        stdio_robot = self.drive.is_stdio and self.drive.auto_load_blank
        if stdio_robot and out.exists() and checksums.sha256_file(out, size)[0] == sha256:
            return str(out)           # burned, verified and ejected just before a crash
        ours = self._load_blank(size, sha256) if stdio_robot else self._holds(size, sha256)
        if not ours:
            self.optical.burn(image)
        if after_burn:
            after_burn()
        got = self.optical.read_back_sha256(size)
        if got != sha256:
            raise MediaMismatch(
                f"The disc in {self.drive.name} does not read back the same as what was written "
                "(bad disc or drive). Put in a new blank disc; the job will retry.")
        self.optical.eject()
        if stdio_robot:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.optical.path, out)
            return str(out)
        return self.drive.device


IMAGES = "images"   # the writer of media.type "iso": verified images in a folder


def takes(drive: DriveConfig, media: str) -> bool:
    """Can this writer take a job planned for `media`?"""
    return drive.media == media


def writer_for(config: Config, media: str, job_id: str, name: str | None = None) -> Writer:
    """The writer a job's medium goes to: the named one (the lane's), else the first that
    takes the medium."""
    if media == "iso":
        return ImageFolderWriter(config.images_dir / job_id)
    for drive in config.drives:
        if (name is None or drive.name == name) and takes(drive, media):
            if media == "usb":
                from burner.media.usb import UsbWriter  # usb.py builds on this module

                return UsbWriter(drive.name, drive.device, config.media_dir / job_id)
            return OpticalWriter(drive, config.xorriso, config.media_dir / job_id)
    raise no_writer(media)


def no_writer(media: str) -> JobHeld:
    """The hold of a job whose medium no writer of this station takes."""
    return JobHeld(f"No writer for a {media.upper()} is set up at this station. Ask a "
                   "technician to configure one, or change media.type for this job and retry.")


def writer_status(config: Config, drive: DriveConfig) -> tuple[bool, str]:
    """(usable, what is in it) for `burner drives` and `burner doctor`."""
    try:
        if drive.media == "usb":
            from burner.media.usb import list_block_devices

            if drive.device == "auto":
                sticks = [d for d in list_block_devices() if d.removable and d.usb
                          and d.size_bytes > 0]
                names = ", ".join(d.describe() for d in sticks) or "no stick plugged in"
                return True, f"USB port: {names}"
            path = Path(drive.device)
            if path.is_file():
                return True, f"stand-in stick file of {path.stat().st_size // 1_000_000} MB"
            return path.exists(), "USB device present" if path.exists() else "nothing at " \
                + drive.device
        st = OpticalDrive(drive.device, config.xorriso).status()
        state = "blank" if st.blank else ("written" if st.present else "empty")
        return True, f"{st.media_type or 'no disc'}, {state}"
    except DeviceError as exc:
        return False, str(exc)
