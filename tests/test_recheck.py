"""The last look before mastering (issue 8): a staged file read back must be the object that
was checked and carry the approved patient; many files are read on every core, in order."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from burner import synth
from burner.dicom import recheck
from burner.patient import Approved

PATIENT = synth.Patient(id="RCK0001", name="RECHECK^ROBIN", birth_date="19800101", sex="F")
OTHER = synth.Patient(id="OTHER999", name="OTHERPERSON^ALEX", birth_date="19601231", sex="F")
APPROVED = Approved(name=PATIENT.name, patient_id=PATIENT.id, birth_date=PATIENT.birth_date,
                    sex=PATIENT.sex)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[str], str]:
    folder = tmp_path_factory.mktemp("staged")
    paths = synth.make_ct_study(folder, PATIENT, slices=70, rows=16, cols=16)
    heads = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    return paths, [str(h.SOPInstanceUID) for h in heads], str(heads[0].StudyInstanceUID)


def test_the_approved_patients_files_pass(staged) -> None:
    paths, uids, study = staged
    assert recheck.problems(paths[0], uids[0], APPROVED, {study}) == []


def test_another_patient_another_object_or_a_damaged_copy_is_named(staged, tmp_path) -> None:
    paths, uids, study = staged
    foreign = tmp_path / "foreign.dcm"
    synth.rewrite_patient(paths[0], OTHER, foreign)
    why = recheck.problems(foreign, uids[0], APPROVED, {study})
    assert "the staged copy does not carry the approved patient" in why
    assert recheck.problems(paths[1], uids[0], APPROVED, {study}) == [
        "the staged copy is another object than the one checked"]
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(paths[2].read_bytes()[:-100])
    (why,) = recheck.problems(cut, uids[2], APPROVED, {study})
    assert why.startswith("the staged copy cannot be read back")
    other_exam = recheck.problems(paths[3], uids[3], APPROVED, {"1.2.3.4"})
    assert other_exam and all(w.startswith("its original") for w in other_exam)


def test_many_files_are_checked_in_parallel_and_in_order(staged, tmp_path) -> None:
    paths, uids, study = staged
    assert len(paths) >= recheck.PARALLEL_FROM
    items = list(zip(paths, uids, strict=True))
    foreign = tmp_path / "foreign.dcm"
    synth.rewrite_patient(paths[40], OTHER, foreign)
    items[40] = (foreign, uids[40])
    items[7] = (paths[8], uids[7])
    found = recheck.problems_all(items, APPROVED, {study})
    assert len(found) == len(items)
    assert {n for n, why in enumerate(found) if why} == {7, 40}
    assert found[40][0] == "the staged copy does not carry the approved patient"
    assert "its original different patient ID" in found[40]
