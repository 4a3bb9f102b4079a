"""The DICOM network side (issue 13): the listener (Verification, Storage and Media Creation
Management SCPs), fetching from a PACS (C-FIND with C-GET, C-MOVE or DICOMweb) and sending a
job's objects to another hospital."""
