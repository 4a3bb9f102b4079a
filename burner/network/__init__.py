"""The DICOM network side (issue 13): the listener (Verification, Storage and Media Creation
Management SCPs), fetching from a PACS (C-FIND with C-GET, C-MOVE or DICOMweb) and sending a
job's objects to another hospital."""

import logging

# pynetdicom logs every PDU and DIMSE message at INFO and DEBUG; building those messages costs
# a tenth of a transfer's time, and they would put identifiers in the log. Its warnings stay.
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
