"""Header reading: the fast raw decoding agrees with pydicom's own conversion."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files

from burner.dicom.headers import NotUsable, _plain, read_instance
from burner.dicom.parse import Damaged

FILES = sorted(Path(f) for f in get_testdata_files() if f.endswith(".dcm"))


def _usable(path: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_instance(path, path.name)
        except (NotUsable, Damaged):
            return False
    return True


# Files refused outright are covered by the conformance tests; here the values matter.
USABLE = [f for f in FILES if _usable(f)]


def _normal(value: object) -> object:
    value = _plain(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, str):
        return value.strip(" \0")
    return value


def test_most_test_files_are_usable() -> None:
    # pydicom ships about 75 .dcm files; the damaged ones and those with invalid UIDs are
    # refused by the strict parse (see DAMAGED in test_fileset_conformance.py).
    assert len(USABLE) > 55


@pytest.mark.parametrize("path", USABLE, ids=[f.name for f in USABLE])
def test_values_match_pydicom(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inst = read_instance(path, path.name)
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        for keyword, value in inst.values.items():
            if isinstance(value, pydicom.Sequence):
                continue
            expected = _normal(ds[keyword].value)
            got = _normal(value)
            if expected in ("", None, []) and got in ("", None, []):
                continue
            assert got == expected, keyword


def test_a_text_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    with pytest.raises(NotUsable, match="not a DICOM file"):
        read_instance(path, "notes.txt")
