"""burner's DICOM network side against DESIGN.md section 8 / issue 13, from one run.

    .venv/bin/python bench/network.py [--slices 600] [--repeat 3] [--nagle] [--keep DIR]

Target: receiving a 600-slice CT over loopback at 50 MB/s or better, and retrieval within
1.3x of DCMTK getscu on the same Orthanc. Every figure is run `--repeat` times (alternating
burner and the reference, so machine noise falls on both alike); the median is reported with
every run, and each ratio is of the two medians measured in this run.

  1. receive: DCMTK storescu pushes the reference CT (one association) to `burner dicom` (the
     listener alone, a fresh data folder each run) and to DCMTK storescp; MB/s = file bytes /
     wall seconds, the receiver's CPU seconds meanwhile, the listener's peak RSS (VmHWM), all
     N files in intake/net-BENCH-*/.
  2. retrieval from a private Orthanc (tests/orthanc_server.py): DCMTK getscu (C-GET, study
     root) against `burner dicom fetch` by c-get (the target), c-move and dicomweb; and
     `burner dicom find` (the C-FIND listing fetch does first) and `burner dicom echo` (Python
     start-up plus one association), so fetch's own retrieval time can be told apart; each
     with the client's CPU seconds (and Orthanc's, in the JSON).

DCMTK as Debian builds it leaves Nagle's algorithm on unless the environment variable
TCP_NODELAY=1 is set; its peer then holds each small response about 40 ms (delayed ACK), which
caps DCMTK (and Orthanc, built on it) at about 20 objects a second on loopback. So every DCMTK
tool and Orthanc run here with TCP_NODELAY=1, the references at their best; `--nagle` runs them
as installed (TCP_NODELAY=0). pynetdicom, and so burner, ignores the variable.

Needs DCMTK (storescu, storescp, getscu) and Orthanc with its DICOMweb plugin. Prints a table
and the results as JSON, like bench/bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pydicom

from burner import synth

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import stop  # noqa: E402 - test helpers: stop a process by its PID
from orthanc_server import OrthancServer, free_ports  # noqa: E402

BURNER = str(Path(sys.executable).with_name("burner"))
MB = 1_000_000
ACCESSION = "BENCHNET1"
STOP_SECONDS = 10.0
TARGETS = {"receive_mbps": 50.0, "retrieve_ratio": 1.3}
TOOLS = ("storescu", "storescp", "getscu", "Orthanc")


def env() -> dict[str, str]:
    """This environment without the BURNER_ variables a station reads."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BURNER_")}


def run(cmd: list[str], what: str) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of `cmd`, and its output; SystemExit with its
    output if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}): {' '.join(cmd[:8])} ...\n"
                         f"{out[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, out


def start(cmd: list[str], log: Path, port: int) -> subprocess.Popen:
    """Start a server and wait until `port` accepts connections."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc, timeout=STOP_SECONDS)
            raise SystemExit(f"{cmd[0]} did not listen on {port}:\n"
                             f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


def files_in(folder: Path, pattern: str = "*") -> int:
    return sum(1 for p in folder.glob(pattern) if p.is_file())


def summary(walls: list[float], cpus: list[float]) -> dict:
    """Median and best wall seconds, and every run's wall and CPU seconds."""
    return {"median": statistics.median(walls), "best": min(walls), "runs": walls,
            "cpu_runs": cpus}


def write_config(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- receive -------------------------------------------------------------------------------


def push(proc: subprocess.Popen, port: int, files: list[Path]) -> tuple[float, float]:
    """storescu of `files` in one association to the server `proc` on `port`: wall seconds,
    and the CPU seconds the server used meanwhile."""
    cpu = cpu_seconds(proc.pid)
    seconds, _, _ = run(["storescu", "-aet", "BENCH", "-aec", "BURNER", "127.0.0.1", str(port),
                         *map(str, files)], "storescu")
    return seconds, cpu_seconds(proc.pid) - cpu


def receive_burner(work: Path, files: list[Path]) -> tuple[float, float, float]:
    """One push into a fresh `burner dicom`: seconds, the listener's CPU seconds and its peak
    RSS (MB)."""
    (port,) = free_ports(1)
    q = json.dumps
    config = write_config(work / "burner.toml", [
        "[station]", 'id = "bench"', f"data_dir = {q(str(work / 'data'))}",
        "[dicom]", 'ae_title = "BURNER"', f"port = {port}", "min_free_mb = 100",
        "[dicom.peers.BENCH]", 'may = ["echo", "store"]'])
    proc = start([BURNER, "--config", str(config), "dicom"], work / "listener.log", port)
    try:
        seconds, cpu = push(proc, port, files)
        rss = peak_rss_mb(proc.pid)
    finally:
        stop(proc, timeout=STOP_SECONDS)
    came = sum(files_in(d, "*.dcm") for d in (work / "data" / "intake").glob("net-BENCH-*"))
    if came != len(files):
        raise SystemExit(f"burner's intake holds {came} of {len(files)} files after the push "
                         f"(log: {(work / 'listener.log').read_text(errors='replace')[-2000:]})")
    return seconds, cpu, rss


def receive_storescp(work: Path, files: list[Path]) -> tuple[float, float]:
    (port,) = free_ports(1)
    out = work / "out"
    out.mkdir(parents=True)
    proc = start(["storescp", "-od", str(out), str(port)], work / "storescp.log", port)
    try:
        seconds, cpu = push(proc, port, files)
    finally:
        stop(proc, timeout=STOP_SECONDS)
    if files_in(out) != len(files):
        raise SystemExit(f"storescp wrote {files_in(out)} of {len(files)} files")
    return seconds, cpu


def bench_receive(work: Path, files: list[Path], size: int, repeat: int) -> dict:
    runs: dict[str, list[float]] = {k: [] for k in ("burner", "burner_cpu", "rss",
                                                    "storescp", "storescp_cpu")}
    for n in range(repeat):
        order = ("storescp", "burner") if n % 2 == 0 else ("burner", "storescp")
        for name in order:
            folder = work / f"receive-{name}-{n}"
            if name == "burner":
                seconds, cpu, peak = receive_burner(folder, files)
                runs["rss"].append(peak)
            else:
                seconds, cpu = receive_storescp(folder, files)
            runs[name].append(seconds)
            runs[f"{name}_cpu"].append(cpu)
            shutil.rmtree(folder)
        print(f"receive run {n + 1}: burner {runs['burner'][-1]:.2f} s "
              f"(CPU {runs['burner_cpu'][-1]:.1f} s), storescp {runs['storescp'][-1]:.2f} s "
              f"(CPU {runs['storescp_cpu'][-1]:.1f} s)", flush=True)
    ours = summary(runs["burner"], runs["burner_cpu"])
    ref = summary(runs["storescp"], runs["storescp_cpu"])
    return {"files": len(files), "mb": size / MB, "burner_s": ours, "storescp_s": ref,
            "burner_mb_per_s": size / MB / ours["median"],
            "burner_mb_per_s_runs": [size / MB / s for s in runs["burner"]],
            "storescp_mb_per_s": size / MB / ref["median"],
            "ratio": ours["median"] / ref["median"],
            "ratio_runs": [a / b for a, b in zip(runs["burner"], runs["storescp"], strict=True)],
            "listener_peak_rss_mb": max(runs["rss"]), "listener_peak_rss_mb_runs": runs["rss"]}


# --- retrieval -----------------------------------------------------------------------------


def pacs_config(work: Path, method: str, orthanc: OrthancServer, move_port: int) -> Path:
    q = json.dumps
    lines = ["[station]", 'id = "bench"', f"data_dir = {q(str(work / f'data-{method}'))}",
             "[dicom]", 'ae_title = "BURNER"', f"port = {move_port}", "min_free_mb = 100",
             "[pacs.main]", 'ae_title = "ORTHANC"', 'host = "127.0.0.1"',
             f"port = {orthanc.dicom_port}", f"retrieve = {q(method)}"]
    if method == "dicomweb":
        lines.append(f"url = {q(orthanc.dicomweb_url)}")
    return write_config(work / f"{method}.toml", lines)


def getscu(orthanc: OrthancServer, study_uid: str, out: Path, n: int) -> tuple[float, float]:
    out.mkdir(parents=True)
    seconds, cpu, _ = run(["getscu", "-aet", "BENCH", "-aec", "ORTHANC", "-S",
                           "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                           "-od", str(out), "127.0.0.1", str(orthanc.dicom_port)], "getscu")
    if files_in(out) != n:
        raise SystemExit(f"getscu brought {files_in(out)} of {n} files")
    shutil.rmtree(out)
    return seconds, cpu


def fetch(config: Path, out: Path, n: int, method: str) -> tuple[float, float]:
    seconds, cpu, said = run([BURNER, "--config", str(config), "dicom", "fetch", "main",
                              "--accession", ACCESSION, "--out", str(out)],
                             f"burner fetch {method}")
    if files_in(out, "*.dcm") != n or f"{n} of {n} listed" not in said:
        raise SystemExit(f"burner fetch by {method} brought {files_in(out, '*.dcm')} of {n} "
                         f"files: {said}")
    shutil.rmtree(out)
    return seconds, cpu


# The retrieval as the station's retrieve stage does it: the study listed first (not timed,
# like getscu, which lists nothing), then retrieve() timed inside one Python process.
_IN_STATION = """
import json, sys, time
from pathlib import Path
from burner.config import load_config
from burner.network.fetch import find, retrieve
from burner.network.settings import dicom_settings
config = load_config(sys.argv[1])
settings = dicom_settings(config)
pacs = settings.pacs_named("main")
studies = find(settings, pacs, accessions=(sys.argv[3],))
wall, cpu = time.perf_counter(), time.process_time()
got = retrieve(config, settings, pacs, studies, Path(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "files": len(got.files), "missing": len(got.missing)}))
"""


def in_station(config: Path, out: Path, n: int, method: str) -> tuple[float, float]:
    _, _, said = run([sys.executable, "-c", _IN_STATION, str(config), str(out), ACCESSION],
                     f"retrieve {method} in the station")
    got = json.loads(said.strip().splitlines()[-1])
    if got["files"] != n or got["missing"]:
        raise SystemExit(f"retrieve by {method} brought {got['files']} of {n} files")
    shutil.rmtree(out)
    return got["seconds"], got["cpu"]


def find(config: Path, study_uid: str, n: int) -> tuple[float, float]:
    seconds, cpu, said = run([BURNER, "--config", str(config), "dicom", "find", "main",
                              "--accession", ACCESSION], "burner find")
    if study_uid not in said or f"{n} images" not in said:
        raise SystemExit(f"burner find did not list the study with {n} images: {said}")
    return seconds, cpu


def echo(config: Path) -> tuple[float, float]:
    seconds, cpu, _ = run([BURNER, "--config", str(config), "dicom", "echo", "main"],
                          "burner echo")
    return seconds, cpu


def bench_retrieve(work: Path, files: list[Path], size: int, repeat: int) -> dict:
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    n = len(files)
    (move_port,) = free_ports(1)
    orthanc = OrthancServer(work / "orthanc", modalities={
        "BURNER": ("BURNER", "127.0.0.1", move_port)})
    orthanc.start()
    try:
        t = time.perf_counter()
        orthanc.upload_all(files)
        print(f"uploaded {n} files to Orthanc in {time.perf_counter() - t:.1f} s", flush=True)
        configs = {m: pacs_config(work, m, orthanc, move_port)
                   for m in ("c-get", "c-move", "dicomweb")}
        tasks: dict[str, Callable[[str], tuple[float, float]]] = {
            "getscu": lambda k: getscu(orthanc, study_uid, work / f"getscu{k}", n),
            "c-get": lambda k: fetch(configs["c-get"], work / f"c-get{k}", n, "c-get"),
            "c-move": lambda k: fetch(configs["c-move"], work / f"c-move{k}", n, "c-move"),
            "dicomweb": lambda k: fetch(configs["dicomweb"], work / f"web{k}", n, "dicomweb"),
            "station c-get": lambda k: in_station(configs["c-get"], work / f"sg{k}", n,
                                                  "c-get"),
            "station dicomweb": lambda k: in_station(configs["dicomweb"], work / f"sw{k}", n,
                                                     "dicomweb"),
            "find": lambda _k: find(configs["c-get"], study_uid, n),
            "echo": lambda _k: echo(configs["c-get"]),
        }
        tasks["getscu"]("warm")      # Orthanc's storage and index into the page cache
        tasks["c-get"]("warm")
        walls: dict[str, list[float]] = {name: [] for name in tasks}
        cpus: dict[str, list[float]] = {name: [] for name in tasks}
        pacs_cpus: dict[str, list[float]] = {name: [] for name in tasks}
        names = list(tasks)
        for k in range(repeat):
            order = names[k % len(names):] + names[:k % len(names)]
            for name in order:
                before = cpu_seconds(orthanc.pid)
                seconds, cpu = tasks[name](str(k))
                pacs_cpus[name].append(cpu_seconds(orthanc.pid) - before)
                walls[name].append(seconds)
                cpus[name].append(cpu)
            print(f"retrieve run {k + 1}: " + ", ".join(
                f"{name} {walls[name][-1]:.2f} s (CPU {cpus[name][-1]:.1f})" for name in names),
                flush=True)
    finally:
        orthanc.stop()
    out = {name: {**summary(walls[name], cpus[name]), "orthanc_cpu_runs": pacs_cpus[name]}
           for name in tasks}
    get, ref, listing = (out[k]["median"] for k in ("c-get", "getscu", "find"))
    return {
        "files": n, "mb": size / MB, "seconds": out,
        "ratio": get / ref,
        "ratio_runs": [a / b for a, b in zip(walls["c-get"], walls["getscu"], strict=True)],
        "ratio_without_find": (get - listing) / ref,
        "c_move_ratio": out["c-move"]["median"] / ref,
        "dicomweb_ratio": out["dicomweb"]["median"] / ref,
        "station_c_get_ratio": out["station c-get"]["median"] / ref,
        "station_dicomweb_ratio": out["station dicomweb"]["median"] / ref,
        "getscu_mb_per_s": size / MB / ref,
        "c_get_mb_per_s": size / MB / get,
    }


# --- report --------------------------------------------------------------------------------


def runs_text(s: dict) -> str:
    return (f"{s['median']:.2f} s (runs {', '.join(f'{r:.2f}' for r in s['runs'])}; "
            f"CPU {', '.join(f'{r:.1f}' for r in s['cpu_runs'])})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nagle", action="store_true",
                    help="run DCMTK and Orthanc with Nagle's algorithm on (Debian's default)")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    args = ap.parse_args()
    os.environ["TCP_NODELAY"] = "0" if args.nagle else "1"     # read by DCMTK and Orthanc
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)} (DCMTK, Orthanc)")
    warnings.simplefilter("ignore")
    # A TERM ends the run through the `finally` blocks, which stop every server started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench stopped"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="burner-netbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        files = synth.make_ct_study(work / "ref", synth.Patient(), slices=args.slices,
                                    accession=ACCESSION, workers=2)
        size = sum(p.stat().st_size for p in files)
        results = {"cores": os.cpu_count(), "slices": args.slices, "repeat": args.repeat,
                   "dcmtk_tcp_nodelay": not args.nagle, "load_before": os.getloadavg(),
                   "receive": bench_receive(work, files, size, args.repeat),
                   "retrieve": bench_retrieve(work, files, size, args.repeat),
                   "load_after": os.getloadavg()}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    r, g = results["receive"], results["retrieve"]
    s = g["seconds"]
    lines = [
        f"Load average {results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} "
        f"after, on {results['cores']} cores; DCMTK/Orthanc TCP_NODELAY={int(not args.nagle)}",
        f"Receive {r['files']} slices ({r['mb']:.0f} MB), storescu over loopback, median of "
        f"{args.repeat} (CPU: the receiver's):",
        f"  burner dicom  {runs_text(r['burner_s'])} = {r['burner_mb_per_s']:.0f} MB/s "
        f"(runs {', '.join(f'{v:.0f}' for v in r['burner_mb_per_s_runs'])}; target >= 50)",
        f"  storescp      {runs_text(r['storescp_s'])} = {r['storescp_mb_per_s']:.0f} MB/s",
        f"  burner / storescp = {r['ratio']:.2f}x "
        f"(runs {', '.join(f'{v:.2f}' for v in r['ratio_runs'])})",
        f"  listener peak RSS {r['listener_peak_rss_mb']:.0f} MB "
        f"(runs {', '.join(f'{v:.0f}' for v in r['listener_peak_rss_mb_runs'])})",
        f"Retrieve the study from Orthanc ({g['files']} files, {g['mb']:.0f} MB), median of "
        f"{args.repeat} (CPU: the client's):",
        f"  getscu (C-GET)            {runs_text(s['getscu'])} = {g['getscu_mb_per_s']:.0f} MB/s",
        f"  burner fetch by c-get     {runs_text(s['c-get'])} = {g['c_get_mb_per_s']:.0f} MB/s",
        f"  burner fetch by c-move    {runs_text(s['c-move'])}",
        f"  burner fetch by dicomweb  {runs_text(s['dicomweb'])}",
        f"  burner find (its listing) {runs_text(s['find'])}",
        f"  burner echo (start-up)    {runs_text(s['echo'])}",
        f"  c-get / getscu = {g['ratio']:.2f}x (runs "
        f"{', '.join(f'{v:.2f}' for v in g['ratio_runs'])}; target <= 1.3); without the "
        f"find: {g['ratio_without_find']:.2f}x",
        f"  c-move / getscu = {g['c_move_ratio']:.2f}x, dicomweb / getscu = "
        f"{g['dicomweb_ratio']:.2f}x",
        "Retrieval as the station's retrieve stage does it (listed first, untimed; one process):",
        f"  c-get     {runs_text(s['station c-get'])} = "
        f"{g['station_c_get_ratio']:.2f}x getscu (target <= 1.3)",
        f"  dicomweb  {runs_text(s['station dicomweb'])} = "
        f"{g['station_dicomweb_ratio']:.2f}x getscu (target <= 1.3)",
    ]
    print("\n".join(lines))
    print(json.dumps(results, indent=2))
    met = {"receive": r["burner_mb_per_s"] >= TARGETS["receive_mbps"]}
    for method in ("c_get", "dicomweb"):
        met[f"retrieve by {method}"] = g[f"station_{method}_ratio"] <= TARGETS["retrieve_ratio"]
    print("all targets met" if all(met.values()) else
          "TARGETS MISSED: " + ", ".join(k for k, v in met.items() if not v))


if __name__ == "__main__":
    main()
