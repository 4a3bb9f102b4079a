"""Put one object into a volume's tree: its canonical copy as it is when the profile allows its
transfer syntax, else decompressed to Explicit VR Little Endian from a parse of that copy."""

from __future__ import annotations

import os
import shutil
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import RawDataElement
from pydicom.uid import (
    JPEG2000,
    JPEG2000MC,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from burner.dicom import canonical
from burner.dicom.headers import Instance
from burner.dicom.parse import PIXEL_DATA, UNDEFINED, Damaged, parse_file

_LOSSY = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless, JPEG2000, JPEG2000MC,
          "1.2.840.10008.1.2.4.203"}
PHOTOMETRIC, PLANAR, LOSSY = 0x00280004, 0x00280006, 0x00282110


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
    """Put `inst` (its canonical copy) at `dest` in a syntax from `allowed`."""
    if inst.transfer_syntax in allowed:
        try:
            os.link(inst.path, dest)         # the copy gather wrote is already the disc's
        except OSError:
            shutil.copyfile(inst.path, dest)
        return Placed(inst.transfer_syntax, inst.sop_class, inst.size, inst.sha256, False)
    return _decompress(inst, dest)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The gist of a decoder's error for the technician, without its multi-line report."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    gist = lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines or [""])[0]
    return gist[:limit]


def _decoded(inst: Instance) -> tuple[bytes, str, int | None, int]:
    """(pixel bytes, photometric interpretation, planar configuration, bits allocated)."""
    with parse_file(inst.path) as parsed:
        ds = canonical.header(parsed)
        elem = next(e for e in parsed.elements if e.tag == PIXEL_DATA)
        ds[PIXEL_DATA] = RawDataElement(PIXEL_DATA, "OB", UNDEFINED,  # type: ignore[assignment]
                                        parsed.buf[elem.start:elem.start + elem.length - 8],
                                        elem.start, False, True, True, False)
    source = UID(inst.transfer_syntax)
    try:
        # The same object in another encoding keeps its SOP Instance UID.
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # noqa: BLE001
        raise CannotConvert(
            f"its compressed pictures ({source.name}) are damaged or in a form that cannot "
            f"be decoded, so they cannot be converted for this disc ({_first_line(exc)})"
        ) from exc
    planar = int(ds.PlanarConfiguration) if "PlanarConfiguration" in ds else None
    return (bytes(ds.PixelData), str(ds.PhotometricInterpretation), planar,
            int(ds.BitsAllocated))


def _decompress(inst: Instance, dest: Path) -> Placed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels, photometric, planar, bits = _decoded(inst)
    replace = {PIXEL_DATA: ("OB" if bits <= 8 else "OW", pixels),
               PHOTOMETRIC: ("CS", photometric.encode("ascii"))}
    if planar is not None:
        replace[PLANAR] = ("US", struct.pack("<H", planar))
    if inst.transfer_syntax in _LOSSY:
        replace[LOSSY] = ("CS", b"01")     # lossy stays marked lossy
    try:
        with parse_file(inst.path) as parsed:
            written = canonical.write(parsed, canonical.header(parsed), dest,
                                      sop_class=inst.sop_class, sop_instance=inst.sop_instance,
                                      approved=None, replace=replace,
                                      syntax=ExplicitVRLittleEndian)
    except (Damaged, OSError) as exc:
        dest.unlink(missing_ok=True)
        raise CannotConvert(f"it could not be written ({exc})") from exc
    return Placed(ExplicitVRLittleEndian, inst.sop_class, written.size, written.sha256, True)
