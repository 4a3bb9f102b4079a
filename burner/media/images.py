"""The image folder: media.type "iso" ends as verified images in a folder, for another tool or
an archive, instead of on a disc."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from burner.errors import MediaMismatch
from burner.media import checksums
from burner.media.kinds import KINDS
from burner.media.writer import FAULT, READY, Writer, WriterStatus

IMAGES = "images"   # the image folder's name as a writer (and as the station's lane)


class ImageFolderWriter(Writer[Path]):
    """Copies each image to `folder` as <label>.iso; a copy that is there already and reads
    back as the image (made before a crash) is kept."""

    name = IMAGES
    media = "iso"

    def __init__(self, folder: Path):
        self.folder = folder
        self.device = ""
        self.capacity = KINDS[self.media].capacity

    def _target(self, label: str, size: int) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{label}{KINDS[self.media].suffix}"

    def _adopt(self, target: Path, size: int, sha256: str) -> bool:
        return target.exists() and checksums.sha256_file(target, size)[0] == sha256

    def _write(self, target: Path, image: Path, size: int) -> None:
        tmp = target.with_name(f".{target.name}.part")
        shutil.copyfile(image, tmp)
        os.replace(tmp, target)

    def _read_back(self, target: Path, size: int) -> str:
        return checksums.sha256_file(target, size)[0]

    def _mismatch(self, target: Path) -> MediaMismatch:
        return MediaMismatch(f"the copy in {target} does not match the image", [target.name])

    def _release(self, target: Path, label: str) -> str:
        return str(target)

    def status(self) -> WriterStatus:
        """Ready when the folder (or the nearest folder above it that exists) is writable."""
        existing = next((p for p in (self.folder, *self.folder.parents) if p.exists()), None)
        ok = existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
        return WriterStatus(self.name, str(self.folder), self.media, READY if ok else FAULT,
                            f"images go to {self.folder}" if ok
                            else f"{self.folder} cannot be written")
