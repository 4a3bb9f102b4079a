"""The private Orthanc of tests/orthanc_server.py: it starts on ports of its own, answers DICOM
and REST, keeps its data across a restart, and leaves no process behind."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pydicom
import pytest
from conftest import require_tool
from orthanc_server import OrthancServer, require_orthanc, start_orthanc

from burner import synth

pytestmark = pytest.mark.slow

PATIENT = synth.Patient(id="ORT0001", name="SERVER^TEST")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_server_answers_dicom_and_rest_and_stops(tmp_path: Path) -> None:
    require_orthanc()
    echoscu = require_tool("echoscu")
    files = synth.make_ct_study(tmp_path / "ct", PATIENT, slices=2, rows=16, cols=16)
    uids = [str(pydicom.dcmread(p).SOPInstanceUID) for p in files]
    with start_orthanc(tmp_path / "orthanc", aet="TESTPACS") as server:
        pid = server.pid
        assert pid is not None and server.running()
        assert server.dicomweb_url == f"{server.url}/dicom-web"
        assert server.dicom_port != server.http_port
        assert server.url == f"http://127.0.0.1:{server.http_port}"
        echo = subprocess.run([echoscu, "-aec", "TESTPACS", "127.0.0.1", str(server.dicom_port)],
                              capture_output=True, text=True, timeout=30, check=False)
        assert echo.returncode == 0, echo.stdout + echo.stderr

        ids = server.upload_all(files)
        assert sorted(ids) == sorted(server.instance_ids())
        assert server.sop_instance_uids() == set(uids)
        assert server.find_instance(uids[0]) in ids
        assert server.instance_bytes(server.find_instance(uids[0])) == files[0].read_bytes()
        assert server.upload(files[0]) == server.find_instance(uids[0])  # already stored

        server.delete_instance(uids[0])
        assert server.find_instance(uids[0]) is None
        assert server.sop_instance_uids() == {uids[1]}
        with pytest.raises(LookupError):
            server.delete_instance(uids[0])

        server.add_modality("burner", "BURNER", "127.0.0.1", 11112)
        modalities = server._json("GET", "/modalities?expand")
        assert modalities["burner"]["AET"] == "BURNER"
        assert modalities["burner"]["Port"] == 11112

        server.clear()
        assert server.instance_ids() == []
    assert not server.running()
    assert gone(pid)


def test_restart_keeps_data_and_modalities(tmp_path: Path) -> None:
    require_orthanc()
    (path,) = synth.make_ct_study(tmp_path / "ct", PATIENT, slices=1, rows=16, cols=16)
    uid = str(pydicom.dcmread(path).SOPInstanceUID)
    server = OrthancServer(tmp_path / "orthanc", modalities={"a": ("AAA", "127.0.0.1", 104)})
    with server:
        first = server.pid
        server.upload(path)
        server.add_modality("b", "BBB", "127.0.0.1", 105)
    assert first is not None and gone(first)
    with server:  # a PACS outage is over: same ports, same storage
        assert server.pid != first
        assert server.find_instance(uid) is not None
        assert set(server._json("GET", "/modalities")) == {"a", "b"}
    assert server.pid is None
    server.stop()  # stopping a stopped server is harmless


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    require_orthanc()
    server = OrthancServer(tmp_path / "orthanc")
    with socket.socket() as busy:  # someone else holds Orthanc's HTTP port
        busy.bind(("127.0.0.1", server.http_port))
        busy.listen()
        with pytest.raises(RuntimeError, match="Orthanc") as caught:
            server.start()
    assert "Orthanc version" in str(caught.value)
    assert not server.running()
