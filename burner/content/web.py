"""IHE PDI web content: static XHTML pages and JPEG renditions of a volume's DICOM objects.

Layout (every name ISO 9660 level 1, mirroring the DICOM File IDs):

    IHE_PDI/STYLE.CSS                          the one shared style sheet
    IHE_PDI/ST000001/INDEX.HTM                 an exam: its series
    IHE_PDI/ST000001/SE000001/INDEX.HTM        a series: thumbnails and other objects
    IHE_PDI/ST000001/SE000001/IM000001.HTM     one image, large, with previous/next
    IHE_PDI/ST000001/SE000001/IM000001.JPG     its rendition (single-frame objects)
    IHE_PDI/ST000001/SE000001/IM000001/FR000006.JPG   frames of a multi-frame object

Pixels are read from the staged DICOM files, one file (and one frame) at a time, in at most
two worker processes, so memory does not grow with the size of a study.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import UID

from burner.content.pixels import (
    CT_WINDOW,
    first_number,
    frame_value,
    own_window,
    rescale,
    rgb8,
)
from burner.content.render import render, write_text
from burner.dicom.dicomdir import Entry
from burner.words import dicom_date
from burner.workers import pool as workers_pool

if TYPE_CHECKING:
    from burner.summary import ExamSummary

ROOT = "IHE_PDI"
STYLE = f"{ROOT}/STYLE.CSS"
MAX_SIDE = 512          # longest side of a rendition, in pixels
QUALITY = 85
MAX_PER_SERIES = 60     # a bigger series shows this many evenly spaced images
MAX_FRAMES = 16         # frames of one multi-frame object shown on its page
THUMB_BOX = 160         # thumbnails are shown at most this big (CSS pixels)
PAGE_BOX = 512          # an image page shows its rendition at most this big ...
MAX_ZOOM = 4            # ... and small images at most this many times enlarged
WORKERS = 2
POOL_FROM = 8           # below this many files a process pool costs more than it saves

# Objects without pictures, named in plain words by their DICOMDIR record type.
KINDS = {
    "SR DOCUMENT": "Written report (structured report)",
    "KEY OBJECT DOC": "List of key images",
    "PRESENTATION": "Display settings for images",
    "ENCAP DOC": "Document",
    "WAVEFORM": "Waveform (for example an ECG)",
    "RT DOSE": "Radiotherapy dose",
    "RT STRUCTURE SET": "Radiotherapy contours",
    "RT PLAN": "Radiotherapy plan",
    "RT TREAT RECORD": "Radiotherapy treatment record",
    "SPECTROSCOPY": "Spectroscopy data",
    "RAW DATA": "Raw data",
    "REGISTRATION": "Image registration",
    "FIDUCIAL": "Fiducial marks",
    "MEASUREMENT": "Measurements",
}


# --- rendering (runs in worker processes) ------------------------------------------------


@dataclass(frozen=True)
class RenderTask:
    """Render `frames` of the DICOM file `source` (None: its only frame) to `targets`."""

    source: str
    frames: tuple[int | None, ...]
    targets: tuple[str, ...]


def _stretch(arr: np.ndarray) -> np.ndarray:
    """Min-max to 0..255."""
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _window(arr: np.ndarray, center: float, width: float) -> np.ndarray:
    """The linear VOI function of PS3.3 C.11.2.1.2, to 0..255."""
    lo = center - 0.5 - (width - 1) / 2
    scaled = (arr - lo) * (255.0 / max(width - 1, 1e-6))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _grayscale(arr: np.ndarray, ds: Dataset, frame: int | None) -> np.ndarray:
    """Modality LUT, then window (the object's own, a CT default, or min-max), 8 bits."""
    if "ModalityLUTSequence" in ds:
        values = apply_modality_lut(arr, ds).astype(np.float32)
    else:
        slope, intercept = rescale(ds, frame)
        values = arr.astype(np.float32)
        if slope is not None and slope != 0:
            values = values * np.float32(slope)
        if intercept:
            values = values + np.float32(intercept)
    window = own_window(ds, frame)
    if window is not None:
        out = _window(values, *window)
    elif "VOILUTSequence" in ds:
        out = _stretch(apply_voi_lut(values, ds).astype(np.float32))
    elif str(ds.get("Modality", "")) == "CT":
        out = _window(values, *CT_WINDOW)
    else:
        out = _stretch(values)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def _display_size(ds: Dataset, frame: int | None, cols: int, rows: int) -> tuple[int, int]:
    """Width and height at most MAX_SIDE, with non-square pixels made square."""
    spacing = frame_value(ds, frame, "PixelMeasuresSequence", "PixelSpacing")
    ratio = 1.0      # pixel width / pixel height
    if isinstance(spacing, list | tuple | pydicom.multival.MultiValue) and len(spacing) == 2:
        row_sp, col_sp = first_number(spacing[0]), first_number(spacing[1])
        if row_sp and col_sp and row_sp > 0 and col_sp > 0:
            ratio = col_sp / row_sp
    elif "PixelAspectRatio" in ds:
        aspect = ds.PixelAspectRatio
        if len(aspect) == 2 and first_number(aspect[0]) and first_number(aspect[1]):
            ratio = float(aspect[1]) / float(aspect[0])
    width, height = float(cols), float(rows)
    if abs(ratio - 1) > 0.01:
        if ratio > 1:
            width *= ratio
        else:
            height /= ratio
    scale = min(1.0, MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _render_frame(source: str, ds: Dataset, frame: int | None, target: str) -> tuple[int, int]:
    arr = pixel_array(source, index=frame)
    palette = str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR"
    if palette or (arr.ndim == 3 and arr.shape[-1] == 3):
        image = Image.fromarray(rgb8(arr, ds), "RGB")
    else:
        image = Image.fromarray(_grayscale(arr, ds, frame), "L")
    size = _display_size(ds, frame, image.width, image.height)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    image.save(target, "JPEG", quality=QUALITY, optimize=True)
    return image.size


def render_task(task: RenderTask) -> list[tuple[int, int]] | str:
    """Write the task's JPEGs; their sizes, or why the object could not be shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(task.source, stop_before_pixels=True)
            return [_render_frame(task.source, ds, frame, target)
                    for frame, target in zip(task.frames, task.targets, strict=True)]
        except Exception as exc:  # noqa: BLE001 - any decoding failure: list, don't show
            for target in task.targets:
                Path(target).unlink(missing_ok=True)
            return f"{exc.__class__.__name__}: {exc}"


def render_all(tasks: list[RenderTask]) -> list[list[tuple[int, int]] | str]:
    """Run `tasks`, in WORKERS processes when there are many."""
    if len(tasks) >= POOL_FROM:
        with workers_pool(WORKERS) as pool:
            return list(pool.map(render_task, tasks, chunksize=4))
    return [render_task(t) for t in tasks]


# --- what the pages show ------------------------------------------------------------------


@dataclass
class _Object:
    entry: Entry
    number: int | None
    frames: int = 1
    shown: list[int | None] = field(default_factory=list)   # frames rendered, in order
    files: list[str] = field(default_factory=list)          # their JPEGs, relative to tree
    sizes: list[tuple[int, int]] = field(default_factory=list)
    error: str = ""

    @property
    def name(self) -> str:
        return self.entry.file_id[-1]

    @property
    def renders(self) -> bool:
        inst = self.entry.instance
        return inst.has_pixels and inst.record == "IMAGE"


@dataclass
class _Series:
    folder: str                       # e.g. IHE_PDI/ST000001/SE000001
    values: dict
    objects: list[_Object] = field(default_factory=list)

    @property
    def images(self) -> list[_Object]:
        return [o for o in self.objects if o.renders]

    @property
    def shown(self) -> list[_Object]:
        """The images on the series page: all, or MAX_PER_SERIES evenly spaced ones."""
        images = self.images
        return [images[i] for i in sample(len(images), MAX_PER_SERIES)]


def sample(n: int, k: int) -> list[int]:
    """Indices of at most `k` of `n` items, evenly spaced, first and last included."""
    if n <= k:
        return list(range(n))
    if k <= 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _int(value: object) -> int | None:
    number = first_number(value)
    return int(number) if number is not None else None


def _group(entries: list[Entry]) -> OrderedDict[str, OrderedDict[str, _Series]]:
    """Studies, then series, in the order of the file-set; objects by Instance Number."""
    studies: OrderedDict[str, OrderedDict[str, _Series]] = OrderedDict()
    for e in entries:
        inst = e.instance
        series = studies.setdefault(inst.study_uid, OrderedDict())
        folder = "/".join((ROOT, *e.file_id[1:-1]))
        row = series.setdefault(inst.series_uid, _Series(folder, inst.values))
        obj = _Object(e, _int(inst.get("InstanceNumber", None)))
        obj.frames = max(1, _int(inst.get("NumberOfFrames", None)) or 1)
        row.objects.append(obj)
    for series in studies.values():
        for row in series.values():
            row.objects.sort(key=lambda o: (o.number is None, o.number or 0, o.entry.file_id))
    return studies


def _plan_renditions(studies: OrderedDict[str, OrderedDict[str, _Series]]) -> list[_Object]:
    """Which frames of which objects become JPEGs, and their names."""
    todo = []
    for series in studies.values():
        for row in series.values():
            for obj in row.shown:
                if obj.frames == 1:
                    obj.shown = [None]
                    obj.files = [f"{row.folder}/{obj.name}.JPG"]
                else:
                    middle = obj.frames // 2
                    picks = sample(obj.frames, MAX_FRAMES)
                    if middle not in picks:
                        picks = sorted({*picks[:-1], middle, picks[-1]})
                    obj.shown = list(picks)
                    obj.files = [f"{row.folder}/{obj.name}/FR{f + 1:06d}.JPG" for f in picks]
                todo.append(obj)
    return todo


def _fit(size: tuple[int, int], box: int, zoom: float) -> dict:
    """Width and height (as ints) to show `size` inside `box`, enlarging at most `zoom` times."""
    w, h = size
    scale = min(box / max(w, h), zoom)
    return {"width": max(1, round(w * scale)), "height": max(1, round(h * scale))}


def _kind(obj: _Object) -> str:
    inst = obj.entry.instance
    if inst.record == "ENCAP DOC":
        mime = str(inst.get("MIMETypeOfEncapsulatedDocument") or "")
        return "PDF document" if mime == "application/pdf" else "Document"
    if inst.record in KINDS:
        return KINDS[inst.record]
    if inst.has_pixels:
        return "Image"
    return inst.record.capitalize()


def _middle_file(obj: _Object) -> tuple[str, tuple[int, int]]:
    """The JPEG (and size) standing for `obj` in lists: its middle frame."""
    if obj.shown == [None]:
        return obj.files[0], obj.sizes[0]
    i = min(range(len(obj.shown)), key=lambda k: abs((obj.shown[k] or 0) - obj.frames // 2))
    return obj.files[i], obj.sizes[i]


# --- writing ------------------------------------------------------------------------------


def exam_pages(entries: list[Entry]) -> dict[str, str]:
    """Study Instance UID -> its exam page, relative to the tree root."""
    return {uid: f"{ROOT}/{next(iter(series.values())).folder.split('/')[1]}/INDEX.HTM"
            for uid, series in _group(entries).items()}


def write_web_content(tree: Path, entries: list[Entry], context: dict) -> list[str]:
    """Write IHE_PDI/ into the staged volume `tree`; return the written paths (from `tree`).

    `context` is the documents' context (patient, institution, disc N of M, ...) made from
    the release summary: "exams" (Study Instance UID -> ExamSummary) gives each exam's facts,
    "reports" and "viewer" decide the extra links.
    """
    studies = _group(entries)
    todo = _plan_renditions(studies)
    for obj in todo:
        (tree / obj.files[0]).parent.mkdir(parents=True, exist_ok=True)
    tasks = [RenderTask(str(tree.joinpath(*obj.entry.file_id)), tuple(obj.shown),
                        tuple(str(tree / f) for f in obj.files)) for obj in todo]
    written: list[str] = []
    for obj, result in zip(todo, render_all(tasks), strict=True):
        if isinstance(result, str):
            obj.error, obj.files, obj.shown = result, [], []
        else:
            obj.sizes = result
            written += obj.files

    common = dict(context)
    common.setdefault("reports", [])
    common.setdefault("viewer", False)

    def page(path: str, template: str, **values: object) -> None:
        folder = path.rsplit("/", 1)[0]
        up = "../" * (folder.count("/") + 1)
        text = render(f"{ROOT}/{template}", up=up, **common, **values)
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        write_text(tree / path, text)
        written.append(path)

    write_text(tree / STYLE, render(STYLE))
    written.append(STYLE)
    for uid, series in studies.items():
        exam = _exam(series, common["exams"][uid])
        exam_folder = exam["folder"]
        exam["reports"] = [r for r in common["reports"] if r["study_uid"] in ("", uid)]
        rows = []
        for row in series.values():
            rows.append(_series_row(row, exam_folder))
        page(f"{exam_folder}/INDEX.HTM", "EXAM.HTM", exam=exam, series=rows)
        for row, info in zip(series.values(), rows, strict=True):
            shown = [o for o in row.shown if o.files]
            page(f"{row.folder}/INDEX.HTM", "SERIES.HTM", exam=exam, row=info,
                 thumbs=[_thumb(o, row.folder) for o in row.shown],
                 others=[_other(o) for o in row.objects if not o.renders])
            for i, obj in enumerate(shown):
                prev = shown[i - 1].name + ".HTM" if i > 0 else ""
                nxt = shown[i + 1].name + ".HTM" if i + 1 < len(shown) else ""
                page(f"{row.folder}/{obj.name}.HTM", "IMAGE.HTM", exam=exam, row=info,
                     image=_image(obj, row.folder), position=i + 1, of=len(shown),
                     prev=prev, next=nxt)
    return written


def _exam(series: OrderedDict[str, _Series], summary: ExamSummary) -> dict:
    """An exam page's facts: the release summary's, with what the pages show of it."""
    first = next(iter(series.values()))
    objects = [o for row in series.values() for o in row.objects]
    return {
        "folder": "/".join(first.folder.split("/")[:2]),
        "date": summary.date or "date unknown",
        "description": summary.description or "Imaging exam",
        "accession": summary.accession,
        "modalities": summary.modality,
        "images": sum(1 for o in objects if o.renders),
        "objects": len(objects),
    }


def _series_row(row: _Series, exam_folder: str) -> dict:
    images = row.images
    shown = [o for o in row.shown if o.files]
    preview = None
    if shown:
        middle = shown[len(shown) // 2]
        src, size = _middle_file(middle)
        preview = {"src": src[len(exam_folder) + 1:], **_fit(size, 96, MAX_ZOOM)}
    kinds = sorted({_kind(o) for o in row.objects if not o.renders})
    return {
        "href": row.folder[len(exam_folder) + 1:] + "/INDEX.HTM",
        "number": str(row.values.get("SeriesNumber") or ""),
        "modality": str(row.values.get("Modality") or "OT"),
        "description": str(row.values.get("SeriesDescription") or ""),
        "date": dicom_date(row.values.get("SeriesDate")),
        "images": len(images),
        "shown": len(row.shown),
        "others": len(row.objects) - len(images),
        "kinds": ", ".join(kinds),
        "preview": preview,
    }


def _thumb(obj: _Object, folder: str) -> dict:
    out = {"number": obj.number, "name": obj.name, "frames": obj.frames, "error": obj.error,
           "src": "", "href": "", "width": 0, "height": 0}
    if obj.files:
        src, size = _middle_file(obj)
        out.update(src=src[len(folder) + 1:], href=f"{obj.name}.HTM",
                   **_fit(size, THUMB_BOX, MAX_ZOOM))
    return out


def _image(obj: _Object, folder: str) -> dict:
    frames = [{"src": f[len(folder) + 1:], "frame": (n or 0) + 1,
               **_fit(size, PAGE_BOX if len(obj.files) == 1 else 256, MAX_ZOOM)}
              for f, n, size in zip(obj.files, obj.shown, obj.sizes, strict=True)]
    inst = obj.entry.instance
    return {"number": obj.number, "name": obj.name, "frames": frames, "total": obj.frames,
            "file": "/".join(obj.entry.file_id), "sop_class": UID(inst.sop_class).name,
            "date": dicom_date(inst.get("ContentDate") or inst.get("AcquisitionDate"))}


def _other(obj: _Object) -> dict:
    inst = obj.entry.instance
    return {"number": obj.number, "kind": _kind(obj), "sop_class": UID(inst.sop_class).name,
            "file": "/".join(obj.entry.file_id),
            "date": dicom_date(inst.get("ContentDate") or inst.get("InstanceCreationDate"))}
