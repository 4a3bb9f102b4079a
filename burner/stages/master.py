"""master: an image per volume, with its SHA-256: ISO 9660 (pycdlib) for discs and image
folders, an MBR + FAT32 image for USB sticks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from burner.media import checksums, fat, iso

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "master"
LANE = "prepare"


@dataclass(frozen=True)
class Image:
    index: int
    count: int
    path: Path
    bytes: int
    sha256: str


def run(ctx: JobContext) -> None:
    staged = ctx.load("stage")
    media = ctx.load("plan").media
    images = []
    for vol in staged["volumes"]:
        if media == "usb":
            # PS3.12 Annex R: one FAT32 file-set in the first partition of an MBR stick.
            path = ctx.out() / f"vol{vol.index}.img"
            size = fat.build_fat32_image(vol.tree, path, label=vol.fileset_id)
        else:
            path = ctx.out() / f"vol{vol.index}.iso"
            publisher = ctx.config.institution.get("name", "")
            size = iso.master(vol.tree, path, vol.fileset_id, publisher=publisher)
        ctx.checkpoint("master")
        digest, _ = checksums.sha256_file(path)
        images.append(Image(vol.index, vol.count, path, size, digest))
    ctx.save(images)
