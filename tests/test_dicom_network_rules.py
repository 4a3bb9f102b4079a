"""The network side's rules without a PACS: configuration, what an N-CREATE may ask, the
storage commitment bookkeeping, and a listener (in this process) against hostile C-STOREs."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pydicom
import pytest
from conftest import free_port, study_patient
from mcm_scu import request_dataset
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from burner import synth
from burner.config import load_config
from burner.errors import ConfigError
from burner.network import commitment, listener, mcm
from burner.network.settings import dicom_settings

CT = "1.2.840.10008.5.1.4.1.1.2"


def config_with(tmp_path: Path, text: str):  # noqa: ANN201
    path = tmp_path / "burner.toml"
    path.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n{text}')
    return load_config(path)


@pytest.mark.parametrize("text, words", [
    ('[dicom]\nae_title = "A\\\\B"', "AE title"),
    ('[dicom]\nae_title = "WAY_TOO_LONG_FOR_AN_AE"', "AE title"),
    ("[dicom]\nport = 70000", "port"),
    ('[dicom]\nbind = "everywhere"', "bind"),
    ("[dicom]\nloud = true", "unknown"),
    ('[dicom.peers.RIS]\nmay = ["everything"]', "may"),
    ('[dicom.peers.RIS]\napprove = "sometimes"', "approve"),
    ('[dicom.peers.RIS]\nhost = "not an address"', "IP address"),
    ('[pacs.main]\nae_title = "PACS"\nretrieve = "dicomweb"', "needs a url"),
    ('[pacs.main]\nae_title = "PACS"\nretrieve = "ftp"', "retrieve"),
    ('[pacs.main]\nae_title = "PACS"\nurl = "javascript:alert(1)"', "http"),
    ('[pacs."../x"]\nae_title = "PACS"', "letters"),
    ('[destinations.x]\nae_title = ""', "AE title"),
])
def test_bad_network_settings_are_named(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        dicom_settings(config_with(tmp_path, text))


def test_network_settings_default_to_off_and_local(tmp_path: Path) -> None:
    settings = dicom_settings(config_with(tmp_path, ""))
    assert not settings.enabled and settings.bind == "127.0.0.1" and not settings.peers


def test_a_good_request_is_kept_with_its_options() -> None:
    options = mcm.request_options(request_dataset(
        [(CT, "1.2.3", "STD-GEN-CD"), (CT, "1.2.4", "STD-GEN-CD")], LabelText="FOR DR X",
        AllowMediaSplitting="NO", IncludeDisplayApplication="NO",
        StorageMediaFileSetID="RIS_0001"))
    assert options["profile"] == "STD-GEN-CD" and options["split"] == "NO"
    assert options["viewer"] == "NO" and options["fileset_id"] == "RIS_0001"
    assert [i[1] for i in options["items"]] == ["1.2.3", "1.2.4"]


@pytest.mark.parametrize("ds, status, words", [
    (Dataset(), mcm.MISSING_ATTRIBUTE, "Referenced SOP Sequence"),
    (request_dataset([(CT, "1.2.3", ""), (CT, "1.2.3", "")]), mcm.INVALID_VALUE, "twice"),
    (request_dataset([(CT, "1.2.x", "")]), mcm.INVALID_VALUE, "valid"),
    (request_dataset([(CT, "1.2.3" + ".4" * 40, "")]), mcm.INVALID_VALUE, "valid"),
    (request_dataset([("", "1.2.3", "")]), mcm.INVALID_VALUE, "valid"),
    (request_dataset([(CT, "1.2.3", "STD-GEN-CD"), (CT, "1.2.4", "STD-GEN-DVD-JPEG")]),
     mcm.INVALID_VALUE, "INST_AP_CONFLICT"),
    (request_dataset([(CT, "1.2.3", "STD-XABC-CD")]), mcm.INVALID_VALUE, "NOT_SUPPORTED"),
    (request_dataset([(CT, "1.2.3", "")], AllowMediaSplitting="MAYBE"), mcm.INVALID_VALUE,
     "YES or NO"),
    (request_dataset([(CT, "1.2.3", "")], StorageMediaFileSetID="../../etc"), mcm.INVALID_VALUE,
     "File-Set ID"),
])
def test_bad_requests_are_refused_with_a_status(ds: Dataset, status: int, words: str) -> None:
    with pytest.raises(mcm.Refused, match=words) as caught:
        mcm.request_options(ds)
    assert caught.value.status == status


def test_too_many_references_are_refused() -> None:
    many = [(CT, f"1.2.{n}", "") for n in range(mcm.MAX_REFERENCES + 1)]
    with pytest.raises(mcm.Refused, match="more than"):
        mcm.request_options(request_dataset(many))


@pytest.mark.parametrize("copies, priority", [(0, "MED"), (21, "MED"), (1, "URGENT")])
def test_initiate_options_are_bounded(copies: int, priority: str) -> None:
    ds = Dataset()
    ds.NumberOfCopies = copies
    ds.RequestPriority = priority
    with pytest.raises(mcm.Refused):
        mcm._initiate_options(ds)


def test_commitment_waits_for_every_object_and_ignores_strangers() -> None:
    uid, ds = commitment.request([(CT, "1.2.3"), (CT, "1.2.4")])
    assert ds.TransactionUID == uid and len(ds.ReferencedSOPSequence) == 2
    commitment.expect(uid)
    stranger = Dataset()
    stranger.TransactionUID = "9.9.9"
    assert not commitment.post(commitment.ALL_STORED, stranger)   # no one waits for it
    report = Dataset()
    report.TransactionUID = uid
    ok = Dataset()
    ok.ReferencedSOPInstanceUID = "1.2.3"
    bad = Dataset()
    bad.ReferencedSOPInstanceUID = "1.2.4"
    bad.FailureReason = 0x0112
    report.ReferencedSOPSequence = Sequence([ok])
    report.FailedSOPSequence = Sequence([bad])
    threading.Timer(0.1, commitment.post, (commitment.SOME_FAILED, report)).start()
    outcome = commitment.wait(uid, {"1.2.3", "1.2.4"}, 5)
    assert outcome is not None
    assert outcome.stored == {"1.2.3"} and outcome.failed == {"1.2.4": 0x0112}


def test_commitment_without_an_answer_times_out() -> None:
    uid, _ = commitment.request([(CT, "1.2.3")])
    commitment.expect(uid)
    assert commitment.wait(uid, {"1.2.3"}, 0.2) is None


# --- a listener in this process against hostile C-STOREs ------------------------------------


@pytest.fixture
def running(tmp_path: Path):  # noqa: ANN201
    port = free_port()
    config = config_with(tmp_path, f'[dicom]\nport = {port}\nmax_object_mb = 1\n'
                                   '[dicom.peers.MODALITY]\nmay = ["store"]\n'
                                   '[dicom.peers.ECHOONLY]\nmay = ["echo"]\n')
    started = listener.start(config)
    yield config, port
    started.stop()


def send(port: int, ds: Dataset, calling: str = "MODALITY") -> int:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="BURNER")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(ds)
        return status.Status if status else -1
    finally:
        assoc.release()


def one_ct(tmp_path: Path) -> Dataset:
    path = synth.make_ct_study(tmp_path / "ct", study_patient(), slices=1, rows=32, cols=32)[0]
    return pydicom.dcmread(path)


def intake_files(config) -> list[Path]:  # noqa: ANN001
    return list((config.data_dir / "intake").glob("net-*/*.dcm"))


def test_a_good_object_is_stored_once(running, tmp_path: Path) -> None:  # noqa: ANN001
    config, port = running
    ds = one_ct(tmp_path)
    assert send(port, ds) == 0
    assert send(port, ds) == 0                # sent again: the same file, not a second one
    files = intake_files(config)
    assert len(files) == 1
    stored = pydicom.dcmread(files[0])
    assert stored.SOPInstanceUID == ds.SOPInstanceUID


def test_an_ae_without_the_store_right_is_refused(running, tmp_path: Path) -> None:  # noqa: ANN001
    config, port = running
    assert send(port, one_ct(tmp_path), calling="ECHOONLY") == 0x0124
    assert intake_files(config) == []


def test_an_object_larger_than_allowed_is_refused(running, tmp_path: Path) -> None:  # noqa: ANN001
    config, port = running
    ds = one_ct(tmp_path)
    ds.add_new(0x00091010, "OB", b"\0" * 1_100_000)     # a private blob past max_object_mb
    assert send(port, ds) == 0xA700
    assert intake_files(config) == []


def test_an_object_whose_uid_differs_from_the_request_is_refused(
        running, tmp_path: Path) -> None:  # noqa: ANN001
    config, port = running
    ds = one_ct(tmp_path)
    ds.StudyInstanceUID = "not a uid"
    assert send(port, ds) == 0xA900
    ds = one_ct(tmp_path)
    del ds.StudyInstanceUID
    assert send(port, ds) == 0xA900
    assert intake_files(config) == []


def test_nothing_is_logged_of_the_patient(running, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    config, port = running
    caplog.set_level("DEBUG", logger="burner")
    ds = one_ct(tmp_path)
    assert send(port, ds) == 0
    assert send(port, ds, calling="ECHOONLY") == 0x0124
    text = caplog.text + io.StringIO().getvalue()
    patient = study_patient()
    for value in (patient.id, patient.name, patient.birth_date):
        assert value not in text
    assert generate_uid()                     # (uids are not patient data)


def test_received_folders_nothing_arrived_to_go_after_the_retention_time(tmp_path: Path) -> None:
    import os

    from burner.retention import clean
    from burner.state import StateDB

    config = config_with(tmp_path, "[retention]\ndays = 7\n")
    intake = config.data_dir / "intake"
    old, new, exported = intake / "net-RIS-aaaa", intake / "net-RIS-bbbb", intake / "CT EXPORT"
    for folder in (old, new, exported):
        folder.mkdir(parents=True)
        (folder / "x.dcm").write_bytes(b"x")
    now = 1_800_000_000.0
    for folder in (old, exported):
        os.utime(folder, (now - 8 * 86400, now - 8 * 86400))
    os.utime(new, (now - 6 * 86400, now - 6 * 86400))
    with StateDB(config.db_path) as db:
        gone = clean(config, db, now)
    assert [g.job_id for g in gone] == ["intake/net-RIS-aaaa"]
    assert not old.exists() and new.is_dir() and exported.is_dir()   # the desk's own stay


def test_a_pacs_search_answer_is_taken_only_where_it_is_sound() -> None:
    """What a PACS answers to C-FIND is hostile, decoded as it came (implicit VR bytes): a bad
    or overlong UID drops the study, a lying instance count is kept as unknown, text is one
    short line."""
    import struct
    import warnings

    from pydicom.filereader import read_dataset

    from burner.network.scu import _study

    def answer(*elements: tuple[int, bytes]) -> Dataset:
        raw = b""
        for tag, value in sorted(elements):
            value += b" " * (len(value) % 2)
            raw += struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
        return read_dataset(io.BytesIO(raw), True, True)

    study, count, text = 0x0020000D, 0x00201208, 0x00081030
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _study(answer((study, b"1.2.3/../x"))) is None
        assert _study(answer((study, b"1." + b"2" * 70))) is None
        assert _study(answer((0x00080050, b"A1"))) is None
        found = _study(answer((study, b"1.2.3\0"), (count, b"lots"),
                              (text, b"CT\nINJECTED LINE" + b"x" * 200)))
    assert found is not None and found.listed is None
    assert "\n" not in found.description and len(found.description) <= 64
