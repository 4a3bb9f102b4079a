"""`burner doctor`: is everything this station needs there and working?"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from burner.config import Config
from burner.media.kinds import KINDS
from burner.media.writers import writer_status


def run_checks(config: Config) -> Iterator[tuple[bool, str]]:
    """(ok, sentence) for each check."""
    yield True, f"configuration: {config.source}"
    path = shutil.which(config.xorriso)
    yield path is not None, "xorriso (burning): " + (path or "missing: apt-get install xorriso")
    for tool, why in (("dcmdump", "DICOM checks, optional"), ("dciodvfy", "validator, optional")):
        found = shutil.which(tool)
        yield True, f"{tool} ({why}): {found or 'not installed'}"
    yield from spool_checks(config)
    if not config.drives:
        yield False, "no drives configured: add a [[drives]] entry"
    if any(KINDS[d.media].writer == "usb" for d in config.drives):
        for tool in ("mkfs.fat", "mcopy"):
            found = shutil.which(tool)
            yield found is not None, f"{tool} (USB sticks): " + (
                found or "missing: apt-get install dosfstools mtools")
    for d in config.drives:
        if d.is_stdio:
            ok, text = _stdio_folder(d.device)
            if not ok or not Path(d.device.removeprefix("stdio:")).parent.is_dir():
                yield ok, f"writer {d.name} ({d.device}, {d.media}): {text}"
                continue
        ok, text = writer_status(config, d)
        yield ok, f"writer {d.name} ({d.device}, {d.media}): {text}"
    yield from printer_checks(config)


def spool_checks(config: Config) -> Iterator[tuple[bool, str]]:
    """Each spool folder is a folder burner may write (nothing is made here)."""
    from burner.spool import FOLDERS

    spool = config.spool_dir
    ours = spool.is_dir() and any((spool / name).is_dir() for name in FOLDERS)
    if not ours:
        made = "is made at the first run" if config.spool_is_local else \
            "is missing or empty: is the share mounted? (a new station: burner init)"
        yield config.spool_is_local, f"spool {spool} {made}"
        return
    for name in FOLDERS:
        path = spool / name
        if not path.exists():
            yield True, f"spool folder {name}/ is made at the first run"
        elif not path.is_dir():
            yield False, f"spool {path} is a file, not a folder: move it away"
        else:
            yield os.access(path, os.W_OK | os.X_OK), f"spool folder {path} is writable"


def _stdio_folder(device: str) -> tuple[bool, str]:
    """A `stdio:` drive's folder exists and is writable, or can be made."""
    folder = Path(device.removeprefix("stdio:")).parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return False, f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return False, f"{existing} is not writable"
    return True, "folder ready" if existing == folder else "folder is made at the first burn"


def printer_checks(config: Config) -> Iterator[tuple[bool, str]]:
    """The printing mode and, for CUPS, every configured queue."""
    from burner.printout.cups import queue_status

    how = config.printing.get("mode", "folder")
    if how != "cups":
        yield True, f"printing: mode {how}"
        return
    server = config.printing.get("server") or None
    for key in ("cover_queue", "label_queue", "insert_queue"):
        queue = config.printing.get(key)
        if queue:
            ok, text = queue_status(queue, server)
            yield ok, f"printer {key} {queue}: {text}"
        elif key != "insert_queue":
            yield False, f"printing: mode cups needs {key} in [printing]"
