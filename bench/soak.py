"""Soak run (issue 9): many small jobs through two stations sharing one spool, with kill -9 of
either station at random every few seconds (restarted at once, as systemd would). Afterwards
every job must be done exactly once with exactly its copies, and none stranded.

    .venv/bin/python bench/soak.py [--jobs 200] [--slices 2] [--kill-min 5] [--kill-max 20]
                                   [--keep DIR]

Larger jobs (--slices 200) make the burns long enough for kills to land during them; the
summary counts the kills that found a burn (an xorriso child) running.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from burner import synth

BURNER = str(Path(sys.executable).with_name("burner"))
PATIENT = synth.Patient(id="SOAK0001", name="SOAK^TEST", birth_date="19800101", sex="O")


def make_job(folder: Path, slices: int = 2) -> None:
    size = 64 if slices <= 8 else 256
    paths = synth.make_ct_study(folder / "dicom", PATIENT, slices=slices, rows=size, cols=size,
                                accession="SOAK")
    uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    manifest = {"version": 1, "job_id": folder.name,
                "patient": {"id": PATIENT.id, "name": PATIENT.name, "birth_date": "1980-01-01",
                            "sex": PATIENT.sex},
                "studies": [{"study_instance_uid": uid}], "inputs": ["dicom/"],
                "media": {"type": "dvd", "copies": 1},
                "approval": {"by": "soak", "at": datetime.datetime.now(datetime.UTC)
                             .isoformat(timespec="seconds")}}
    (folder / "job.json").write_text(json.dumps(manifest), encoding="utf-8")


def config(root: Path, station: str, spool: Path) -> Path:
    q = json.dumps
    root.mkdir(parents=True, exist_ok=True)
    path = root / "burner.toml"
    path.write_text("\n".join([
        "[station]", f"id = {q(station)}", f"data_dir = {q(str(root / 'data'))}",
        "[spool]", f"path = {q(str(spool))}", "rescan_seconds = 0.5", "quiet_seconds = 0.2",
        "silent_seconds = 5",
        "[job]", "retry_delay_seconds = 0.2", "max_attempts = 5",
        "[[drives]]", 'name = "drive0"', 'device = "stdio:drives/drive0.img"', 'media = "dvd"',
        "auto_load_blank = true", "[printing]", 'mode = "none"', ""]), encoding="utf-8")
    return path


def start(cfg: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURNER_")}
    out = open(log, "ab")   # noqa: SIM115 - kept open for the process's life
    return subprocess.Popen([BURNER, "--config", str(cfg), "run"], env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def burning(pid: int) -> bool:
    """Is an xorriso child of `pid` running (a burn or its read-back)?"""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and comm == "xorriso":
            return True
    return False


def check(spool: Path, roots: list[Path], jobs: list[str]) -> dict:
    """Every job in done/ only, with one verified copy, burned by one station once."""
    problems = []
    spoiled = 0
    for job in jobs:
        places = [p.parent.name for p in spool.glob(f"*/{job}") if p.is_dir()]
        if places != ["done"]:
            problems.append(f"{job} is in {places}")
            continue
        result = json.loads((spool / "done" / job / "result.json").read_text())
        if len(result["copies"]) != 1:
            problems.append(f"{job} has {len(result['copies'])} copies recorded")
        media = [p for r in roots for p in (r / "data" / "media" / job).glob("*.iso")]
        spoiled += sum(1 for r in roots for _ in (r / "data" / "media" / job / "spoiled")
                       .glob("*") if (r / "data" / "media" / job / "spoiled").is_dir())
        if len(media) != 1:
            problems.append(f"{job}: {len(media)} written discs ({media})")
    stray = [p.name for p in spool.glob("active/*")] + [p.name for p in spool.glob("held/*")] \
        + [p.name for p in spool.glob("rejected/*")] + [p.name for p in spool.glob("approved/*")]
    return {"problems": problems, "stranded": stray, "spoiled_discs": spoiled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slices", type=int, default=2)
    parser.add_argument("--kill-min", type=float, default=5.0)
    parser.add_argument("--kill-max", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    # A TERM (from `timeout`, or a person) ends the run through the `finally` below, which
    # stops both stations; without this they would be left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak stopped"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="burner-soak-"))
    roots = [work / "A", work / "B"]
    spool = roots[0] / "data" / "spool"
    for folder in ("incoming", "approved"):
        (spool / folder).mkdir(parents=True, exist_ok=True)
    cfgs = [config(r, f"soak{n}", spool) for n, r in enumerate(roots)]
    jobs = [f"SOAK{n:04d}" for n in range(args.jobs)]
    for job in jobs:
        make_job(spool / "incoming" / job, args.slices)
        os.rename(spool / "incoming" / job, spool / "approved" / job)
    print(f"{len(jobs)} jobs queued in {spool}", flush=True)
    rng = random.Random(8)
    procs = [start(c, r / "station.log") for c, r in zip(cfgs, roots, strict=True)]
    kills = mid_burn = 0
    began = time.monotonic()
    next_kill = began + rng.uniform(args.kill_min, args.kill_max)
    try:
        while len(list((spool / "done").glob("SOAK*"))) < len(jobs):
            if time.monotonic() - began > args.timeout:
                print("timed out", flush=True)
                break
            if time.monotonic() >= next_kill:
                n = rng.randrange(2)
                mid_burn += burning(procs[n].pid)
                os.kill(procs[n].pid, signal.SIGKILL)
                procs[n].wait()
                kills += 1
                procs[n] = start(cfgs[n], roots[n] / "station.log")
                next_kill = time.monotonic() + rng.uniform(args.kill_min, args.kill_max)
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    elapsed = time.monotonic() - began
    report = check(spool, roots, jobs)
    by_station = {}
    for n, r in enumerate(roots):
        out = subprocess.run(["sqlite3", str(r / "data" / "burner.sqlite"),
                              "SELECT COUNT(*) FROM jobs WHERE state='done'"],
                             capture_output=True, text=True, check=False).stdout.strip()
        by_station[f"soak{n}"] = out
    summary = {"jobs": len(jobs), "slices": args.slices, "kills": kills,
               "kills_during_a_burn": mid_burn, "seconds": round(elapsed, 1),
               "jobs_per_minute": round(len(jobs) / elapsed * 60, 1),
               "done_by_station": by_station, **report}
    print(json.dumps(summary, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if report["problems"] or report["stranded"]:
        raise SystemExit("SOAK FAILED")


if __name__ == "__main__":
    main()
