"""The identity check: who counts as the approved patient."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from burner.dicom.headers import Instance
from burner.manifest import Manifest, StudyRef
from burner.stages.identity import mismatches, name_parts, same_name


def manifest(**over) -> Manifest:
    base = dict(job_id="J1", patient_id="MRN1", patient_name="DOE^JANE",
                patient_birth_date=datetime.date(1970, 1, 1), approval_by="x",
                approval_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    base.update(over)
    return Manifest(**base)


def instance(**values) -> Instance:
    base = {"PatientID": "MRN1", "PatientName": "DOE^JANE", "PatientBirthDate": "19700101",
            "StudyInstanceUID": "1.2.3"}
    base.update(values)
    return Instance(Path("x"), "dicom/x.dcm", "1.2.840.10008.5.1.4.1.1.2", "1.2.9",
                    "1.2.840.10008.1.2.1", 10, True, True, "IMAGE", base)


@pytest.mark.parametrize("a,b", [
    ("DOE^JANE", "doe^jane"),
    ("DOE^JANE", "DOE ^ JANE"),
    ("DOE^JANE^^^", "DOE^JANE"),
    ("DOE^JANE", "DOE^JANE^M"),
    ("Müller^Jörg", "MULLER^JORG"),
    ("DOE^JANE=ドウ^ジェーン", "DOE^JANE"),
    ("VAN  DER BERG^ANNA", "van der berg^anna"),
])
def test_same_person_after_normalising(a: str, b: str) -> None:
    assert same_name(a, b)


@pytest.mark.parametrize("a,b", [
    ("DOE^JANE", "DOE^JOHN"),
    ("DOE^JANE", "ROE^JANE"),
    ("DOE^JANE^A", "DOE^JANE^B"),
    ("DOE^JANE", ""),
    ("DOE", "DOE^JANE"),
])
def test_different_people(a: str, b: str) -> None:
    assert not same_name(a, b)


def test_name_parts() -> None:
    assert name_parts("  doe ^ jane ^^") == ["DOE", "JANE"]


def test_the_approved_patient_passes() -> None:
    assert mismatches(instance(), manifest()) == []


@pytest.mark.parametrize("values,expected", [
    ({"PatientID": "MRN2"}, "a different patient ID"),
    ({"PatientBirthDate": "19700102"}, "a different or missing birth date"),
    ({"PatientBirthDate": ""}, "a different or missing birth date"),
    ({"PatientName": "DOE^JOHN"}, "a different patient name"),
    ({"IssuerOfPatientID": "OTHERHOSP"}, "a different issuer of the patient ID"),
])
def test_each_kind_of_mismatch_is_named(values: dict, expected: str) -> None:
    found = mismatches(instance(**values), manifest(patient_issuer="GENHOSP"))
    assert found == [expected]


def test_missing_issuer_in_the_file_is_accepted() -> None:
    assert mismatches(instance(), manifest(patient_issuer="GENHOSP")) == []


def test_study_not_in_the_release() -> None:
    m = manifest(studies=[StudyRef("9.9.9", "ACC9")])
    assert mismatches(instance(), m) == ["an exam (study) that is not in this release"]


def test_messages_carry_no_patient_data() -> None:
    found = " ".join(mismatches(instance(PatientID="SECRET1", PatientName="SECRET^NAME",
                                         PatientBirthDate="19991231"), manifest()))
    assert "SECRET" not in found and "1999" not in found
