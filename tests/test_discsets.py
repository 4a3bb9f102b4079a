"""Issue 3 acceptance: a 1.6 GB study pinned to CD becomes three self-contained, verified
discs; with a DVD writer and media "auto" the same study goes on one DVD."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from conftest import (
    StationDir,
    error_lines,
    new_station,
    output_of,
    quiet_read,
    require_tool,
    run_tool,
    study_patient,
)

from burner import synth
from burner.build import build_job
from burner.config import load_config
from burner.media.medium import check_medium

pytestmark = pytest.mark.slow     # burns multi-disc sets through the station

# Two 512x512 CT series of 1,525 slices (~800 MB each): each alone exceeds a CD, so the set is
# cut inside the series, as the planner allows only then.
SLICES = 1525
JOB = "BIG-CD-SET"


def write_manifest(job_dir: Path, media: str) -> None:
    patient = study_patient()
    birth = patient.birth_date
    (job_dir / "job.json").write_text(json.dumps({
        "version": 1, "job_id": job_dir.name,
        "patient": {"id": patient.id, "name": patient.name,
                    "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"},
        "media": {"type": media},
        "approval": {"by": "tester", "at": "2026-11-28T10:00:00Z"}}))


@pytest.fixture(scope="module")
def big_study(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[StationDir, Path, dict[str, str]]:
    """A CD station, the job folder in its incoming/, and {SOP UID: series UID}."""
    root = tmp_path_factory.mktemp("discsets")
    station = new_station(root / "cd", drive_media="cd")
    job_dir = station.folder("incoming") / JOB
    paths = synth.make_ct_study(job_dir / "dicom", study_patient(), slices=SLICES, series=2,
                                workers=2)
    size = sum(p.stat().st_size for p in paths)
    assert 1_550_000_000 < size < 1_700_000_000, size
    sources = {}
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        sources[str(ds.SOPInstanceUID)] = str(ds.SeriesInstanceUID)
    return station, job_dir, sources


@pytest.fixture(scope="module")
def cd_set(big_study: tuple[StationDir, Path, dict[str, str]]) -> tuple[StationDir, dict]:
    """The study pinned to CD, through a station with a CD stdio: drive."""
    station, job_dir, _ = big_study
    write_manifest(job_dir, "cd")
    station.folder("approved").mkdir(parents=True, exist_ok=True)
    job_dir.rename(station.folder("approved") / JOB)
    proc = station.cli("run", "--once", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert station.where(JOB) == ["done"], proc.stderr
    result = json.loads((station.folder("done") / JOB / "result.json").read_text())
    return station, result


def _trees(station: StationDir, result: dict, tmp: Path) -> list[Path]:
    """Each burned disc copied out with pycdlib into a folder (the medium as a reader sees it)."""
    import pycdlib

    trees = []
    for copy in result["copies"]:
        out = tmp / f"disc{copy['volume']}"
        iso = pycdlib.PyCdlib()
        iso.open(copy["medium"])
        for dirpath, _dirs, files in iso.walk(iso_path="/"):
            for name in files:
                rel = (dirpath.strip("/") + "/" + name.split(";")[0].rstrip(".")).strip("/")
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                iso.get_file_from_iso(str(out / rel), iso_path=dirpath.rstrip("/") + "/" + name)
        iso.close()
        trees.append(out)
    return trees


@pytest.fixture(scope="module")
def discs(cd_set: tuple[StationDir, dict],
          tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    station, result = cd_set
    return _trees(station, result, tmp_path_factory.mktemp("cd-trees"))


def test_three_self_contained_cds(cd_set: tuple[StationDir, dict]) -> None:
    _, result = cd_set
    assert result["media"] == "cd" and result["profile"] == "STD-GEN-CD"
    assert [v["index"] for v in result["volumes"]] == [1, 2, 3]
    assert all(v["count"] == 3 for v in result["volumes"])
    assert sorted(c["volume"] for c in result["copies"]) == [1, 2, 3]
    assert result["problems"] == []
    for copy in result["copies"]:
        assert Path(copy["medium"]).stat().st_size <= 360_000 * 2048, "fits a 700 MB CD-R"
        report = check_medium(Path(copy["medium"]))
        assert report.ok, report.as_dict()


def test_every_instance_exactly_once(discs: list[Path],
                                     big_study: tuple[StationDir, Path, dict[str, str]]) -> None:
    _, _, sources = big_study
    seen: Counter[str] = Counter()
    for tree in discs:
        for record in quiet_read(tree / "DICOMDIR").DirectoryRecordSequence:
            if record.DirectoryRecordType == "IMAGE":
                seen[str(record.ReferencedSOPInstanceUIDInFile)] += 1
                assert (tree / Path(*record.ReferencedFileID)).is_file()
    assert set(seen) == set(sources)
    assert max(seen.values()) == 1


def test_each_dicomdir_passes_the_validators(discs: list[Path]) -> None:
    dciodvfy, dcentvfy = require_tool("dciodvfy"), require_tool("dcentvfy")
    for tree in discs:
        out = output_of(run_tool([dciodvfy, str(tree / "DICOMDIR")]))
        assert error_lines(out) == [], out
        files = sorted(str(p) for p in (tree / "DICOM").rglob("*") if p.is_file())
        out = output_of(run_tool([dcentvfy, *files]))
        assert error_lines(out) == [], out[-2000:]


def _listed(discset: str) -> dict[int, dict[str, int]]:
    """DISCSET.TXT back into {disc: {series description: objects on it}}."""
    out: dict[int, dict[str, int]] = {}
    disc = 0
    for line in discset.splitlines():
        head = re.match(r"DISC (\d+) OF (\d+)", line)
        if head:
            disc = int(head[1])
            out[disc] = {}
        row = re.match(r"\s+series \S+\s+CT\s+(.*?): (\d+)", line)
        if row:
            out[disc][row[1]] = int(row[2])
    return out


def test_discset_and_readmes_agree(discs: list[Path]) -> None:
    texts = {(tree / "DISCSET.TXT").read_text() for tree in discs}
    assert len(texts) == 1, "every disc carries the same DISCSET.TXT"
    listed = _listed(texts.pop())
    assert sorted(listed) == [1, 2, 3]
    for number, tree in enumerate(discs, 1):
        readme = (tree / "README.TXT").read_text()
        assert f"THIS IS DISC {number} OF 3" in readme
        assert f"Disc {number} of 3" in (tree / "INDEX.HTM").read_text()
        counts: Counter[str] = Counter()
        for record in quiet_read(tree / "DICOMDIR").DirectoryRecordSequence:
            if record.DirectoryRecordType == "IMAGE":
                ds = quiet_read(tree / Path(*record.ReferencedFileID), stop_before_pixels=True)
                counts[str(ds.SeriesDescription)] += 1
        assert dict(counts) == listed[number]


def test_auto_with_a_dvd_writer_makes_one_dvd(cd_set: tuple[StationDir, dict],
                                             tmp_path: Path) -> None:
    station, _ = cd_set
    job_dir = station.folder("done") / JOB
    write_manifest(job_dir, "auto")
    dvd_station = new_station(tmp_path / "dvd", drive_media="dvd")
    outcome = build_job(load_config(dvd_station.config), job_dir, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.problems
    assert [(v["media"], v["count"]) for v in outcome.volumes] == [("dvd", 1)]
    assert outcome.volumes[0]["profile"] == "STD-GEN-DVD-JPEG"
