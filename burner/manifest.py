"""The job manifest, `job.json` version 1 (DESIGN.md section 3): schema, validation, paths.

Every refusal is a `JobRejected` whose message a front-desk person can act on: one line per
problem, each starting with where it is in job.json (`patient.birth_date: not a date ...`).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from burner.errors import JobRejected
from burner.untrusted import one_line

MANIFEST_NAME = "job.json"
SCHEMA_FILE = "job.schema.json"
MAX_MANIFEST_BYTES = 1024 * 1024
DEFAULT_INPUTS = ("dicom/",)
DUE_AFTER = timedelta(days=30)  # 45 CFR 164.524(b)(2): act within 30 calendar days

# DESIGN.md section 3. The first character is a letter or digit: a name starting with '.' is
# hidden and never served from the spool, and one starting with '-' reads as a command option.
JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
JOB_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"   # the same rule in job.schema.json
_JOB_ID_CHARS = "may only contain letters, digits, '.', '_' and '-', at most 64 characters"
_JOB_ID_START = "must start with a letter or digit"
JOB_ID_RULE = f"{_JOB_ID_START} and {_JOB_ID_CHARS}"
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*", re.ASCII)

Location = tuple[str | int, ...]  # where in job.json, e.g. ("reports", 0, "path")
Problem = tuple[Location, str]


class StudyRef(NamedTuple):
    """A study the release is limited to: (Study Instance UID, accession number)."""

    uid: str
    accession: str | None = None


class FetchRef(NamedTuple):
    """What to fetch from a PACS before the job goes on (job.json "fetch")."""

    pacs: str
    study_uids: tuple[str, ...] = ()
    accessions: tuple[str, ...] = ()
    whole_patient: bool = False


class ReportRef(NamedTuple):
    """A report PDF in the job folder, and the study it belongs to."""

    path: str
    study_instance_uid: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A validated job.json, with defaults filled in. Patient fields stay out of repr()."""

    job_id: str
    patient_id: str = field(repr=False)
    patient_name: str = field(repr=False)
    patient_birth_date: date = field(repr=False)
    approval_by: str
    approval_at: datetime
    patient_issuer: str | None = None
    patient_sex: str = field(default="", repr=False)
    request_reference: str | None = None
    request_received: date | None = None
    request_requester: str | None = None
    request_due: date | None = None
    fee_amount: Decimal | None = None
    fee_currency: str | None = None
    fee_basis: str | None = None
    studies: list[StudyRef] = field(default_factory=list)
    inputs: list[str] = field(default_factory=lambda: list(DEFAULT_INPUTS))
    reports: list[ReportRef] = field(default_factory=list)
    media_type: str = "auto"
    media_copies: int = 1
    media_profile: str = "auto"
    media_viewer: bool = True
    media_web: bool = True
    media_label_text: str = ""
    media_split: bool = True
    media_destination: str = ""
    fetch: FetchRef | None = None
    approval_note: str | None = None
    raw: dict = field(default_factory=dict, repr=False)


# --- the schema ----------------------------------------------------------------------------


def schema_text() -> str:
    """The JSON Schema of job.json, as shipped inside the package."""
    return resources.files("burner").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(schema_text())


def schema() -> dict:
    """The JSON Schema of job.json as a dict (a fresh copy; change it freely)."""
    return copy.deepcopy(_schema())


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATE_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def _is_date(value: object) -> bool:
    """A calendar date written YYYY-MM-DD."""
    if not isinstance(value, str):
        return True  # "type" reports it
    return bool(_DATE_RE.fullmatch(value)) and _parses(date.fromisoformat, value)


def _is_date_time(value: object) -> bool:
    """A date and time with a time zone (RFC 3339), e.g. 2026-11-27T10:00:00Z."""
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME_RE.fullmatch(value)) and _parses(datetime.fromisoformat, value)


def _parses(parse: Callable[[str], object], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=64)
def _anchored(pattern: str) -> re.Pattern[str]:
    """A schema pattern for Python's re: a final "$" ends the text, as in JSON Schema (ECMA-262),
    instead of also allowing a newline before the end (so "R1" + newline is no job id)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern_keyword(validator, pattern, instance, schema):  # noqa: ANN001 - jsonschema
    if validator.is_type(instance, "string") and not _anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    checker = FormatChecker(formats=())
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    strict = validators.extend(Draft202012Validator, {"pattern": _pattern_keyword})
    return strict(_schema(), format_checker=checker)


# --- schema errors in plain words ----------------------------------------------------------

_TYPE_WORDS = {
    "object": "must be an object in curly braces { }",
    "array": "must be a list in square brackets [ ]",
    "string": "must be text in double quotes",
    "integer": "must be a whole number",
    "number": "must be a number",
    "boolean": "must be true or false",
}

_PATTERN_WORDS = {
    JOB_ID_PATTERN: JOB_ID_RULE,     # _pattern says which part of the rule a job id breaks
    r"^[0-9]+(\.[0-9]+)*$": 'must be a DICOM UID: numbers separated by dots, e.g. "1.2.840.10008"',
    r"^[0-9]+(\.[0-9]+)?$": 'must be an amount written in quotes, e.g. "6.50"',
    r"^[A-Z]{3}$": 'must be a three-letter currency code in capitals, e.g. "USD"',
    r"^$|\S": "must not be empty or only spaces",
    r"^$|[^\s^=]": "must hold a name, not only spaces or separators",
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$": "must be the name of an entry of the station's "
                                        "configuration: letters, digits, - and _",
    r"^[^\\*?\u0000-\u001f]+$": "must be an accession number without \\, * or ?",
}

_FORMAT_WORDS = {
    "date": ("not a date", 'write it as YYYY-MM-DD, e.g. "1970-01-31"'),
    "date-time": ("not a date and time with time zone", 'write it like "2026-11-27T10:00:00Z"'),
}


def _show(value: object) -> str:
    """A value as it would appear in job.json, shortened."""
    if isinstance(value, dict):
        return "an object { }"
    if isinstance(value, list):
        return "a list [ ]"
    text = one_line(json.dumps(value, ensure_ascii=False))   # JSON leaves e.g. U+2028 as is
    if len(text) <= 60:
        return text
    return text[:56] + ('…"' if isinstance(value, str) else "…")


def _choices(values: list) -> str:
    return ", ".join(v if isinstance(v, str) and v else json.dumps(v) for v in values)


def _required(error: ValidationError, at: Location) -> list[Problem]:
    present = error.instance if isinstance(error.instance, dict) else {}
    return [(at + (name,), "missing (required)") for name in error.validator_value
            if name not in present]


def _unknown_keys(error: ValidationError, at: Location) -> list[Problem]:
    known = list(error.schema.get("properties", {}))
    problems = []
    for key in error.instance:
        if key in known:
            continue
        text = f"unknown key, not allowed in {MANIFEST_NAME}"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if close:
            text += f'; did you mean "{close[0]}"?'
        problems.append((at + (key,), text))
    return problems


def _type(error: ValidationError, at: Location) -> list[Problem]:
    words = _TYPE_WORDS.get(error.validator_value, f"must be of type {error.validator_value}")
    return [(at, f"{words} (got {_show(error.instance)})")]


def _enum(error: ValidationError, at: Location) -> list[Problem]:
    return [(at, f"must be one of {_choices(error.validator_value)} (got {_show(error.instance)})")]


def _const(error: ValidationError, at: Location) -> list[Problem]:
    return [(at, f"must be {_show(error.validator_value)} (got {_show(error.instance)})")]


def job_id_problem(value: str) -> str | None:
    """What is wrong with `value` as a job id, in plain words ending in "(got ...)"; None if
    nothing is."""
    if JOB_ID_RE.fullmatch(value):
        return None
    got = f"(got {_show(value)})"
    if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value, re.ASCII):
        return f"{_JOB_ID_START} {got}"
    if value and not JOB_ID_RE.match(value[0]):
        return f"{_JOB_ID_CHARS} {got}, and {_JOB_ID_START}"
    return f"{_JOB_ID_CHARS} {got}"


def _pattern(error: ValidationError, at: Location) -> list[Problem]:
    if error.validator_value == JOB_ID_PATTERN and isinstance(error.instance, str):
        return [(at, job_id_problem(error.instance) or JOB_ID_RULE)]
    words = _PATTERN_WORDS.get(error.validator_value, "is not written the expected way")
    return [(at, f"{words} (got {_show(error.instance)})")]


def _format(error: ValidationError, at: Location) -> list[Problem]:
    what, how = _FORMAT_WORDS.get(error.validator_value, (f"not a {error.validator_value}", ""))
    text = f"{what} (got {_show(error.instance)})"
    return [(at, f"{text}; {how}" if how else text)]


def _minimum(error: ValidationError, at: Location) -> list[Problem]:
    return [(at, f"must be at least {error.validator_value} (got {_show(error.instance)})")]


def _maximum(error: ValidationError, at: Location) -> list[Problem]:
    return [(at, f"must be at most {error.validator_value} (got {_show(error.instance)})")]


def _max_length(error: ValidationError, at: Location) -> list[Problem]:
    limit, length = error.validator_value, len(error.instance)
    return [(at, f"too long: at most {limit} characters allowed (got {length} characters)")]


def _min_length(error: ValidationError, at: Location) -> list[Problem]:
    if error.validator_value == 1:
        return [(at, "must not be empty")]
    return [(at, f"too short: at least {error.validator_value} characters needed")]


def _min_items(error: ValidationError, at: Location) -> list[Problem]:
    count = len(error.instance)
    got = "an empty list" if count == 0 else f"{count}"
    return [(at, f"must list at least {error.validator_value} entry (got {got})")]


_TRANSLATORS: dict[str, Callable[[ValidationError, Location], list[Problem]]] = {
    "required": _required,
    "additionalProperties": _unknown_keys,
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "format": _format,
    "minimum": _minimum,
    "maximum": _maximum,
    "maxLength": _max_length,
    "minLength": _min_length,
    "minItems": _min_items,
}


def _translate(error: ValidationError) -> list[Problem]:
    at = tuple(error.absolute_path)
    translate = _TRANSLATORS.get(error.validator)
    return translate(error, at) if translate else [(at, error.message)]


def _schema_problems(data: object) -> list[Problem]:
    return [p for error in _validator().iter_errors(data) for p in _translate(error)]


# --- checks across fields ------------------------------------------------------------------


def _get(data: object, *keys: str) -> object:
    """data[k1][k2]..., or None where something on the way is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _as_date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and _is_date(value) else None


def _job_id_problems(data: object, folder_name: str) -> list[Problem]:
    if not isinstance(data, dict) or "job_id" in data or JOB_ID_RE.fullmatch(folder_name):
        return []
    return [(("job_id",), f"not given, and the job folder's name {_show(folder_name)} cannot be "
             f"used instead: a job id {JOB_ID_RULE}; add \"job_id\" to {MANIFEST_NAME} or "
             "rename the folder")]


def _due_problems(data: object) -> list[Problem]:
    received = _as_date(_get(data, "request", "received"))
    due = _as_date(_get(data, "request", "due"))
    if received and due and due < received:
        return [(("request", "due"), f"is before request.received ({received.isoformat()}); "
                 "a copy cannot be due before the request arrived")]
    return []


def _is_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and bool(_UID_RE.fullmatch(value))


def _listed_uids(data: object) -> list[object]:
    studies = _get(data, "studies")
    return [_get(s, "study_instance_uid") for s in studies] if isinstance(studies, list) else []


def _study_problems(data: object) -> list[Problem]:
    """Each study listed once; a report's study, when named, among the listed ones."""
    uids = _listed_uids(data)
    problems: list[Problem] = [
        (("studies", index, "study_instance_uid"),
         f"the same study is listed twice (got {_show(uid)})")
        for index, uid in enumerate(uids) if _is_uid(uid) and uid in uids[:index]
    ]
    reports = _get(data, "reports")
    if not uids or not all(map(_is_uid, uids)) or not isinstance(reports, list):
        return problems  # nothing to compare with, or the studies have their own problems
    for index, report in enumerate(reports):
        uid = _get(report, "study_instance_uid")
        if _is_uid(uid) and uid not in uids:
            problems.append((("reports", index, "study_instance_uid"),
                             f"not one of the studies listed under \"studies\" (got {_show(uid)})"))
    return problems


def _output_problems(data: object) -> list[Problem]:
    """A send names its destination (and only a send does); a fetch names what to fetch."""
    problems: list[Problem] = []
    kind, destination = _get(data, "media", "type"), _get(data, "media", "destination")
    if kind == "dicom" and destination is None:
        problems.append((("media", "destination"), "must name where to send the images "
                         "(a [destinations.NAME] entry of the station) when type is dicom"))
    if destination is not None and kind != "dicom":
        problems.append((("media", "destination"), "is only for type dicom (sending the "
                         "images to another hospital)"))
    fetch = _get(data, "fetch")
    if isinstance(fetch, dict) and not (fetch.get("study_instance_uids")
                                        or fetch.get("accession_numbers")
                                        or fetch.get("patient") is True):
        problems.append((("fetch",), "must say what to fetch: study_instance_uids, "
                         "accession_numbers, or patient: true for all of the patient's studies"))
    return problems


# --- the manifest --------------------------------------------------------------------------


def _location_text(at: Location) -> str:
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            text += f".{name}" if text else name
    return text or MANIFEST_NAME


def _sort_key(problem: Problem) -> tuple:
    at, text = problem
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in at), text


def _report(problems: list[Problem]) -> str:
    unique = sorted(set(problems), key=_sort_key)
    return "\n".join(f"{_location_text(at)}: {text}" for at, text in unique)


def validate_manifest(data: object, folder_name: str) -> Manifest:
    """Check parsed job.json `data`; `folder_name` is the job id when job.json names none.

    Raises JobRejected listing every problem, one per line, sorted by where it is.
    """
    problems = (_schema_problems(data) + _job_id_problems(data, folder_name)
                + _due_problems(data) + _study_problems(data) + _output_problems(data))
    if problems:
        raise JobRejected(_report(problems))
    assert isinstance(data, dict)  # the schema says so
    return _build(data, folder_name)


def _build(data: dict, folder_name: str) -> Manifest:
    patient, approval = data["patient"], data["approval"]
    request = data.get("request", {})
    fee = request.get("fee", {})
    media = data.get("media", {})
    received = _as_date(request.get("received"))
    due = _as_date(request.get("due")) or (received + DUE_AFTER if received else None)
    return Manifest(
        job_id=data.get("job_id", folder_name),
        patient_id=patient["id"],
        patient_name=patient["name"],
        patient_birth_date=date.fromisoformat(patient["birth_date"]),
        patient_issuer=patient.get("issuer"),
        patient_sex=patient.get("sex", ""),
        request_reference=request.get("reference"),
        request_received=received,
        request_requester=request.get("requester"),
        request_due=due,
        fee_amount=Decimal(fee["amount"]) if "amount" in fee else None,
        fee_currency=fee.get("currency"),
        fee_basis=fee.get("basis"),
        studies=[StudyRef(s["study_instance_uid"], s.get("accession_number"))
                 for s in data.get("studies", [])],
        # a job of fetched images has no files of its own unless it names some
        inputs=list(data.get("inputs", [] if "fetch" in data else DEFAULT_INPUTS)),
        reports=[ReportRef(r["path"], r.get("study_instance_uid"))
                 for r in data.get("reports", [])],
        media_type=media.get("type", "auto"),
        media_copies=int(media.get("copies", 1)),
        media_profile=media.get("profile", "auto"),
        media_viewer=media.get("viewer", True),
        media_web=media.get("web", True),
        media_label_text=media.get("label_text", ""),
        media_split=media.get("split", True),
        media_destination=media.get("destination", ""),
        fetch=FetchRef(data["fetch"]["pacs"],
                       tuple(data["fetch"].get("study_instance_uids", ())),
                       tuple(data["fetch"].get("accession_numbers", ())),
                       bool(data["fetch"].get("patient", False)))
        if "fetch" in data else None,
        approval_by=approval["by"],
        approval_at=datetime.fromisoformat(approval["at"]),
        approval_note=approval.get("note"),
        raw=copy.deepcopy(data),
    )


class _DuplicateKey(ValueError):
    pass


class _BadNumber(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> object:
    raise _BadNumber(name)


def _read_text(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        raise JobRejected(f"{MANIFEST_NAME} is missing from the job folder "
                          f"{one_line(path.parent.name)}: "
                          "every job needs one that says whose images these are and who "
                          "approved the release")
    if not _inside(Path(os.path.realpath(path)), Path(os.path.realpath(path.parent))):
        raise JobRejected(f"{MANIFEST_NAME} is a link that leads outside the job folder; "
                          "put the file itself into the job folder")
    if path.is_dir():
        raise JobRejected(f"{MANIFEST_NAME} is a folder; it must be a file")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise JobRejected(f"{MANIFEST_NAME} is larger than 1 MB; it is not a job manifest")
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobRejected(f"{MANIFEST_NAME} is not UTF-8 text (byte {exc.start} cannot be "
                          "read); save it with UTF-8 encoding") from None
    except OSError as exc:
        raise JobRejected(f"{MANIFEST_NAME} could not be read: {exc.strerror}") from None


# job.json is at most four levels deep ("request" > "fee" > "amount"); anything much deeper is
# no manifest, and parsing or checking it would only exhaust the stack.
MAX_NESTING = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TOO_DEEP = (f"{MANIFEST_NAME} has lists or objects nested more than {MAX_NESTING} deep "
             "([ ] or { } inside each other); a job manifest is never like that. Make it again "
             "like the example (burner schema shows what it may hold)")


def _nesting(text: str) -> int:
    """How deep [ ] and { } are nested in JSON `text` (brackets inside strings not counted)."""
    depth = deepest = 0
    for bracket in re.sub(r"[^\[\]{}]+", "", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse(text: str) -> object:
    if _nesting(text) > MAX_NESTING:
        raise JobRejected(_TOO_DEEP)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JobRejected(f"{MANIFEST_NAME} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}") from None
    except _DuplicateKey as exc:
        raise JobRejected(f"{MANIFEST_NAME} names the key {_show(str(exc))} twice in the same "
                          "object; keep only one") from None
    except _BadNumber as exc:
        raise JobRejected(f"{MANIFEST_NAME} is not valid JSON: {exc} is not a number "
                          "allowed in JSON") from None
    except RecursionError:
        raise JobRejected(_TOO_DEEP) from None
    except ValueError:   # e.g. a number of more than 4,300 digits
        raise JobRejected(f"{MANIFEST_NAME} could not be read: it holds a value that JSON "
                          "readers do not take (such as a number thousands of digits long); "
                          "correct it, or make it again like the example") from None


def load_manifest(job_dir: Path) -> Manifest:
    """Read, validate and check job_dir/job.json, including that every named file is inside.

    Whatever is wrong with job.json, the answer is JobRejected saying what (never a crash that
    would be retried as a fault of the station)."""
    job_dir = Path(os.path.abspath(job_dir))
    data = _parse(_read_text(job_dir / MANIFEST_NAME))
    if not isinstance(data, dict):
        raise JobRejected(f"{MANIFEST_NAME} must hold one JSON object in curly braces {{ }} "
                          f"(got {_show(data)})")
    try:
        manifest = validate_manifest(data, job_dir.name)
    except RecursionError:
        raise JobRejected(_TOO_DEEP) from None
    problems = _file_problems(job_dir, manifest)
    if problems:
        raise JobRejected(_report(problems))
    return manifest


def _file_problems(job_dir: Path, manifest: Manifest) -> list[Problem]:
    named: list[tuple[Location, str, bool]] = [
        (("inputs", i), rel, False) for i, rel in enumerate(manifest.inputs)
    ] + [(("reports", i, "path"), r.path, True) for i, r in enumerate(manifest.reports)]
    problems: list[Problem] = []
    for at, rel, must_be_file in named:
        try:
            found = _locate(job_dir, rel)
        except _Refused as exc:
            problems.append((at, f"{exc} (got {_show(rel)})"))
            continue
        if must_be_file and not found.is_file():
            problems.append((at, f"is a folder, not a file (got {_show(rel)})"))
    return problems


# --- paths inside the job folder -----------------------------------------------------------


class _Refused(Exception):
    """Why a path named in job.json is not acceptable (the text is for a person)."""


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _syntax_problem(rel: object) -> str | None:
    if not isinstance(rel, str) or not rel.strip():
        return "the path is empty"
    if "\0" in rel:
        return "the path contains a NUL character"
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in rel):
        return ("the path contains a control character (such as a line break); give the "
                "name as it is in the job folder, and rename files with such characters")
    if "\\" in rel:
        return "uses a backslash '\\'; separate folders with '/', e.g. reports/ct.pdf"
    if rel.startswith("/") or re.match(r"[A-Za-z]:", rel):
        return "is an absolute path; give the path inside the job folder, e.g. dicom/"
    if ".." in rel.split("/"):
        return "must not use '..': only files inside the job folder can be used"
    return None


def _locate(job_dir: Path, rel: str) -> Path:
    """The real path of `rel` inside job_dir; raises _Refused saying why not."""
    problem = _syntax_problem(rel)
    if problem:
        raise _Refused(problem)
    root = Path(os.path.realpath(job_dir))
    current = root
    for part in PurePosixPath(rel).parts:
        current = Path(os.path.realpath(current / part))
        if not _inside(current, root):
            raise _Refused("is a link that leads outside the job folder; copy the files "
                           "into the job folder instead")
    if not current.exists():
        kind = "folder" if rel.endswith("/") else "file"
        raise _Refused(f"{kind} not found in the job folder")
    if rel.endswith("/") and not current.is_dir():
        raise _Refused("is a file, not a folder")
    return current


def resolve_inside(job_dir: Path, rel: str) -> Path:
    """The real path of `rel` (from job.json) inside job_dir, or JobRejected saying why not.

    Refuses empty, absolute and backslash paths, '..', a path that leaves job_dir through a
    symbolic link at any step, and a path that does not exist.
    """
    try:
        return _locate(job_dir, rel)
    except _Refused as exc:
        raise JobRejected(f"{one_line(rel) or '(empty path)'}: {exc}") from None


# Why a file or folder inside an input is left off, for people (e.g. "dicom/.IM3: left off: ...").
HIDDEN_FILE = ("left off: the file name starts with '.', which marks hidden or unfinished "
               "files; rename it if it belongs to the release")
HIDDEN_FOLDER = ("left off with everything in it: the folder name starts with '.', which marks "
                 "hidden or unfinished folders; rename it if it belongs to the release")
# Written into a claimed job folder by the spool (spool.OWNER); burner's own, never listed.
OWNER_FILE = ".burner-station"


def iter_job_files(job_dir: Path, rel: str) -> Iterator[Path]:
    """Every file of the input `rel`: the file itself, or a folder's files recursively.

    Sorted by name; names starting with '.' are left off (skipped_job_files names them). A
    link that leads outside the job folder, a broken link or a special file (device, pipe,
    socket) is refused (JobRejected).
    """
    return (path for path, why in _entries(job_dir, rel) if why is None)


def skipped_job_files(job_dir: Path, rel: str) -> list[tuple[str, str]]:
    """What iter_job_files(job_dir, rel) leaves off, as (name shown to people, reason), sorted
    as walked: each file or folder inside the input whose name starts with '.' (a folder once,
    not its contents). Refuses what iter_job_files refuses, the same way."""
    root = Path(os.path.realpath(job_dir))
    return [(_shown(root, path), why) for path, why in _entries(job_dir, rel) if why]


def _entries(job_dir: Path, rel: str) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for every file of the input `rel`, (path, why) for what is left off."""
    root = Path(os.path.realpath(job_dir))
    start = resolve_inside(job_dir, rel)
    if start.is_dir():
        yield from _walk(root, start, set())
    else:
        _check_file(root, start)
        yield start, None


def _walk(root: Path, folder: Path, seen: set[str]) -> Iterator[tuple[Path, str | None]]:
    real = os.path.realpath(folder)
    if real in seen:  # a link to a folder already walked (or a loop): its files are listed
        return
    seen.add(real)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise JobRejected(f"{_shown(root, folder)}: folder could not be read: "
                          f"{exc.strerror}") from None
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            if not (entry.name == OWNER_FILE and Path(real) == root):
                yield path, HIDDEN_FOLDER if path.is_dir() else HIDDEN_FILE
            continue
        _check_link(root, path)
        if path.is_dir():
            yield from _walk(root, path, seen)
        else:
            _check_file(root, path)
            yield path, None


def _shown(root: Path, path: Path) -> str:
    """The name of `path` for people: inside the job folder, control characters escaped."""
    try:
        return one_line(path.relative_to(root).as_posix())
    except ValueError:
        return one_line(path.name)


def _check_link(root: Path, path: Path) -> None:
    if not path.is_symlink():
        return
    target = Path(os.path.realpath(path))
    if not _inside(target, root):
        raise JobRejected(f"{_shown(root, path)}: is a link that leads outside the job folder; "
                          "copy the file into the job folder instead")
    if not target.exists():
        raise JobRejected(f"{_shown(root, path)}: is a link to a file that does not exist")


def _check_file(root: Path, path: Path) -> None:
    if not path.is_file():
        raise JobRejected(f"{_shown(root, path)}: is not an ordinary file "
                          "(a device, pipe or socket); only files and folders can be used")
