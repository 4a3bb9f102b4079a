"""`burner doctor`: is everything this station needs there and working?"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from burner.config import Config
from burner.media.writers import writer_status


def run_checks(config: Config) -> Iterator[tuple[bool, str]]:
    """(ok, sentence) for each check."""
    yield True, f"configuration: {config.source}"
    path = shutil.which(config.xorriso)
    yield path is not None, "xorriso (burning): " + (path or "missing: apt-get install xorriso")
    for tool, why in (("dcmdump", "DICOM checks, optional"), ("dciodvfy", "validator, optional")):
        found = shutil.which(tool)
        yield True, f"{tool} ({why}): {found or 'not installed'}"
    spool = config.spool_dir
    spool.mkdir(parents=True, exist_ok=True)
    yield os.access(spool, os.W_OK), f"spool {spool} is writable"
    if not config.drives:
        yield False, "no drives configured: add a [[drives]] entry"
    if any(d.media == "usb" for d in config.drives):
        for tool in ("mkfs.fat", "mcopy"):
            found = shutil.which(tool)
            yield found is not None, f"{tool} (USB sticks): " + (
                found or "missing: apt-get install dosfstools mtools")
    for d in config.drives:
        ok, text = writer_status(config, d)
        yield ok, f"writer {d.name} ({d.device}, {d.media}): {text}"
    yield from printer_checks(config)


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
