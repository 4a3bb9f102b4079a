"""Re-check a written medium (an image file, a stdio medium, /dev/srN, or a USB stick or its
FAT32 image): every file against SHA256.TXT, and the DICOMDIR against the files it references.
The checks are written once over a small reader: ISO 9660 through pycdlib, FAT through the
files copied out of the partition with mtools."""

from __future__ import annotations

import hashlib
import io
import tempfile
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import pycdlib
import pydicom
from pydicom.filereader import _read_file_meta_info

from burner.errors import BurnerError
from burner.media import fat
from burner.media.checksums import LIST_NAME, parse_list


@dataclass
class MediumReport:
    """What the check found; `ok` only when nothing is wrong."""

    path: str
    files_checked: int = 0
    mismatched: list[str] = field(default_factory=list)     # content differs from SHA256.TXT
    missing: list[str] = field(default_factory=list)        # listed but not on the medium
    unlisted: list[str] = field(default_factory=list)       # on the medium, not in the list
    problems: list[str] = field(default_factory=list)       # anything else, in plain words

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unlisted or self.problems)

    def as_dict(self) -> dict:
        return {"medium": self.path, "ok": self.ok, "files_checked": self.files_checked,
                "mismatched": self.mismatched, "missing": self.missing,
                "unlisted": self.unlisted, "problems": self.problems}


class _Reader(Protocol):
    """What the checks need from a medium: its file names ("DICOM/ST000001/...") and bytes."""

    def names(self) -> set[str]: ...

    def open(self, name: str) -> BinaryIO: ...


class _Unreadable(Exception):
    """The medium's file system cannot be opened; the message is for a person."""


def _plain(name: str) -> str:
    """ISO 9660 identifier to the name people see: "DICOMDIR.;1" -> "DICOMDIR"."""
    return name.split(";")[0].rstrip(".")


class _IsoReader:
    """An ISO 9660 image or disc, through pycdlib."""

    def __init__(self, iso: pycdlib.PyCdlib):
        self.iso = iso
        self.paths: dict[str, str] = {}
        # A medium with a site's own viewer carries its long names in a Joliet tree (the
        # names SHA256.TXT lists); any other medium has ISO 9660 level-1 names only.
        self.kind = "joliet_path" if iso.has_joliet() else "iso_path"
        for dirpath, _dirs, files in iso.walk(**{self.kind: "/"}):
            for f in files:
                path = dirpath.rstrip("/") + "/" + f
                self.paths[_plain(path.lstrip("/"))] = path

    def names(self) -> set[str]:
        return set(self.paths)

    def open(self, name: str) -> BinaryIO:
        return self.iso.open_file_from_iso(**{self.kind: self.paths[name]})


class _FolderReader:
    """A medium's files copied out into a folder (a USB stick's FAT partition)."""

    def __init__(self, root: Path):
        self.root = root

    def names(self) -> set[str]:
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")


def _open_reader(path: Path, stack: ExitStack) -> _Reader:
    """A reader for the medium at `path` (FAT when it has an MBR/FAT layout, else ISO 9660;
    a folder is an electronic copy's tree)."""
    if path.is_dir():
        return _FolderReader(path)
    offset = fat.fat_offset(path)
    if offset is not None:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="burner-usb-")))
        try:
            fat.extract(path, offset, folder)
        except BurnerError as exc:
            raise _Unreadable(f"this USB medium's FAT file system cannot be read ({exc})") \
                from exc
        return _FolderReader(folder)
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except Exception as exc:  # noqa: BLE001
        raise _Unreadable(f"this is not a readable ISO 9660 medium ({exc})") from exc
    stack.callback(iso.close)
    return _IsoReader(iso)


def _read(reader: _Reader, name: str) -> bytes:
    with reader.open(name) as fp:
        return fp.read()


def _hash(reader: _Reader, name: str) -> str:
    digest = hashlib.sha256()
    with reader.open(name) as fp:
        while block := fp.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_meta(reader: _Reader, name: str) -> pydicom.Dataset | None:
    """The file meta group of a DICOM file on the medium (its identity, without the rest)."""
    with reader.open(name) as fp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if fp.read(132)[128:] != b"DICM":
                return None
            return _read_file_meta_info(fp)
        except Exception:  # noqa: BLE001
            return None


def _check_dicomdir(reader: _Reader, files: set[str], report: MediumReport) -> None:
    if "DICOMDIR" not in files:
        report.problems.append("there is no DICOMDIR, so a hospital cannot import this medium")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(_read(reader, "DICOMDIR")))
        except Exception as exc:  # noqa: BLE001
            report.problems.append(f"the DICOMDIR cannot be read ({exc})")
            return
    for record in ds.get("DirectoryRecordSequence", []):
        ref = record.get("ReferencedFileID")
        if ref is None:
            continue
        parts = [ref] if isinstance(ref, str) else list(ref)
        name = "/".join(parts)
        if name not in files:
            report.problems.append(f"the DICOMDIR lists {name}, which is not on the medium")
            continue
        meta = _read_meta(reader, name)
        if meta is None or str(meta.get("MediaStorageSOPInstanceUID", "")) != \
                str(record.get("ReferencedSOPInstanceUIDInFile", "")):
            report.problems.append(f"{name} is not the object the DICOMDIR says it is")


def _check_files(reader: _Reader, report: MediumReport) -> None:
    """Every file against SHA256.TXT, then the DICOMDIR against its files."""
    files = reader.names()
    if LIST_NAME not in files:
        report.problems.append(f"there is no {LIST_NAME} to check the files against")
        return
    listed = parse_list(_read(reader, LIST_NAME).decode("ascii", "replace"))
    for name in sorted(listed):
        if name not in files:
            report.missing.append(name)
            continue
        report.files_checked += 1
        if _hash(reader, name) != listed[name]:
            report.mismatched.append(name)
    report.unlisted = sorted(files - set(listed) - {LIST_NAME})
    _check_dicomdir(reader, files, report)


def check_medium(path: Path) -> MediumReport:
    """Check the medium (ISO image, FAT32 USB image, disc or stick device) at `path`."""
    report = MediumReport(str(path))
    with ExitStack() as stack:
        try:
            reader = _open_reader(Path(path), stack)
        except _Unreadable as exc:
            report.problems.append(str(exc))
            return report
        _check_files(reader, report)
    return report
