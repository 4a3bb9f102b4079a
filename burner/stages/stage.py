"""stage: per volume, the file tree of DESIGN.md section 4 (DICOM files, DICOMDIR, README,
INDEX.HTM, SHA256.TXT) in the job's work folder."""

from __future__ import annotations

import datetime
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import burner
from burner.content.render import render, write_text
from burner.content.reports import disc_name
from burner.dicom import fileset, recheck
from burner.dicom.fileid import fileset_id as make_fileset_id
from burner.dicom.parse import fingerprint
from burner.errors import JobHeld, Reason
from burner.media import checksums
from burner.record import Staged, StagedVolume
from burner.viewer.write import write_viewer

if TYPE_CHECKING:
    from burner.context import JobContext
    from burner.record import Gathered

NAME = "stage"
LANE = "prepare"
NEEDS_ROOM = True   # the disk must hold the plan's estimate first (diskspace.py)
DESCRIPTOR = "README"   # the conformant File-set Descriptor (README.TXT cannot be a File ID)
DISCSET = "DISCSET.TXT"


def _fmt_date(da: object) -> str:
    text = str(da or "")
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or "date unknown"


def study_summaries(entries: list) -> list[dict]:
    """One line per exam for README.TXT and INDEX.HTM."""
    studies: OrderedDict[str, dict] = OrderedDict()
    for e in entries:
        inst = e.instance
        s = studies.setdefault(inst.study_uid, {
            "date": _fmt_date(inst.get("StudyDate")),
            "description": str(inst.get("StudyDescription") or ""),
            "accession": str(inst.get("AccessionNumber") or ""),
            "modalities": set(), "count": 0})
        s["modalities"].add(str(inst.get("Modality") or "OT"))
        s["count"] += 1
    for s in studies.values():
        s["modalities"] = "/".join(sorted(s["modalities"]))
    return list(studies.values())


def _person_name(text: str) -> str:
    parts = [p for p in text.split("^") if p]
    return " ".join(parts[1:2] + parts[:1] + parts[2:]) if parts else text


def _series_summaries(entries: list) -> dict[str, dict]:
    """Per series: number, modality, description and how many objects, in order."""
    series: OrderedDict[str, dict] = OrderedDict()
    for e in entries:
        inst = e.instance
        row = series.setdefault(inst.series_uid, {
            "study": inst.study_uid, "number": str(inst.get("SeriesNumber") or ""),
            "modality": str(inst.get("Modality") or "OT"),
            "description": str(inst.get("SeriesDescription") or ""), "count": 0})
        row["count"] += 1
    return series


def _discs(numbers: list[int]) -> str:
    """[2] -> "disc 2"; [1, 3, 4] -> "discs 1, 3 and 4"; [] -> ""."""
    if not numbers:
        return ""
    if len(numbers) == 1:
        return f"disc {numbers[0]}"
    return "discs " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def disc_set(sets: list[fileset.FileSet]) -> list[dict]:
    """What every volume of a set holds, exam by exam and series by series (DISCSET.TXT)."""
    where: dict[str, list[int]] = {}
    totals: dict[str, int] = {}
    per_volume = [_series_summaries(fs.entries) for fs in sets]
    for index, series in enumerate(per_volume, 1):
        for uid, row in series.items():
            where.setdefault(uid, []).append(index)
            totals[uid] = totals.get(uid, 0) + row["count"]
    out = []
    for index, (fs, series) in enumerate(zip(sets, per_volume, strict=True), 1):
        exams = study_summaries(fs.entries)
        for exam, uid in zip(exams, dict.fromkeys(e.instance.study_uid for e in fs.entries),
                             strict=True):
            exam["series"] = [dict(row, total=totals[s_uid],
                                   elsewhere=_discs([v for v in where[s_uid] if v != index]))
                              for s_uid, row in series.items() if row["study"] == uid]
        out.append({"index": index, "fileset_id": fs.fileset_id, "exams": exams})
    return out


def write_documents(tree: Path, ctx: JobContext, fs: fileset.FileSet, index: int,
                    discs: list[dict], media: str, viewer_left_out: bool = False) -> list[str]:
    """README.TXT (+ its File-set Descriptor copy), INDEX.HTM, the IHE PDI web content
    (IHE_PDI/, when the job wants it) and, for a set, DISCSET.TXT."""
    from burner.content import web  # here, not at the top: only this function needs it

    manifest = ctx.record.manifest
    known = [(Path(r["name"]).name, r["title"], r["study_uid"])
             for r in discs[index - 1].get("reports", [])]
    studies = study_summaries(fs.entries)
    context = {
        "patient_name": _person_name(manifest.patient_name),
        "patient_id": manifest.patient_id,
        "birth_date": manifest.patient_birth_date.isoformat(),
        "institution": ctx.config.institution,
        "created": datetime.date.today().isoformat(),
        "fileset_id": fs.fileset_id,
        "version": burner.__version__,
        "profile": fs.profile,
        "studies": studies,
        "volume_index": index,
        "volume_count": len(discs),
        "discs": discs,
        "job_id": ctx.job_id,
        "medium_word": "USB stick" if media == "usb" else "disc",
        "web": bool(manifest.media_web),
        "reports": web.reports_on_volume(tree, known),
        "viewer": (tree / "VIEWER" / "INDEX.HTM").is_file(),
        "viewer_left_out": viewer_left_out,
    }
    written = ["DICOMDIR", DESCRIPTOR, "README.TXT", "INDEX.HTM"]
    pages: dict[str, str] = {}
    if manifest.media_web:
        written += web.write_web_content(tree, fs.entries, context)
        pages = web.exam_pages(fs.entries)
    images: dict[str, int] = {}
    for e in fs.entries:
        if e.instance.has_pixels:
            images[e.instance.study_uid] = images.get(e.instance.study_uid, 0) + 1
    for uid, study in zip(dict.fromkeys(e.instance.study_uid for e in fs.entries), studies,
                          strict=True):
        study.update(href=pages.get(uid, ""), images=images.get(uid, 0))
    readme = render("README.TXT", **context)
    write_text(tree / "README.TXT", readme, crlf=True)
    # The same text as the DICOMDIR's File-set Descriptor, in its declared ISO_IR 100.
    (tree / DESCRIPTOR).write_bytes(
        readme.replace("\n", "\r\n").encode("latin-1", errors="replace"))
    write_text(tree / "INDEX.HTM", render("INDEX.HTM", **context, up=""))
    if len(discs) > 1:
        write_text(tree / DISCSET, render(DISCSET, **context), crlf=True)
        written.append(DISCSET)
    return written


def _viewer_info(manifest: object, disc: dict) -> dict:
    """The patient and the reports of a volume, for the viewer's overlay and links."""
    return {"patient": {"name": manifest.patient_name, "id": manifest.patient_id,  # type: ignore[attr-defined]
                        "birth_date": manifest.patient_birth_date.isoformat()},  # type: ignore[attr-defined]
            "reports": [{"href": f"../{r['name']}", "title": r["title"],
                         "study_uid": r["study_uid"]} for r in disc.get("reports", [])]}


def _stage_reports(ctx: JobContext, gathered: Gathered, sets: list[fileset.FileSet],
                   discs: list[dict]) -> list[list[tuple[str, str, str]]]:
    """Copy each volume's report PDFs to <tree>/REPORTS/ (REPORT1.PDF, ...; their
    Encapsulated PDF copy is in DICOM/), add them to the volume's checksums and to its
    entry in `discs` ({"name": "REPORTS/...", "title", "study_uid"}) for the pages that link
    them. Returns (name in REPORTS/, title, study UID) per volume."""
    made = gathered.reports
    out = []
    for index, fs in enumerate(sets, 1):
        on_volume = {e.instance.sop_instance for e in fs.entries}
        listed = []
        for number, report in enumerate(made, 1):
            if report.sop_instance not in on_volume:
                continue
            name = disc_name(number)
            dest = ctx.out() / f"vol{index}" / "REPORTS" / name
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(report.pdf, dest)
            fs.hashes[f"REPORTS/{name}"] = checksums.sha256_file(dest)[0]
            listed.append((name, report.title, report.study_uid))
        discs[index - 1]["reports"] = [{"name": f"REPORTS/{n}", "title": t, "study_uid": u}
                                       for n, t, u in listed]
        out.append(listed)
    return out


def _build_volume(ctx: JobContext, index: int, count: int, instances: list,
                  profile: str) -> fileset.FileSet:
    tree = ctx.out() / f"vol{index}"
    tree.mkdir(parents=True)
    fid = make_fileset_id(ctx.job_id if count == 1 else f"{ctx.job_id[:13]}_{index}")
    half = len(instances) // 2

    def progress(n: int) -> None:
        if n == half:
            ctx.checkpoint("stage")

    return fileset.build(tree, instances, profile=profile, fileset_id=fid,
                         descriptor=DESCRIPTOR, progress=progress)


def _unchanged_inputs(gathered: Gathered) -> None:
    """Hold the job when an input was written to or replaced since it was checked: the disc
    would carry the copy that was checked, but the job folder is no longer what was approved."""
    changed = []
    for inst in gathered.instances:
        if inst.source is None or not inst.fingerprint:
            continue
        try:
            now = fingerprint(os.stat(inst.source, follow_symlinks=False))
        except OSError:
            now = ()
        if now != inst.fingerprint:
            changed.append(f"{inst.rel}: the file was changed, replaced or removed after it was "
                           "checked")
    if changed:
        raise JobHeld("Files of this job changed after the patient check, so nothing was "
                      "written. Make sure the job folder holds the files that were approved "
                      "(export them again if in doubt), then retry.", changed,
                      code=Reason.CHANGED_INPUT)


def run(ctx: JobContext) -> None:
    gathered = ctx.record.gathered
    plan = ctx.record.plan
    manifest = ctx.record.manifest
    _unchanged_inputs(gathered)
    count = len(plan.volumes)
    refused: list[tuple[str, str]] = []
    sets: list[fileset.FileSet] = []
    on_earlier: dict[str, int] = {}       # SOP Instance UID -> the volume that holds it
    for index, members in enumerate(plan.volumes, 1):
        instances = []
        for inst in (gathered.instances[i] for i in members):
            if inst.sop_instance in on_earlier:
                refused.append((inst.rel, "the same object (SOP Instance UID) is already on "
                                          f"disc {on_earlier[inst.sop_instance]}"))
            else:
                instances.append(inst)
        fs = _build_volume(ctx, index, count, instances, plan.profile)
        refused += fs.refused
        if not fs.entries:
            raise JobHeld(f"None of the files planned for disc {index} could be put on it.",
                          [f"{rel}: {why}" for rel, why in refused],
                          code=Reason.NOTHING_TO_WRITE)
        on_earlier.update((e.instance.sop_instance, index) for e in fs.entries)
        sets.append(fs)
    _recheck(ctx, gathered, sets, manifest)
    discs = disc_set(sets)
    reports = _stage_reports(ctx, gathered, sets, discs)   # REPORTS/ of every volume
    volumes = []
    for index, fs in enumerate(sets, 1):
        tree = ctx.out() / f"vol{index}"
        hashes = dict(fs.hashes)
        viewer_fits = plan.viewer[index - 1]
        if manifest.media_viewer and viewer_fits:
            for name in write_viewer(tree, fs.entries, _viewer_info(manifest, discs[index - 1])):
                hashes[name] = checksums.sha256_file(tree / name)[0]
        for name in write_documents(tree, ctx, fs, index, discs, plan.media,
                                    viewer_left_out=manifest.media_viewer and not viewer_fits):
            hashes[name] = checksums.sha256_file(tree / name)[0]
        checksums.write_list(tree / checksums.LIST_NAME, hashes.items())
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        volumes.append(StagedVolume(index, count, tree, fs.fileset_id, fs.fileset_uid,
                                    plan.profile, len(hashes) + 1, size, reports[index - 1]))
    ctx.save(Staged(volumes, refused, discs))


def _recheck(ctx: JobContext, gathered: Gathered, sets: list[fileset.FileSet],
             manifest: object) -> None:
    """Read every staged DICOM file back: the patient and exams must still be the approved
    ones, whatever happened between the identity check and now."""
    studies = {s.uid for s in manifest.studies}  # type: ignore[attr-defined]
    entries = [(index, entry) for index, fs in enumerate(sets, 1) for entry in fs.entries]
    items = [(ctx.out() / f"vol{index}" / Path(*entry.file_id), entry.instance.sop_instance)
             for index, entry in entries]
    found = recheck.problems_all(items, gathered.approved, studies)
    details = [f"{entry.instance.rel}: {'; '.join(why)}"
               for (_, entry), why in zip(entries, found, strict=True) if why]
    if details:
        # Only copies that cannot be read back: damaged; any other patient or exam: wrong.
        unreadable = all(w.startswith(recheck.UNREADABLE) for why in found for w in why)
        raise JobHeld("Files staged for the disc do not carry the approved patient when read "
                      "back, so nothing was written. Export the files listed again, then "
                      "retry.", details,
                      code=Reason.DAMAGED_OBJECT if unreadable else Reason.WRONG_PATIENT)
