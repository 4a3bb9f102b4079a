"""Pool workers hold nothing of the station's (issue 9, found by the soak run): a station
killed while a pool works leaves no worker behind holding its data-folder lock, so it starts
again at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from burner.locks import StationLock

_PARENT = textwrap.dedent("""
    import sys, time
    from burner.locks import StationLock, device_lock
    from burner.workers import pool

    lock = StationLock(__import__("pathlib").Path(sys.argv[1]), "killed").acquire()
    with device_lock("stdio:" + sys.argv[2], "drive0", "killed"):
        workers = pool(2)
        futures = [workers.submit(time.sleep, 120) for _ in range(2)]
        time.sleep(1.0)
        print(" ".join(str(p) for p in workers._processes), flush=True)
        time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_station_leaves_no_worker_holding_its_locks(tmp_path: Path) -> None:
    drive = tmp_path / "drive0.img"
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path), str(drive)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        workers = [int(p) for p in line.split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers), line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers):
            assert time.monotonic() < deadline, "a pool worker outlived its station"
            time.sleep(0.05)
        # Even had a worker lingered, it would not hold the locks: they are free now.
        StationLock(tmp_path, "restarted").acquire().release()
        from burner.locks import device_lock
        with device_lock(f"stdio:{drive}", "drive0", "restarted"):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()


def test_a_worker_does_not_hold_the_lock_while_its_station_lives(tmp_path: Path) -> None:
    """The lock is the station's alone: once the station lets it go, it is free, though
    its pool's workers still run."""
    from burner.workers import pool

    lock = StationLock(tmp_path, "station").acquire()
    with pool(1) as workers:
        assert workers.submit(os.getpid).result(timeout=30) != os.getpid()   # started
        lock.release()
        probe = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            from pathlib import Path
            from burner.locks import StationLock
            StationLock(Path({str(tmp_path)!r}), "other").acquire()
            print("free")""")], capture_output=True, text=True, timeout=30)
        assert probe.stdout.strip() == "free", probe.stderr
