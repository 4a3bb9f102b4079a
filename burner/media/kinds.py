"""What each medium is, in one table (DESIGN.md section 10), and the guard that no image larger
than its medium is ever written (section 4a).

`KINDS` holds one row per medium burner makes: what a medium holds, which DICOM application
profiles may go on it, how the audit record names it, the words people read, how `master` makes
its image, and which kind of writer writes it. Every other module asks this table instead of
keeping its own list of media. A new output is a new row (and, if its writer is new, a writer
class in this package): a disc robot (Epson TD Bridge, Primera PTBurn) writes the optical rows
with writer "robot"; an encrypted ZIP or a plain folder for an electronic copy, and a DICOM
network destination, are rows of their own (image "zip" / "folder" / "none", writer "zip" /
"network"). None of those is here yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from burner.config import DriveConfig
from burner.errors import JobHeld, Reason

MB = 1_000_000
SECTOR = 2048
STICK_STRUCTURES = 2 * MB    # a stick's partition table and FAT: its size less these holds files

# The DICOM application profiles (PS3.11) each family of media may carry.
_CD = frozenset({"STD-GEN-CD"})
_DVD = frozenset({"STD-GEN-DVD-JPEG", "STD-GEN-DVD-J2K"})
_BD = frozenset({"STD-GEN-BD-JPEG", "STD-GEN-BD-J2K"})
_USB = frozenset({"STD-GEN-USB-JPEG", "STD-GEN-USB-J2K"})

# DCM media type codes of the audit record (PS3.16 CID 405), code and meaning.
_AUDIT_CD = ("110032", "CD")
_AUDIT_DVD = ("110033", "DVD")
_AUDIT_USB = ("110030", "USB Disk Emulation")


@dataclass(frozen=True)
class MediaKind:
    """One medium: a row of KINDS."""

    name: str                   # media.type in job.json and media in a [[drives]] entry
    capacity: int               # bytes of files a standard one holds (see drive_capacity)
    profiles: frozenset[str]    # the DICOM application profiles it may carry
    default_profile: str        # the profile it gets when media.profile is "auto"
    audit_code: tuple[str, str]  # DCM media type (code, meaning) for the audit record
    words: str                  # what people call it: "DVD", "USB stick"
    image: str                  # how master makes it: "iso", "fat32", "zip" or "folder"
    optical: bool               # a disc (or the image of one) rather than a stick
    writer: str                 # the kind of writer that writes it: "optical", "usb", "images"
    auto: bool = True           # media.type "auto" may choose it (table order: first wins)
    structures: int = 0         # bytes its image holds beyond the files (a stick's MBR and FAT)

    @property
    def suffix(self) -> str:
        """The file suffix of its image: ".iso", ".img", ".zip" or "" (a folder)."""
        return {"iso": ".iso", "zip": ".zip", "folder": ""}.get(self.image, ".img")

    @property
    def volume_word(self) -> str:
        """One volume of it for people: "disc" ("disc 1 of 2") or "USB stick"."""
        return "disc" if self.optical else self.words


def _optical(name: str, sectors: int, profiles: frozenset[str], default: str,
             audit: tuple[str, str], words: str) -> MediaKind:
    return MediaKind(name, sectors * SECTOR, profiles, default, audit, words, "iso", True,
                     "optical")


# In the order "auto" tries them: the smallest optical medium first, a stick last.
KINDS: dict[str, MediaKind] = {k.name: k for k in (
    _optical("cd", 360_000, _CD, "STD-GEN-CD", _AUDIT_CD, "CD"),               # CD-R 80 min
    _optical("dvd", 2_298_496, _DVD, "STD-GEN-DVD-JPEG", _AUDIT_DVD, "DVD"),   # DVD±R 4.7 GB
    _optical("dvd-dl", 4_173_824, _DVD, "STD-GEN-DVD-JPEG", _AUDIT_DVD,
             "double-layer DVD"),                                              # DVD±R DL 8.5 GB
    _optical("bd", 12_219_392, _BD, "STD-GEN-BD-JPEG", _AUDIT_DVD,
             "Blu-ray disc"),                                                  # BD-R 25 GB
    # An "8 GB" stick less its FAT32 structures; a stick's real size is checked again when it
    # is written, this is the size assumed until then.
    MediaKind("usb", 7_600_000_000, _USB, "STD-GEN-USB-JPEG", _AUDIT_USB, "USB stick", "fat32",
              False, "usb", structures=STICK_STRUCTURES),
    # Verified images in a folder, for another tool or an archive: any profile, a BD's room.
    MediaKind("iso", 12_219_392 * SECTOR, _CD | _DVD | _BD | _USB, "STD-GEN-DVD-JPEG",
              _AUDIT_DVD, "disc image", "iso", True, "images", auto=False),
    # Electronic copies (media/electronic.py): the tree in an AES-256 encrypted ZIP, or as
    # a plain folder, in the portal's pick-up folder. DCM media type 110037 "URI" (PS3.16
    # CID 405): the patient collects it by a link, not on a medium.
    MediaKind("zip", 10**15, _CD | _DVD | _BD | _USB, "STD-GEN-USB-JPEG", ("110037", "URI"),
              "electronic copy (encrypted ZIP)", "zip", False, "electronic", auto=False),
    MediaKind("folder", 10**15, _CD | _DVD | _BD | _USB, "STD-GEN-USB-JPEG", ("110037", "URI"),
              "electronic copy (folder)", "folder", False, "electronic", auto=False),
    # Send to another hospital: the staged volume's objects by C-STORE to a [destinations]
    # entry (media/send.py). Mastered like an image, so what is sent is checked like a disc.
    MediaKind("dicom", 10**15, _CD | _DVD | _BD | _USB, "STD-GEN-DVD-JPEG", ("", ""),
              "send to another hospital", "iso", False, "network", auto=False),
)}


def kind(media: str) -> MediaKind:
    """The row of `media`; a name not in the table is a bug or a bad configuration."""
    return KINDS[media]


def auto_media() -> tuple[str, ...]:
    """The media "auto" may choose, in the order it tries them."""
    return tuple(k.name for k in KINDS.values() if k.auto)


def written_by(writer: str) -> frozenset[str]:
    """The media a kind of writer writes ("images": {"iso"})."""
    return frozenset(k.name for k in KINDS.values() if k.writer == writer)


def words(media: str) -> str:
    """What people call `media`, or its name in capitals when it is not in the table."""
    return KINDS[media].words if media in KINDS else media.upper()


def drive_capacity(drive: DriveConfig) -> int | None:
    """Bytes of files one writer's medium holds when the station knows better than the
    standard: its capacity_mb, or a stand-in stick file's size less its structures."""
    if drive.capacity_mb:
        return drive.capacity_mb * MB
    row = KINDS.get(drive.media)
    if row is not None and row.writer == "usb" and drive.device != "auto" \
            and Path(drive.device).is_file():
        return Path(drive.device).stat().st_size - row.structures
    return None


def image_limit(media: str, capacity: int) -> int:
    """The largest image of `media` whose medium holds `capacity` bytes of files: a USB image
    also carries the stick's partition table and FAT."""
    return capacity + KINDS[media].structures


def mb(size: int) -> str:
    """Bytes in whole MB for people, never rounded down to look as if it fits."""
    return f"{-(-size // MB):,}"


def check_image_fits(size: int, limit: int, media: str, what: str) -> None:
    """Hold the job (JobHeld, nothing written) when an image of `size` bytes is larger than
    `limit`, the most its medium holds; `what` names the image ("disc 1 of 2")."""
    if size <= limit:
        return
    word = words(media)
    raise JobHeld(
        f"The image for {what} is {mb(size)} MB, but a {word} holds only {limit // MB:,} MB, "
        "so it was not written. Choose a larger medium (media.type in job.json) and run "
        "burner retry, or ask a technician to look at the job.",
        [f"{what}: image {size:,} bytes ({mb(size)} MB); the {word} holds {limit:,} bytes "
         f"({limit // MB:,} MB)"],
        code=Reason.TOO_BIG)
