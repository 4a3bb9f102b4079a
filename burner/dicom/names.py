"""Person names as DICOM writes them (PS3.5 6.2, PN), compared the way a person would: case,
accents and spacing folded; the alphabetic group always, the ideographic and phonetic groups
when both sides have them."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().upper()


def name_groups(name: object) -> list[list[str]]:
    """A person name's alphabetic, ideographic and phonetic groups, each as folded parts."""
    out = []
    for group in (str(name or "").split("=") + ["", ""])[:3]:
        parts = [fold(p) for p in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        out.append(parts)
    return out


def name_parts(name: object) -> list[str]:
    """The alphabetic name's components after normalising case, spacing, accents, '^'."""
    return name_groups(name)[0]


def _same_parts(pa: list[str], pb: list[str]) -> bool:
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else ""
        y = pb[i] if i < len(pb) else ""
        if i < 2 and x != y:
            return False
        if i >= 2 and x and y and x != y:
            return False
    return True


def same_name(a: object, b: object) -> bool:
    """Family and given names must match (further components only where both have them);
    the ideographic and phonetic groups must match where both names have them."""
    ga, gb = name_groups(a), name_groups(b)
    if not ga[0] or not gb[0] or not _same_parts(ga[0], gb[0]):
        return False
    return all(not x or not y or _same_parts(x, y) for x, y in zip(ga[1:], gb[1:], strict=True))
