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
