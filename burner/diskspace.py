"""Room on the disk: a job waits for space instead of failing in the middle (issue 9).

Before the stages that write the most (stage: the volume trees; master: the images) the free
space of the work folder's disk is checked against the plan's estimate plus a margin; a job
that does not fit waits ("disk full: needs X MB, has Y MB"), without using up an attempt, while
smaller jobs go on. A write that still runs out of space (ENOSPC) removes that stage's partial
output first, then the job waits the same way.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from burner.errors import DeviceBusy, Reason

MB = 1_000_000
MARGIN = 16 * MB          # logs, the database, the printouts, estimates that fall short
SHARE = 1.10              # the plan's estimate plus a tenth


class DiskFull(DeviceBusy):
    """The job waits until the disk has room; the reason names what it needs and has."""

    wait_seconds = 10.0
    code = Reason.DISK_FULL


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged writer on the disk holding `path` (or its nearest
    existing parent)."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    return shutil.disk_usage(existing).free


def need_for(estimated: list[int]) -> int:
    return int(sum(estimated) * SHARE) + MARGIN


def check_room(path: Path, need: int) -> None:
    have = free_bytes(path)
    if have < need:
        raise DiskFull(full_words(path, need, have))


def full_words(path: Path, need: int | None, have: int) -> str:
    needs = f"needs {need // MB + 1} MB, " if need else ""
    return (f"disk full: {needs}has {have // MB} MB free in {path}. The job waits and goes "
            "on by itself when there is room (burner cleanup deletes the work files of "
            "finished jobs).")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
