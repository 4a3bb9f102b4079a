"""Re-check a written medium (an image file, a stdio medium or /dev/srN): every file against
SHA256.TXT, and the DICOMDIR against the files it references."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pycdlib
import pydicom
from pydicom.filereader import _read_file_meta_info

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


def _plain(name: str) -> str:
    """ISO 9660 identifier to the name people see: "DICOMDIR.;1" -> "DICOMDIR"."""
    return name.split(";")[0].rstrip(".")


def _files(iso: pycdlib.PyCdlib) -> dict[str, str]:
    """{name on the medium: ISO path} for every file."""
    out = {}
    for dirpath, _dirs, files in iso.walk(iso_path="/"):
        for f in files:
            iso_path = (dirpath.rstrip("/") + "/" + f)
            out[_plain(iso_path.lstrip("/"))] = iso_path
    return out


def _read(iso: pycdlib.PyCdlib, iso_path: str) -> bytes:
    buf = io.BytesIO()
    iso.get_file_from_iso_fp(buf, iso_path=iso_path)
    return buf.getvalue()


def _hash(iso: pycdlib.PyCdlib, iso_path: str) -> str:
    digest = hashlib.sha256()
    with iso.open_file_from_iso(iso_path=iso_path) as fp:
        while block := fp.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_dicomdir(iso: pycdlib.PyCdlib, files: dict[str, str], report: MediumReport) -> None:
    if "DICOMDIR" not in files:
        report.problems.append("there is no DICOMDIR, so a hospital cannot import this medium")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(_read(iso, files["DICOMDIR"])))
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
        meta = _read_meta(iso, files[name])
        if meta is None or str(meta.get("MediaStorageSOPInstanceUID", "")) != \
                str(record.get("ReferencedSOPInstanceUIDInFile", "")):
            report.problems.append(f"{name} is not the object the DICOMDIR says it is")


def _read_meta(iso: pycdlib.PyCdlib, iso_path: str) -> pydicom.Dataset | None:
    """The file meta group of a DICOM file on the medium (its identity, without the rest)."""
    with iso.open_file_from_iso(iso_path=iso_path) as fp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if fp.read(132)[128:] != b"DICM":
                return None
            return _read_file_meta_info(fp)
        except Exception:  # noqa: BLE001
            return None


def check_medium(path: Path) -> MediumReport:
    """Check the medium (image file or device) at `path`."""
    report = MediumReport(str(path))
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"this is not a readable ISO 9660 medium ({exc})")
        return report
    try:
        files = _files(iso)
        if LIST_NAME not in files:
            report.problems.append(f"there is no {LIST_NAME} to check the files against")
            return report
        listed = parse_list(_read(iso, files[LIST_NAME]).decode("ascii", "replace"))
        for name in sorted(listed):
            if name not in files:
                report.missing.append(name)
                continue
            report.files_checked += 1
            if _hash(iso, files[name]) != listed[name]:
                report.mismatched.append(name)
        report.unlisted = sorted(set(files) - set(listed) - {LIST_NAME})
        _check_dicomdir(iso, files, report)
    finally:
        iso.close()
    return report
