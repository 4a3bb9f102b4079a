"""Put one instance into the staged tree: a zero-preamble copy when the file already fits the
profile, else a rewrite in a transfer syntax the profile allows (decompressing if needed)."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    JPEG2000MC,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from burner.dicom.headers import Instance, body_is_implicit

_CHUNK = 1 << 20
_PREAMBLE = 128
# VRs whose raw bytes pydicom keeps as read, and so must be swapped out of big endian.
_SWAP = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_LOSSY = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless, JPEG2000, JPEG2000MC,
          "1.2.840.10008.1.2.4.203"}


@dataclass(frozen=True)
class Placed:
    """What was written for an instance."""

    transfer_syntax: str
    sop_class: str
    size: int
    sha256: str
    converted: bool


class CannotConvert(Exception):
    """The instance cannot be written in a syntax the profile allows; message is plain words."""


def place(inst: Instance, dest: Path, allowed: frozenset[str]) -> Placed:
    """Write `inst` to `dest` in a syntax from `allowed`, preamble zeroed, and hash it."""
    if inst.part10 and inst.transfer_syntax in allowed:
        return _copy_zeroed(inst, dest)
    return _rewrite(inst, dest)


def _copy_zeroed(inst: Instance, dest: Path) -> Placed:
    digest = hashlib.sha256()
    size = 0
    with open(inst.path, "rb") as src, open(dest, "wb") as out:
        head = src.read(_PREAMBLE)
        block = b"\0" * len(head)
        while block:
            digest.update(block)
            out.write(block)
            size += len(block)
            block = src.read(_CHUNK)
    return Placed(inst.transfer_syntax, inst.sop_class, size, digest.hexdigest(), False)


def _swap_raw_values(ds: Dataset) -> None:
    """Byte-swap raw OW/OF/OL/OD/OV values read from a big endian file (except pixel data)."""
    for elem in ds.iterall():
        width = _SWAP.get(elem.VR)
        if width and elem.tag != 0x7FE00010 and isinstance(elem.value, bytes) and elem.value:
            arr = np.frombuffer(elem.value, dtype=f">u{width}")
            elem.value = arr.astype(f"<u{width}").tobytes()


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The gist of a decoder's error for the technician, without its multi-line report."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    gist = lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines or [""])[0]
    return gist[:limit]


def _to_explicit_le(ds: Dataset, source: UID) -> None:
    if source.is_compressed:
        lossy = source in _LOSSY
        try:
            # The same object in another encoding: it keeps its SOP Instance UID (pydicom
            # would make a new one by default, orphaning the DICOMDIR record and references).
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # noqa: BLE001
            raise CannotConvert(
                f"its compressed pictures ({source.name}) are damaged or in a form that cannot "
                f"be decoded, so they cannot be converted for this disc ({_first_line(exc)})"
            ) from exc
        if lossy:
            ds.LossyImageCompression = "01"
        return
    if not source.is_little_endian:
        pixels = None
        if "PixelData" in ds:
            try:
                pixels = ds.pixel_array
            except Exception as exc:  # noqa: BLE001
                raise CannotConvert(f"its big endian pictures could not be read: {exc}") from exc
        _swap_raw_values(ds)
        if pixels is not None:
            ds.PixelData = np.ascontiguousarray(pixels).astype(
                pixels.dtype.newbyteorder("<")).tobytes()
            if ds["PixelData"].VR not in ("OB", "OW"):
                ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _rewrite(inst: Instance, dest: Path) -> Placed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(inst.path, force=True)
        except Exception as exc:  # noqa: BLE001
            raise CannotConvert(f"the file could not be read in full ({exc})") from exc
        source = UID(inst.transfer_syntax or ExplicitVRLittleEndian)
        if "file_meta" not in ds.__dict__ or ds.file_meta is None:
            ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = source
        if body_is_implicit(ds):
            # Read as implicit VR whatever the file meta said: record that, so that writing
            # gives every element its VR instead of copying VR-less raw elements.
            ds.set_original_encoding(True, ds.original_encoding[1] is not False)
        try:
            _to_explicit_le(ds, source)
        except CannotConvert:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CannotConvert(f"it could not be converted ({exc.__class__.__name__}: {exc})") \
                from exc
        ds.file_meta.MediaStorageSOPClassUID = inst.sop_class
        ds.file_meta.MediaStorageSOPInstanceUID = inst.sop_instance
        ds.preamble = b"\0" * _PREAMBLE
        try:
            pydicom.dcmwrite(dest, ds, enforce_file_format=True,
                             implicit_vr=False, little_endian=True)
        except Exception as exc:  # noqa: BLE001
            dest.unlink(missing_ok=True)
            raise CannotConvert(f"it could not be written ({exc.__class__.__name__}: {exc})") \
                from exc
    digest = hashlib.sha256()
    size = 0
    with open(dest, "rb") as fp:
        while block := fp.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return Placed(ExplicitVRLittleEndian, inst.sop_class, size, digest.hexdigest(), True)
