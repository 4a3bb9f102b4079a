"""Checks of a written disc by tools nobody here wrote: the image unpacked with xorriso, its
DICOMDIR checked by dciodvfy (dicom3tools) and rebuilt by dcmmkdir (DCMTK) from its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import (
    dcmtk_errors,
    error_lines,
    output_of,
    quiet_read,
    require_tool,
    run_tool,
)

from burner.dicom.profiles import dcmtk_flag


def unpack(image: Path, dest: Path) -> Path:
    """The files of an ISO image, extracted with xorriso into `dest`."""
    proc = run_tool([require_tool("xorriso"), "-osirrox", "on", "-indev", str(image),
                     "-extract", "/", str(dest)])
    assert proc.returncode == 0, output_of(proc)
    for path in dest.rglob("*"):            # osirrox keeps the ISO's read-only modes
        path.chmod(0o700 if path.is_dir() else 0o600)
    return dest


def referenced_instances(tree: Path) -> set[str]:
    """The SOP Instance UIDs the DICOMDIR of `tree` references."""
    dicomdir = quiet_read(tree / "DICOMDIR")
    return {str(r.ReferencedSOPInstanceUIDInFile) for r in dicomdir.DirectoryRecordSequence
            if "ReferencedSOPInstanceUIDInFile" in r}


def check_disc(tree: Path, profile: str, scratch: Path) -> None:
    """dciodvfy finds no error in the DICOMDIR; dcmmkdir accepts every file for `profile`."""
    proc = run_tool([require_tool("dciodvfy"), "DICOMDIR"], cwd=tree)
    assert error_lines(output_of(proc)) == [], output_of(proc)
    shutil.copytree(tree / "DICOM", scratch / "DICOM")
    proc = run_tool([require_tool("dcmmkdir"), dcmtk_flag(profile), "+r", "+I",
                     "+D", "DICOMDIR.dcmtk", "DICOM"], cwd=scratch)
    assert proc.returncode == 0 and dcmtk_errors(output_of(proc)) == [], output_of(proc)


def job_result(spool: Path, job_id: str) -> dict:
    return json.loads((spool / "done" / job_id / "result.json").read_text())


def check_job_disc(spool: Path, job_id: str, scratch: Path) -> set[str]:
    """Unpack the first verified copy of a done job, check it; its referenced instances."""
    result = job_result(spool, job_id)
    medium = Path(result["copies"][0]["medium"])
    tree = unpack(medium, scratch / "disc")
    (scratch / "mkdir").mkdir()
    check_disc(tree, result["profile"], scratch / "mkdir")
    return referenced_instances(tree)
