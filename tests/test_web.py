"""IHE PDI web content: INDEX.HTM, IHE_PDI/ pages, JPEG renditions and README.TXT of a built
disc tree, checked as files and in headless Chromium (file://, no network)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pydicom
import pytest
from conftest import make_job_folder, quiet_read, require_tool, study_patient
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    generate_uid,
)

import burner
from burner import synth
from burner.build import build_job
from burner.config import load_config
from burner.content import web
from burner.media.checksums import LIST_NAME, parse_list
from burner.stages import stage

XHTML = "{http://www.w3.org/1999/xhtml}"
NAME_83 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
FOLDER = re.compile(r"^[A-Z0-9_]{1,8}$")
INSTITUTION = {"name": "Riverside General Hospital",
               "address": "12 Harbour Road, Springfield 01234", "phone": "+1 555 0100"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
CT_SLICES = 64          # more than web.MAX_PER_SERIES: the series page samples


@dataclass
class Built:
    tree: Path
    series: dict[str, Path]     # modality or "SC"/"MF" -> its IHE_PDI series folder


def _config(root: Path) -> Path:
    q = json.dumps
    path = root / "burner.toml"
    path.write_text("\n".join([
        "[station]", f"data_dir = {q(str(root / 'data'))}", "[institution]",
        *(f"{k} = {q(v)}" for k, v in INSTITUTION.items()), ""]), encoding="utf-8")
    return path


def _job(root: Path, *, slices: int, extras: bool = True, web_on: bool = True) -> Path:
    """A CT job; with `extras` also an RGB image, a multi-frame cine and an SR report."""
    job = root / "WEBJOB1"
    manifest = make_job_folder(job, slices=slices)
    if not web_on:
        manifest["media"]["web"] = False
        (job / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    if extras:
        dicom = job / "dicom"
        cts = sorted(dicom.rglob("*.dcm"))
        uid = manifest["studies"][0]["study_instance_uid"]
        synth.make_rgb_secondary_capture(dicom / "extra", study_patient(), study_uid=uid)
        synth.make_multiframe(dicom / "extra", study_patient(), study_uid=uid, frames=10)
        synth.make_basic_sr(dicom / "extra", study_patient(), study_uid=uid, referenced=cts[:3])
    return job


def _build(root: Path, job: Path) -> Path:
    outcome = build_job(load_config(_config(root)), job, root / "out")
    assert outcome.exit_code == 0, outcome.problems
    return Path(outcome.volumes[0]["tree"])


def _series_folders(tree: Path) -> dict[str, Path]:
    """IHE_PDI series folder by what the series holds (CT, SR, SC = RGB, MF = multi-frame)."""
    out = {}
    for folder in sorted((tree / "DICOM").glob("ST*/SE*")):
        ds = quiet_read(next(folder.iterdir()), stop_before_pixels=True)
        key = str(ds.Modality)
        if key == "OT":
            key = "MF" if int(ds.get("NumberOfFrames", 1) or 1) > 1 else "SC"
        out[key] = tree / "IHE_PDI" / folder.parent.name / folder.name
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("web")
    tree = _build(root, _job(root, slices=CT_SLICES))
    return Built(tree, _series_folders(tree))


def _pages(tree: Path) -> list[Path]:
    return [tree / "INDEX.HTM", *sorted((tree / "IHE_PDI").rglob("*.HTM"))]


# --- files --------------------------------------------------------------------------------


def test_every_name_is_iso9660_level1_and_at_most_8_levels_deep(built: Built) -> None:
    for path in built.tree.rglob("*"):
        rel = path.relative_to(built.tree)
        pattern = FOLDER if path.is_dir() else NAME_83
        assert pattern.match(rel.parts[-1]), rel
        assert all(FOLDER.match(p) for p in rel.parts[:-1]), rel
        folders = len(rel.parts) if path.is_dir() else len(rel.parts) - 1
        assert folders + 1 <= 8, f"{rel}: deeper than 8 levels counting the root"


def test_pages_are_xhtml_without_scripts_and_everything_is_hashed(built: Built) -> None:
    pages = _pages(built.tree)
    assert len(pages) > CT_SLICES // 2
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), page
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC '
                               '"-//W3C//DTD XHTML 1.0 Strict//EN"'), page
        root = ET.fromstring(text.encode("utf-8"))      # well-formed XML
        assert root.tag == f"{XHTML}html", page
        assert root.find(f"{XHTML}head/{XHTML}title") is not None, page
        for img in root.iter(f"{XHTML}img"):
            assert img.get("alt"), f"{page}: <img> without alt"
        for a in root.iter(f"{XHTML}a"):
            href = a.get("href", "")
            assert href and "://" not in href and not href.startswith("/"), (page, href)
    hashed = parse_list((built.tree / LIST_NAME).read_text(encoding="ascii"))
    web_files = {p.relative_to(built.tree).as_posix()
                 for p in (built.tree / "IHE_PDI").rglob("*") if p.is_file()}
    assert web_files and web_files <= set(hashed), web_files - set(hashed)


def test_start_page_lists_the_exam_and_links_into_ihe_pdi(built: Built) -> None:
    text = (built.tree / "INDEX.HTM").read_text(encoding="utf-8")
    for words in ("Robin Tester", "1975-06-15", INSTITUTION["name"], "TESTACC1",
                  'href="IHE_PDI/ST000001/INDEX.HTM"', 'href="README.TXT"', "DICOMDIR"):
        assert words in text, words
    assert (built.tree / "VIEWER" / "INDEX.HTM").is_file(), "the job wants the viewer"
    for page in _pages(built.tree):
        assert "VIEWER/INDEX.HTM" in page.read_text(encoding="utf-8"), page


def test_big_series_shows_an_even_sample_and_small_ones_everything(built: Built) -> None:
    ct = built.series["CT"]
    jpegs = sorted(ct.glob("IM*.JPG"))
    assert len(jpegs) == web.MAX_PER_SERIES
    assert jpegs[0].name == "IM000001.JPG" and jpegs[-1].name == f"IM{CT_SLICES:06d}.JPG"
    series_page = (ct / "INDEX.HTM").read_text(encoding="utf-8")
    assert f"This series has {CT_SLICES} images" in series_page
    frames = sorted((built.series["MF"] / "IM000001").glob("FR*.JPG"))
    assert len(frames) == 10, "a 10-frame cine shows every frame"
    sr_page = (built.series["SR"] / "INDEX.HTM").read_text(encoding="utf-8")
    assert "Written report" in sr_page and "<img" not in sr_page


def test_renditions_are_windowed_in_colour_and_at_most_512_px(built: Built) -> None:
    for jpeg in built.tree.joinpath("IHE_PDI").rglob("*.JPG"):
        with Image.open(jpeg) as im:
            assert im.format == "JPEG" and max(im.size) <= web.MAX_SIDE, jpeg
    with Image.open(built.series["CT"] / "IM000032.JPG") as im:
        ct = np.asarray(im.convert("L"), dtype=np.float32)
    h, w = ct.shape

    def at(point: tuple[float, float]) -> float:
        x, y = round((point[0] + 1) / 2 * w), round((point[1] + 1) / 2 * h)
        return float(ct[y - 1:y + 2, x - 1:x + 2].mean())

    assert at(synth.CT_AIR_POINT) < 40, "air is dark"
    assert at(synth.CT_BONE_POINT) > 200, "bone is bright"
    assert 40 < at(synth.CT_SOFT_TISSUE_POINT) < 220, "soft tissue is grey (window 40/400)"
    with Image.open(built.series["SC"] / "IM000001.JPG") as im:
        assert im.mode == "RGB"
        rgb = np.asarray(im, dtype=np.int16)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 60, "the colour image stays in colour"
    with Image.open(built.series["MF"] / "IM000001" / "FR000006.JPG") as im:
        assert im.size == (128, 128)


def test_readme_says_how_to_open_and_who_made_it(built: Built) -> None:
    raw = (built.tree / "README.TXT").read_bytes()
    assert b"\r\n" in raw and b"\r\r" not in raw and raw.count(b"\n") == raw.count(b"\r\n")
    text = raw.decode("utf-8")
    fileset_id = str(quiet_read(built.tree / "DICOMDIR").FileSetID)
    for words in ("Windows", "macOS", "Chromebook", "File Explorer", "Finder", "Files app",
                  "INDEX.HTM", "DICOMDIR", "No program needs to be installed",
                  *INSTITUTION.values(),
                  f"File-set ID:  {fileset_id}", "Disc:         1 of 1",
                  f"burner {burner.__version__}", "Robin Tester"):
        assert words in text, words


# --- in a browser -------------------------------------------------------------------------


def _path_of(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def crawl(tree: Path, screenshots: dict[str, Path] | None = None) -> set[Path]:
    """Open tree/INDEX.HTM in headless Chromium and follow every link to INDEX.HTM and the
    IHE_PDI pages; every link's target must exist, every image load, nothing leave file://.
    Returns the pages visited."""
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    tree = tree.resolve()
    requests: list[str] = []
    failed: list[str] = []
    bad: list[str] = []
    console: list[str] = []
    visited: set[Path] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("response", lambda r: bad.append(f"{r.url}: {r.status}")
                    if r.status >= 400 else None)
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            todo = [tree / "INDEX.HTM"]
            while todo:
                path = todo.pop()
                if path in visited:
                    continue
                visited.add(path)
                page.goto(path.as_uri())
                assert "<script" not in page.content().lower(), path
                images = page.evaluate("Array.from(document.images).map("
                                       "i => [i.src, i.complete, i.naturalWidth])")
                for src, complete, width in images:
                    assert complete and width > 0, f"{path}: image {src} did not load"
                for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
                    target = href.split("#", 1)[0]
                    assert target.startswith("file://"), f"{path}: link {href} leaves the disc"
                    file = _path_of(target)
                    assert file.is_file(), f"{path}: link {href} is broken"
                    assert file.is_relative_to(tree), f"{path}: link {href} leaves the disc"
                    rel = file.relative_to(tree)
                    if file.suffix == ".HTM" and (rel.parts[0] == "IHE_PDI" or
                                                  rel == Path("INDEX.HTM")):
                        todo.append(file)
            for name, rel in (screenshots or {}).items():
                page.goto((tree / rel).as_uri())
                page.screenshot(path=str(Path("/tmp") / f"burner-web-{name}.png"),
                                full_page=True)
        finally:
            browser.close()
    assert requests and all(u.startswith("file://") for u in requests), \
        [u for u in requests if not u.startswith("file://")]
    assert not failed, failed
    assert not bad, bad
    assert not console, console
    return visited


@pytest.mark.slow
def test_chromium_opens_every_page_and_image_from_file_urls(built: Built) -> None:
    ct = built.series["CT"].relative_to(built.tree)
    visited = crawl(built.tree, {"start": Path("INDEX.HTM"), "series": ct / "INDEX.HTM",
                                 "image": ct / "IM000032.HTM"})
    assert visited == set(p.resolve() for p in _pages(built.tree)), "every page is reachable"


def test_reports_and_viewer_are_linked_when_on_the_volume(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A volume whose summary says it has a report and the viewer links both from every page
    (the pages follow the release summary, never what happens to be in the folder)."""
    import dataclasses

    from burner.summary import ReportSummary

    real = stage.write_documents
    real_summarise = stage.summarise

    def with_extras(*args: object, **kwargs: object):
        made = real_summarise(*args, **kwargs)
        volumes = tuple(dataclasses.replace(v, viewer=True, reports=(
            *v.reports, ReportSummary("REPORT9.PDF", "Report nine", ""))) for v in made.volumes)
        return dataclasses.replace(made, volumes=volumes)

    def with_viewer_and_report(tree: Path, *args: object, **kwargs: object) -> list[str]:
        (tree / "VIEWER").mkdir(exist_ok=True)
        (tree / "VIEWER" / "INDEX.HTM").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
            "<head><title>viewer</title></head><body><p>viewer</p></body></html>\n")
        (tree / "REPORTS").mkdir(exist_ok=True)
        (tree / "REPORTS" / "REPORT9.PDF").write_bytes(b"%PDF-1.4\n%%EOF\n")
        return [*real(tree, *args, **kwargs), "VIEWER/INDEX.HTM", "REPORTS/REPORT9.PDF"]

    monkeypatch.setattr(stage, "write_documents", with_viewer_and_report)
    monkeypatch.setattr(stage, "summarise", with_extras)
    tree = _build(tmp_path, _job(tmp_path, slices=3, extras=False))
    for page in _pages(tree):
        text = page.read_text(encoding="utf-8")
        assert "VIEWER/INDEX.HTM" in text and "REPORTS/REPORT9.PDF" in text, page
    readme = (tree / "README.TXT").read_text(encoding="utf-8")
    assert "VIEWER" in readme and "REPORTS" in readme
    crawl(tree)


def test_without_web_content_the_start_page_still_works(tmp_path: Path) -> None:
    tree = _build(tmp_path, _job(tmp_path, slices=2, extras=False, web_on=False))
    assert not (tree / "IHE_PDI").exists()
    text = (tree / "INDEX.HTM").read_text(encoding="utf-8")
    ET.fromstring(text.encode("utf-8"))
    assert 'href="IHE_PDI' not in text and "Robin Tester" in text
    assert "IHE_PDI" not in (tree / "README.TXT").read_text(encoding="utf-8")


# --- rendering, unit by unit --------------------------------------------------------------


def _image_file(path: Path, pixels: np.ndarray, **values: object) -> Path:
    """A minimal secondary capture holding `pixels` (2-D: grayscale, 3-D: RGB)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 3 else "MONOCHROME2"
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    for key, value in values.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def _render(tmp_path: Path, source: Path, frames: tuple[int | None, ...] = (None,)) -> list:
    targets = tuple(str(tmp_path / f"OUT{i}.JPG") for i in range(len(frames)))
    result = web.render_task(web.RenderTask(str(source), frames, targets))
    assert not isinstance(result, str), result
    return [np.asarray(Image.open(t)) for t in targets]


def test_large_images_shrink_and_non_square_pixels_become_square(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(1000, dtype=np.uint16), (600, 1))
    (big,) = _render(tmp_path, _image_file(tmp_path / "a.dcm", ramp))
    assert big.shape == (307, 512), "1000x600 -> 512 wide, aspect kept"
    assert big[:, :20].mean() < 10 and big[:, -20:].mean() > 245, "min-max without a window"
    wide = np.zeros((200, 400), dtype=np.uint16)
    (square,) = _render(tmp_path, _image_file(tmp_path / "b.dcm", wide, PixelSpacing=[1, 0.5]))
    assert square.shape == (400, 400), "pixels half as wide as tall: 200 mm x 200 mm"


def test_monochrome1_is_inverted_and_window_values_are_used(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(256, dtype=np.uint16) * 16, (64, 1))
    (inverted,) = _render(tmp_path, _image_file(tmp_path / "a.dcm", ramp,
                                                PhotometricInterpretation="MONOCHROME1"))
    assert inverted[:, :8].mean() > 245 and inverted[:, -8:].mean() < 10
    (windowed,) = _render(tmp_path, _image_file(tmp_path / "b.dcm", ramp, WindowCenter=[1024, 0],
                                                WindowWidth=[256, 1]))
    assert windowed[:, 48:54].mean() < 2 and windowed[:, 74:80].mean() > 253
    assert 100 < windowed[:, 64].mean() < 155, "the centre value is mid-grey"


def test_compressed_ybr_colour_input_is_rendered_in_colour(tmp_path: Path) -> None:
    rgb = np.zeros((64, 96, 3), dtype=np.uint8)
    rgb[..., 0] = 220
    rgb[:, 48:, 2] = 200
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, "JPEG", quality=95)
    path = _image_file(tmp_path / "c.dcm", rgb)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    (out,) = _render(tmp_path, path)
    assert out.shape == (64, 96, 3)
    assert out[:, :40, 0].mean() > 180 and out[:, :40, 2].mean() < 60, "red stays red"
    assert out[:, 56:, 2].mean() > 150, "magenta half keeps its blue"


def test_an_object_that_cannot_be_decoded_is_listed_not_shown(tmp_path: Path) -> None:
    path = _image_file(tmp_path / "d.dcm", np.zeros((8, 8), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-20])        # pixel data cut short
    target = tmp_path / "OUT.JPG"
    result = web.render_task(web.RenderTask(str(path), (None,), (str(target),)))
    assert isinstance(result, str) and not target.exists()


def test_sample_keeps_first_and_last() -> None:
    assert web.sample(5, 60) == [0, 1, 2, 3, 4]
    picks = web.sample(1000, 60)
    assert len(picks) == 60 and picks[0] == 0 and picks[-1] == 999
