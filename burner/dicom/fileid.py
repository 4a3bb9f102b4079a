"""Conformant File IDs: DICOM/STnnnnnn/SEnnnnnn/IMnnnnnn (PS3.10 8.2, PS3.12 ISO 9660 level 1)."""

from __future__ import annotations

import re

_COMPONENT = re.compile(r"^[A-Z0-9_]{1,8}$")
ROOT = "DICOM"


def is_conformant(components: list[str] | tuple[str, ...]) -> bool:
    """1 to 8 components, each 1 to 8 characters of A-Z, 0-9 and _."""
    return 0 < len(components) <= 8 and all(_COMPONENT.match(c) for c in components)


def file_id(study: int, series: int, instance: int) -> tuple[str, str, str, str]:
    """The File ID of the `instance`-th object of a series; numbers start at 1."""
    if not (0 < study < 1_000_000 and 0 < series < 1_000_000 and 0 < instance < 1_000_000):
        raise ValueError("file-set too large for six-digit File ID components")
    return (ROOT, f"ST{study:06d}", f"SE{series:06d}", f"IM{instance:06d}")


def fileset_id(job_id: str) -> str:
    """A File-set ID (at most 16 of A-Z, 0-9, _) made from the job id."""
    cleaned = re.sub(r"[^A-Z0-9_]", "_", job_id.upper())
    return (cleaned or "BURNER")[:16]
