"""The end-to-end cost of a change: `burner build` of this checkout against an earlier git
revision, on the same job, runs alternated so that machine noise falls on both alike.

    .venv/bin/python bench/compare.py --base d002a00 [--slices 600] [--rounds 5]

The base revision is exported (git archive) into a temporary folder and run with this venv's
Python and packages (PYTHONPATH first), so only burner's own code differs. Prints best and
median seconds of each and their ratios (issue 8: the canonical rewrite at most 1.3x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from burner.demo import make_demo_job

REPO = Path(__file__).resolve().parents[1]


def export(rev: str, dest: Path) -> Path:
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def build_seconds(tree: Path, job: Path, work: Path) -> float:
    out = work / "out"
    home = work / "home"
    env = {**os.environ, "PYTHONPATH": str(tree), "BURNER_HOME": str(home)}
    env.pop("BURNER_CONFIG", None)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "burner", "build", str(job), "--out", str(out)],
                          env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"build with {tree} failed:\n{proc.stdout}\n{proc.stderr}")
    shutil.rmtree(out)
    shutil.rmtree(home, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="burner-compare-") as tmp:
        work = Path(tmp)
        base = export(args.base, work / "base")
        job = work / "CMPJOB"
        make_demo_job(job, slices=args.slices // 2)
        size = sum(p.stat().st_size for p in (job / "dicom").rglob("*") if p.is_file())
        trees = {"base": base, "this": REPO}
        runs: dict[str, list[float]] = {"base": [], "this": []}
        build_seconds(REPO, job, work)               # warm the page cache once
        for n in range(args.rounds):
            order = ("base", "this") if n % 2 == 0 else ("this", "base")
            for name in order:
                runs[name].append(build_seconds(trees[name], job, work))
            print(f"round {n + 1}: base {runs['base'][-1]:.2f} s, this {runs['this'][-1]:.2f} s",
                  flush=True)
    best = {k: min(v) for k, v in runs.items()}
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"input {size / 1e6:.0f} MB; base {args.base}")
    for name in ("base", "this"):
        print(f"  {name}: best {best[name]:.2f} s, median {median[name]:.2f} s "
              f"({size / 1e6 / best[name]:.0f} MB/s best)")
    print(f"ratio this/base: best {best['this'] / best['base']:.2f}x, "
          f"median {median['this'] / median['base']:.2f}x (issue 8 allows 1.3x)")


if __name__ == "__main__":
    main()
