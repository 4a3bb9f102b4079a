"""Send a PDF to a CUPS queue with `lp`; a failure becomes a PrinterError a person can act on."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from burner.errors import DeviceError, Reason

LP_TIMEOUT = 60.0
_REQUEST_ID = re.compile(r"request id is (\S+)")


class PrinterError(DeviceError):
    """A printer queue could not take a print job; the disc itself is not affected."""

    code = Reason.PRINTER_FAULT


def _reason(output: str) -> str:
    """lp's message without its prefixes: "lp: Error - The printer ..." -> "The printer ..."."""
    text = " ".join(output.split())
    text = re.sub(r"^\S*lp:\s*", "", text)
    text = re.sub(r"^Error\s*-\s*", "", text)
    text = text.rstrip(".") or "lp gave no reason"
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def scheduler_running(server: str | None) -> bool:
    """Does the CUPS scheduler (on `server`) answer?"""
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return True     # cannot tell; lp's own message has to do
    try:
        proc = subprocess.run([lpstat, *(["-h", server] if server else []), "-r"],
                              capture_output=True, text=True, errors="replace",
                              timeout=LP_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return False
    return "scheduler is running" in proc.stdout


def queue_status(queue: str, server: str | None = None) -> tuple[bool, str]:
    """(ok, sentence) about one queue, for `burner doctor`."""
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return False, "lpstat is missing: apt-get install cups-client"
    if not scheduler_running(server):
        return False, f"the CUPS print server {server or '(local)'} is not running"
    proc = subprocess.run([lpstat, *(["-h", server] if server else []), "-p", queue],
                          capture_output=True, text=True, errors="replace", timeout=LP_TIMEOUT,
                          stdin=subprocess.DEVNULL, check=False)
    text = " ".join((proc.stdout or proc.stderr).split())
    return proc.returncode == 0 and "disabled" not in text, text or "no answer"


def _fault(queue: str, why: str, job_id: str | None) -> PrinterError:
    after = f" The disc is fine; reprint with: burner reprint {job_id}" if job_id else ""
    return PrinterError(f"The printer queue {queue} is not reachable: {why}.{after}")


def print_pdf(queue: str, pdf: Path, title: str, *, server: str | None = None,
              copies: int = 1, options: Sequence[str] = (), job_id: str | None = None) -> str:
    """Print `pdf` on CUPS queue `queue` (on `server`: host[:port] or a socket path; else
    $CUPS_SERVER or the local scheduler) with lp `options` ("media=Custom.120x120mm", ...);
    returns the CUPS request id, e.g. "PDF-12"."""
    lp = shutil.which("lp")
    if lp is None:
        raise _fault(queue, "the CUPS client program lp is not installed "
                            "(apt-get install cups-client)", job_id)
    args = [lp, *(["-h", server] if server else []), "-d", queue, "-t", title,
            "-n", str(max(1, copies)), *(a for o in options for a in ("-o", o)), "--", str(pdf)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, errors="replace",
                              timeout=LP_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise _fault(queue, f"the print server did not answer within {LP_TIMEOUT:.0f} "
                            "seconds", job_id) from None
    found = _REQUEST_ID.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        why = _reason(proc.stderr + proc.stdout)
        if not scheduler_running(server):     # lp then says "printer does not exist"
            why = f"the CUPS print server {server or ''} is not running".replace("  ", " ")
        raise _fault(queue, why, job_id)
    return found.group(1)
