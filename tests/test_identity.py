"""The identity rules: who counts as the approved patient (burner.patient)."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest

from burner.config import load_config
from burner.dicom.names import name_parts, same_name
from burner.manifest import Manifest
from burner.patient import Approved, Found, approved_from, mismatches

APPROVED = Approved(name="DOE^JANE", patient_id="MRN1", birth_date="19700101")
FOUND = Found(patient_id="MRN1", name="DOE^JANE", birth_date="19700101", study_uid="1.2.3")


def manifest(**over) -> Manifest:
    base = dict(job_id="J1", patient_id="MRN1", patient_name="DOE^JANE",
                patient_birth_date=datetime.date(1970, 1, 1), approval_by="x",
                approval_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    base.update(over)
    return Manifest(**base)


@pytest.mark.parametrize("a,b", [
    ("DOE^JANE", "doe^jane"),
    ("DOE^JANE", "DOE ^ JANE"),
    ("DOE^JANE^^^", "DOE^JANE"),
    ("DOE^JANE", "DOE^JANE^M"),
    ("Müller^Jörg", "MULLER^JORG"),
    ("DOE^JANE=ドウ^ジェーン", "DOE^JANE"),
    ("VAN  DER BERG^ANNA", "van der berg^anna"),
    ("YAMADA^TARO=山田^太郎=やまだ^たろう", "YAMADA^TARO=山田^太郎"),
])
def test_same_person_after_normalising(a: str, b: str) -> None:
    assert same_name(a, b)


@pytest.mark.parametrize("a,b", [
    ("DOE^JANE", "DOE^JOHN"),
    ("DOE^JANE", "ROE^JANE"),
    ("DOE^JANE^A", "DOE^JANE^B"),
    ("DOE^JANE", ""),
    ("DOE", "DOE^JANE"),
    ("YAMADA^TARO=山田^太郎", "YAMADA^TARO=佐藤^太郎"),          # ideographic differs
    ("YAMADA^TARO==やまだ^たろう", "YAMADA^TARO==さとう^たろう"),  # phonetic differs
])
def test_different_people(a: str, b: str) -> None:
    assert not same_name(a, b)


def test_name_parts() -> None:
    assert name_parts("  doe ^ jane ^^") == ["DOE", "JANE"]


def test_the_approved_patient_passes() -> None:
    assert mismatches(FOUND, APPROVED) == []


@pytest.mark.parametrize("found,expected", [
    (dict(patient_id="MRN2"), "a different patient ID"),
    (dict(patient_id=""), "a different patient ID"),
    (dict(birth_date="19700102"), "a different or missing birth date"),
    (dict(birth_date=""), "a different or missing birth date"),
    (dict(name="DOE^JOHN"), "a different patient name"),
    (dict(issuer="OTHERHOSP"), "a different issuer of the patient ID"),
    (dict(issuer="GENHOSP", issuer_ids=("9.9.9",)), "a different issuer of the patient ID"),
])
def test_each_kind_of_mismatch_is_named(found: dict, expected: str) -> None:
    approved = replace(APPROVED, issuer="GENHOSP", issuer_is_site=True)
    assert mismatches(replace(FOUND, **found), approved) == [expected]


def test_an_issuer_when_none_is_expected_is_held() -> None:
    """A release without issuer at a site without default: a file naming one is not trusted."""
    why = mismatches(replace(FOUND, issuer="OTHERHOSP"), APPROVED)
    assert why == ["an issuer of the patient ID, but the release and the site name none"]


def test_a_missing_issuer_only_under_the_site_default() -> None:
    site = replace(APPROVED, issuer="GENHOSP", issuer_is_site=True)
    other = replace(APPROVED, issuer="OTHERHOSP", issuer_is_site=False)
    assert mismatches(FOUND, site) == []
    assert mismatches(FOUND, other) == [
        "no issuer of the patient ID, but the release names another issuer than this site's "
        "own"]


def test_issuer_aliases_and_qualifiers() -> None:
    approved = replace(APPROVED, issuer="GENHOSP", issuer_aliases=frozenset({"2.16.840.1.9"}))
    found = replace(FOUND, issuer="genhosp", issuer_ids=("2.16.840.1.9",))
    assert mismatches(found, approved) == []


def test_approved_from_manifest_and_site(tmp_path) -> None:
    config_file = tmp_path / "burner.toml"
    config_file.write_text('[identity]\ndefault_issuer = "GENHOSP"\n'
                           '[identity.issuer_aliases]\nGENHOSP = ["2.16.840.1.9"]\n')
    config = load_config(config_file)
    approved = approved_from(manifest(patient_sex="F"), config)
    assert (approved.issuer, approved.issuer_is_site, approved.sex) == ("GENHOSP", True, "F")
    assert approved.issuer_aliases == {"2.16.840.1.9"}
    other = approved_from(manifest(patient_issuer="OTHERHOSP"), config)
    assert (other.issuer, other.issuer_is_site, other.sex) == ("OTHERHOSP", False, None)


def test_study_not_in_the_release() -> None:
    assert mismatches(FOUND, APPROVED, {"9.9.9"}) == [
        "an exam (study) that is not in this release"]


def test_messages_carry_no_patient_data() -> None:
    found = Found(patient_id="SECRET1", name="SECRET^NAME", birth_date="19991231")
    text = " ".join(mismatches(found, APPROVED))
    assert "SECRET" not in text and "1999" not in text
