"""plan: the medium, the application profile, and what goes on each volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from burner.dicom.headers import Instance
from burner.dicom.profiles import ALLOWED_SYNTAXES, DEFAULT_PROFILE, PROFILE_MEDIA
from burner.errors import JobHeld, JobRejected

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "plan"
LANE = "prepare"

MB = 1_000_000
# Usable data capacity of each medium, bytes (less a margin for file-system structures).
CAPACITY = {
    "cd": 700 * 1024 * 1024,
    "dvd": 4_700_000_000,
    "dvd-dl": 8_500_000_000,
    "bd": 25_000_000_000,
    "usb": 8_000_000_000,
    "iso": 25_000_000_000,
}
_MARGIN = 0.97
_EXTRAS = 2 * MB  # DICOMDIR, README.TXT, INDEX.HTM, SHA256.TXT


@dataclass(frozen=True)
class Plan:
    media: str
    profile: str
    volumes: list[list[int]]          # instance indexes in the gather result, per volume
    estimated_bytes: list[int]


def estimated_size(inst: Instance, profile: str) -> int:
    """Bytes an object takes on the disc (decompressed size when the profile needs it)."""
    if inst.transfer_syntax in ALLOWED_SYNTAXES[profile] or not inst.has_pixels:
        return inst.size
    frames = int(inst.get("NumberOfFrames", 1) or 1)
    samples = int(inst.get("SamplesPerPixel", 1) or 1)
    bits = int(inst.get("BitsAllocated", 16) or 16)
    pixels = int(inst.get("Rows", 0) or 0) * int(inst.get("Columns", 0) or 0)
    return inst.size + frames * samples * pixels * ((bits + 7) // 8)


def choose_media(requested: str, drive_media: list[str]) -> str:
    if requested != "auto":
        return requested
    return drive_media[0] if drive_media else "iso"


def run(ctx: JobContext) -> None:
    manifest = ctx.load("validate")
    gathered = ctx.load("gather")
    media = choose_media(manifest.media_type, [d.media for d in ctx.config.drives])
    profile = manifest.media_profile
    if profile == "auto":
        profile = DEFAULT_PROFILE[media]
    if media not in PROFILE_MEDIA[profile]:
        raise JobRejected(f"the profile {profile} cannot be written to a {media.upper()}; "
                          "choose a matching profile or media.profile \"auto\"")
    total = _EXTRAS + sum(estimated_size(i, profile) for i in gathered.instances)
    capacity = int(CAPACITY[media] * _MARGIN)
    if total > capacity:
        raise JobHeld(f"The images need about {total // MB} MB but one {media.upper()} holds "
                      f"about {capacity // MB} MB. Choose a larger medium (media.type) for this "
                      "job, then retry.")
    ctx.save(Plan(media, profile, [list(range(len(gathered.instances)))], [total]))
    ctx.checkpoint("plan")
