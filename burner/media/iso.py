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


_LEVEL1 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def is_level1(name: str, is_dir: bool) -> bool:
    stem, _, ext = name.partition(".")
    return (0 < len(stem) <= 8 and len(ext) <= (0 if is_dir else 3)
            and set(stem + ext) <= _LEVEL1)


def _check_level1(rel: str, is_dir: bool) -> None:
    if not is_level1(rel.rpartition("/")[2], is_dir):
        raise InternalError(f"staged name {rel!r} is not an ISO 9660 level-1 name")


def _mangled(name: str, is_dir: bool, taken: set[str]) -> str:
    """A level-1 name for a long one ("weasis-launcher.jar" -> "WEASIS_L.JAR"), unique in
    its folder ("WEASIS_1.JAR" when taken)."""
    stem, dot, ext = name.rpartition(".") if "." in name and not is_dir else (name, "", "")
    clean = lambda text: "".join(c if c in _LEVEL1 else "_" for c in text.upper())  # noqa: E731
    stem, ext = (clean(stem) or "_")[:8], clean(ext)[:3]
    n = 0
    candidate = stem + ("." + ext if ext else "")
    while candidate in taken:
        n += 1
        tail = str(n)
        candidate = stem[:8 - len(tail) - 1] + "_" + tail + ("." + ext if ext else "")
    taken.add(candidate)
    return candidate


def master(tree: Path, image: Path, volume_id: str, *, publisher: str = "",
           progress: Callable[[int, int], None] | None = None,
           long_names: str = "") -> int:
    """Write `tree` as an ISO 9660 level-1 image at `image`; returns the image size in bytes.
    `progress` is told the bytes written so far and the image's size, now and then.

    Every name must be a level-1 name, except inside the top-level folder `long_names` (a
    site's own viewer): there long names get level-1 stand-ins, and the image gets a Joliet
    tree with every name as it is (only then, and with the same names elsewhere)."""
    joliet = bool(long_names) and any(
        not is_level1(p.name, p.is_dir()) for p in (tree / long_names).rglob("*")) \
        or (bool(long_names) and not is_level1(long_names, True))
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident=volume_id[:32], sys_ident="",
            pub_ident_str=publisher[:128], app_ident_str="BURNER",
            **({"joliet": 3} if joliet else {}))
    iso_dirs: dict[str, str] = {".": ""}       # tree folder -> its ISO path
    taken: dict[str, set[str]] = {}

    def place(rel_dir: str, name: str, is_dir: bool) -> str:
        """The ISO path of `name` in the tree folder `rel_dir`."""
        inside = rel_dir.split("/")[0] == long_names or (rel_dir == "." and name == long_names)
        if long_names and inside and not is_level1(name, is_dir):
            level1 = _mangled(name, is_dir, taken.setdefault(rel_dir, set()))
        else:
            _check_level1(f"{rel_dir}/{name}", is_dir)
            level1 = name
            taken.setdefault(rel_dir, set()).add(name)
        return f"{iso_dirs[rel_dir]}/{level1}"

    def add_file(path: Path, rel_dir: str, name: str) -> None:
        iso_path = place(rel_dir, name, False)
        jpath = ("/" + (f"{rel_dir}/" if rel_dir != "." else "") + name) if joliet else None
        iso.add_file(str(path), iso_name(iso_path, False),
                     **({"joliet_path": jpath} if jpath else {}))

    def add_dir(rel_dir: str, name: str) -> None:
        iso_path = place(rel_dir, name, True)
        rel = name if rel_dir == "." else f"{rel_dir}/{name}"
        iso_dirs[rel] = iso_path
        iso.add_directory(iso_path, **({"joliet_path": "/" + rel} if joliet else {}))

    root_files = sorted(p.name for p in tree.iterdir() if p.is_file())
    ordered = [n for n in FIRST if n in root_files] + [n for n in root_files if n not in FIRST]
    for name in ordered:
        add_file(tree / name, ".", name)
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel = Path(os.path.relpath(dirpath, tree)).as_posix()
        for d in dirnames:
            add_dir(rel, d)
        if rel != ".":
            for f in sorted(filenames):
                add_file(Path(dirpath, f), rel, f)
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
