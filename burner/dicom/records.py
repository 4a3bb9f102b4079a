"""Which DICOMDIR record each object gets, and which keys each record carries (PS3.3 F.5).

Tables, not branches: a record type is a list of (keyword, type) pairs. Type "1" must have a
value (a missing one is filled in only where the object itself may leave it empty, as dcmmkdir's
+I does; otherwise the object is left off), "2" is written empty when missing, "3" (and 1C) is
written only when the object has it.
"""

from __future__ import annotations

import pydicom.uid as uid

Key = tuple[str, str]

PATIENT_KEYS: list[Key] = [("PatientName", "2"), ("PatientID", "1")]
PATIENT_KEYS_EXTENDED: list[Key] = [("PatientBirthDate", "2"), ("PatientSex", "2")]

STUDY_KEYS: list[Key] = [
    ("StudyDate", "1"),
    ("StudyTime", "1"),
    ("AccessionNumber", "2"),
    ("StudyDescription", "2"),
    ("StudyInstanceUID", "1"),
    ("StudyID", "1"),
]

SERIES_KEYS: list[Key] = [("Modality", "1"), ("SeriesInstanceUID", "1"), ("SeriesNumber", "1")]
SERIES_KEYS_EXTENDED: list[Key] = [
    ("InstitutionName", "2"),
    ("InstitutionAddress", "2"),
    ("PerformingPhysicianName", "2"),
]

_CONTENT_ID: list[Key] = [
    ("InstanceNumber", "1"),
    ("ContentLabel", "1"),
    ("ContentDescription", "2"),
    ("ContentCreatorName", "2"),
]

LEAF_KEYS: dict[str, list[Key]] = {
    "IMAGE": [("InstanceNumber", "1")],
    "SR DOCUMENT": [
        ("InstanceNumber", "1"),
        ("CompletionFlag", "1"),
        ("VerificationFlag", "1"),
        ("ContentDate", "1"),
        ("ContentTime", "1"),
        ("VerificationDateTime", "3"),
        ("ConceptNameCodeSequence", "1"),
    ],
    "KEY OBJECT DOC": [
        ("InstanceNumber", "1"),
        ("ContentDate", "1"),
        ("ContentTime", "1"),
        ("ConceptNameCodeSequence", "1"),
    ],
    "PRESENTATION": [
        *_CONTENT_ID,
        ("PresentationCreationDate", "1"),
        ("PresentationCreationTime", "1"),
        ("ReferencedSeriesSequence", "3"),
    ],
    "ENCAP DOC": [
        ("InstanceNumber", "1"),
        ("ContentDate", "2"),
        ("ContentTime", "2"),
        ("DocumentTitle", "2"),
        ("HL7InstanceIdentifier", "3"),
        ("ConceptNameCodeSequence", "2"),
        ("MIMETypeOfEncapsulatedDocument", "1"),
    ],
    "RT DOSE": [("InstanceNumber", "1"), ("DoseSummationType", "1"), ("DoseComment", "3")],
    "RT STRUCTURE SET": [
        ("InstanceNumber", "1"),
        ("StructureSetLabel", "1"),
        ("StructureSetDate", "2"),
        ("StructureSetTime", "2"),
    ],
    "RT PLAN": [
        ("InstanceNumber", "1"),
        ("RTPlanLabel", "1"),
        ("RTPlanDate", "2"),
        ("RTPlanTime", "2"),
    ],
    "RT TREAT RECORD": [("InstanceNumber", "1"), ("TreatmentDate", "2"), ("TreatmentTime", "2")],
    "WAVEFORM": [("InstanceNumber", "1"), ("ContentDate", "1"), ("ContentTime", "1")],
    "RAW DATA": [("ContentDate", "1"), ("ContentTime", "1"), ("InstanceNumber", "2")],
    "REGISTRATION": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
    "FIDUCIAL": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
    "VALUE MAP": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
    "STEREOMETRIC": [],
    "SURFACE": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
    "MEASUREMENT": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
    "TRACT": [("ContentDate", "1"), ("ContentTime", "1"), *_CONTENT_ID],
}

# Keys the DVD/USB/BD general-purpose profiles add to IMAGE records (Rows/Columns type 1).
IMAGE_KEYS_EXTENDED: list[Key] = [
    ("ImageType", "3"),
    ("ReferencedImageSequence", "3"),
    ("FrameOfReferenceUID", "3"),
    ("NumberOfFrames", "3"),
    ("ImagePositionPatient", "3"),
    ("ImageOrientationPatient", "3"),
    ("PixelSpacing", "3"),
    ("CalibrationImage", "3"),
    ("LossyImageCompressionRatio", "3"),
    ("Rows", "1"),
    ("Columns", "1"),
]

# SOP classes whose leaf record is not IMAGE. Anything else with pixel data is an IMAGE.
_NON_IMAGE: dict[str, str] = {
    uid.RTDoseStorage: "RT DOSE",
    uid.RTStructureSetStorage: "RT STRUCTURE SET",
    uid.RTPlanStorage: "RT PLAN",
    uid.RTIonPlanStorage: "RT PLAN",
    uid.RTBeamsTreatmentRecordStorage: "RT TREAT RECORD",
    uid.RTBrachyTreatmentRecordStorage: "RT TREAT RECORD",
    uid.RTTreatmentSummaryRecordStorage: "RT TREAT RECORD",
    uid.RTIonBeamsTreatmentRecordStorage: "RT TREAT RECORD",
    uid.KeyObjectSelectionDocumentStorage: "KEY OBJECT DOC",
    uid.MRSpectroscopyStorage: "SPECTROSCOPY",
    uid.RawDataStorage: "RAW DATA",
    uid.SpatialRegistrationStorage: "REGISTRATION",
    uid.DeformableSpatialRegistrationStorage: "REGISTRATION",
    uid.SpatialFiducialsStorage: "FIDUCIAL",
    uid.RealWorldValueMappingStorage: "VALUE MAP",
    uid.StereometricRelationshipStorage: "STEREOMETRIC",
    uid.SurfaceSegmentationStorage: "SURFACE",
    uid.TractographyResultsStorage: "TRACT",
}

# Families of SOP classes that share a record type, by UID prefix.
_PREFIXES: list[tuple[str, str]] = [
    ("1.2.840.10008.5.1.4.1.1.88.", "SR DOCUMENT"),
    ("1.2.840.10008.5.1.4.1.1.11.", "PRESENTATION"),
    ("1.2.840.10008.5.1.4.1.1.104.", "ENCAP DOC"),
    ("1.2.840.10008.5.1.4.1.1.9.", "WAVEFORM"),
    ("1.2.840.10008.5.1.4.1.1.78.", "MEASUREMENT"),
]

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def record_type(sop_class: str, has_pixels: bool) -> str | None:
    """The leaf record type for an object of `sop_class`, or None when none fits."""
    if sop_class in _NON_IMAGE:
        return _NON_IMAGE[sop_class]
    for prefix, rtype in _PREFIXES:
        if sop_class.startswith(prefix):
            return rtype
    if has_pixels:
        return "IMAGE"
    return None


def leaf_keys(rtype: str, extended: bool) -> list[Key]:
    """Keys of a leaf record; `extended` for the DVD/USB/BD profiles."""
    keys = list(LEAF_KEYS[rtype])
    if rtype == "IMAGE" and extended:
        keys += IMAGE_KEYS_EXTENDED
    return keys


def wanted_keywords() -> frozenset[str]:
    """Every keyword any record may need: what gather keeps of each header."""
    words = {k for k, _ in PATIENT_KEYS + PATIENT_KEYS_EXTENDED + STUDY_KEYS}
    words |= {k for k, _ in SERIES_KEYS + SERIES_KEYS_EXTENDED + IMAGE_KEYS_EXTENDED}
    for keys in LEAF_KEYS.values():
        words |= {k for k, _ in keys}
    words |= {"SpecificCharacterSet", "IssuerOfPatientID", "SeriesDescription", "SeriesDate",
              "AcquisitionDate", "ContentDate", "InstanceCreationDate", "SeriesTime",
              "BitsAllocated", "SamplesPerPixel", "VerifyingObserverSequence",
              "LossyImageCompression", "PhotometricInterpretation"}
    return frozenset(words)
