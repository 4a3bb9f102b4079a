"""identity check: every object must be intact and belong to the approved patient (and the
listed studies); else the job is held and nothing is written."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from burner.errors import JobHeld, Reason
from burner.manifest import Manifest
from burner.patient import mismatches

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "identity"
LANE = "prepare"


def run(ctx: JobContext) -> None:
    manifest: Manifest = ctx.record.manifest
    gathered = ctx.record.gathered
    approved = gathered.approved
    studies = {s.uid for s in manifest.studies}
    details = [f"{rel}: {why}" for rel, why in gathered.damaged]
    damaged = len(details)
    for inst in gathered.instances:
        why = mismatches(inst.found, approved, studies)
        if why:
            details.append(f"{inst.rel}: {', '.join(why)}")
    ctx.checkpoint("identity")
    present = {i.found.study_uid for i in gathered.instances}
    for study in manifest.studies:
        if study.uid not in present:
            label = f" (accession {study.accession})" if study.accession else ""
            details.append(f"exam {study.uid}{label} is listed in the release but none of its "
                           "images are in the job")
    sexes = Counter(i.found.sex.upper() for i in gathered.instances if i.found.sex)
    if not approved.sex and len(sexes) > 1:
        details.append(f"the files disagree on the patient's sex ({', '.join(sorted(sexes))}); "
                       "put the patient's sex in the release (patient.sex) to decide")
    if details:
        found = []
        if damaged:
            found.append(f"{damaged} file(s) are damaged or may have been tampered with")
        if len(details) > damaged:
            found.append(f"{len(details) - damaged} problem(s) were found with the patient "
                         "or the exams")
        # Another patient's (or exam's) file weighs more than a damaged one: it is the code.
        code = Reason.WRONG_PATIENT if len(details) > damaged else Reason.DAMAGED_OBJECT
        raise JobHeld(
            f"{' and '.join(found).capitalize()}: nothing of this release may go on a disc "
            "until every file is intact and belongs to the patient and exams approved. "
            "Export the files listed again (or remove them), then retry.", details, code=code)
