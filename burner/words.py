"""How burner writes names, dates and exams for people: one formatter for every page, sheet
and label, so that the disc and the paper never say the same thing two ways."""

from __future__ import annotations


def person_name(pn: str) -> str:
    """DICOM PN "DOE^JANE^Q^DR^JR" -> "Dr Jane Q Doe Jr"; all-capital parts get capitals
    only at word starts ("MÜLLER" -> "Müller"), mixed-case parts stay as written."""
    family, given, middle, prefix, suffix = ([*pn.split("=")[0].split("^"), "", "", "", ""])[:5]
    words = [prefix, given, middle, family, suffix]
    return " ".join(w.title() if w.isupper() else w for w in words if w.strip()) or pn


def dicom_date(value: object) -> str:
    """DICOM DA "20240131" -> "2024-01-31"; anything else as it is ("" when missing)."""
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def exam_title(modality: str, description: str) -> str:
    """"CT" and "CHEST" -> "CT CHEST"; a description that already starts with the modality
    ("CT CHEST") is not given it twice."""
    first = description.split(maxsplit=1)[0].upper() if description.strip() else ""
    if not modality or first in {m.upper() for m in modality.split("/")}:
        return description
    return f"{modality} {description}".strip()


def volumes_list(numbers: list[int], word: str = "disc") -> str:
    """[2] -> "disc 2"; [1, 3, 4] -> "discs 1, 3 and 4"; [] -> ""."""
    if not numbers:
        return ""
    if len(numbers) == 1:
        return f"{word} {numbers[0]}"
    return f"{word}s " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
