"""identity check: every object must belong to the approved patient (and listed studies)."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from burner.dicom.headers import Instance
from burner.errors import JobHeld
from burner.manifest import Manifest

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "identity"
LANE = "prepare"


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().upper()


def name_parts(name: object) -> list[str]:
    """Person name components after normalising case, spacing, accents and '^' padding."""
    alphabetic = str(name or "").split("=")[0]
    parts = [_fold(p) for p in alphabetic.split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return parts


def same_name(a: object, b: object) -> bool:
    """Family and given names must match; further components only where both have them."""
    pa, pb = name_parts(a), name_parts(b)
    if not pa or not pb:
        return False
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else ""
        y = pb[i] if i < len(pb) else ""
        if i < 2 and x != y:
            return False
        if i >= 2 and x and y and x != y:
            return False
    return True


def mismatches(inst: Instance, m: Manifest) -> list[str]:
    """Why `inst` is not the manifest's patient, in plain words (empty when it is)."""
    found = []
    if str(inst.get("PatientID")).strip() != m.patient_id.strip():
        found.append("a different patient ID")
    issuer = str(inst.get("IssuerOfPatientID")).strip()
    if m.patient_issuer and issuer and issuer != m.patient_issuer.strip():
        found.append("a different issuer of the patient ID")
    if str(inst.get("PatientBirthDate")).strip() != m.patient_birth_date.strftime("%Y%m%d"):
        found.append("a different or missing birth date")
    if not same_name(inst.get("PatientName"), m.patient_name):
        found.append("a different patient name")
    if m.studies and inst.study_uid not in {s.uid for s in m.studies}:
        found.append("an exam (study) that is not in this release")
    return found


def run(ctx: JobContext) -> None:
    manifest: Manifest = ctx.load("validate")
    gathered = ctx.load("gather")
    details = []
    for inst in gathered.instances:
        why = mismatches(inst, manifest)
        if why:
            details.append(f"{inst.rel}: {', '.join(why)}")
    ctx.checkpoint("identity")
    present = {i.study_uid for i in gathered.instances}
    for study in manifest.studies:
        if study.uid not in present:
            label = f" (accession {study.accession})" if study.accession else ""
            details.append(f"exam {study.uid}{label} is listed in the release but none of its "
                           "images are in the job")
    if details:
        raise JobHeld(
            f"{len(details)} problem(s) found: some files do not belong to the patient or exams "
            "approved for this release. Check that the right images were exported, remove or "
            "replace the files listed, then retry.", details)
