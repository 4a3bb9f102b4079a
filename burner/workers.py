"""Child processes that hold nothing of the station's and do not outlive it.

A process pool forks the station, and a fork keeps every open file, O_CLOEXEC or not: a
worker would hold the flock of the data folder (locks.StationLock) or of a drive
(locks.device_lock) for as long as it lives, and a worker whose station was killed lives on,
waiting for work that never comes. The restarted station then refuses to start ("another
station is already running") until someone kills the orphans (found by the soak run, issue 9).
So every pool's worker first closes the lock files it inherited, then asks the kernel to kill
it when its parent dies; a program burner runs (xorriso) gets the second through
`die_with_parent`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child: `sig` when the thread that started it ends (Linux prctl); SIGTERM lets a
    service child stop cleanly."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _start(parent: int) -> None:
    from burner.locks import release_inherited

    release_inherited()
    die_with_parent()
    if os.getppid() != parent:      # the parent died before the request took effect
        os._exit(1)


def pool(workers: int) -> ProcessPoolExecutor:
    """A process pool of `workers` whose workers hold no lock and end with the station."""
    return ProcessPoolExecutor(workers, initializer=_start, initargs=(os.getpid(),))
