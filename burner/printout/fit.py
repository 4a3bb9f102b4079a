"""Fit a list of lines into a box: shrink the font down to a minimum, then wrap, then drop
whole items behind a "+N more" line (or cut the last line with "…"). Every printout uses it,
so no text ever leaves its box: the cover sheet's printable area, the label's disc ring. It is
the one line-wrapping module: `wrap` for printout text (spaces collapse), `wrap_spaced` for a
plain-text report typeset as a PDF (spaces kept); `fonts.py` is the one font module.

Coordinates are reportlab points, y upwards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

LEADING = 1.2        # line pitch as a multiple of the font size
ELLIPSIS = "…"


@dataclass(frozen=True)
class Box:
    """A rectangle: (x, y) is its lower left corner."""

    x: float
    y: float
    width: float
    height: float

    @property
    def top(self) -> float:
        return self.y + self.height

    def span(self, top: float, bottom: float) -> tuple[float, float]:
        """The x range a line may use whose slot reaches from `bottom` up to `top`."""
        return self.x, self.x + self.width


@dataclass(frozen=True)
class RingBox(Box):
    """A box on a disc face: its lines must also stay inside the circle (cx, cy, radius).

    Place it clear of the hub (wholly above, below or beside it); the circle then only
    narrows lines near the disc's edge."""

    cx: float = 0.0
    cy: float = 0.0
    radius: float = 0.0

    def span(self, top: float, bottom: float) -> tuple[float, float]:
        far = max(abs(top - self.cy), abs(bottom - self.cy))
        half = math.sqrt(max(self.radius ** 2 - far ** 2, 0.0))
        left, right = max(self.x, self.cx - half), min(self.x + self.width, self.cx + half)
        return left, max(left, right)


@dataclass(frozen=True)
class Line:
    """One placed line: its text, where its baseline starts, and its font."""

    text: str
    x: float
    y: float
    font: str
    size: float


@dataclass(frozen=True)
class Fitted:
    """The outcome: placed lines, the size used, and how many items were not shown whole."""

    lines: list[Line]
    size: float
    dropped: int
    bottom: float          # lowest y the lines' slots reach (the box top when empty)

    def draw(self, canvas: Canvas) -> None:
        for line in self.lines:
            canvas.setFont(line.font, line.size)
            canvas.drawString(line.x, line.y, line.text)


Measure = Callable[[str], float]


def _measure(font: str, size: float) -> Measure:
    return lambda text: pdfmetrics.stringWidth(text, font, size)


def _fit_end(word: str, start: int, width: float, measure: Measure, guess: int = 1) -> int:
    """The end of the longest piece word[start:end] (at least one character) no wider than
    `width`, searched from `guess` characters (the previous piece's length): stepping up or
    down by 1, 2, 4, ... characters, then halving. No try measures more than about twice the
    piece taken or the guess, so cutting a word of any length into lines costs time in
    proportion to the word (a few measurements per line), never to its length squared."""
    rest = len(word) - start

    def fits(n: int) -> bool:
        return measure(word[start:start + n]) <= width

    guess = max(1, min(guess, rest))
    if fits(guess):
        good, step = guess, 1
        while True:
            size = good + step
            if size >= rest:                       # rest <= 2 * good: cheap to measure whole
                if good == rest or fits(rest):
                    return len(word)
                bad = rest
                break
            if not fits(size):
                bad = size
                break
            good, step = size, step * 2
    else:
        bad, step, good = guess, 1, 1              # one character always "fits"
        while bad - step > 1:
            size = bad - step
            if fits(size):
                good = size
                break
            bad, step = size, step * 2
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return start + good


def _fits(text: str, width: float, measure: Measure) -> bool:
    """measure(text) <= width, without measuring much more of a long text than fits: its
    heads are measured first, 64, 128, 256, ... characters, until one is too wide."""
    size = 64
    while size < len(text):
        if measure(text[:size]) > width:
            return False
        size *= 2
    return measure(text) <= width


def split_word(word: str, width: float, measure: Measure) -> tuple[str, str]:
    """The longest head of `word` (at least one character) no wider than `width`, and the rest."""
    end = _fit_end(word, 0, width, measure)
    return word[:end], word[end:]


def wrap(text: str, width_of: Callable[[int], float], measure: Measure) -> list[str]:
    """Break `text` at spaces into lines, line n no wider than width_of(n); a word wider than
    a whole line is cut. An empty text is one empty line. Linear in the text's length: a word
    is measured only as far as a line reaches, and cut by positions (never by copying what is
    left of it)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if _fits(trial, width_of(len(lines)), measure):
            current = trial
            continue
        if current:
            lines.append(current)
        if len(word) > 1 and not (current and _fits(word, width_of(len(lines)), measure)):
            start, piece = 0, 1
            while (end := _fit_end(word, start, width_of(len(lines)), measure,
                                   piece)) < len(word):
                lines.append(word[start:end])
                start, piece = end, end - start
            word = word[start:]
        current = word
    lines.append(current)
    return lines


def wrap_spaced(line: str, width: float, measure: Measure) -> list[str]:
    """`line` broken into pieces at most `width` wide, its spaces kept (a plain-text report's
    columns stay aligned); a word wider than the line is cut."""
    if not line.strip():
        return [""]
    out: list[str] = []
    current = ""
    for token in re.findall(r"\S+|\s+", line):
        if measure(current + token) <= width:
            current += token
            continue
        if token.isspace():
            out.append(current.rstrip())
            current = ""
            continue
        if current.strip():
            out.append(current.rstrip())
        current = ""
        for char in token:                  # a word wider than the line
            if current and measure(current + char) > width:
                out.append(current)
                current = ""
            current += char
    if current.strip() or not out:
        out.append(current.rstrip())
    return out


def wrap_text(text: str, width: float, font: str, size: float) -> list[str]:
    """Wrap every paragraph of `text` to `width` points (blank lines stay)."""
    measure = _measure(font, size)
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        out += wrap(paragraph, lambda _n: width, measure)
    return out


class _Layout:
    """Rows of one font size in one box: their slots, widths and positions."""

    def __init__(self, box: Box, font: str, size: float, leading: float):
        self.box, self.font, self.size = box, font, size
        self.pitch = size * leading
        self.slots = int((box.height + 1e-6) // self.pitch)
        self.measure = _measure(font, size)
        ascent, descent = pdfmetrics.getAscentDescent(font, size)
        self.raise_ = (self.pitch - (ascent - descent)) / 2 - descent  # slot bottom -> baseline

    def span(self, row: int) -> tuple[float, float]:
        row = min(row, max(self.slots - 1, 0))
        top = self.box.top - row * self.pitch
        return self.box.span(top, top - self.pitch)

    def width(self, row: int) -> float:
        left, right = self.span(row)
        return right - left

    def rows(self, items: Sequence[str]) -> list[tuple[int, str]]:
        """(item index, text) per row, every item wrapped where it falls."""
        out: list[tuple[int, str]] = []
        for index, item in enumerate(items):
            first = len(out)
            out += [(index, t) for t in wrap(item, lambda n, f=first: self.width(f + n),
                                             self.measure)]
        return out

    def fits(self, row: int, text: str) -> bool:
        return row < self.slots and self.measure(text) <= self.width(row) + 1e-6

    def place(self, texts: list[str], align: str) -> list[Line]:
        lines = []
        for row, text in enumerate(texts):
            left, right = self.span(row)
            if align == "left":
                x = left
            else:
                width = self.measure(text)
                x = (left + right - width) / 2 if align == "center" else right - width
            y = self.box.top - (row + 1) * self.pitch + self.raise_
            lines.append(Line(text, x, y, self.font, self.size))
        return lines


def _shorten(text: str, layout: _Layout, row: int) -> str:
    """`text` cut so that it, followed by "…", fits row `row`."""
    while text and not layout.fits(row, text + ELLIPSIS):
        text = text[:-1].rstrip()
    return text + ELLIPSIS if layout.fits(row, text + ELLIPSIS) else ""


def _drop(layout: _Layout, items: Sequence[str], rows: list[tuple[int, str]],
          more: str | None) -> tuple[list[str], int]:
    """The rows to show when not all fit, and how many items are not shown whole."""
    if layout.slots == 0:
        return [], len(items)
    if more is None:
        kept = [t for _, t in rows[:layout.slots]]
        if kept:
            kept[-1] = _shorten(kept[-1], layout, len(kept) - 1)
        last = rows[layout.slots - 1][0] if layout.slots else -1
        return kept, len(items) - last
    for keep in range(len(items) - 1, -1, -1):
        shown = [t for i, t in rows if i < keep]
        note = more.format(n=len(items) - keep)
        if layout.fits(len(shown), note):
            return [*shown, note], len(items) - keep
    return [], len(items)


def fit_lines(items: Sequence[str], box: Box, font: str, max_size: float, min_size: float, *,
              align: str = "left", leading: float = LEADING, step: float = 0.5,
              more: str | None = "+{n} more", paragraphs: bool = False) -> Fitted:
    """Place `items` (one line each if possible) in `box`, as large as possible up to
    `max_size`. Below `min_size` nothing shrinks: items wrap, and what still does not fit is
    left off behind `more` ("+3 more"), or with more=None the last line ends in "…".
    With paragraphs=True items may wrap at every size (running text rather than fields)."""
    size = max_size
    while True:
        layout = _Layout(box, font, size, leading)
        rows = layout.rows(items)
        whole = (paragraphs or len(rows) == len(items)) and len(rows) <= layout.slots
        if whole or size <= min_size:
            break
        size = max(min_size, size - step)
    dropped = 0
    texts = [t for _, t in rows]
    if len(rows) > layout.slots:
        texts, dropped = _drop(layout, items, rows, more)
    lines = layout.place(texts, align)
    return Fitted(lines, size, dropped, box.top - len(lines) * layout.pitch)

