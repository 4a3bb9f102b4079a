"""The media burner writes: how much each holds, and the guard that no image larger than its
medium is ever written (DESIGN.md sections 4a and 10)."""

from __future__ import annotations

from pathlib import Path

from burner.config import DriveConfig
from burner.errors import JobHeld

MB = 1_000_000
SECTOR = 2048
# Recordable capacity of each medium in bytes (sectors x 2048 for optical media). A USB
# stick's real size is checked again when it is written; this is the size assumed until then.
CAPACITY = {
    "cd": 360_000 * SECTOR,             # CD-R 80 min, "700 MB"
    "dvd": 2_298_496 * SECTOR,          # DVD±R, "4.7 GB"
    "dvd-dl": 4_173_824 * SECTOR,       # DVD±R DL, "8.5 GB"
    "bd": 12_219_392 * SECTOR,          # BD-R, "25 GB"
    "usb": 7_600_000_000,               # an "8 GB" stick less its FAT32 structures
    "iso": 12_219_392 * SECTOR,
}
STICK_STRUCTURES = 2 * MB    # a stick's partition table and FAT: its size less these holds files
WORDS = {"cd": "CD", "dvd": "DVD", "dvd-dl": "double-layer DVD", "bd": "Blu-ray disc",
         "usb": "USB stick", "iso": "disc image"}


def drive_capacity(drive: DriveConfig) -> int | None:
    """Bytes of files one writer's medium holds when the station knows better than the
    standard: its capacity_mb, or a stand-in stick file's size less its structures."""
    if drive.capacity_mb:
        return drive.capacity_mb * MB
    if drive.media == "usb" and drive.device != "auto" and Path(drive.device).is_file():
        return Path(drive.device).stat().st_size - STICK_STRUCTURES
    return None


def image_limit(media: str, capacity: int) -> int:
    """The largest image of `media` whose medium holds `capacity` bytes of files: a USB image
    also carries the stick's partition table and FAT."""
    return capacity + (STICK_STRUCTURES if media == "usb" else 0)


def mb(size: int) -> str:
    """Bytes in whole MB for people, never rounded down to look as if it fits."""
    return f"{-(-size // MB):,}"


def check_image_fits(size: int, limit: int, media: str, what: str) -> None:
    """Hold the job (JobHeld, nothing written) when an image of `size` bytes is larger than
    `limit`, the most its medium holds; `what` names the image ("disc 1 of 2")."""
    if size <= limit:
        return
    word = WORDS.get(media, media.upper())
    raise JobHeld(
        f"The image for {what} is {mb(size)} MB, but a {word} holds only {limit // MB:,} MB, "
        "so it was not written. Choose a larger medium (media.type in job.json) and run "
        "burner retry, or ask a technician to look at the job.",
        [f"{what}: image {size:,} bytes ({mb(size)} MB); the {word} holds {limit:,} bytes "
         f"({limit // MB:,} MB)"])
