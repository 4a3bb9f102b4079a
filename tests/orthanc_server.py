"""A private Orthanc PACS for the tests: Debian's `Orthanc` run as a child of the test process,
with its own configuration, storage, index and log in a folder of the test's, listening only on
loopback ports of its own (never the machine's orthanc service or its port 4242/8042).

The server is a DICOM SCP (C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE allowed from any AE title,
the called AE title is not checked) and a DICOMweb server (QIDO-RS, WADO-RS, STOW-RS) at
`dicomweb_url`. The test reads and changes its contents over Orthanc's REST API at `url`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import require_tool, stop, unavailable

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def require_orthanc() -> str:
    """Path of the Orthanc program; skips the test locally without it or its DICOMweb plugin,
    fails under CI=true (the rule of conftest.require_tool)."""
    binary = require_tool("Orthanc")
    if not DICOMWEB_PLUGIN.is_file():
        unavailable(f"the Orthanc DICOMweb plugin {DICOMWEB_PLUGIN} is not installed "
                    "(Debian package orthanc-dicomweb)")
    return binary


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now (the kernel's choice)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


class OrthancServer:
    """One private Orthanc; start() and stop() may be called again (a PACS outage)."""

    def __init__(self, root: Path, *, aet: str = "ORTHANC",
                 modalities: dict[str, tuple[str, str, int]] | None = None,
                 binary: str | None = None) -> None:
        self.root = Path(root)
        self.aet = aet
        self.modalities = dict(modalities or {})
        self.binary = binary or require_orthanc()
        self.dicom_port, self.http_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb_url = f"{self.url}/dicom-web"
        self.process: subprocess.Popen[bytes] | None = None
        # One client for the REST calls: a new httpx.Client costs ~40 ms (its SSL context).
        self._http: httpx.Client | None = None

    # --- the process ------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def config_path(self) -> Path:
        return self.root / "orthanc.json"

    @property
    def log_path(self) -> Path:
        return self.root / "orthanc.log"

    def configuration(self) -> dict[str, Any]:
        """Orthanc's configuration (every key is one Orthanc 1.10 knows)."""
        return {
            "Name": f"burner-test-{self.aet}",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "index"),
            "StorageCompression": False,
            "ConcurrentJobs": 2,
            "SaveJobs": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomCheckModalityHost": False,
            "DicomModalities": {name: [aet, host, port]
                                for name, (aet, host, port) in self.modalities.items()},
            # Unknown calling AE titles may do everything a listed modality may do.
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowFindWorklist": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            # Every DICOM transfer syntax, and storage SOP classes DCMTK does not know by name.
            "AcceptedTransferSyntaxes": ["1.2.840.10008.1.*"],
            "UnknownSopClassAccepted": True,
            "DicomScpTimeout": 30,
            "DicomScuTimeout": 10,
            "SynchronousCMove": True,
            "StableAge": 1,
            "DeidentifyLogs": False,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True,
                         "WadoRoot": "/wado", "Host": "127.0.0.1", "Ssl": False},
        }

    def start(self) -> None:
        """Write the configuration, start Orthanc and wait until both of its ports answer."""
        if self.process is not None and self.process.poll() is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.configuration(), indent=2))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, str(self.config_path)], cwd=self.root, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._answers() and _listening(self.dicom_port)):
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"Orthanc exited while starting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Orthanc did not answer in {START_TIMEOUT:.0f} s:\n"
                                   f"{self.log()}")
            time.sleep(0.05)
        if "dicom-web" not in self._json("GET", "/plugins"):
            self.stop()
            raise RuntimeError(f"Orthanc started without its DICOMweb plugin:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM to Orthanc's PID; SIGKILL if it has not exited after 10 s."""
        if self._http is not None:
            self._http.close()
            self._http = None
        process, self.process = self.process, None
        if process is None:
            return
        stop(process, timeout=STOP_TIMEOUT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        """Stop, and remove the folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> OrthancServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """The tail of Orthanc's log."""
        if not self.log_path.is_file():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-4000:]

    def _answers(self) -> bool:
        try:
            return self._client().get("/system", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=60)
        return self._http

    # --- the REST API -----------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._client().request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"Orthanc answered {method} {path} with {response.status_code}: "
                               f"{response.text[:500]}")
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def add_modality(self, name: str, aet: str, host: str, port: int) -> None:
        """Declare (or change) a remote modality at run time; kept for later restarts too."""
        self._request("PUT", f"/modalities/{name}",
                      json={"AET": aet, "Host": host, "Port": port})
        self.modalities[name] = (aet, host, port)

    def upload(self, path: Path) -> str:
        """Store one DICOM file; its Orthanc instance id."""
        answer = self._json("POST", "/instances", content=Path(path).read_bytes(),
                            headers={"Content-Type": "application/dicom"})
        if answer.get("Status") not in {"Success", "AlreadyStored"}:
            raise RuntimeError(f"Orthanc did not store {path}: {answer}")
        return answer["ID"]

    def upload_all(self, paths: Iterable[Path]) -> list[str]:
        return [self.upload(path) for path in paths]

    def instance_ids(self) -> list[str]:
        return self._json("GET", "/instances")

    def find_instance(self, sop_instance_uid: str) -> str | None:
        """The Orthanc id of the instance with this SOP Instance UID, or None."""
        found = self._json("POST", "/tools/find", json={
            "Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}})
        return found[0] if found else None

    def delete_instance(self, sop_instance_uid: str) -> None:
        orthanc_id = self.find_instance(sop_instance_uid)
        if orthanc_id is None:
            raise LookupError(f"Orthanc holds no instance {sop_instance_uid}")
        self._request("DELETE", f"/instances/{orthanc_id}")

    def instance_bytes(self, orthanc_id: str) -> bytes:
        return self._request("GET", f"/instances/{orthanc_id}/file").content

    def sop_instance_uids(self) -> set[str]:
        found = self._json("POST", "/tools/find",
                           json={"Level": "Instance", "Query": {}, "Expand": True})
        return {item["MainDicomTags"]["SOPInstanceUID"] for item in found}

    def clear(self) -> None:
        """Delete every patient (and so every study, series and instance)."""
        for patient in self._json("GET", "/patients"):
            self._request("DELETE", f"/patients/{patient}")


@contextmanager
def start_orthanc(root: Path, *, aet: str = "ORTHANC",
                  modalities: dict[str, tuple[str, str, int]] | None = None
                  ) -> Iterator[OrthancServer]:
    """A running OrthancServer in `root`, stopped on leaving the block."""
    server = OrthancServer(root, aet=aet, modalities=modalities)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
