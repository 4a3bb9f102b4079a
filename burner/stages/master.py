"""master: an ISO 9660 image per volume (pycdlib), with its SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from burner.media import checksums, iso

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
    images = []
    for vol in staged["volumes"]:
        path = ctx.out() / f"vol{vol.index}.iso"
        publisher = ctx.config.institution.get("name", "")
        size = iso.master(vol.tree, path, vol.fileset_id, publisher=publisher)
        ctx.checkpoint("master")
        digest, _ = checksums.sha256_file(path)
        images.append(Image(vol.index, vol.count, path, size, digest))
    ctx.save(images)
