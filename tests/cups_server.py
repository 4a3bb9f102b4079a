"""A private CUPS scheduler for the tests: its own cupsd (run as root, in the foreground, as a
child of the test process) with its own configuration, spool and logs in a temporary folder,
listening only on a Unix socket there, with one cups-pdf queue writing into `out/`.

cups-pdf reads its settings only from /etc/cups: for the device URI cups-pdf:/NAME it reads
/etc/cups/cups-pdf-NAME.conf. The server writes such a file with a name of its own (so the
machine's cups-pdf.conf and other runs are left alone) and removes it when it closes.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CUPS_PDF_BACKEND = Path("/usr/lib/cups/backend/cups-pdf")
CUPS_PDF_PPDS = (Path("/usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd"),
                 Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"))
CUPS_PDF_CONF_DIR = Path("/etc/cups")
QUEUE = "PDF"

_CUPSD_CONF = """\
Listen {socket}
LogLevel warn
WebInterface No
Browsing No
DefaultAuthType None
JobRetryLimit 0
<Location />
  Order allow,deny
  Allow all
</Location>
<Location /admin>
  Order allow,deny
  Allow all
</Location>
"""

_FILES_CONF = """\
ServerRoot {root}/conf
RequestRoot {root}/spool
TempDir {root}/tmp
CacheDir {root}/cache
StateDir {root}/state
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
Printcap {root}/state/printcap
SystemGroup root
"""

_CUPS_PDF_CONF = """\
Out {root}/out
AnonDirName {root}/out
Spool {root}/cups-pdf-spool
Log {root}/log
Label 2
"""


def ppd() -> Path | None:
    return next((p for p in CUPS_PDF_PPDS if p.is_file()), None)


def missing() -> str | None:
    """Why a private cupsd with a cups-pdf queue cannot run here, or None."""
    for tool in ("cupsd", "lpadmin", "lp", "lpstat", "cupsenable"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package cups)"
    if not CUPS_PDF_BACKEND.is_file() or ppd() is None:
        return "cups-pdf is not installed (Debian package printer-driver-cups-pdf)"
    if os.geteuid() != 0:
        return "a private cupsd with cups-pdf needs root (cups-pdf reads /etc/cups)"
    return None


@dataclass
class CupsServer:
    """One private scheduler; start() and stop() may be called again (a printer outage)."""

    root: Path
    name: str
    queue: str = QUEUE
    process: subprocess.Popen | None = field(default=None, repr=False)

    @classmethod
    def create(cls) -> CupsServer:
        # Not under pytest's tmp_path: the filters run as user lp and must reach the folders.
        root = Path(tempfile.mkdtemp(prefix="burner-cups-"))
        root.chmod(0o755)
        server = cls(root, f"burnertest{os.getpid()}")
        for sub, mode in (("conf", 0o755), ("spool", 0o710), ("tmp", 0o1770),
                          ("cache", 0o770), ("state", 0o755), ("log", 0o755), ("out", 0o755)):
            (root / sub).mkdir()
            os.chown(root / sub, 0, _lp_gid())
            (root / sub).chmod(mode)
        (root / "conf" / "cupsd.conf").write_text(_CUPSD_CONF.format(socket=server.socket))
        (root / "conf" / "cups-files.conf").write_text(_FILES_CONF.format(root=root))
        server.cups_pdf_conf.write_text(_CUPS_PDF_CONF.format(root=root))
        return server

    @property
    def socket(self) -> str:
        return str(self.root / "cups.sock")

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def cups_pdf_conf(self) -> Path:
        return CUPS_PDF_CONF_DIR / f"cups-pdf-{self.name}.conf"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([args[0], "-h", self.socket, *args[1:]], capture_output=True,
                              text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)

    def running(self) -> bool:
        return "scheduler is running" in self._run("lpstat", "-r").stdout

    def start(self) -> None:
        """Start cupsd and wait until it answers; make sure the queue takes jobs."""
        conf = self.root / "conf"
        self.process = subprocess.Popen(
            ["cupsd", "-f", "-c", str(conf / "cupsd.conf"), "-s", str(conf / "cups-files.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not (Path(self.socket).exists() and self.running()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cupsd did not start: {self.log()}")
            time.sleep(0.05)
        if (conf / "ppd" / f"{self.queue}.ppd").is_file():
            self._run("cupsenable", self.queue)
            self._run("cupsaccept", self.queue)
        else:
            made = self._run("lpadmin", "-p", self.queue, "-E", "-v", f"cups-pdf:/{self.name}",
                             "-P", str(ppd()))
            if made.returncode != 0:
                raise RuntimeError(f"lpadmin failed: {made.stderr} {self.log()}")

    def stop(self) -> None:
        """Stop cupsd (SIGTERM, as `systemctl stop cups` does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        Path(self.socket).unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        self.cups_pdf_conf.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "log" / "error_log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else "(no log)"

    def pdfs(self) -> list[Path]:
        return sorted(self.out.rglob("*.pdf"))

    def wait_for(self, count: int, since: set[Path] | None = None,
                 timeout: float = 30) -> list[Path]:
        """The first `count` new PDFs (not in `since`) once cups-pdf has finished them."""
        deadline = time.monotonic() + timeout
        while True:
            new = [p for p in self.pdfs() if p not in (since or set())]
            done = [p for p in new if _complete(p)]
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(done)} of {count} PDFs arrived from cups-pdf in "
                                     f"{timeout:.0f} s; the scheduler says:\n{self.log()}")
            time.sleep(0.1)


def _lp_gid() -> int:
    try:
        return grp.getgrnam("lp").gr_gid
    except KeyError:
        return 0


def _complete(path: Path) -> bool:
    """A PDF that cups-pdf has finished writing (it ends with %%EOF)."""
    try:
        with open(path, "rb") as fp:
            fp.seek(max(path.stat().st_size - 64, 0))
            return b"%%EOF" in fp.read()
    except OSError:
        return False
