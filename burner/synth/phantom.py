"""Phantom pixels: body geometry, the CT chest-abdomen-pelvis phantom and MR head slices."""

from __future__ import annotations

import math

import numpy as np


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates u (columns, -1..1) and v (rows, -1..1)."""
    u = ((np.arange(cols, dtype=np.float32) + 0.5) / cols * 2 - 1)[None, :]
    v = ((np.arange(rows, dtype=np.float32) + 0.5) / rows * 2 - 1)[:, None]
    return u, v


def _ellipse(
    u: np.ndarray, v: np.ndarray, cx: float, cy: float, ax: float, ay: float
) -> np.ndarray:
    """Normalised radius squared of an ellipse: <= 1 inside."""
    return ((u - cx) / ax) ** 2 + ((v - cy) / ay) ** 2


def _bump(t: float, lo: float, hi: float) -> float:
    """Scale of an organ that exists between fractions lo and hi of the scan, largest midway."""
    if not lo < t < hi:
        return 0.0
    x = (2 * t - lo - hi) / (hi - lo)
    return math.sqrt(1 - x * x)


# Body geometry in normalised image coordinates (u to the patient's left, v posterior).
BODY = (0.0, 0.05, 0.86, 0.62)
MUSCLE = (0.0, 0.05, 0.80, 0.56)
VERTEBRA = (0.0, 0.36, 0.10, 0.10)
LUNG_R = (-0.36, -0.02, 0.26, 0.38)
LUNG_L = (0.36, -0.02, 0.24, 0.38)
CT_AIR_POINT = (-0.9, -0.9)
CT_SOFT_TISSUE_POINT = (0.2, 0.5)
CT_BONE_POINT = (0.0, 0.36)
CT_LUNG_POINT = (-0.36, -0.02)


class _CTPhantom:
    """A chest-abdomen-pelvis phantom in stored values (HU + 1024), built slice by slice.

    Masks are precomputed once; each slice only thresholds them with a z-dependent scale.
    """

    def __init__(self, rows: int, cols: int, noise: float, seed: int = 1) -> None:
        u, v = _grid(rows, cols)
        self.rows = rows
        hu = np.full((rows, cols), -1000, dtype=np.int16)
        hu[_ellipse(u, v, *BODY) <= 1] = -100
        hu[_ellipse(u, v, *MUSCLE) <= 1] = 40
        self.base = hu
        self.lungs = np.minimum(_ellipse(u, v, *LUNG_R), _ellipse(u, v, *LUNG_L))
        self.heart = _ellipse(u, v, 0.1, -0.1, 0.2, 0.17)
        self.liver = _ellipse(u, v, -0.32, 0.0, 0.36, 0.32)
        self.kidneys = np.minimum(
            _ellipse(u, v, -0.28, 0.28, 0.09, 0.12), _ellipse(u, v, 0.28, 0.28, 0.09, 0.12)
        )
        self.bowel = np.minimum(
            _ellipse(u, v, 0.25, -0.15, 0.07, 0.05), _ellipse(u, v, -0.1, -0.3, 0.06, 0.04)
        )
        ribs = np.zeros((rows, cols), dtype=bool)
        for degrees in (-150, -120, -90, -60, -30, 0, 30, 60, 120, 150, 180):
            a = math.radians(degrees)
            ax, ay = (0.06, 0.03) if degrees == -90 else (0.035, 0.035)
            cx, cy = 0.71 * math.cos(a), 0.05 + 0.49 * math.sin(a)
            ribs |= _ellipse(u, v, cx, cy, ax, ay) <= 1
        self.ribs = ribs
        self.pelvis = (
            np.minimum(_ellipse(u, v, -0.5, 0.25, 0.2, 0.09), _ellipse(u, v, 0.5, 0.25, 0.2, 0.09))
            <= 1
        )
        # Structures present on every slice: vertebra, spinal canal, laminae, aorta.
        overlay = np.zeros((rows, cols), dtype=np.int16)
        vertebra = _ellipse(u, v, *VERTEBRA)
        laminae = _ellipse(u, v, 0.0, 0.52, 0.13, 0.04) <= 1
        canal = _ellipse(u, v, 0.0, 0.5, 0.045, 0.045) <= 1
        aorta = _ellipse(u, v, 0.1, 0.2, 0.05, 0.05) <= 1
        overlay[vertebra <= 1] = 1200
        overlay[vertebra <= 0.7] = 700
        overlay[laminae] = 900
        overlay[canal] = 10
        overlay[aorta] = 45
        self.overlay = overlay
        self.overlay_mask = (vertebra <= 1) | laminae | canal | aorta
        rng = np.random.default_rng(seed)
        self.noise = rng.normal(1024.0, noise, size=(2 * rows, cols)).astype(np.int16)

    def stored(self, t: float, index: int) -> np.ndarray:
        """Stored values (uint16, 0..4095) of the slice at fraction `t` (0 = head end)."""
        hu = self.base.copy()
        for q, lo, hi, value in (
            (self.liver, 0.45, 0.85, 60),
            (self.kidneys, 0.55, 0.85, 30),
            (self.lungs, -0.2, 0.62, -850),
            (self.heart, 0.15, 0.55, 45),
            (self.bowel, 0.65, 0.95, -900),
        ):
            s = _bump(t, lo, hi)
            if s > 0:
                hu[q <= s * s] = value
        if t < 0.6:
            hu[self.ribs] = 1000
        if t > 0.82:
            hu[self.pelvis] = 800
        np.copyto(hu, self.overlay, where=self.overlay_mask)
        k = (index * 37) % self.rows
        hu += self.noise[k : k + self.rows]
        np.clip(hu, 0, 4095, out=hu)
        return hu.astype(np.uint16)


def _mr_slice(rows: int, cols: int, t: float, rng: np.random.Generator) -> np.ndarray:
    """A T1-weighted looking axial head slice at fraction `t` (0 = vertex)."""
    u, v = _grid(rows, cols)
    s = 0.55 + 0.45 * _bump(t, -0.3, 1.1)
    img = np.zeros((rows, cols), dtype=np.float32)
    img[_ellipse(u, v, 0, 0, 0.78 * s, 0.9 * s) <= 1] = 900  # scalp fat
    img[_ellipse(u, v, 0, 0, 0.72 * s, 0.84 * s) <= 1] = 60  # skull
    img[_ellipse(u, v, 0, 0, 0.66 * s, 0.78 * s) <= 1] = 250  # CSF
    img[_ellipse(u, v, 0, 0, 0.63 * s, 0.75 * s) <= 1] = 600  # grey matter
    img[_ellipse(u, v, 0, 0, 0.5 * s, 0.62 * s) <= 1] = 820  # white matter
    vent = _bump(t, 0.3, 0.75)
    if vent > 0:
        q = np.minimum(
            _ellipse(u, v, -0.1, -0.05, 0.07, 0.3), _ellipse(u, v, 0.1, -0.05, 0.07, 0.3)
        )
        img[q <= vent * vent] = 250
    img += np.abs(rng.normal(0, 25, size=img.shape)).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)
