"""Electronic copies (issue 14): the volume tree (DICOMDIR, README.TXT, INDEX.HTM, DICOM/,
IHE_PDI/, VIEWER/, REPORTS/) in one AES-256 encrypted ZIP (`media.type = "zip"`), or as a
plain folder (`"folder"`), written to the portal's pick-up folder (`[media] portal_dir`) with
its SHA-256 beside it, and read back before it counts.

The ZIP uses WinZip's AES-256 encryption (AE-2, pyzipper): 7-Zip opens it; the ZIP support
built into Windows File Explorer and macOS Archive Utility does not decrypt AES. Its passphrase
comes from passphrase.py and is printed only on the cover sheet.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyzipper

from burner.errors import MediaMismatch
from burner.media import checksums
from burner.media.writer import FAULT, READY, Writer, WriterStatus

FIRST = ("DICOMDIR", "README.TXT", "INDEX.HTM")    # first in the archive, as on a disc
ELECTRONIC = "electronic"


def tree_files(tree: Path) -> list[Path]:
    """The files of a volume tree, DICOMDIR, README.TXT and INDEX.HTM first."""
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    first = [tree / name for name in FIRST if (tree / name).is_file()]
    return first + [p for p in files if p not in first]


def tree_digest(tree: Path) -> str:
    """One SHA-256 of a whole tree: of each file's path and SHA-256, in order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        rel = path.relative_to(tree).as_posix()
        digest.update(f"{rel}\0{checksums.sha256_file(path)[0]}\n".encode())
    return digest.hexdigest()


def build_zip(tree: Path, out: Path, phrase: str,
              progress: Callable[[int, int], None] | None = None) -> int:
    """The tree as an AES-256 encrypted ZIP at `out`; its size in bytes."""
    files = tree_files(tree)
    total = sum(p.stat().st_size for p in files)
    done = 0
    part = out.with_name(f".{out.name}.part")
    with pyzipper.AESZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(phrase.encode("ascii"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for path in files:
            archive.write(path, path.relative_to(tree).as_posix())
            done += path.stat().st_size
            if progress:
                progress(done, total)
    os.replace(part, out)
    return out.stat().st_size


def extract_zip(archive: Path, phrase: str, dest: Path) -> None:
    """Unpack an electronic copy with its passphrase (for the verify stage); names that
    would leave `dest` are refused."""
    with pyzipper.AESZipFile(archive) as z:
        z.setpassword(phrase.encode("ascii"))
        root = dest.resolve()
        for info in z.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root) or info.filename.startswith("/"):
                raise MediaMismatch(f"the archive holds a name outside it: {info.filename!r}")
            if info.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


class ZipWriter(Writer[Path]):
    """Copies each encrypted ZIP into the portal folder as <job>-<n>of<N>[-copyK].zip, with
    a .sha256 file beside it; a copy already there that reads back the same is kept."""

    name = ELECTRONIC
    media = "zip"

    def __init__(self, folder: Path, job_id: str, count: int):
        self.folder, self.job_id, self.count = folder, job_id, count
        self.device = ""

    def _target(self, label: str, size: int) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        volume, _, copy = label.removeprefix("disc").partition("-copy")
        suffix = "" if copy in ("", "1") else f"-copy{copy}"
        return self.folder / f"{self.job_id}-{volume}of{self.count}{suffix}.{self.media}"

    def _adopt(self, target: Path, size: int, sha256: str) -> bool:
        return target.exists() and checksums.sha256_file(target, size)[0] == sha256

    def _write(self, target: Path, image: Path, size: int) -> None:
        part = target.with_name(f".{target.name}.part")
        shutil.copyfile(image, part)
        os.replace(part, target)

    def _read_back(self, target: Path, size: int) -> str:
        return checksums.sha256_file(target, size)[0]

    def _mismatch(self, target: Path) -> MediaMismatch:
        return MediaMismatch(f"the copy in {target} does not match what was written",
                             [target.name])

    def _release(self, target: Path, label: str) -> str:
        sums = target.with_name(target.name + ".sha256")
        sums.write_text(f"{checksums.sha256_file(target)[0]}  {target.name}\n",
                        encoding="ascii")
        return str(target)

    def status(self) -> WriterStatus:
        existing = next((p for p in (self.folder, *self.folder.parents) if p.exists()), None)
        ok = existing is not None and os.access(existing, os.W_OK | os.X_OK)
        return WriterStatus(self.name, str(self.folder), self.media, READY if ok else FAULT,
                            f"electronic copies go to {self.folder}" if ok
                            else f"{self.folder} cannot be written")


class FolderWriter(ZipWriter):
    """Copies the plain tree into the portal folder as <job>-<n>of<N>[-copyK]/."""

    media = "folder"

    def _target(self, label: str, size: int) -> Path:
        return super()._target(label, size).with_suffix("")

    def _adopt(self, target: Path, size: int, sha256: str) -> bool:
        return target.is_dir() and tree_digest(target) == sha256

    def _write(self, target: Path, image: Path, size: int) -> None:
        part = target.with_name(f".{target.name}.part")
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(image, part)
        if target.exists():
            shutil.rmtree(target)
        os.replace(part, target)

    def _read_back(self, target: Path, size: int) -> str:
        return tree_digest(target)

    def _release(self, target: Path, label: str) -> str:
        return str(target)

    def refuse_too_big(self, image: Path, size: int, label: str) -> None:
        """A folder has no medium to outgrow."""
