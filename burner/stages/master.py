"""master: an image per volume, with its SHA-256: ISO 9660 (pycdlib) for discs and image
folders, an MBR + FAT32 image for USB sticks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from burner.content.siteviewer import site_viewer
from burner.media import checksums, fat, iso
from burner.media.kinds import KINDS, check_image_fits
from burner.record import Image

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "master"
LANE = "prepare"
NEEDS_ROOM = True   # the disk must hold the plan's estimate first (diskspace.py)


def run(ctx: JobContext) -> None:
    staged = ctx.record.staged
    plan = ctx.record.plan
    media = KINDS[plan.media]
    limit = plan.image_limit    # None: a USB stick checks its own size
    images = []
    megabyte = 1_000_000
    ctx.progress.begin("MB mastered", round(sum(v.bytes for v in staged.volumes) / megabyte, 1))
    before = 0.0          # MB of the volumes already mastered
    site = site_viewer(ctx.config) if media.image == "iso" else None
    long_names = site.name if site is not None else ""     # its Joliet names
    for n, vol in enumerate(staged.volumes):
        later = sum(v.bytes for v in staged.volumes[n + 1:]) / megabyte

        def mastered(done: int, total: int, base: float = before, rest: float = later) -> None:
            # pycdlib knows the image's size: the total is corrected to it
            ctx.progress.set(base + done / megabyte, base + total / megabyte + rest)

        path = ctx.out() / f"vol{vol.index}{media.suffix}"
        if media.image in ("zip", "folder"):
            images.append(electronic_image(ctx, vol, path, media.image, mastered))
            before += images[-1].bytes / megabyte
            ctx.checkpoint("master")
            continue
        if media.image == "fat32":
            # PS3.12 Annex R: one FAT32 file-set in the first partition of an MBR stick.
            size = fat.build_fat32_image(vol.tree, path, label=vol.fileset_id)
        else:
            publisher = ctx.config.institution.get("name", "")
            size = iso.master(vol.tree, path, vol.fileset_id, publisher=publisher,
                              progress=mastered, long_names=long_names)
        before += size / megabyte
        ctx.progress.set(before, before + later)
        ctx.checkpoint("master")
        if limit is not None:
            # The plan estimated sizes from headers; what was staged may be larger (a file
            # that inflates, a lying header). An image larger than its medium is never
            # written: the job waits for a person, naming both sizes.
            check_image_fits(max(size, path.stat().st_size), limit, media.name,
                             f"{media.volume_word} {vol.index} of {vol.count}")
        digest, _ = checksums.sha256_file(path)
        images.append(Image(vol.index, vol.count, path, size, digest))
    ctx.save(images)


def electronic_image(ctx: JobContext, vol, path: Path, image: str,  # noqa: ANN001
                     progress) -> Image:  # noqa: ANN001
    """An electronic copy's "image": the encrypted ZIP of the tree (its passphrase derived,
    never kept), or for a plain folder the staged tree itself, with one SHA-256 of it."""
    from burner.media.electronic import build_zip, tree_digest
    from burner.media.passphrase import passphrase

    if image == "folder":
        size = sum(p.stat().st_size for p in vol.tree.rglob("*") if p.is_file())
        return Image(vol.index, vol.count, vol.tree, size, tree_digest(vol.tree))
    phrase = passphrase(ctx.config.data_dir, ctx.job_id, vol.fileset_uid)
    size = build_zip(vol.tree, path, phrase, progress)
    return Image(vol.index, vol.count, path, size, checksums.sha256_file(path)[0])
