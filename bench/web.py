"""The web app's costs (issue 11): the board of a station with 200 jobs, and the live event
stream of an idle station.

    .venv/bin/python bench/web.py [--jobs 200] [--idle-seconds 30]

Starts a real `burner web` on a free loopback port over a station whose database and spool
hold `--jobs` finished jobs, signs in, times GET /board (median and worst of 20; on loopback
that is the server's time), then keeps one /board/events stream open while nothing changes
and reports the web process's CPU time over `--idle-seconds` as a share of one core.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

BURNER = str(Path(sys.executable).with_name("burner"))
PASSWORD = "bench password 1"


def station(root: Path, jobs: int, port: int) -> Path:
    from burner.state import JobState, StateDB

    config = root / "burner.toml"
    config.write_text(f'[station]\nid = "bench"\ndata_dir = "{root / "data"}"\n'
                      f'[web]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
    done = root / "data" / "spool" / "done"
    done.mkdir(parents=True)
    with StateDB(root / "data" / "burner.sqlite") as db:
        for n in range(jobs):
            job = f"J{n:05d}"
            (done / job).mkdir()
            (done / job / "result.json").write_text(json.dumps(
                {"job_id": job, "copies": [{"volume": 1, "copy": 1}], "problems": []}))
            db.add_job(job, "bench")
            db.set_state(job, JobState.DONE)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="burner-web-bench-") as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = station(Path(tmp), args.jobs, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BURNER_")}
        subprocess.run([BURNER, "--config", str(config), "user", "add", "bench", "--role",
                        "technician", "--password-stdin"], input=PASSWORD + "\n", text=True,
                       env=env, check=True, capture_output=True)
        web = subprocess.Popen([BURNER, "--config", str(config), "web"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            for _ in range(300):
                try:
                    form = opener.open(base + "/signin", timeout=2).read().decode()
                    break
                except OSError:
                    time.sleep(0.1)
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            opener.open(base + "/signin", data=urllib.parse.urlencode(
                {"name": "bench", "password": PASSWORD, "csrf": token}).encode(), timeout=10)
            times = []
            for _ in range(20):
                t = time.perf_counter()
                page = opener.open(base + "/board", timeout=30).read()
                times.append(time.perf_counter() - t)
            assert page.count(b'id="job-') == args.jobs, "the board lists every job"

            stream = opener.open(base + "/board/events", timeout=60)
            first = threading.Event()

            def read() -> None:
                for line in stream:
                    if line.startswith(b"data:"):
                        first.set()

            threading.Thread(target=read, daemon=True).start()
            assert first.wait(30), "the event stream sent the board"
            time.sleep(2)                                   # past the first look
            proc = psutil.Process(web.pid)
            before = sum(proc.cpu_times()[:2])
            time.sleep(args.idle_seconds)
            used = sum(proc.cpu_times()[:2]) - before
        finally:
            web.terminate()
            web.wait(timeout=30)
    print(json.dumps({
        "jobs": args.jobs,
        "board_ms_median": round(statistics.median(times) * 1000, 1),
        "board_ms_worst": round(max(times) * 1000, 1),
        "idle_seconds": args.idle_seconds,
        "idle_stream_cpu_percent_of_one_core": round(used / args.idle_seconds * 100, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
