"""Everything the station knows of one job, for its page in the web app: the stage timeline
(start, end, duration, attempts), the volumes, every copy with its SHA-256, the prints, the
result and the audit record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from burner.config import Config
from burner.operations.common import open_db, open_spool
from burner.operations.overview import JobInfo, job
from burner.untrusted import read_small

_MAX_FILE = 1 << 20          # result.json / audit.xml are burner's own, but read bounded
_STATES = ("held", "rejected", "waiting", "done", "queued", "resumed")


@dataclass(frozen=True)
class StageSpan:
    stage: str
    start: float
    end: float | None        # None: still running (or stopped without an end)
    attempts: int
    outcome: str             # finished, running, held, waiting, rejected, ...

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Volume:
    index: int
    bytes: int | None
    sha256: str              # the image's ('' before it is mastered)


@dataclass(frozen=True)
class Copy:
    volume: int
    copy: int
    drive: str
    medium: str
    sha256: str
    at: float


@dataclass(frozen=True)
class Printed:
    item: str
    state: str
    detail: str
    at: float


@dataclass(frozen=True)
class JobDetail:
    info: JobInfo
    timeline: list[StageSpan]
    events: list[dict]
    volumes: list[Volume]
    copies: list[Copy]
    prints: list[Printed]
    result: dict | None
    audit: str               # the audit record's XML, '' until the job is done
    media: str = ""
    actions: list[dict] = field(default_factory=list)   # filled by the web app


def timeline(history: list[dict]) -> list[StageSpan]:
    """Stage spans from the job's history: each stage from its first start to its finish (or
    to what stopped it), with how many times it was started."""
    spans: dict[str, dict] = {}
    running: str | None = None
    for event in history:
        stage, what, at = event["stage"], event["event"], event["at"]
        if what == "started" and stage:
            span = spans.setdefault(stage, {"start": at, "end": None, "attempts": 0,
                                            "outcome": "running"})
            span["attempts"] += 1
            span["end"], span["outcome"] = None, "running"
            running = stage
        elif what == "finished" and stage in spans:
            spans[stage].update(end=at, outcome="finished")
            running = None
        elif not stage and what in _STATES and running in spans:
            if what != "resumed":
                spans[running].update(end=at, outcome=what)
            running = None
    return [StageSpan(name, s["start"], s["end"], s["attempts"], s["outcome"])
            for name, s in spans.items()]


def details(config: Config, job_id: str) -> JobDetail:
    """The whole story of one job; NoSuchJob when the station does not know it."""
    from burner.record import JobRecord

    info = job(config, job_id)
    spool = open_spool(config)
    folder = spool.path(info.folder, job_id) if info.folder != "missing" else None
    with open_db(config) as db:
        history = [dict(r) for r in db.history(job_id)]
        copies = [Copy(r["volume"], r["copy"], r["drive"], r["medium"], r["sha256"], r["at"])
                  for r in db.copies(job_id)]
        prints = [Printed(r["item"], r["state"], r["detail"], r["at"])
                  for r in db.prints(job_id)]
        contents = db.volume_contents(job_id)
        row = db.get(job_id)
    volumes: list[Volume] = []
    record = JobRecord(config.work_dir / job_id)
    try:
        if record.has("master"):
            volumes = [Volume(i.index, i.bytes, i.sha256) for i in record.images]
    except Exception:  # noqa: BLE001 - a record of another version: no image facts
        volumes = []
    if not volumes:
        volumes = [Volume(index, None, "") for index in sorted(contents)]
    result = None
    audit = ""
    if folder is not None and info.folder == "done":
        text = read_small(folder / "result.json", _MAX_FILE)
        try:
            result = json.loads(text) if text else None
        except ValueError:
            result = None
        audit = read_small(folder / "audit.xml", _MAX_FILE)
    return JobDetail(info, timeline(history), history, volumes, copies, prints,
                     result if isinstance(result, dict) else None, audit,
                     row.media if row else "")
