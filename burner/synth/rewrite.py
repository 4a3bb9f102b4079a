"""Rewriting existing DICOM files (such as test data) as belonging to a synthetic patient."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread, dcmwrite

from burner.synth.common import Patient


def rewrite_patient(path: Path, patient: Patient, out: Path) -> None:
    """Copy `path` to `out` with the patient-level attributes of `patient`, nothing else changed.

    The file keeps its transfer syntax, and a file without file meta stays without it.
    """
    ds = dcmread(path, force=True)
    ds.PatientName = patient.name
    ds.PatientID = patient.id
    if patient.issuer:
        ds.IssuerOfPatientID = patient.issuer
    elif "IssuerOfPatientID" in ds:
        del ds.IssuerOfPatientID
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A body pydicom had to read as implicit VR despite an explicit transfer syntax (raw
    # elements without a VR) is written back as implicit VR, as odd as it came.
    if any(getattr(elem, "VR", "") is None for elem in ds.elements()):
        little = ds.original_encoding[1] is not False
        dcmwrite(out, ds, implicit_vr=True, little_endian=little, force_encoding=True)
    else:
        dcmwrite(out, ds, enforce_file_format=False)
