"""Who may read what burner makes: its own umask, so images, prints, spool copies and the
database are private to the station's user (and its group where `[files] group_access` says).

Outside systemd (whose unit sets UMask=0027) a shell's usual umask 022 would leave every disc
image and cover sheet readable by every account on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o077        # owner only
GROUP = 0o027          # owner read/write, group read, others nothing


def umask_for(group_access: bool) -> int:
    return GROUP if group_access else PRIVATE


def apply(group_access: bool = False) -> int:
    """Set the process umask; returns the one that was set."""
    mask = umask_for(group_access)
    os.umask(mask)
    return mask


def current() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def restrict_tree(root: Path) -> None:
    """Give files and folders under `root` (and `root`) the modes the umask would have given
    them: copies made with shutil keep the source's permission bits."""
    mask = current()
    paths = [root]
    if root.is_dir() and not root.is_symlink():
        paths += [Path(d) / n for d, dirs, files in os.walk(root) for n in dirs + files]
    for path in paths:
        if path.is_symlink():
            continue
        base = 0o777 if path.is_dir() else 0o666
        os.chmod(path, base & ~mask)
