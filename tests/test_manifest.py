"""Tests of burner.manifest: job.json schema, plain-language errors, defaults, path confinement."""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from burner import manifest as mf
from burner.errors import JobRejected
from burner.manifest import (
    Manifest,
    ReportRef,
    StudyRef,
    iter_job_files,
    load_manifest,
    resolve_inside,
    schema,
    schema_text,
    skipped_job_files,
    validate_manifest,
)

# The example of DESIGN.md section 3, verbatim.
EXAMPLE = {
    "version": 1,
    "job_id": "R2026-000123",
    "patient": {"id": "MRN12345", "issuer": "GENHOSP", "name": "DOE^JANE",
                "birth_date": "1970-01-01", "sex": "F"},
    "request": {"reference": "ROI-1234", "received": "2026-11-20", "requester": "patient",
                "due": "2026-12-20", "fee": {"amount": "6.50", "currency": "USD", "basis": "flat"}},
    "studies": [{"study_instance_uid": "1.2.3", "accession_number": "ACC001"}],
    "inputs": ["dicom/"],
    "reports": [{"path": "reports/ct-chest.pdf", "study_instance_uid": "1.2.3"}],
    "media": {"type": "auto", "copies": 1, "profile": "auto", "viewer": True, "web": True,
              "label_text": ""},
    "approval": {"by": "jsmith", "at": "2026-11-27T10:00:00Z", "note": "photo ID checked"},
}

MINIMAL = {
    "version": 1,
    "patient": {"id": "MRN1", "name": "DOE^JOHN", "birth_date": "1980-02-29"},
    "approval": {"by": "jsmith", "at": "2026-11-27T10:00:00+01:00"},
}

FOLDER = "job-folder"


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def changed(base: dict, dotted: str, value: object = ..., *, delete: bool = False) -> dict:
    """A copy of `base` with the value at `dotted` (e.g. "studies.0.x") set or deleted."""
    data = copy.deepcopy(base)
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def problems(data: object, folder: str = FOLDER) -> list[str]:
    """The lines of the JobRejected message validate_manifest raises for `data`."""
    with pytest.raises(JobRejected) as caught:
        validate_manifest(data, folder)
    assert caught.value.exit_code == 2
    return str(caught.value).splitlines()


# --- the valid cases, and defaults ----------------------------------------------------------


def test_design_example_gives_the_expected_manifest():
    expected = Manifest(
        job_id="R2026-000123",
        patient_id="MRN12345",
        patient_name="DOE^JANE",
        patient_birth_date=date(1970, 1, 1),
        approval_by="jsmith",
        approval_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        patient_issuer="GENHOSP",
        patient_sex="F",
        request_reference="ROI-1234",
        request_received=date(2026, 11, 20),
        request_requester="patient",
        request_due=date(2026, 12, 20),
        fee_amount=Decimal("6.50"),
        fee_currency="USD",
        fee_basis="flat",
        studies=[StudyRef("1.2.3", "ACC001")],
        inputs=["dicom/"],
        reports=[ReportRef("reports/ct-chest.pdf", "1.2.3")],
        media_type="auto",
        media_copies=1,
        media_profile="auto",
        media_viewer=True,
        media_web=True,
        media_label_text="",
        approval_note="photo ID checked",
        raw=EXAMPLE,
    )
    assert validate_manifest(example(), "some-folder") == expected


def test_studies_unpack_as_uid_and_accession():
    manifest = validate_manifest(example(), FOLDER)
    [(uid, accession)] = manifest.studies
    assert (uid, accession) == ("1.2.3", "ACC001")


def test_minimal_manifest_gets_the_defaults():
    manifest = validate_manifest(copy.deepcopy(MINIMAL), "R2026-7")
    assert manifest.job_id == "R2026-7"
    assert manifest.inputs == ["dicom/"]
    assert manifest.reports == [] and manifest.studies == []
    assert (manifest.media_type, manifest.media_copies, manifest.media_profile) == (
        "auto", 1, "auto")
    assert manifest.media_viewer is True and manifest.media_web is True
    assert manifest.media_label_text == ""
    assert manifest.patient_sex == "" and manifest.patient_issuer is None
    assert manifest.request_received is None and manifest.request_due is None
    assert manifest.fee_amount is None
    assert manifest.patient_birth_date == date(1980, 2, 29)
    assert manifest.approval_at.utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(("received", "due"), [
    ("2026-11-20", date(2026, 12, 20)),
    ("2026-12-15", date(2027, 1, 14)),
    ("2028-02-01", date(2028, 3, 2)),
])
def test_due_defaults_to_received_plus_30_days(received, due):
    data = changed(changed(example(), "request.due", delete=True), "request.received", received)
    assert validate_manifest(data, FOLDER).request_due == due


def test_explicit_due_is_kept():
    data = changed(example(), "request.due", "2026-12-01")
    assert validate_manifest(data, FOLDER).request_due == date(2026, 12, 1)


def test_explicit_job_id_wins_over_folder_name():
    assert validate_manifest(example(), "not a job id!").job_id == "R2026-000123"


def test_manifest_repr_leaves_out_the_patient():
    text = repr(validate_manifest(example(), FOLDER))
    assert "R2026-000123" in text
    for secret in ("MRN12345", "DOE^JANE", "1970"):
        assert secret not in text


def test_raw_is_a_copy():
    data = example()
    manifest = validate_manifest(data, FOLDER)
    data["patient"]["id"] = "OTHER"
    assert manifest.raw["patient"]["id"] == "MRN12345"


def test_whole_number_given_as_float_is_accepted():
    assert validate_manifest(changed(example(), "media.copies", 3.0), FOLDER).media_copies == 3


# --- one message per kind of violation ------------------------------------------------------

CASES = [
    # (change: dotted path, value or DELETE), expected line
    ("patient.birth_date", "1970-13-01",
     'patient.birth_date: not a date (got "1970-13-01"); write it as YYYY-MM-DD, '
     'e.g. "1970-01-31"'),
    ("patient.birth_date", "01/02/1970", 'patient.birth_date: not a date (got "01/02/1970")'),
    ("patient.birth_date", "1971-02-29", 'patient.birth_date: not a date (got "1971-02-29")'),
    ("request.received", "20261120", 'request.received: not a date (got "20261120")'),
    ("patient.nickname", "JJ", "patient.nickname: unknown key, not allowed in job.json"),
    ("patient.birthdate", "1970-01-01",
     'patient.birthdate: unknown key, not allowed in job.json; did you mean "birth_date"?'),
    ("Version", 1, 'Version: unknown key, not allowed in job.json; did you mean "version"?'),
    ("reports.0.pdf", "x", "reports[0].pdf: unknown key, not allowed in job.json"),
    ("request.fee.tax", "0", "request.fee.tax: unknown key, not allowed in job.json"),
    ("approval.by", "DELETE", "approval.by: missing (required)"),
    ("approval.at", "DELETE", "approval.at: missing (required)"),
    ("patient.id", "DELETE", "patient.id: missing (required)"),
    ("patient.name", "DELETE", "patient.name: missing (required)"),
    ("patient.birth_date", "DELETE", "patient.birth_date: missing (required)"),
    ("version", "DELETE", "version: missing (required)"),
    ("patient", "DELETE", "patient: missing (required)"),
    ("reports.0.path", "DELETE", "reports[0].path: missing (required)"),
    ("studies.0.study_instance_uid", "DELETE", "studies[0].study_instance_uid: missing (required)"),
    ("media.type", "floppy",
     'media.type: must be one of auto, cd, dvd, dvd-dl, bd, usb, iso, zip, folder, dicom '
     '(got "floppy")'),
    ("media.profile", "STD-GEN-DVD",
     "media.profile: must be one of auto, STD-GEN-CD, STD-GEN-DVD-JPEG, STD-GEN-DVD-J2K, "
     "STD-GEN-USB-JPEG, STD-GEN-USB-J2K, STD-GEN-BD-JPEG, STD-GEN-BD-J2K (got \"STD-GEN-DVD\")"),
    ("patient.sex", "X", 'patient.sex: must be one of M, F, O, "" (got "X")'),
    ("media.copies", "2", 'media.copies: must be a whole number (got "2")'),
    ("media.copies", 2.5, "media.copies: must be a whole number (got 2.5)"),
    ("media.copies", True, "media.copies: must be a whole number (got true)"),
    ("media.copies", 0, "media.copies: must be at least 1 (got 0)"),
    ("media.copies", 21, "media.copies: must be at most 20 (got 21)"),
    ("media.viewer", "yes", 'media.viewer: must be true or false (got "yes")'),
    ("media", "dvd", 'media: must be an object in curly braces { } (got "dvd")'),
    ("inputs", "dicom/", 'inputs: must be a list in square brackets [ ] (got "dicom/")'),
    ("inputs", [], "inputs: must list at least 1 entry (got an empty list)"),
    ("inputs", [""], "inputs[0]: must not be empty"),
    ("patient.id", 12345, "patient.id: must be text in double quotes (got 12345)"),
    ("patient.id", "", "patient.id: must not be empty"),
    ("patient.name", None, "patient.name: must be text in double quotes (got null)"),
    ("request.requester", 5, "request.requester: must be text in double quotes (got 5)"),
    ("version", 2, "version: must be 1 (got 2)"),
    ("version", "1", 'version: must be 1 (got "1")'),
    ("version", True, "version: must be 1 (got true)"),
    ("job_id", "a/b",
     "job_id: may only contain letters, digits, '.', '_' and '-', at most 64 characters "
     '(got "a/b")'),
    ("job_id", "", "job_id: may only contain letters, digits, '.', '_' and '-', at most 64 "
     'characters (got "")'),
    ("job_id", "x" * 65, "job_id: may only contain letters"),
    ("job_id", ".hidden", 'job_id: must start with a letter or digit (got ".hidden")'),
    ("job_id", "...", 'job_id: must start with a letter or digit (got "...")'),
    ("job_id", "-R1", 'job_id: must start with a letter or digit (got "-R1")'),
    ("job_id", "R1\n", "job_id: may only contain letters, digits, '.', '_' and '-', at most 64 "
     'characters (got "R1\\n")'),
    ("job_id", "/R1", "job_id: may only contain letters, digits, '.', '_' and '-', at most 64 "
     'characters (got "/R1"), and must start with a letter or digit'),
    ("studies.0.study_instance_uid", "1.2.3\n",
     "studies[0].study_instance_uid: must be a DICOM UID"),
    ("studies.0.study_instance_uid", "1.2.abc",
     'studies[0].study_instance_uid: must be a DICOM UID: numbers separated by dots, '
     'e.g. "1.2.840.10008" (got "1.2.abc")'),
    ("studies.0.study_instance_uid", "1.2.", "studies[0].study_instance_uid: must be a DICOM UID"),
    ("reports.0.study_instance_uid", "1..2", "reports[0].study_instance_uid: must be a DICOM UID"),
    ("studies.0.accession_number", "A" * 17,
     "studies[0].accession_number: too long: at most 16 characters allowed (got 17 characters)"),
    ("media.label_text", "L" * 201,
     "media.label_text: too long: at most 200 characters allowed (got 201 characters)"),
    ("request.fee.amount", "6,50",
     'request.fee.amount: must be an amount written in quotes, e.g. "6.50" (got "6,50")'),
    ("request.fee.amount", 6.5, "request.fee.amount: must be text in double quotes (got 6.5)"),
    ("request.fee.currency", "usd",
     'request.fee.currency: must be a three-letter currency code in capitals, e.g. "USD" '
     '(got "usd")'),
    ("approval.at", "2026-11-27",
     'approval.at: not a date and time with time zone (got "2026-11-27"); write it like '
     '"2026-11-27T10:00:00Z"'),
    ("approval.at", "2026-11-27T10:00:00",
     'approval.at: not a date and time with time zone (got "2026-11-27T10:00:00")'),
    ("approval.at", "2026-11-31T10:00:00Z",
     'approval.at: not a date and time with time zone (got "2026-11-31T10:00:00Z")'),
    ("approval.by", "", "approval.by: must not be empty"),
    ("request.due", "2026-11-01",
     "request.due: is before request.received (2026-11-20); a copy cannot be due before the "
     "request arrived"),
    ("reports.0.study_instance_uid", "1.2.4",
     'reports[0].study_instance_uid: not one of the studies listed under "studies" '
     '(got "1.2.4")'),
    ("studies.1", {"study_instance_uid": "1.2.3"},
     'studies[1].study_instance_uid: the same study is listed twice (got "1.2.3")'),
]


@pytest.mark.parametrize(("where", "value", "expected"), CASES,
                         ids=[f"{w}={str(v)[:12]}" for w, v, _ in CASES])
def test_each_violation_is_named_in_plain_words(where, value, expected):
    if where == "studies.1":
        data = example()
        data["studies"].append(value)
    elif value == "DELETE":
        data = changed(example(), where, delete=True)
    else:
        data = changed(example(), where, value)
    lines = problems(data)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected)


def test_every_violation_is_listed_one_per_line_sorted_by_path():
    data = example()
    data["version"] = 2
    data["patient"]["birth_date"] = "1970-13-01"
    data["patient"]["nickname"] = "JJ"
    del data["approval"]["by"]
    data["media"].update(type="floppy", copies="2")
    data["reports"][0]["path"] = ""
    data["studies"].append({"study_instance_uid": "x"})
    assert problems(data) == [
        "approval.by: missing (required)",
        'media.copies: must be a whole number (got "2")',
        'media.type: must be one of auto, cd, dvd, dvd-dl, bd, usb, iso, zip, folder, dicom '
        '(got "floppy")',
        'patient.birth_date: not a date (got "1970-13-01"); write it as YYYY-MM-DD, '
        'e.g. "1970-01-31"',
        "patient.nickname: unknown key, not allowed in job.json",
        "reports[0].path: must not be empty",
        'studies[1].study_instance_uid: must be a DICOM UID: numbers separated by dots, '
        'e.g. "1.2.840.10008" (got "x")',
        "version: must be 1 (got 2)",
    ]


def test_array_indices_sort_as_numbers():
    data = example()
    data["studies"] = [{"study_instance_uid": "1.2.3"}] * 2 + [
        {"study_instance_uid": f"1.{i}", "bad": 1} for i in range(11)]
    lines = problems(data)
    assert lines[0].startswith("studies[1].study_instance_uid: the same study")
    assert lines[1].startswith("studies[2].bad:")
    assert lines[-1].startswith("studies[12].bad:")


def test_several_missing_keys_of_one_object_each_get_a_line():
    assert problems(changed(MINIMAL, "patient", {})) == [
        "patient.birth_date: missing (required)",
        "patient.id: missing (required)",
        "patient.name: missing (required)",
    ]


def test_wrong_type_of_a_section_is_one_line_not_many():
    assert problems(changed(MINIMAL, "patient", ["MRN1"])) == [
        "patient: must be an object in curly braces { } (got a list [ ])"]


def test_top_level_not_an_object():
    assert problems([1, 2]) == ["job.json: must be an object in curly braces { } (got a list [ ])"]


def test_long_values_are_shortened():
    [line] = problems(changed(example(), "media.type", "z" * 500))
    assert len(line) < 160 and line.endswith('…")')


def test_folder_name_that_is_no_job_id_is_refused_when_job_id_is_absent():
    data = changed(example(), "job_id", delete=True)
    [line] = problems(data, folder="Jane Doe's disc")
    assert line.startswith("job_id: not given, and the job folder's name \"Jane Doe's disc\" "
                           "cannot be used instead")
    assert "rename the folder" in line
    assert validate_manifest(data, "R2026-000123").job_id == "R2026-000123"


def test_hidden_folder_name_is_no_job_id():
    data = changed(example(), "job_id", delete=True)
    [line] = problems(data, folder=".hidden")
    assert line.startswith("job_id: not given, and the job folder's name \".hidden\" cannot be "
                           "used instead: a job id must start with a letter or digit")


def test_job_id_rule_is_the_design_rule():
    for good in ("R1", "0", "a" * 64, "R2026-000123", "a.b_c-d", "x..."):
        assert mf.job_id_problem(good) is None, good
        assert validate_manifest(changed(example(), "job_id", good), FOLDER).job_id == good
    for bad in (".hidden", "...", ".", "-", "_x", "", "a" * 65, "a b", "R1\n", "ä"):
        assert mf.job_id_problem(bad), bad
        assert not mf.JOB_ID_RE.fullmatch(bad)


def test_folder_name_problem_is_listed_with_schema_problems():
    data = changed(changed(example(), "job_id", delete=True), "version", 3)
    lines = problems(data, folder="a" * 65)
    assert [line.split(":")[0] for line in lines] == ["job_id", "version"]


# --- the schema file -------------------------------------------------------------------------


def _walk_schemas(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_schemas(value)


def test_schema_is_valid_draft_2020_12():
    data = schema()
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(data)
    assert json.loads(schema_text()) == data


def test_schema_forbids_unknown_keys_in_every_object():
    objects = [s for s in _walk_schemas(schema()) if s.get("type") == "object"]
    assert len(objects) == 10
    assert all(s.get("additionalProperties") is False for s in objects)


def test_schema_required_fields():
    data = schema()
    assert set(data["required"]) == {"version", "patient", "approval"}
    assert set(data["properties"]["patient"]["required"]) == {"id", "name", "birth_date"}
    assert set(data["properties"]["approval"]["required"]) == {"by", "at"}


def test_every_property_has_a_description():
    for node in _walk_schemas(schema()):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), name


def test_every_schema_pattern_has_plain_words():
    patterns = {s["pattern"] for s in _walk_schemas(schema()) if "pattern" in s}
    assert patterns and patterns <= set(mf._PATTERN_WORDS)


def test_schema_returns_a_fresh_copy():
    schema()["properties"].clear()
    assert "patient" in schema()["properties"]


# --- load_manifest ---------------------------------------------------------------------------


def make_job(root: Path, data: object = EXAMPLE, name: str = "R2026-000123") -> Path:
    """A job folder with job.json (the DESIGN example unless `data`), a DICOM file and a report."""
    job = root / name
    (job / "dicom" / "CT").mkdir(parents=True)
    (job / "dicom" / "CT" / "1.dcm").write_bytes(b"\0" * 132)
    (job / "reports").mkdir()
    (job / "reports" / "ct-chest.pdf").write_bytes(b"%PDF-1.4\n")
    write_manifest(job, data)
    return job


def write_manifest(job: Path, data: object) -> None:
    (job / "job.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


def rejection(job: Path) -> str:
    with pytest.raises(JobRejected) as caught:
        load_manifest(job)
    return str(caught.value)


def test_load_design_example(tmp_path):
    manifest = load_manifest(make_job(tmp_path))
    assert manifest == validate_manifest(example(), "R2026-000123")


def test_load_takes_job_id_from_folder(tmp_path):
    job = make_job(tmp_path, changed(example(), "job_id", delete=True), name="R2026-42")
    assert load_manifest(job).job_id == "R2026-42"


def test_load_accepts_a_byte_order_mark(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(example()).encode())
    assert load_manifest(job).job_id == "R2026-000123"


def test_missing_job_json(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").unlink()
    assert rejection(job).startswith("job.json is missing from the job folder R2026-000123")


def test_a_path_with_a_line_break_is_refused_on_one_line(tmp_path):
    job = make_job(tmp_path, changed(example(), "inputs", ["dicom/\nJob X was approved/"]))
    [line] = rejection(job).splitlines()
    assert line.startswith("inputs[0]: the path contains a control character (such as a line "
                           "break)")
    assert line.endswith('(got "dicom/\\nJob X was approved/")')
    with pytest.raises(JobRejected) as caught:
        resolve_inside(job, "dicom/\u2028x")
    assert str(caught.value).startswith("dicom/\\u2028x: the path contains a control character")


@pytest.mark.parametrize("text", [
    "[" * 100_000,
    '{"a": ' * 100_000,
    '{"version": 1, "patient": ' + '{"x": [' * 40 + "1" + "]}" * 40 + "}",
    '{"version": 1, "note": "' + "[" * 50 + '", "x": ' + "[" * 33 + "]" * 33 + "}",
])
def test_deeply_nested_job_json_is_rejected_in_plain_words(tmp_path, text):
    job = make_job(tmp_path)
    (job / "job.json").write_text(text)
    assert rejection(job).startswith("job.json has lists or objects nested more than 32 deep")


def test_nesting_counts_brackets_outside_strings_only(tmp_path):
    text = '{"a": "[[[{{{", "b": [[1], {"c": "\\\\]]\\""}]}'
    assert json.loads(text)["b"][1]["c"] == '\\]]"'
    assert mf._nesting(text) == 3
    deep = '{"version": 1, "patient": ' + '{"x": [' * 15 + "1" + "]}" * 15 + "}"
    assert mf._nesting(deep) == 31
    job = make_job(tmp_path)
    (job / "job.json").write_text(deep)
    assert "patient.x: unknown key" in rejection(job), "not too deep: checked as usual"


def test_a_number_too_long_to_read_is_rejected(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").write_text('{"version": ' + "9" * 5000 + "}")
    assert rejection(job).startswith("job.json could not be read: it holds a value that JSON "
                                     "readers do not take")


def test_job_json_that_is_a_folder(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").unlink()
    (job / "job.json").mkdir()
    assert rejection(job) == "job.json is a folder; it must be a file"


def test_job_json_linking_outside(tmp_path):
    job = make_job(tmp_path)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(example()))
    (job / "job.json").unlink()
    (job / "job.json").symlink_to(outside)
    assert "link that leads outside the job folder" in rejection(job)


def test_not_json_gives_line_and_column(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").write_text('{\n  "version": 1,\n  "patient": {"id": "MRN1",}\n}\n')
    message = rejection(job)
    assert message.startswith("job.json is not valid JSON: ")
    assert "at line 3, column" in message


def test_not_utf8(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").write_bytes('{"patient": {"name": "MÜLLER"}}'.encode("latin-1"))
    assert rejection(job).startswith("job.json is not UTF-8 text")


def test_duplicate_keys_are_refused(tmp_path):
    job = make_job(tmp_path)
    text = json.dumps(example()).replace('"id": "MRN12345"', '"id": "MRN12345", "id": "MRN9"')
    (job / "job.json").write_text(text)
    assert rejection(job) == (
        'job.json names the key "id" twice in the same object; keep only one')


def test_nan_is_refused(tmp_path):
    job = make_job(tmp_path)
    (job / "job.json").write_text(json.dumps(example()).replace('"copies": 1', '"copies": NaN'))
    assert "NaN is not a number allowed in JSON" in rejection(job)


@pytest.mark.parametrize("top", [[], "job", 1, None])
def test_not_an_object(tmp_path, top):
    job = make_job(tmp_path, top)
    assert rejection(job).startswith("job.json must hold one JSON object in curly braces { }")


def test_load_reports_schema_problems(tmp_path):
    job = make_job(tmp_path, changed(example(), "media.copies", "2"))
    assert rejection(job) == 'media.copies: must be a whole number (got "2")'


def test_missing_report_file(tmp_path):
    job = make_job(tmp_path)
    (job / "reports" / "ct-chest.pdf").unlink()
    assert rejection(job) == (
        'reports[0].path: file not found in the job folder (got "reports/ct-chest.pdf")')


def test_missing_input_folder(tmp_path):
    job = make_job(tmp_path, changed(example(), "inputs", ["dicom/", "more/"]))
    assert rejection(job) == 'inputs[1]: folder not found in the job folder (got "more/")'


def test_report_that_is_a_folder(tmp_path):
    job = make_job(tmp_path, changed(example(), "reports.0.path", "reports"))
    assert rejection(job) == 'reports[0].path: is a folder, not a file (got "reports")'


def test_every_bad_path_is_listed(tmp_path):
    data = changed(example(), "inputs", ["../other", "/etc", "dicom\\CT", "dicom/"])
    data["reports"].append({"path": "reports/x.pdf"})
    job = make_job(tmp_path, data)
    assert rejection(job).splitlines() == [
        "inputs[0]: must not use '..': only files inside the job folder can be used "
        '(got "../other")',
        "inputs[1]: is an absolute path; give the path inside the job folder, e.g. dicom/ "
        '(got "/etc")',
        "inputs[2]: uses a backslash '\\'; separate folders with '/', e.g. reports/ct.pdf "
        '(got "dicom\\\\CT")',
        'reports[1].path: file not found in the job folder (got "reports/x.pdf")',
    ]


def test_report_linked_to_etc_passwd(tmp_path):
    job = make_job(tmp_path)
    (job / "reports" / "ct-chest.pdf").unlink()
    (job / "reports" / "ct-chest.pdf").symlink_to("/etc/passwd")
    assert rejection(job) == (
        "reports[0].path: is a link that leads outside the job folder; copy the files into the "
        'job folder instead (got "reports/ct-chest.pdf")')


def test_input_folder_linked_outside(tmp_path):
    job = make_job(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (job / "dicom").rename(tmp_path / "moved")
    (job / "dicom").symlink_to(outside)
    assert rejection(job).startswith("inputs[0]: is a link that leads outside the job folder")


# --- resolve_inside --------------------------------------------------------------------------


@pytest.mark.parametrize(("rel", "reason"), [
    ("", "the path is empty"),
    ("  ", "the path is empty"),
    ("/etc/passwd", "is an absolute path"),
    ("C:/dicom", "is an absolute path"),
    ("..", "must not use '..'"),
    ("../R2026-000123/dicom", "must not use '..'"),
    ("dicom/../../x", "must not use '..'"),
    ("dicom/CT/..", "must not use '..'"),
    ("dicom\\CT", "uses a backslash"),
    ("dicom/\0", "the path contains a NUL character"),
])
def test_resolve_inside_refuses_bad_paths(tmp_path, rel, reason):
    job = make_job(tmp_path)
    with pytest.raises(JobRejected, match="^.*: " + reason.replace(".", r"\.")):
        resolve_inside(job, rel)


def test_resolve_inside_missing_file_message(tmp_path):
    job = make_job(tmp_path)
    with pytest.raises(JobRejected) as caught:
        resolve_inside(job, "reports/x.pdf")
    assert str(caught.value) == "reports/x.pdf: file not found in the job folder"


def test_resolve_inside_returns_the_real_path(tmp_path):
    job = make_job(tmp_path)
    assert resolve_inside(job, "./dicom//CT/1.dcm") == (job / "dicom/CT/1.dcm").resolve()
    assert resolve_inside(job, "dicom/") == (job / "dicom").resolve()


def test_resolve_inside_file_given_as_folder(tmp_path):
    job = make_job(tmp_path)
    with pytest.raises(JobRejected, match="is a file, not a folder"):
        resolve_inside(job, "reports/ct-chest.pdf/")


def test_resolve_inside_allows_links_within_the_folder(tmp_path):
    job = make_job(tmp_path)
    (job / "reports" / "latest.pdf").symlink_to("ct-chest.pdf")
    assert resolve_inside(job, "reports/latest.pdf") == (job / "reports/ct-chest.pdf").resolve()


def test_resolve_inside_refuses_link_to_etc_passwd(tmp_path):
    job = make_job(tmp_path)
    (job / "passwd.pdf").symlink_to("/etc/passwd")
    with pytest.raises(JobRejected, match="^passwd.pdf: is a link that leads outside"):
        resolve_inside(job, "passwd.pdf")


def test_resolve_inside_refuses_relative_link_climbing_out(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "secret.pdf").write_bytes(b"%PDF")
    (job / "reports" / "up.pdf").symlink_to("../../secret.pdf")
    with pytest.raises(JobRejected, match="leads outside"):
        resolve_inside(job, "reports/up.pdf")


def test_resolve_inside_checks_every_step_of_the_way(tmp_path):
    """A path that leaves the folder and comes back in is refused too."""
    job = make_job(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "back").symlink_to(job / "dicom")
    (job / "out").symlink_to(outside)
    with pytest.raises(JobRejected, match="leads outside"):
        resolve_inside(job, "out/back/CT/1.dcm")


def test_resolve_inside_refuses_linked_folder_leaving(tmp_path):
    job = make_job(tmp_path)
    (job / "etc").symlink_to("/etc")
    with pytest.raises(JobRejected, match="leads outside"):
        resolve_inside(job, "etc/passwd")


def test_resolve_inside_works_when_the_job_folder_is_reached_through_a_link(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "alias").symlink_to(job)
    assert resolve_inside(tmp_path / "alias", "dicom/CT/1.dcm") == (
        job / "dicom/CT/1.dcm").resolve()


# --- iter_job_files --------------------------------------------------------------------------


def names(job: Path, paths) -> list[str]:
    root = job.resolve()
    return [p.relative_to(root).as_posix() for p in paths]


def test_iter_job_files_walks_sorted_and_skips_dot_names(tmp_path):
    job = make_job(tmp_path)
    dicom = job / "dicom"
    (dicom / "MR" / "s2").mkdir(parents=True)
    for rel in ("MR/s2/b.dcm", "MR/a.dcm", "z.dcm", ".DS_Store", "MR/._a.dcm"):
        (dicom / rel).write_bytes(b"x")
    (dicom / ".hidden").mkdir()
    (dicom / ".hidden" / "c.dcm").write_bytes(b"x")
    assert names(job, iter_job_files(job, "dicom/")) == [
        "dicom/CT/1.dcm", "dicom/MR/a.dcm", "dicom/MR/s2/b.dcm", "dicom/z.dcm"]


def test_skipped_job_files_names_every_dot_name_left_off(tmp_path):
    job = make_job(tmp_path)
    dicom = job / "dicom"
    (dicom / "MR").mkdir()
    for rel in ("MR/a.dcm", ".IM0003.dcm", "MR/._a.dcm"):
        (dicom / rel).write_bytes(b"x")
    (dicom / ".hidden").mkdir()
    (dicom / ".hidden" / "c.dcm").write_bytes(b"x")
    (dicom / ".away").symlink_to("/etc", target_is_directory=True)   # never opened: named
    assert names(job, iter_job_files(job, "dicom/")) == ["dicom/CT/1.dcm", "dicom/MR/a.dcm"]
    assert skipped_job_files(job, "dicom/") == [
        ("dicom/.IM0003.dcm", mf.HIDDEN_FILE),
        ("dicom/.away", mf.HIDDEN_FOLDER),
        ("dicom/.hidden", mf.HIDDEN_FOLDER),
        ("dicom/MR/._a.dcm", mf.HIDDEN_FILE),
    ]
    assert mf.HIDDEN_FILE == ("left off: the file name starts with '.', which marks hidden or "
                              "unfinished files; rename it if it belongs to the release")
    # Named on purpose: used, nothing left off.
    assert names(job, iter_job_files(job, "dicom/.IM0003.dcm")) == ["dicom/.IM0003.dcm"]
    assert skipped_job_files(job, "dicom/.IM0003.dcm") == []
    assert skipped_job_files(job, "dicom/.hidden/") == []


def test_skipped_job_files_leaves_out_the_stations_own_mark(tmp_path):
    job = make_job(tmp_path)
    (job / mf.OWNER_FILE).write_text("station-1")
    (job / ".notes.dcm").write_bytes(b"x")
    assert skipped_job_files(job, "./") == [(".notes.dcm", mf.HIDDEN_FILE)]


def test_skipped_job_files_refuses_what_iter_job_files_refuses(tmp_path):
    job = make_job(tmp_path)
    (job / "dicom" / "CT" / "2.dcm").symlink_to("/etc/passwd")
    with pytest.raises(JobRejected, match="^dicom/CT/2.dcm: is a link that leads outside"):
        skipped_job_files(job, "dicom/")


def test_iter_job_files_single_file(tmp_path):
    job = make_job(tmp_path)
    assert names(job, iter_job_files(job, "dicom/CT/1.dcm")) == ["dicom/CT/1.dcm"]


def test_iter_job_files_refuses_link_to_etc_passwd(tmp_path):
    job = make_job(tmp_path)
    (job / "dicom" / "CT" / "2.dcm").symlink_to("/etc/passwd")
    with pytest.raises(JobRejected) as caught:
        list(iter_job_files(job, "dicom"))
    assert str(caught.value).startswith(
        "dicom/CT/2.dcm: is a link that leads outside the job folder")


def test_iter_job_files_refuses_linked_folder_leaving(tmp_path):
    job = make_job(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.dcm").write_bytes(b"x")
    (job / "dicom" / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(JobRejected, match="^dicom/more: is a link that leads outside"):
        list(iter_job_files(job, "dicom/"))


def test_iter_job_files_follows_links_inside_once(tmp_path):
    job = make_job(tmp_path)
    (job / "dicom" / "CT" / "again.dcm").symlink_to("1.dcm")
    (job / "dicom" / "loop").symlink_to(job / "dicom", target_is_directory=True)
    assert names(job, iter_job_files(job, "dicom/")) == ["dicom/CT/1.dcm", "dicom/CT/again.dcm"]


def test_iter_job_files_refuses_broken_link(tmp_path):
    job = make_job(tmp_path)
    (job / "dicom" / "gone.dcm").symlink_to("nothing-here.dcm")
    with pytest.raises(JobRejected, match="^dicom/gone.dcm: is a link to a file that does not"):
        list(iter_job_files(job, "dicom/"))


def test_iter_job_files_refuses_special_files(tmp_path):
    job = make_job(tmp_path)
    os.mkfifo(job / "dicom" / "pipe")
    with pytest.raises(JobRejected, match="^dicom/pipe: is not an ordinary file"):
        list(iter_job_files(job, "dicom/"))


def test_iter_job_files_refuses_bad_input_path(tmp_path):
    job = make_job(tmp_path)
    with pytest.raises(JobRejected, match="must not use '..'"):
        list(iter_job_files(job, "../"))


@pytest.mark.parametrize("patient,words", [
    ({"id": "   ", "name": "DOE^JANE"}, "patient.id: must not be empty or only spaces"),
    ({"id": "MRN1", "name": " ^ "}, "patient.name: must hold a name"),
])
def test_a_blank_patient_id_or_name_is_rejected(patient: dict, words: str) -> None:
    """A blank ID would match files without one; a blank name matches nobody."""
    data = {"version": 1, "patient": {**patient, "birth_date": "1970-01-01"},
            "approval": {"by": "x", "at": "2026-01-01T00:00:00Z"}}
    with pytest.raises(JobRejected, match=re.escape(words)):
        validate_manifest(data, "J1")


def test_expect_counts_are_accepted_and_checked():
    validate_manifest(changed(example(), "expect", {"files": 3, "bytes": 1000}), "J1")
    for bad in ({"files": -1, "bytes": 0}, {"files": 3}, {"files": 3, "bytes": 1, "x": 1},
                {"files": "3", "bytes": 1}):
        with pytest.raises(JobRejected):
            validate_manifest(changed(example(), "expect", bad), "J1")
