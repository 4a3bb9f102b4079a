"""Coded entries (PS3.3 Code Sequence Macro) used in the objects burner writes."""

from __future__ import annotations

from pydicom.dataset import Dataset


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """One item of a code sequence: (CodeValue, CodingSchemeDesignator, CodeMeaning)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item
