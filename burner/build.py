"""`burner build`: one job folder to staged volume trees and images, without burning.

A job that is refused or held is an outcome, not a failure of the command: `build_job` returns
it with the error that stopped it (`BuildOutcome.error`), so that the CLI prints the outcome
first and then exits with that error's code (cli.main, the one place exit codes are made)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from burner.config import Config
from burner.errors import BurnerError, JobHeld, JobRejected
from burner.pipeline import STAGES, JobContext, run_stage
from burner.printout.deliver import render_all
from burner.printout.sheet import sheet_for
from burner.spool import Spool
from burner.state import StateDB
from burner.untrusted import lines as shown_lines
from burner.untrusted import one_line

BUILD_STAGES = ("validate", "gather", "identity", "plan", "stage", "master")


@dataclass
class BuildOutcome:
    job_id: str
    error: BurnerError | None = None    # JobRejected or JobHeld: why nothing was built
    problems: list[str] = field(default_factory=list)   # for people: control chars escaped
    volumes: list[dict] = field(default_factory=list)
    prints: dict = field(default_factory=lambda: {"cover": None, "labels": []})

    @property
    def held(self) -> bool:
        return isinstance(self.error, JobHeld)

    @property
    def rejected(self) -> bool:
        return isinstance(self.error, JobRejected)

    @property
    def exit_code(self) -> int:
        """The code `burner build` exits with: its error's, else 0."""
        return self.error.exit_code if self.error is not None else 0

    def as_dict(self) -> dict:
        return {"job_id": self.job_id, "held": self.held, "problems": self.problems,
                "volumes": self.volumes, "prints": self.prints}

    def summary(self) -> str:
        lines = []
        if self.rejected:
            lines.append(f"{self.job_id}: REJECTED")
        elif self.held:
            lines.append(f"{self.job_id}: HELD - nothing may be written for this job")
        else:
            lines.append(f"{self.job_id}: built {len(self.volumes)} volume(s)")
        for v in self.volumes:
            lines.append(f"  disc {v['index']} of {v['count']}: {v['image']} "
                         f"({v['bytes'] // 1_000_000} MB, {v['profile']})")
            lines.append(f"    files: {v['tree']}")
        if self.prints["cover"]:
            lines.append(f"  cover sheet: {self.prints['cover']}")
            lines += [f"  label: {p}" for p in self.prints["labels"]]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def build_job(config: Config, job_dir: Path, out_dir: Path) -> BuildOutcome:
    """Run the stages up to mastering on `job_dir`, writing into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    job_id = job_dir.name
    db = StateDB(Path(":memory:"))
    db.add_job(job_id, "build")
    ctx = JobContext(config, Spool(out_dir), db, job_id, job_dir, out_dir / ".work",
                     writes=False)
    outcome = BuildOutcome(job_id)
    try:
        for module in STAGES:
            if module.NAME in BUILD_STAGES:
                run_stage(ctx, module)
    except JobRejected as exc:
        outcome.error = exc
        outcome.problems = [shown_lines(exc)]
        return outcome
    except JobHeld as exc:
        outcome.error = exc
        outcome.problems = [shown_lines(exc), *map(one_line, exc.details)]
        return outcome
    finally:
        db.close()
    manifest = ctx.record.manifest
    plan = ctx.record.plan
    gathered = ctx.record.gathered
    staged = ctx.record.staged
    outcome.job_id = manifest.job_id
    outcome.problems = [one_line(f"{r}: {w}") for r, w in gathered.refused + staged.refused]
    sheet = sheet_for(ctx)    # while the staged trees are still where the stages left them
    for vol, image in zip(staged.volumes, ctx.record.images, strict=True):
        tree = out_dir / f"vol{vol.index}"
        iso_path = out_dir / f"vol{vol.index}{image.path.suffix}"
        for src, dest in ((vol.tree, tree), (image.path, iso_path)):
            if dest.is_dir():
                shutil.rmtree(dest)
            src.rename(dest)
        outcome.volumes.append({
            "index": vol.index, "count": vol.count, "tree": str(tree), "image": str(iso_path),
            "sha256": image.sha256, "bytes": image.bytes, "media": plan.media,
            "profile": plan.profile})
    printouts = render_all(sheet, out_dir)
    outcome.prints = {"cover": str(printouts[0].path),
                      "labels": [str(p.path) for p in printouts if p.kind == "label"],
                      "inserts": [str(p.path) for p in printouts if p.kind == "insert"]}
    return outcome
