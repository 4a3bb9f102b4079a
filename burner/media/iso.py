"""Master an ISO 9660 level 1 image from a staged volume tree (pycdlib), streaming file data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pycdlib

from burner.errors import InternalError

# Written first on the medium (and so found first by a reader): DESIGN.md section 4.
FIRST = ("DICOMDIR", "README.TXT", "INDEX.HTM")
_BLOCK = 1 << 20


def iso_name(name: str, is_dir: bool) -> str:
    """ISO 9660 level-1 identifier of a staged name ("DICOMDIR" -> "DICOMDIR.;1")."""
    if is_dir:
        return name
    return name + ";1" if "." in name else name + ".;1"


def _check_level1(rel: str, is_dir: bool) -> None:
    stem, _, ext = rel.rpartition("/")[2].partition(".")
    ok = 0 < len(stem) <= 8 and len(ext) <= (0 if is_dir else 3)
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    if not ok or not set(stem + ext) <= allowed:
        raise InternalError(f"staged name {rel!r} is not an ISO 9660 level-1 name")


def master(tree: Path, image: Path, volume_id: str, *, publisher: str = "",
           progress: Callable[[int, int], None] | None = None) -> int:
    """Write `tree` as an ISO 9660 level-1 image at `image`; returns the image size in bytes.
    `progress` is told the bytes written so far and the image's size, now and then."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident=volume_id[:32], sys_ident="",
            pub_ident_str=publisher[:128], app_ident_str="BURNER")
    root_files = sorted(p.name for p in tree.iterdir() if p.is_file())
    ordered = [n for n in FIRST if n in root_files] + [n for n in root_files if n not in FIRST]
    for name in ordered:
        _check_level1(name, False)
        iso.add_file(str(tree / name), "/" + iso_name(name, False))
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel = os.path.relpath(dirpath, tree)
        if rel == ".":
            for d in dirnames:
                _check_level1(d, True)
                iso.add_directory("/" + d)
            continue
        base = "/" + rel.replace(os.sep, "/")
        for d in dirnames:
            _check_level1(d, True)
            iso.add_directory(f"{base}/{d}")
        for f in sorted(filenames):
            _check_level1(f, False)
            iso.add_file(os.path.join(dirpath, f), f"{base}/{iso_name(f, False)}")
    tmp = image.with_name(image.name + ".part")
    try:
        with open(tmp, "wb") as out:
            iso.write_fp(out, blocksize=_BLOCK,
                         progress_cb=(lambda done, total, _: progress(done, total))
                         if progress else None)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
    finally:
        iso.close()
    os.replace(tmp, image)
    return size
