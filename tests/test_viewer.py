"""The zero-install viewer (VIEWER/): packed data checked against pydicom, and the viewer
itself in headless Chromium over a built disc tree through file:// URLs."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from conftest import make_job_folder, quiet_read, require_tool, study_patient
from pydicom.uid import JPEG2000, JPEG2000Lossless

from burner import synth
from burner.build import build_job
from burner.config import load_config
from burner.media.checksums import LIST_NAME, parse_list
from burner.stages import plan as plan_stage
from burner.viewer import encode
from burner.viewer.write import pixel_bytes

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
NAME_83 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
FOLDER = re.compile(r"^[A-Z0-9_]{1,8}$")
SLICES = 12
SIZE = 128
CHUNK = re.compile(r'^BURNER\.chunk\("([A-Z0-9/]+)",(\d+),"(\w+)",([01]),"([A-Za-z0-9+/=]*)"\);$')


@dataclass
class Disc:
    tree: Path
    index: dict
    by_kind: dict[str, dict]     # "CT", "J2K", "RGB", "MF" -> the series entry of INDEX.JS


def _job(root: Path) -> Path:
    job = root / "VIEWJOB"
    manifest = make_job_folder(job, slices=2)
    for old in (job / "dicom").rglob("*.dcm"):      # replaced by a bigger CT below
        old.unlink()
    uid = manifest["studies"][0]["study_instance_uid"]
    patient = study_patient()
    synth.make_ct_study(job / "dicom" / "ct", patient, slices=SLICES, rows=SIZE, cols=SIZE,
                        study_uid=uid, accession="TESTACC1")
    synth.make_ct_study(job / "dicom" / "j2k", patient, slices=4, rows=96, cols=96,
                        study_uid=uid, accession="TESTACC1", transfer_syntax=JPEG2000Lossless)
    synth.make_rgb_secondary_capture(job / "dicom" / "rgb", patient, study_uid=uid)
    synth.make_multiframe(job / "dicom" / "mf", patient, study_uid=uid, frames=6)
    # A real JPEG 2000 CT from pydicom's test data, as a second exam of the same patient.
    # And pydicom's own colour, multi-frame (RLE, 2 frames RGB) and JPEG 2000 CT files.
    (job / "dicom" / "pydicom").mkdir()
    for name in ("693_J2KI.dcm", "SC_rgb_rle_2frame.dcm"):
        source = Path(pydicom.data.get_testdata_file(name))
        synth.rewrite_patient(source, patient, job / "dicom" / "pydicom" / name)
        manifest["studies"].append({"study_instance_uid": str(
            pydicom.dcmread(source, stop_before_pixels=True).StudyInstanceUID)})
    manifest["media"] = {"type": "dvd", "profile": "STD-GEN-DVD-J2K", "copies": 1}
    (job / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    return job


def _read_index(tree: Path) -> dict:
    text = (tree / "VIEWER" / "DATA" / "INDEX.JS").read_text(encoding="ascii")
    assert text.startswith("BURNER.index(") and text.endswith(");\n")
    return json.loads(text[len("BURNER.index("):-3])


def _source(tree: Path, key: str) -> list[Path]:
    return sorted((tree / "DICOM" / key).iterdir())


def _kind(tree: Path, row: dict) -> str:
    ds = quiet_read(_source(tree, row["key"])[0], stop_before_pixels=True)
    if ds.file_meta.TransferSyntaxUID == JPEG2000Lossless:
        return "J2K"
    if ds.file_meta.TransferSyntaxUID == JPEG2000:
        return "PYDICOM-J2K"
    if row["kind"] == "rgb":
        return "PYDICOM-RGB-MF" if ds.get("NumberOfFrames", 1) > 1 else "RGB"
    return "MF" if len(_source(tree, row["key"])) == 1 else str(ds.Modality)


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory) -> Disc:
    root = tmp_path_factory.mktemp("viewer")
    (root / "burner.toml").write_text(f'[station]\ndata_dir = "{root / "data"}"\n',
                                      encoding="utf-8")
    outcome = build_job(load_config(root / "burner.toml"), _job(root), root / "out")
    assert outcome.exit_code == 0, outcome.problems
    tree = Path(outcome.volumes[0]["tree"])
    index = _read_index(tree)
    return Disc(tree, index, {_kind(tree, row): row for row in index["series"]})


def _frame(tree: Path, row: dict, position: int) -> np.ndarray:
    """Decode the packed frame at `position` of a series, as the viewer does."""
    number = row["frames"][position]["f"]
    text = (tree / "VIEWER" / "DATA" / row["key"] / f"F{number:07d}.JS").read_text("ascii")
    match = CHUNK.match(text.strip())
    assert match and match.group(1) == row["key"] and int(match.group(2)) == number
    kind, coded = match.group(3), match.group(4) == "1"
    dtype, samples = {"i16": ("int16", 1), "i32": ("int32", 1), "rgb": ("uint8", 3)}[kind]
    values = encode.decode(match.group(5), dtype, (row["rows"], row["cols"] * samples),
                           samples, coded)
    return values.reshape(row["rows"], row["cols"], samples).squeeze()


def _hu_by_position(tree: Path, key: str) -> list[np.ndarray]:
    """HU of a CT series from pydicom, slices sorted along the normal (as the viewer)."""
    rows = []
    for path in _source(tree, key):
        ds = quiet_read(path)
        normal = np.cross(np.array(ds.ImageOrientationPatient[:3], float),
                          np.array(ds.ImageOrientationPatient[3:], float))
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + \
            float(ds.RescaleIntercept)
        rows.append((float(np.dot(normal, np.array(ds.ImagePositionPatient, float))), hu))
    return [hu for _, hu in sorted(rows, key=lambda r: r[0])]


# --- files --------------------------------------------------------------------------------


def test_viewer_files_are_iso9660_level1_hashed_and_linked(disc: Disc) -> None:
    viewer = disc.tree / "VIEWER"
    hashed = set(parse_list((disc.tree / LIST_NAME).read_text("utf-8")))
    files = [p for p in viewer.rglob("*") if p.is_file()]
    assert {"INDEX.HTM", "VIEWER.JS", "DATA.JS", "STRINGS.JS", "STYLE.CSS"} <= \
        {p.name for p in viewer.iterdir()}
    for path in viewer.rglob("*"):
        rel = path.relative_to(disc.tree)
        assert (FOLDER if path.is_dir() else NAME_83).match(rel.parts[-1]), rel
        assert all(FOLDER.match(p) for p in rel.parts[:-1]), rel
        assert len(rel.parts) <= 8, rel
    assert {p.relative_to(disc.tree).as_posix() for p in files} <= hashed
    assert 'href="VIEWER/INDEX.HTM"' in (disc.tree / "INDEX.HTM").read_text("utf-8")
    page = (viewer / "INDEX.HTM").read_text("utf-8")
    assert "connect-src 'none'" in page and "default-src 'none'" in page
    assert "<script>" not in page and "http" not in page.replace('http-equiv', "")
    for script in viewer.glob("*.JS"):
        text = script.read_text("utf-8")
        assert "eval(" not in text and "new Function" not in text and "import " not in text


def test_every_image_series_is_packed_losslessly_in_hu(disc: Disc) -> None:
    assert set(disc.by_kind) == {"CT", "J2K", "RGB", "MF", "PYDICOM-J2K", "PYDICOM-RGB-MF"}
    for kind in ("CT", "J2K", "PYDICOM-J2K"):
        row = disc.by_kind[kind]
        expected = _hu_by_position(disc.tree, row["key"])
        assert row["kind"] == "i16" and len(row["frames"]) == len(expected)
        positions = [f["pos"][2] for f in row["frames"]]
        assert positions == sorted(positions), "slices in order along the normal"
        for n, hu in enumerate(expected):
            assert np.array_equal(_frame(disc.tree, row, n).astype(np.float64), hu), (kind, n)
    rgb = disc.by_kind["RGB"]
    original = quiet_read(_source(disc.tree, rgb["key"])[0]).pixel_array
    assert np.array_equal(_frame(disc.tree, rgb, 0), original)
    mf = disc.by_kind["MF"]
    cine = quiet_read(_source(disc.tree, mf["key"])[0])
    assert len(mf["frames"]) == 6
    stored = cine.pixel_array[3].astype(np.float64) * float(cine.get("RescaleSlope", 1)) + \
        float(cine.get("RescaleIntercept", 0))
    assert np.array_equal(_frame(disc.tree, mf, 3), stored)


def test_pack_is_under_60_percent_of_the_dicom_pixel_bytes(disc: Disc) -> None:
    data = sum(p.stat().st_size for p in (disc.tree / "VIEWER" / "DATA").rglob("*.JS"))
    pixels = 0
    for path in (disc.tree / "DICOM").rglob("*"):
        if path.is_file():
            ds = quiet_read(path, stop_before_pixels=True)
            if "Rows" in ds:
                pixels += pixel_bytes(ds)
    assert pixels > 0
    ratio = data / pixels
    assert ratio < 0.6, f"viewer data is {ratio:.0%} of the pixel bytes"


def test_delta_and_planes_round_trip() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(-1024, 3000, size=(7, 9)).astype(np.int16)
    text, coded = encode.encode(values, 1)
    assert coded and np.array_equal(encode.decode(text, "int16", (7, 9), 1, True), values)
    rgb = rng.integers(0, 256, size=(5, 12)).astype(np.uint8)
    text, coded = encode.encode(rgb, 3)
    assert np.array_equal(encode.decode(text, "uint8", (5, 12), 3, coded), rgb)


# --- size-aware planning ------------------------------------------------------------------


def test_viewer_is_left_out_of_a_volume_it_would_not_fit(tmp_path: Path) -> None:
    paths = synth.make_ct_study(tmp_path / "ct", study_patient(), slices=6, rows=256, cols=256)
    from burner.dicom.headers import read_instance
    instances = [read_instance(p, p.name) for p in paths]
    objects = sum(plan_stage.footprint(i, "STD-GEN-CD", True) for i in instances)
    viewer = sum(plan_stage.viewer_size(i) for i in instances)
    room = objects + viewer // 2 + plan_stage.VOLUME_OVERHEAD
    made = plan_stage.make_plan(instances, "cd", "auto", ["cd"], {"cd": room}, viewer=True)
    assert made.viewer == [False] and len(made.volumes) == 1
    roomy = plan_stage.make_plan(instances, "cd", "auto", ["cd"], viewer=True)
    assert roomy.viewer == [True]
    assert roomy.estimated_bytes[0] > made.estimated_bytes[0]


def test_start_page_says_when_the_viewer_was_left_out(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = plan_stage.make_plan

    def no_room(*args: object, **kwargs: object) -> plan_stage.Plan:
        made = real(*args, **kwargs)  # type: ignore[arg-type]
        return plan_stage.Plan(made.media, made.profile, made.volumes, made.estimated_bytes,
                               [False] * len(made.volumes))

    monkeypatch.setattr(plan_stage, "make_plan", no_room)
    job = tmp_path / "SMALLJOB"
    make_job_folder(job, slices=2)
    (tmp_path / "burner.toml").write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n',
                                          encoding="utf-8")
    outcome = build_job(load_config(tmp_path / "burner.toml"), job, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.problems
    tree = Path(outcome.volumes[0]["tree"])
    assert not (tree / "VIEWER").exists() and (tree / "IHE_PDI").is_dir()
    text = (tree / "INDEX.HTM").read_text("utf-8")
    assert "viewer was left out" in text and 'href="VIEWER/' not in text


def test_no_viewer_when_the_job_does_not_want_one(tmp_path: Path) -> None:
    job = tmp_path / "NOVIEW"
    manifest = make_job_folder(job, slices=2)
    manifest["media"]["viewer"] = False
    (job / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    (tmp_path / "burner.toml").write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n',
                                          encoding="utf-8")
    outcome = build_job(load_config(tmp_path / "burner.toml"), job, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.problems
    tree = Path(outcome.volumes[0]["tree"])
    text = (tree / "INDEX.HTM").read_text("utf-8")
    assert not (tree / "VIEWER").exists() and "VIEWER" not in text
    assert "left out" not in text


# --- in Chromium --------------------------------------------------------------------------


class Browser:
    """One Chromium page on VIEWER/INDEX.HTM that records every request and console error."""

    def __init__(self, p: object, tree: Path) -> None:
        self.browser = p.chromium.launch(executable_path="/usr/bin/chromium",  # type: ignore[attr-defined]
                                         args=CHROMIUM_ARGS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = self.browser.new_page(viewport={"width": 1100, "height": 800})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.errors.append(f"{r.url}: {r.failure}"))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto((tree / "VIEWER" / "INDEX.HTM").as_uri())
        self.wait("window.BURNER_VIEWER !== undefined")
        self.page.evaluate("BURNER_VIEWER.ready()")

    def wait(self, expression: str, timeout: float = 5000) -> None:
        """Poll `expression` until true (the page's CSP forbids Playwright's own polling,
        which evaluates strings inside the page)."""
        for _ in range(int(timeout / 20)):
            if self.page.evaluate(expression):
                return
            self.page.wait_for_timeout(20)
        raise AssertionError(f"timed out waiting for {expression}")

    def js(self, expression: str) -> object:
        return self.page.evaluate(expression)

    def state(self) -> dict:
        return self.js("BURNER_VIEWER.state()")  # type: ignore[return-value]

    def wait_drawn(self) -> None:
        self.js("BURNER_VIEWER.afterDraw()")

    def mouse_to(self, x: float, y: float) -> None:
        sx, sy = self.js(f"BURNER_VIEWER.toScreen({x}, {y})")  # type: ignore[misc]
        self.page.mouse.move(sx, sy)

    def drawn_at(self, x: float, y: float) -> list[int]:
        """The RGBA drawn on the canvas where image pixel (x, y) is shown."""
        return self.page.evaluate(
            "([x, y]) => { const p = BURNER_VIEWER.toScreen(x, y); "
            "const r = document.getElementById('canvas').getBoundingClientRect(); "
            "return BURNER_VIEWER.pixel(p[0] - r.left, p[1] - r.top); }", [x, y])

    def check_clean(self, tree: Path) -> None:
        assert self.requests and all(u.startswith("file://") for u in self.requests), \
            [u for u in self.requests if not u.startswith("file://")]
        assert not self.errors, self.errors
        root = tree.resolve().as_uri()
        assert all(u.startswith(root) for u in self.requests)


@pytest.fixture
def browser(disc: Disc):  # noqa: ANN201 - a generator fixture
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = Browser(p, disc.tree)
        try:
            yield b
        finally:
            b.browser.close()


@pytest.mark.slow
def test_ct_stack_scroll_preset_readout_and_measure(disc: Disc, browser: Browser) -> None:
    b = browser
    listed = b.js("Array.from(document.querySelectorAll('#list .series')).map(e => e.dataset.key)")
    assert sorted(listed) == sorted(r["key"] for r in disc.index["series"])  # type: ignore[arg-type]
    ct = disc.by_kind["CT"]
    b.js(f"BURNER_VIEWER.select({json.dumps(ct['key'])})")
    state = b.state()
    assert state["series"] == ct["key"] and state["slice"] == 0 and state["drawn"] > 0
    assert b.drawn_at(64, 64)[3] == 255, "the first image is drawn"
    assert state["orientation"] == ["A", "L", "P", "R"]
    # Scroll to slice 5 with real input: wheel, keys, slider.
    b.mouse_to(64, 64)
    for _ in range(3):
        b.page.mouse.wheel(0, 100)
    b.wait("BURNER_VIEWER.state().slice === 3")
    b.page.keyboard.press("ArrowDown")
    b.page.keyboard.press("ArrowDown")
    b.wait("BURNER_VIEWER.state().slice === 5")
    b.page.locator("#slider").fill("8")
    b.wait("BURNER_VIEWER.state().slice === 7")
    b.page.keyboard.press("ArrowUp")
    b.page.keyboard.press("ArrowUp")
    b.wait("BURNER_VIEWER.state().slice === 5")
    b.js("BURNER_VIEWER.go(5)")
    # The lung preset from its menu.
    b.page.select_option("#preset", "lung")
    b.wait_drawn()
    state = b.state()
    assert (state["wc"], state["ww"]) == (-600, 1500) and state["preset"] == "lung"
    # Value readout under the mouse equals the HU in the DICOM file.
    hu = _hu_by_position(disc.tree, ct["key"])[5]
    for x, y in ((64, 64), (20, 64), (64, 30), (100, 90)):
        b.mouse_to(x + 0.5, y + 0.5)
        b.wait(f"BURNER_VIEWER.state().readout.startsWith('x {x}, y {y}:')")
        assert b.state()["readout"].endswith(f": {round(hu[y, x])} HU"), (x, y)
        assert b.js(f"BURNER_VIEWER.value({x}, {y})") == hu[y, x]
    # A distance measured by dragging matches the true distance in mm within 1 %.
    spacing = [float(v) for v in quiet_read(_source(disc.tree, ct["key"])[0],
                                            stop_before_pixels=True).PixelSpacing]
    b.page.keyboard.press("m")
    (x1, y1), (x2, y2) = (10, 20), (110, 95)
    b.mouse_to(x1, y1)
    b.page.mouse.down()
    b.mouse_to((x1 + x2) / 2, (y1 + y2) / 2)
    b.mouse_to(x2, y2)
    b.page.mouse.up()
    b.wait_drawn()
    true_mm = math.hypot((x2 - x1) * spacing[1], (y2 - y1) * spacing[0])
    shown = float(b.state()["measure"].split()[0])
    assert abs(shown - true_mm) / true_mm < 0.01, (shown, true_mm)
    hooked = b.js(f"BURNER_VIEWER.measure({x1}, {y1}, {x2}, {y2})")
    assert abs(hooked - true_mm) / true_mm < 1e-9  # type: ignore[operator]
    # Window/level by mouse drag, invert, fit, help.
    b.page.keyboard.press("w")
    before = b.state()
    b.mouse_to(64, 64)
    b.page.mouse.down()
    b.page.mouse.move(*[v + 40 for v in b.js("BURNER_VIEWER.toScreen(64, 64)")])  # type: ignore[union-attr]
    b.page.mouse.up()
    b.wait_drawn()
    after = b.state()
    assert after["ww"] > before["ww"] and after["wc"] > before["wc"]
    b.page.keyboard.press("i")
    b.page.keyboard.press("h")
    b.wait_drawn()
    assert b.state()["invert"] and b.page.locator("#help").is_visible()
    b.page.keyboard.press("Escape")
    b.page.screenshot(path="/tmp/burner-viewer-ct.png")
    b.check_clean(disc.tree)


@pytest.mark.slow
def test_color_multiframe_and_jpeg2000_display(disc: Disc, browser: Browser) -> None:
    b = browser
    rgb = disc.by_kind["RGB"]
    b.page.locator(f'#list .series[data-key="{rgb["key"]}"]').click()
    b.wait(f"BURNER_VIEWER.state().series === {json.dumps(rgb['key'])}")
    b.wait_drawn()
    original = quiet_read(_source(disc.tree, rgb["key"])[0]).pixel_array
    for x, y in ((128, 128), (60, 120), (200, 40)):
        assert b.js(f"BURNER_VIEWER.value({x}, {y})") == original[y, x].tolist()
        drawn = b.drawn_at(x + 0.5, y + 0.5)
        assert all(abs(d - o) <= 3 for d, o in zip(drawn[:3], original[y, x], strict=True))  # type: ignore[index]
    mf = disc.by_kind["MF"]
    b.js(f"BURNER_VIEWER.select({json.dumps(mf['key'])})")
    b.page.click("#btn-cine")
    b.wait("BURNER_VIEWER.state().slice >= 3", timeout=5000)
    b.page.click("#btn-cine")
    cine = quiet_read(_source(disc.tree, mf["key"])[0]).pixel_array
    b.js("BURNER_VIEWER.go(4)")
    assert b.js("BURNER_VIEWER.value(50, 60)") == float(cine[4][60, 50]) + \
        float(quiet_read(_source(disc.tree, mf["key"])[0]).get("RescaleIntercept", 0))
    j2k = disc.by_kind["J2K"]
    b.js(f"BURNER_VIEWER.select({json.dumps(j2k['key'])})")
    b.js("BURNER_VIEWER.go(2)")
    hu = _hu_by_position(disc.tree, j2k["key"])[2]
    assert b.js("BURNER_VIEWER.value(48, 40)") == hu[40, 48]
    assert b.js("BURNER_VIEWER.state().drawn") > 0
    real = disc.by_kind["PYDICOM-J2K"]       # pydicom's 693_J2KI.dcm, a lossy J2K CT
    b.js(f"BURNER_VIEWER.select({json.dumps(real['key'])})")
    b.wait(f"BURNER_VIEWER.state().series === {json.dumps(real['key'])}")
    b.wait_drawn()
    (hu,) = _hu_by_position(disc.tree, real["key"])
    for x, y in ((256, 256), (100, 300), (400, 150)):
        assert b.js(f"BURNER_VIEWER.value({x}, {y})") == hu[y, x]
    both = disc.by_kind["PYDICOM-RGB-MF"]    # pydicom's SC_rgb_rle_2frame.dcm
    b.js(f"BURNER_VIEWER.select({json.dumps(both['key'])})")
    b.wait(f"BURNER_VIEWER.state().series === {json.dumps(both['key'])}")
    frames = quiet_read(_source(disc.tree, both["key"])[0]).pixel_array
    for frame in (0, 1):
        b.js(f"BURNER_VIEWER.go({frame})")
        b.wait_drawn()
        for x, y in ((10, 10), (50, 50), (90, 30)):
            assert b.js(f"BURNER_VIEWER.value({x}, {y})") == frames[frame][y, x].tolist()
    b.check_clean(disc.tree)
    assert pydicom.__version__
