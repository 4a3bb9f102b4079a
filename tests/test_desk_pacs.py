"""The front desk fetches a request's exams straight from the PACS (a real Orthanc on
loopback) and sends a release to another hospital: searched, shown with whether the PACS
files each exam under the request's patient, approved through the pages (CSRF, four eyes),
then made by the station and checked (dciodvfy, dcmmkdir; the instances at the destination)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from conftest import StationDir, new_station, study_patient
from disc_checks import check_job_disc
from orthanc_server import OrthancServer
from test_handover import _app, desk_config, export, new_request
from test_web_app import _csrf, sign_in

from burner import synth
from burner.desk import pacs as desk_pacs
from burner.desk.register import Register, RequestRefused
from burner.desk.settings import desk_settings

pytestmark = pytest.mark.slow

OTHER = synth.Patient(id="ELSE0001", name="ELSEWHERE^PAT", birth_date="19500101", sex="F")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrthancServer, set]]:
    root = tmp_path_factory.mktemp("deskpacs")
    server = OrthancServer(root / "server")
    server.start()
    try:
        mine = synth.make_ct_study(root / "mine", study_patient(), slices=3, rows=32, cols=32,
                                   accession="DESK001")
        theirs = synth.make_ct_study(root / "theirs", OTHER, slices=1, rows=32, cols=32,
                                     accession="DESK002")
        server.upload_all(mine + theirs)
        yield server, {str(pydicom.dcmread(f).SOPInstanceUID) for f in mine}
    finally:
        server.stop()


def station_with(tmp_path: Path, server: OrthancServer, **desk: object) -> StationDir:
    return new_station(tmp_path / "station", extra_toml="\n".join([
        "[pacs.main]", f'ae_title = "{server.aet}"', 'host = "127.0.0.1"',
        f"port = {server.dicom_port}", 'retrieve = "c-get"',
        "[destinations.stmarys]", f'ae_title = "{server.aet}"', 'host = "127.0.0.1"',
        f"port = {server.dicom_port}", ""]))


def test_search_show_and_approve_from_the_pacs_then_the_disc(orthanc, tmp_path: Path) -> None:  # noqa: ANN001
    server, sops = orthanc
    station = station_with(tmp_path, server)
    config = desk_config(station, four_eyes=True)
    app = _app(config)
    request_id = new_request(config)
    one, two = sign_in(app, "desk1"), sign_in(app, "desk2")
    url = f"/requests/{request_id}"
    page = one.get(url + "/images")
    assert "Search the PACS" in page.text
    csrf = _csrf(page.text)
    assert one.post(url + "/pacs/find", data={"pacs_name": "main"}).status_code == 403
    assert one.post(url + "/pacs/find", data={"csrf": csrf, "pacs_name": "nowhere"}
                    ).status_code == 409
    bad = one.post(url + "/pacs/find", data={"csrf": csrf, "pacs_name": "main",
                                              "accessions": "A*"})
    assert bad.status_code == 409 and "without" in bad.text
    found = one.post(url + "/pacs/find", data={"csrf": csrf, "pacs_name": "main"})
    assert found.status_code == 200 and "DESK001" in found.text
    assert "DESK002" not in found.text              # searched by the request's patient ID
    study_uid = re.search(r'name="study" value="([0-9.]+)"', found.text).group(1)
    first = one.post(url + "/pacs/approve", data={"csrf": csrf, "pacs_name": "main",
                                                   "study": study_uid})
    assert "A second person must approve" in first.text
    made = two.post(url + "/pacs/approve", data={"csrf": _csrf(two.get(url + "/images").text),
                                                  "pacs_name": "main", "study": study_uid})
    assert made.status_code == 200, made.text
    job_id = re.search(r"Job (J\d{8}-[0-9A-F]{6}) was made", made.text).group(1)
    manifest = json.loads((station.spool / "approved" / job_id / "job.json").read_text())
    assert manifest["fetch"] == {"pacs": "main", "study_instance_uids": [study_uid]}
    assert manifest["studies"][0]["study_instance_uid"] == study_uid
    proc = station.cli("run", "--once")
    assert station.where(job_id) == ["done"], proc.stderr
    assert check_job_disc(station.spool, job_id, tmp_path / "check") == sops


def test_an_exam_of_another_patient_cannot_be_approved(orthanc, tmp_path: Path) -> None:  # noqa: ANN001
    server, _ = orthanc
    station = station_with(tmp_path, server)
    config = desk_config(station)
    request_id = new_request(config)
    with Register(config.db_path) as register:
        request = register.get(request_id)
    theirs = desk_pacs.find(config, request, "main", ("DESK002",))
    assert theirs == []          # narrowed by the request's patient ID: not even listed
    with pytest.raises(RequestRefused, match="not .*filed"):
        desk_pacs.approve(config, request_id, "main", ("1.2.3.4",), "desk1",
                          desk_settings(config))
    with pytest.raises(RequestRefused, match="at least one"):
        desk_pacs.approve(config, request_id, "main", (), "desk1", desk_settings(config))


def test_a_send_request_goes_to_the_chosen_hospital(orthanc, tmp_path: Path) -> None:  # noqa: ANN001
    server, _ = orthanc
    station = station_with(tmp_path, server)
    config = desk_config(station)
    app = _app(config)
    request_id = new_request(config, fmt="send")
    folder = export(config, "TO STMARYS")
    sent = {str(pydicom.dcmread(f).SOPInstanceUID) for f in folder.rglob("*.dcm")}
    one = sign_in(app, "desk1")
    url = f"/requests/{request_id}/images"
    csrf = _csrf(one.get(url).text)
    seen = one.post(url + "/preview", data={"csrf": csrf, "folder": "TO STMARYS"})
    assert 'name="destination"' in seen.text and "stmarys" in seen.text
    refused = one.post(url + "/approve", data={"csrf": csrf, "folder": "TO STMARYS",
                                                "destination": "nowhere"})
    assert refused.status_code == 409 and "Choose the hospital" in refused.text
    made = one.post(url + "/approve", data={"csrf": csrf, "folder": "TO STMARYS",
                                             "destination": "stmarys"})
    job_id = re.search(r"Job (J\d{8}-[0-9A-F]{6}) was made", made.text).group(1)
    proc = station.cli("run", "--once")
    assert station.where(job_id) == ["done"], proc.stderr
    assert all(server.find_instance(sop) for sop in sent)
    for sop in sent:
        server.delete_instance(sop)
