"""A site's own viewer on the medium, when a site insists (`[media] site_viewer = "<folder>"`,
off by default; issue 14): e.g. a portable Weasis, copied to its own top-level folder next to
VIEWER/. Nothing autoruns (an AUTORUN.INF in it is left out, and none is ever at the root);
the DICOMDIR references nothing in it; README.TXT and INDEX.HTM say what it is; the plan
counts its size on every volume. Its long names go into the ISO's Joliet tree (media/iso.py),
DICOM/ and the IHE PDI files keep their level-1 names.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from burner.config import Config
from burner.errors import ConfigError

MAX_FILES = 20_000
_RESERVED = {"DICOM", "DICOMDIR", "IHE_PDI", "VIEWER", "REPORTS", "README.TXT", "INDEX.HTM",
             "SHA256.TXT", "DISCSET.TXT", "README"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,63}")
_NEVER = {"autorun.inf", "desktop.ini"}          # what would make a medium start something


@dataclass(frozen=True)
class SiteViewer:
    source: Path
    name: str                # its top-level folder on the medium
    files: list[Path]        # relative to source, AUTORUN.INF left out
    sizes: list[int]         # of each file, in bytes


def site_viewer(config: Config) -> SiteViewer | None:
    """The configured site viewer, checked; None when there is none (the default)."""
    value = str(config.raw.get("media", {}).get("site_viewer", "")).strip()
    if not value:
        return None
    source = Path(value) if Path(value).is_absolute() else config.data_dir / value
    if not source.is_dir() or source.is_symlink():
        raise ConfigError(f"configuration: [media] site_viewer {source} is not a folder")
    name = source.name
    if not _NAME.fullmatch(name) or name.upper() in _RESERVED:
        raise ConfigError("configuration: [media] site_viewer's folder name must be letters, "
                          "digits, spaces, . _ ( ) + - and not one of the disc's own names")
    files, sizes = [], []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        dirnames.sort()
        for f in sorted(filenames):
            path = Path(dirpath, f)
            if f.lower() in _NEVER or path.is_symlink() or not path.is_file():
                continue
            if any(len(part) > 64 for part in path.relative_to(source).parts):
                raise ConfigError("configuration: [media] site_viewer holds a name longer "
                                  "than 64 characters, which a disc cannot carry (Joliet)")
            files.append(path.relative_to(source))
            sizes.append(path.stat().st_size)
            if len(files) > MAX_FILES:
                raise ConfigError(f"configuration: [media] site_viewer holds more than "
                                  f"{MAX_FILES} files")
    return SiteViewer(source, name, files, sizes)


def copy_into(viewer: SiteViewer, tree: Path) -> list[str]:
    """Copy the viewer into `tree`; the names written (for SHA256.TXT)."""
    written = []
    for rel in viewer.files:
        dest = tree / viewer.name / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(viewer.source / rel, dest)
        written.append(f"{viewer.name}/{rel.as_posix()}")
    return written
