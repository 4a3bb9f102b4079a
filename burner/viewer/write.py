"""Write VIEWER/ into a volume tree: the viewer's files from templates/VIEWER/, the packed
frames under VIEWER/DATA/ and VIEWER/DATA/INDEX.JS (studies, series, geometry, defaults)."""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np

from burner.content.render import templates_dir
from burner.dicom.dicomdir import Entry
from burner.viewer.pack import PackTask, pack_all

ROOT = "VIEWER"
DATA = f"{ROOT}/DATA"


def pixel_bytes(inst: object) -> int:
    """Bytes of the decoded pixel data of an object (frames x rows x cols x samples x bytes)."""
    get = inst.get  # type: ignore[attr-defined]
    frames = int(get("NumberOfFrames", 1) or 1)
    samples = int(get("SamplesPerPixel", 1) or 1)
    bits = int(get("BitsAllocated", 16) or 16)
    return (frames * samples * int(get("Rows", 0) or 0) * int(get("Columns", 0) or 0)
            * ((bits + 7) // 8))


def _order(frames: list[dict]) -> list[dict]:
    """Frames sorted along the slice normal when every one has a position and the same
    orientation; else by instance number and frame."""
    ori = frames[0].get("ori")
    if ori and all(f.get("pos") and f.get("ori") == ori for f in frames):
        normal = np.cross(ori[:3], ori[3:])
        return sorted(frames, key=lambda f: (float(np.dot(normal, f["pos"])), f["frame"]))
    return sorted(frames, key=lambda f: (f["number"], f["file"], f["frame"]))


def _text(inst: object, keyword: str) -> str:
    return str(inst.get(keyword, "") or "")  # type: ignore[attr-defined]


def write_viewer(tree: Path, entries: list[Entry], info: dict) -> list[str]:
    """VIEWER/ for the image series of `entries` (staged under `tree`); `info` holds the
    patient ("patient": {name, id, birth_date}) and the reports ([{href, title, study_uid}]).
    Returns the written files relative to `tree`."""
    src = templates_dir() / ROOT
    (tree / DATA).mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.iterdir()):
        if path.is_file():
            shutil.copyfile(path, tree / ROOT / path.name)
            written.append(f"{ROOT}/{path.name}")
    studies: OrderedDict[str, dict] = OrderedDict()
    series: OrderedDict[str, dict] = OrderedDict()
    tasks: list[PackTask] = []
    owners: list[str] = []
    for e in entries:
        inst = e.instance
        if not inst.has_pixels:
            continue
        key = "/".join(e.file_id[1:-1])
        study = studies.setdefault(inst.study_uid, {
            "uid": inst.study_uid, "date": _text(inst, "StudyDate"),
            "description": _text(inst, "StudyDescription"),
            "accession": _text(inst, "AccessionNumber"), "series": []})
        if key not in series:
            series[key] = {"key": key, "modality": _text(inst, "Modality") or "OT",
                           "number": _text(inst, "SeriesNumber"),
                           "description": _text(inst, "SeriesDescription"),
                           "frames": [], "count": 0, "next": 1}
            study["series"].append(key)
            (tree / DATA / key).mkdir(parents=True, exist_ok=True)
        row = series[key]
        tasks.append(PackTask(str(tree.joinpath(*e.file_id)), str(tree / DATA / key), key,
                              row["next"]))
        owners.append(key)
        row["next"] += max(1, inst.integer("NumberOfFrames", 1))
    for key, result in zip(owners, pack_all(tasks), strict=True):
        if isinstance(result, list):
            series[key]["frames"] += result
    out_series = []
    for key, row in series.items():
        if not row["frames"]:      # nothing in it could be decoded
            shutil.rmtree(tree / DATA / key)
            continue
        frames = _order(row["frames"])
        first = frames[0]
        written += [f"{DATA}/{key}/{f['file']}" for f in row["frames"]]
        out_series.append({
            "key": key, "modality": row["modality"], "number": row["number"],
            "description": row["description"], "rows": first["rows"], "cols": first["cols"],
            "kind": first["kind"], "spacing": first.get("spacing"), "ori": first.get("ori"),
            "wc": first.get("wc"), "ww": first.get("ww"), "invert": first.get("invert", False),
            "frames": [{"f": int(f["file"][1:8]), "pos": f.get("pos"), "s": f["slope"],
                        "b": f["intercept"]} for f in frames]})
    for folder in sorted((tree / DATA).rglob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    keep = {s["key"] for s in out_series}
    index = {"patient": info.get("patient", {}), "reports": info.get("reports", []),
             "studies": [dict(s, series=[k for k in s["series"] if k in keep])
                         for s in studies.values()],
             "series": out_series}
    (tree / DATA / "INDEX.JS").write_text(
        "BURNER.index(" + json.dumps(index, separators=(",", ":")) + ");\n", encoding="ascii")
    written.append(f"{DATA}/INDEX.JS")
    return written
