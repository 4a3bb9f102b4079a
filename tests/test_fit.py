"""The one helper that fits text into boxes: shrink, then wrap, then "+N more" or "…"."""

from __future__ import annotations

import math
import time

import pytest
from reportlab.pdfbase import pdfmetrics

from burner.printout import fonts
from burner.printout.fit import ELLIPSIS, Box, RingBox, fit_lines, split_word, wrap, wrap_text

FONT = fonts.regular()


def width(text: str, size: float) -> float:
    return fonts.text_width(text, FONT, size)


def extent(line) -> tuple[float, float]:
    """(bottom, top) of the glyphs of a placed line: baseline plus descent and ascent."""
    ascent, descent = pdfmetrics.getAscentDescent(line.font, line.size)
    return line.y + descent, line.y + ascent


def inside(fitted, box: Box) -> None:
    """Every line's glyphs lie in `box`, and within its span at that height."""
    for line in fitted.lines:
        w = width(line.text, line.size)
        bottom, top = extent(line)
        assert box.y - 0.01 <= bottom and top <= box.top + 0.01, line
        left, right = box.span(top, bottom)
        assert left - 0.01 <= line.x and line.x + w <= right + 0.01, line


def test_short_lines_keep_the_largest_size() -> None:
    box = Box(10, 10, 200, 100)
    fitted = fit_lines(["Jane Doe", "Born 1970-01-01"], box, FONT, 12, 6)
    assert fitted.size == 12 and fitted.dropped == 0
    assert [line.text for line in fitted.lines] == ["Jane Doe", "Born 1970-01-01"]
    assert fitted.lines[0].y > fitted.lines[1].y          # top to bottom
    assert fitted.bottom == pytest.approx(box.top - 2 * 12 * 1.2)
    inside(fitted, box)


def test_a_long_line_shrinks_before_it_wraps() -> None:
    text = "Maximiliane Theodora Müller-Lüdenscheidt"
    box = Box(0, 0, width(text, 9) + 1, 40)
    fitted = fit_lines([text], box, FONT, 14, 6)
    assert fitted.size == 9 and [line.text for line in fitted.lines] == [text]
    inside(fitted, box)


def test_below_the_minimum_it_wraps_then_says_how_many_more() -> None:
    items = [f"2026-01-{n:02d} CT CHEST WITHOUT CONTRAST ACC{n:05d}" for n in range(1, 13)]
    box = Box(0, 0, 120, 60)
    fitted = fit_lines(items, box, FONT, 10, 6)
    texts = [line.text for line in fitted.lines]
    assert fitted.size == 6
    assert texts[-1] == f"+{fitted.dropped} more" and 0 < fitted.dropped < 12
    shown = 12 - fitted.dropped
    joined = " ".join(texts[:-1])
    assert all(items[n].split()[0] in joined for n in range(shown))   # whole items, in order
    assert items[shown].split()[-1] not in joined
    assert len(texts) <= int(60 // (6 * 1.2))
    inside(fitted, box)


def test_without_more_the_last_line_ends_in_an_ellipsis() -> None:
    name = "Wolfeschlegelsteinhausenbergerdorff " * 4
    box = Box(0, 0, 90, 24)
    fitted = fit_lines([name], box, fonts.bold(), 12, 7, more=None)
    assert fitted.lines[-1].text.endswith(ELLIPSIS) and fitted.dropped == 1
    assert len(fitted.lines) == 2
    for line in fitted.lines:
        assert fonts.text_width(line.text, fonts.bold(), 7) <= 90 + 0.01


def test_paragraphs_wrap_at_the_largest_size_that_holds_them() -> None:
    text = "Double-click INDEX.HTM: it opens in your web browser. Nothing needs installing."
    box = Box(0, 0, 150, 60)
    fitted = fit_lines([text], box, FONT, 10, 6, paragraphs=True)
    assert fitted.size == 10 and len(fitted.lines) > 1 and fitted.dropped == 0
    assert " ".join(line.text for line in fitted.lines) == text
    inside(fitted, box)


def test_ring_box_narrows_lines_near_the_edge() -> None:
    ring = RingBox(0, 110, 240, 60, cx=120, cy=120, radius=160)
    fitted = fit_lines(["W" * 60, "W" * 60, "W" * 60], ring, FONT, 12, 5, align="center")
    inside(fitted, ring)
    for line in fitted.lines:
        w = width(line.text, line.size)
        for x in (line.x, line.x + w):
            for y in extent(line):
                assert math.hypot(x - 120, y - 120) <= 160 + 0.01
        assert line.x + w / 2 == pytest.approx(120)      # centred


def test_wrap_cuts_a_word_longer_than_a_line() -> None:
    lines = wrap("A" * 50, lambda _n: width("A" * 20, 10), lambda t: width(t, 10))
    assert [len(t) for t in lines] == [20, 20, 10]
    assert wrap_text("one\n\ntwo", 100, FONT, 10) == ["one", "", "two"]


def test_an_empty_box_shows_nothing() -> None:
    fitted = fit_lines(["a", "b"], Box(0, 0, 100, 2), FONT, 10, 6)
    assert fitted.lines == [] and fitted.dropped == 2


def test_a_cut_word_fills_every_line_it_can() -> None:
    """Each piece of a cut word is the longest head that fits its own line's width."""
    word = "MinimumWidthVariesByLine-ÄÖÜ-iiiiWWWW" * 40
    def width_of(n: int) -> float:
        return 40 + (n * 37) % 90
    lines = wrap(word, width_of, lambda t: width(t, 9))
    assert "".join(lines) == word
    for n, line in enumerate(lines[:-1]):
        assert width(line, 9) <= width_of(n)
        assert width(word[len("".join(lines[:n])):][:len(line) + 1], 9) > width_of(n)
    assert split_word("W" * 10, width("WWW", 9), lambda t: width(t, 9)) == ("WWW", "W" * 7)
    assert split_word("W", 0.1, lambda t: width(t, 9)) == ("W", ""), "one character at least"


def test_wrapping_a_5_mb_word_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5 MB one-word text report: each character is measured a few times in all (cutting it
    by measuring what is left of it again for every line would be quadratic: hours)."""
    word = "W" * 5_000_000
    real, measured = pdfmetrics.stringWidth, []

    def counting(text: str, *args: object, **kwargs: object) -> float:
        measured.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(pdfmetrics, "stringWidth", counting)
    start = time.monotonic()
    lines = wrap_text(word, 300, FONT, 9)
    elapsed = time.monotonic() - start
    assert "".join(lines) == word and len(lines) > 10_000
    assert sum(measured) <= 3 * len(word), "characters measured"
    assert len(measured) <= 3 * len(lines) + 20, "calls to stringWidth"
    assert elapsed < 10
    monkeypatch.undo()
    assert all(width(line, 9) <= 300 for line in lines[:50] + lines[-50:])
    assert len({len(line) for line in lines[:-1]}) == 1, "every full line alike"
