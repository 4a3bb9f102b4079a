"""Reading printed PDFs back with poppler and zbar: word boxes, text, ink, decoded codes."""

from __future__ import annotations

import html
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import require_tool
from PIL import Image


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float          # from the top of the page, as poppler gives it
    x1: float
    y1: float


def words(pdf: Path) -> tuple[list[Word], list[tuple[float, float]]]:
    """Every word's box (pdftotext -bbox) and every page's size, in points."""
    proc = subprocess.run([require_tool("pdftotext"), "-bbox", str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=60)
    pages, out = [], []
    for n, page in enumerate(re.split(r"<page ", proc.stdout)[1:]):
        size = re.match(r'width="([\d.]+)" height="([\d.]+)"', page)
        assert size, page[:200]
        pages.append((float(size[1]), float(size[2])))
        for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                             r'yMax="([\d.]+)">(.*?)</word>', page):
            out.append(Word(n, html.unescape(m[5]), *map(float, m.group(1, 2, 3, 4))))
    return out, pages


def text_of(pdf: Path) -> str:
    proc = subprocess.run([require_tool("pdftotext"), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=60)
    return proc.stdout


def flat(text: str) -> str:
    return " ".join(text.split())


def ink(pdf: Path, dpi: int = 100) -> list[np.ndarray]:
    """Per page, a boolean array of the pixels with any ink (pdftoppm, grey)."""
    prefix = pdf.with_suffix("")
    subprocess.run([require_tool("pdftoppm"), "-r", str(dpi), "-gray", str(pdf), str(prefix)],
                   check=True, timeout=60)
    pages = sorted(prefix.parent.glob(prefix.name + "-*.pgm"))
    assert pages
    return [np.asarray(Image.open(p)) < 250 for p in pages]


def decode(pdf: Path, tmp_path: Path) -> set[str]:
    """Every barcode and QR code zbarimg finds on the pages, as "TYPE:value"."""
    zbarimg = require_tool("zbarimg")
    prefix = tmp_path / f"scan-{pdf.stem}"
    subprocess.run([require_tool("pdftoppm"), "-r", "300", "-png", str(pdf), str(prefix)],
                   check=True, timeout=60)
    found: set[str] = set()
    for png in sorted(tmp_path.glob(prefix.name + "-*.png")):
        proc = subprocess.run([zbarimg, "-q", str(png)], capture_output=True, text=True,
                              timeout=60, check=False)
        found |= set(proc.stdout.split())
    return found


def off_the_ring(pdf: Path, inner: float, outer: float) -> list[Word]:
    """Words of a disc label (one page, the disc centred) not wholly in the ring between radii
    `inner` and `outer` (points): a corner beyond `outer`, or the box reaching into `inner`."""
    found, pages = words(pdf)
    (size,) = pages
    cx, cy = size[0] / 2, size[1] / 2
    bad = []
    for w in found:
        far = max(math.hypot(x - cx, y - cy) for x in (w.x0, w.x1) for y in (w.y0, w.y1))
        near = math.hypot(min(max(cx, w.x0), w.x1) - cx, min(max(cy, w.y0), w.y1) - cy)
        if far > outer or near < inner:
            bad.append(w)
    return bad
