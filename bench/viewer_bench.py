"""The viewer's figures: packing time and size, then in headless Chromium the time to the
first image after opening VIEWER/INDEX.HTM and frames per second scrolling the stack."""

from __future__ import annotations

import time
from pathlib import Path

from burner.dicom.dicomdir import Entry
from burner.stages.gather import read_all
from burner.viewer.write import pixel_bytes, write_viewer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SCROLL = """async () => {
  const n = BURNER_VIEWER.series()[0].frames;
  await BURNER_VIEWER.go(0);
  const t0 = performance.now();
  for (let i = 1; i < n; i++) { await BURNER_VIEWER.go(i); }
  return (n - 1) / (performance.now() - t0) * 1000;
}"""


def pack(tree: Path) -> dict:
    """VIEWER/ for a staged tree (DICOM/ + DICOMDIR); seconds, bytes and ratio."""
    files = sorted((tree / "DICOM").rglob("IM*"))
    gathered = read_all([(p, p.relative_to(tree).as_posix()) for p in files])
    entries = [Entry(i, tuple(Path(i.rel).parts), i.transfer_syntax, i.sop_class)
               for i in gathered.instances]
    t = time.perf_counter()
    write_viewer(tree, entries, {"patient": {"name": "BENCH^VIEWER", "id": "BENCH"}})
    seconds = time.perf_counter() - t
    data = sum(p.stat().st_size for p in (tree / "VIEWER" / "DATA").rglob("*") if p.is_file())
    pixels = sum(pixel_bytes(i) for i in gathered.instances)
    return {"seconds": seconds, "data_mb": data / 1e6, "pixel_mb": pixels / 1e6,
            "ratio": data / pixels}


def browse(tree: Path, repeat: int) -> dict:
    """Best of `repeat`: ms from navigation start to the first image drawn; scroll fps."""
    from playwright.sync_api import sync_playwright

    firsts, fps = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto((tree / "VIEWER" / "INDEX.HTM").as_uri())
                page.evaluate("() => BURNER_VIEWER.ready()")
                firsts.append(page.evaluate("() => BURNER_VIEWER.state().firstImageMs"))
                page.evaluate("() => BURNER_VIEWER.preload()")
                fps.append(page.evaluate(SCROLL))
                page.close()
        finally:
            browser.close()
    return {"first_image_ms": min(firsts), "fps": max(fps), "all_first_ms": firsts,
            "all_fps": fps}
