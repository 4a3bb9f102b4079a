"""burner's DICOMDIR record encoder gives the same bytes as pydicom's writer."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from burner.dicom.encode import record


def pydicom_bytes(items: list[tuple[str, object]]) -> bytes:
    ds = Dataset()
    for keyword, value in items:
        setattr(ds, keyword, value)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()


def code(value: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = "Report"
    return item


CASES = {
    "image": [("OffsetOfTheNextDirectoryRecord", 1234), ("RecordInUseFlag", 0xFFFF),
              ("DirectoryRecordType", "IMAGE"), ("InstanceNumber", "7"), ("Rows", 512),
              ("ImagePositionPatient", ["1.5", "-2", "3.25"]), ("PixelSpacing", ["0.7", "0.7"]),
              ("ReferencedFileID", ["DICOM", "ST000001", "SE000001", "IM000001"]),
              ("ReferencedSOPInstanceUIDInFile", "1.2.3.4"), ("ImageType", ["ORIGINAL"])],
    "type 2 empty": [("DirectoryRecordType", "STUDY"), ("StudyDescription", None),
                     ("AccessionNumber", None), ("StudyDate", "20260101")],
    "latin-1 name": [("SpecificCharacterSet", "ISO_IR 100"),
                     ("PatientName", PersonName("Müller^Jörg")), ("PatientID", "X1")],
    "utf-8 name": [("SpecificCharacterSet", "ISO_IR 192"),
                   ("PatientName", PersonName("山田^太郎")), ("PatientID", "X2")],
    "sequence": [("DirectoryRecordType", "SR DOCUMENT"),
                 ("ConceptNameCodeSequence", Sequence([code("18748-4")]))],
}


@pytest.mark.parametrize("name", CASES)
def test_same_bytes_as_pydicom(name: str) -> None:
    items = CASES[name]
    charset = next((v for k, v in items if k == "SpecificCharacterSet"), "")
    assert bytes(record(items, charset)) == pydicom_bytes(items)
