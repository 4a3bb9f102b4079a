"""Is a job folder in approved/ complete? (DESIGN.md section 2, issue 9)

The documented way to hand in a job is to build it in incoming/ and rename it into approved/.
Not every exporter does: a copy tool, rsync or Explorer writing straight into approved/ may put
job.json in first and the images after it, or take minutes over subfolders. So such a folder
is claimed only when its whole tree has been quiet for `[spool] quiet_seconds`: no file or folder
created, grown, touched or renamed, by the latest of every entry's mtime and ctime (a copy
that keeps the source's mtimes still sets ctime; the top folder's mtime alone does not change
while files go into subfolders). A folder renamed in from incoming/ (seen by renames.py) and
unchanged since is claimed at once. A job.json may also say what it expects,
`"expect": {"files": N, "bytes": B}`: the counts must match before a claim; a folder that stays
short of them (quiet for `[spool] incomplete_seconds`) is rejected, naming both counts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from burner.errors import Reason

INCOMPLETE_SECONDS = 120.0   # quiet this long and still incomplete: an error to show
MANIFEST = "job.json"
_MANIFEST_BYTES = 1 << 20
# Files burner itself writes into a job folder (a retried job carries them back to approved/).
_OWN_NAMES = {MANIFEST, "reason.txt", "result.json", "audit.xml"}
_OWN_FOLDERS = {"prints"}
_RENAME_SLACK = 0.1   # seconds: file times are a tick coarser than the clock


@dataclass(frozen=True)
class Tree:
    """What a job folder holds now, and when anything in it last changed."""

    files: int          # regular files, job.json and burner's own files not counted
    bytes: int
    newest: float       # latest mtime/ctime of any entry, the folder itself included


def _own(rel_parts: tuple[str, ...]) -> bool:
    name = rel_parts[-1]
    return (len(rel_parts) == 1 and (name in _OWN_NAMES
                                     or name.startswith(("reason-", "adopted-")))) \
        or rel_parts[0] in _OWN_FOLDERS or name.startswith(".burner")


def survey(job_dir: Path) -> Tree:
    """Walk the folder without following links; entries that vanish meanwhile are skipped."""
    st = os.lstat(job_dir)
    newest = max(st.st_mtime, st.st_ctime)
    files = total = 0
    for folder, dirs, names in os.walk(job_dir):
        for name in dirs + names:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            newest = max(newest, st.st_mtime, st.st_ctime)
            if name in names and not _own(Path(path).relative_to(job_dir).parts):
                files += 1
                total += st.st_size
    return Tree(files, total, newest)


def expected(job_dir: Path) -> tuple[int, int] | None:
    """job.json's `expect` (files, bytes) when it has a well-formed one; anything else is
    validate's to refuse, not readiness's."""
    try:
        with open(job_dir / MANIFEST, "rb") as fp:
            data = json.loads(fp.read(_MANIFEST_BYTES))
        expect = data["expect"]
        files, size = expect["files"], expect["bytes"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if type(files) is not int or type(size) is not int or files < 0 or size < 0:
        return None
    return files, size


@dataclass(frozen=True)
class Readiness:
    """"claim", "wait" (not complete yet) or "reject" (with the reason for a person and its
    errors.Reason code)."""

    verdict: str
    reason: str = ""
    code: str = ""


def readiness(job_dir: Path, quiet_seconds: float,
              incomplete_seconds: float = INCOMPLETE_SECONDS,
              now: float | None = None, renamed_at: float | None = None) -> Readiness:
    """Whether to claim the job folder now, wait for it, or reject it as incomplete.
    `renamed_at`: when it arrived by rename from incoming/ (renames.py); if nothing in it
    changed since, it was complete before it came and need not be quiet for long."""
    now = time.time() if now is None else now
    try:
        tree = survey(job_dir)
    except FileNotFoundError:
        return Readiness("wait")
    idle = now - tree.newest
    if not (job_dir / MANIFEST).is_file():
        # Still being copied, or handed in without one: after the grace, validate says so.
        return Readiness("claim" if idle > incomplete_seconds else "wait")
    arrived_whole = renamed_at is not None and tree.newest <= renamed_at + _RENAME_SLACK
    if idle < quiet_seconds and not arrived_whole:
        return Readiness("wait")
    want = expected(job_dir)
    if want is None or want == (tree.files, tree.bytes):
        return Readiness("claim")
    if idle <= incomplete_seconds:
        return Readiness("wait")
    return Readiness("reject", (
        f"This job folder is incomplete: its job.json expects {want[0]} files of {want[1]} "
        f"bytes in all, but the folder holds {tree.files} files of {tree.bytes} bytes and "
        f"nothing has changed in it for {int(idle)} seconds, so the copy did not finish. "
        "Copy the job into incoming/ again and move it to approved/ when it is complete."),
        Reason.INCOMPLETE)
