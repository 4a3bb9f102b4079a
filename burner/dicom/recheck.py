"""The last look before mastering: every staged DICOM file, read back from the tree, carries
the approved patient and came from an object that passed the identity gate."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path

from burner.dicom import canonical
from burner.dicom.headers import found_identity
from burner.dicom.parse import Damaged, NotDicom, parse_file
from burner.patient import Approved, Found, mismatches
from burner.workers import pool as workers_pool

UNREADABLE = "the staged copy cannot be read back"   # how a damaged copy's problem begins
_KEYS = {"PatientID": "patient_id", "PatientName": "name", "PatientBirthDate": "birth_date",
         "PatientSex": "sex", "IssuerOfPatientID": "issuer"}


def _before(ds: object, now: Found) -> Found:
    """The identity the object had before burner's last change (Original Attributes)."""
    items = getattr(ds, "OriginalAttributesSequence", None) or []
    if not items or items[-1].get("ModifyingSystem", "") != canonical.MODIFYING_SYSTEM:
        return now
    modified = items[-1].get("ModifiedAttributesSequence") or []
    if not modified:
        return now
    old = {field: str(modified[0].get(k, "") or "").strip(" \0")
           for k, field in _KEYS.items() if k in modified[0]}
    return replace(now, **old)


def problems(path: Path, sop_instance: str, approved: Approved, studies: set[str]) -> list[str]:
    """What is wrong with the staged file at `path` (empty when it may be mastered)."""
    try:
        with parse_file(path) as parsed:
            ds = canonical.header(parsed)
            now = found_identity(ds)
            before = _before(ds, now)
            uid = str(ds.get("SOPInstanceUID", ""))
    except (Damaged, NotDicom, OSError) as exc:
        return [f"{UNREADABLE} ({exc})"]
    out = []
    if uid != sop_instance:
        out.append("the staged copy is another object than the one checked")
    wrong = (now.patient_id != approved.patient_id or now.name != approved.name
             or now.birth_date != approved.birth_date
             or (approved.issuer and now.issuer != approved.issuer)
             or (approved.sex and now.sex != approved.sex))
    if wrong:
        out.append("the staged copy does not carry the approved patient")
    out += [f"its original {w.removeprefix('a ')}" for w in mismatches(before, approved, studies)]
    return out


PARALLEL_FROM = 64   # below this many files a process pool costs more than it saves


def _one(item: tuple[Path, str], approved: Approved, studies: set[str]) -> list[str]:
    return problems(item[0], item[1], approved, studies)


def problems_all(items: list[tuple[Path, str]], approved: Approved,
                 studies: set[str]) -> list[list[str]]:
    """`problems` of every (path, SOP Instance UID), in order, on every core for many files."""
    check = partial(_one, approved=approved, studies=studies)
    workers = os.cpu_count() or 1
    if len(items) < PARALLEL_FROM or workers < 2:
        return [check(item) for item in items]
    with workers_pool(workers) as pool:
        return list(pool.map(check, items, chunksize=16))
