"""PS3.11 general-purpose application profiles: which transfer syntaxes each allows."""

from __future__ import annotations

from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
)

_JPEG = frozenset({ExplicitVRLittleEndian, JPEGLosslessSV1, JPEGBaseline8Bit, JPEGExtended12Bit})
_J2K = frozenset({ExplicitVRLittleEndian, JPEG2000Lossless, JPEG2000})

ALLOWED_SYNTAXES: dict[str, frozenset[str]] = {
    "STD-GEN-CD": frozenset({ExplicitVRLittleEndian}),
    "STD-GEN-DVD-JPEG": _JPEG,
    "STD-GEN-USB-JPEG": _JPEG,
    "STD-GEN-BD-JPEG": _JPEG,
    "STD-GEN-DVD-J2K": _J2K,
    "STD-GEN-USB-J2K": _J2K,
    "STD-GEN-BD-J2K": _J2K,
}

# Which profiles each medium may carry, and its default, are in burner/media/kinds.py.


def is_general_cd(profile: str) -> bool:
    """True for STD-GEN-CD, whose DICOMDIR has fewer keys than the DVD/USB/BD profiles."""
    return profile == "STD-GEN-CD"


def dcmtk_flag(profile: str) -> str:
    """The dcmmkdir option for the same profile (used by tests and the benchmark)."""
    return {
        "STD-GEN-CD": "-Pgp",
        "STD-GEN-DVD-JPEG": "-Pdv",
        "STD-GEN-DVD-J2K": "-Pd2",
        "STD-GEN-USB-JPEG": "-Pfl",
        "STD-GEN-USB-J2K": "-Pf2",
        "STD-GEN-BD-JPEG": "-Pbd",
        "STD-GEN-BD-J2K": "-Pb2",
    }[profile]
