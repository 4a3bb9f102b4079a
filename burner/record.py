"""The job record: what each stage found or made, as typed values (DESIGN.md section 1).

A stage saves its result once, into its own work folder; later stages, the build command and
the printouts read it as an attribute of `JobContext.record` (`ctx.record.plan`), never by a
stage's name. Each result is saved in an envelope with RECORD_VERSION: a work tree written by
another version of burner is not guessed at (StaleRecord), the job is prepared again.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from burner.errors import InternalError

if TYPE_CHECKING:
    from burner.content.reports import MadeReport
    from burner.dicom.headers import Instance
    from burner.manifest import Manifest
    from burner.patient import Approved
    from burner.summary import ReleaseSummary

RECORD_VERSION = 1
RESULT = "result.pkl"


@dataclass
class Gathered:
    """The job's DICOM objects in input order (each with its canonical copy), the files left
    out with the reason, and the damaged ones (which hold the job at the identity check).

    The reports of job.json come last among the instances, as Encapsulated PDF objects;
    `reports` says which report file each of them was made from.
    """

    instances: list[Instance] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    reports: list[MadeReport] = field(default_factory=list)
    approved: Approved | None = None


@dataclass(frozen=True)
class Plan:
    media: str
    profile: str
    volumes: list[list[int]]          # instance indexes in the gather result, per volume
    estimated_bytes: list[int]
    viewer: list[bool]                # per volume: VIEWER/ fits
    # The largest image a volume may become: the medium's capacity the plan was made for.
    # None: known only when writing (a USB stick found then checks itself).
    image_limit: int | None = None


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
    reports: list[tuple[str, str, str]] = field(default_factory=list)  # REPORTS/ name, title, study


@dataclass(frozen=True)
class Staged:
    """The staged tree of every volume, the objects left off (with why) and the summary of
    what the release holds, which every page, sheet and label describing it is made from."""

    volumes: list[StagedVolume]
    refused: list[tuple[str, str]]
    summary: ReleaseSummary


@dataclass(frozen=True)
class Image:
    index: int
    count: int
    path: Path
    bytes: int
    sha256: str


class StaleRecord(InternalError):
    """A stage result written by another version of burner (or damaged)."""


class JobRecord:
    """The stages' results of one job, each read from its work folder when first asked for."""

    def __init__(self, work: Path):
        self.work = work
        self._cache: dict[str, Any] = {}

    def save(self, stage: str, value: Any) -> None:
        from burner.spool import write_atomic  # spool imports errors only; kept lazy anyway

        envelope = {"version": RECORD_VERSION, "value": value}
        write_atomic(self.work / stage / RESULT, pickle.dumps(envelope, protocol=5))
        self._cache[stage] = value

    def forget(self, stage: str) -> None:
        self._cache.pop(stage, None)

    def has(self, stage: str) -> bool:
        return stage in self._cache or (self.work / stage / RESULT).is_file()

    def _get(self, stage: str) -> Any:
        if stage not in self._cache:
            try:
                with open(self.work / stage / RESULT, "rb") as fp:
                    envelope = pickle.load(fp)
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError,
                    ImportError) as exc:
                raise StaleRecord(f"the saved result of '{stage}' cannot be read ({exc}); "
                                  "run the job again from the start") from exc
            if not isinstance(envelope, dict) or envelope.get("version") != RECORD_VERSION:
                raise StaleRecord(f"the saved result of '{stage}' was made by another version "
                                  "of burner; run the job again from the start")
            self._cache[stage] = envelope["value"]
        return self._cache[stage]

    @property
    def manifest(self) -> Manifest:
        """validate: the job's manifest."""
        return self._get("validate")

    @property
    def gathered(self) -> Gathered:
        return self._get("gather")

    @property
    def plan(self) -> Plan:
        return self._get("plan")

    @property
    def staged(self) -> Staged:
        return self._get("stage")

    @property
    def images(self) -> list[Image]:
        """master: one image per volume."""
        return self._get("master")

    @property
    def checks(self) -> list[dict]:
        """verify: the medium check of every copy."""
        return self._get("verify")
