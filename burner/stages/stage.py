"""stage: per volume, the file tree of DESIGN.md section 4 (DICOM files, DICOMDIR, README,
INDEX.HTM, SHA256.TXT) in the job's work folder."""

from __future__ import annotations

import datetime
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import burner
from burner.content.render import render, write_text
from burner.dicom import fileset
from burner.dicom.fileid import fileset_id as make_fileset_id
from burner.errors import JobHeld
from burner.media import checksums

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "stage"
LANE = "prepare"
DESCRIPTOR = "README"   # the conformant File-set Descriptor (README.TXT cannot be a File ID)


@dataclass(frozen=True)
class StagedVolume:
    index: int
    count: int
    tree: Path
    fileset_id: str
    fileset_uid: str
    profile: str
    files: int
    bytes: int


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


def write_documents(tree: Path, ctx: JobContext, fs: fileset.FileSet, index: int, count: int,
                    media: str) -> None:
    manifest = ctx.load("validate")
    context = {
        "patient_name": _person_name(manifest.patient_name),
        "birth_date": manifest.patient_birth_date.isoformat(),
        "institution": ctx.config.institution,
        "created": datetime.date.today().isoformat(),
        "fileset_id": fs.fileset_id,
        "version": burner.__version__,
        "profile": fs.profile,
        "studies": study_summaries(fs.entries),
        "volume_index": index,
        "volume_count": count,
        "medium_word": "USB stick" if media == "usb" else "disc",
    }
    readme = render("README.TXT", **context)
    write_text(tree / "README.TXT", readme, crlf=True)
    # The same text as the DICOMDIR's File-set Descriptor, in its declared ISO_IR 100.
    (tree / DESCRIPTOR).write_bytes(
        readme.replace("\n", "\r\n").encode("latin-1", errors="replace"))
    write_text(tree / "INDEX.HTM", render("INDEX.HTM", **context))


def run(ctx: JobContext) -> None:
    gathered = ctx.load("gather")
    plan = ctx.load("plan")
    volumes = []
    refused: list[tuple[str, str]] = []
    count = len(plan.volumes)
    for index, members in enumerate(plan.volumes, 1):
        tree = ctx.out() / f"vol{index}"
        tree.mkdir(parents=True)
        fid = make_fileset_id(ctx.job_id if count == 1 else f"{ctx.job_id[:13]}_{index}")
        instances = [gathered.instances[i] for i in members]
        half = len(instances) // 2

        def progress(n: int, half: int = half) -> None:
            if n == half:
                ctx.checkpoint("stage")

        fs = fileset.build(tree, instances, profile=plan.profile, fileset_id=fid,
                           descriptor=DESCRIPTOR, progress=progress)
        refused += fs.refused
        if not fs.entries:
            raise JobHeld("None of the job's files could be put on a disc.",
                          [f"{rel}: {why}" for rel, why in refused])
        write_documents(tree, ctx, fs, index, count, plan.media)
        hashes = dict(fs.hashes)
        for name in ("DICOMDIR", DESCRIPTOR, "README.TXT", "INDEX.HTM"):
            hashes[name] = checksums.sha256_file(tree / name)[0]
        checksums.write_list(tree / checksums.LIST_NAME, hashes.items())
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        volumes.append(StagedVolume(index, count, tree, fs.fileset_id, fs.fileset_uid,
                                    plan.profile, len(hashes) + 1, size))
    ctx.save({"volumes": volumes, "refused": refused})
