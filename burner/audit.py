"""DICOM audit message for a media export (PS3.15 A.5.3.4 "Data Export", IHE ATNA)."""

from __future__ import annotations

import datetime
import socket
from xml.etree import ElementTree as ET

from burner.media.kinds import KINDS


def _code(parent: ET.Element, tag: str, code: str, system: str, text: str) -> ET.Element:
    return ET.SubElement(parent, tag, {"csd-code": code, "codeSystemName": system,
                                       "originalText": text})


def export_event(*, job_id: str, station: str, user: str, media: str, media_ids: list[str],
                 patient_id: str, patient_name: str, study_uids: list[str],
                 success: bool = True, when: datetime.datetime | None = None) -> bytes:
    """The audit record of writing `study_uids` of one patient to media, as XML bytes."""
    when = when or datetime.datetime.now(datetime.UTC)
    root = ET.Element("AuditMessage")
    event = ET.SubElement(root, "EventIdentification", {
        "EventActionCode": "R",
        "EventDateTime": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "EventOutcomeIndicator": "0" if success else "8"})
    _code(event, "EventID", "110106", "DCM", "Export")
    source = ET.SubElement(root, "ActiveParticipant", {
        "UserID": f"burner@{station}", "AlternativeUserID": user, "UserIsRequestor": "true",
        "NetworkAccessPointID": socket.gethostname(), "NetworkAccessPointTypeCode": "1"})
    _code(source, "RoleIDCode", "110153", "DCM", "Source Role ID")
    code, text = (KINDS.get(media) or KINDS["dvd"]).audit_code   # DCM media type
    for media_id in media_ids if media == "dicom" else ():
        # sent to another hospital: the destination AE is the participant (PS3.15 A.5.3.4)
        dest = ET.SubElement(root, "ActiveParticipant", {
            "UserID": media_id, "UserIsRequestor": "false",
            "NetworkAccessPointID": media_id.rpartition("@")[2].rpartition(":")[0],
            "NetworkAccessPointTypeCode": "1" if not media_id.rpartition("@")[2][:1].isdigit()
            else "2"})
        _code(dest, "RoleIDCode", "110152", "DCM", "Destination Role ID")
    for media_id in media_ids if media != "dicom" else ():
        dest = ET.SubElement(root, "ActiveParticipant", {"UserID": media_id,
                                                         "UserIsRequestor": "false"})
        _code(dest, "RoleIDCode", "110154", "DCM", "Destination Media")
        ident = ET.SubElement(dest, "MediaIdentifier")
        _code(ident, "MediaType", code, "DCM", text)
    ET.SubElement(root, "AuditSourceIdentification", {"AuditSourceID": station})
    patient = ET.SubElement(root, "ParticipantObjectIdentification", {
        "ParticipantObjectID": patient_id, "ParticipantObjectTypeCode": "1",
        "ParticipantObjectTypeCodeRole": "1"})
    _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number")
    ET.SubElement(patient, "ParticipantObjectName").text = patient_name
    for uid in study_uids:
        study = ET.SubElement(root, "ParticipantObjectIdentification", {
            "ParticipantObjectID": uid, "ParticipantObjectTypeCode": "2",
            "ParticipantObjectTypeCodeRole": "3"})
        _code(study, "ParticipantObjectIDTypeCode", "110180", "DCM", "Study Instance UID")
    ET.SubElement(root, "ParticipantObjectIdentification", {
        "ParticipantObjectID": job_id, "ParticipantObjectTypeCode": "2",
        "ParticipantObjectTypeCodeRole": "20"}).append(
        ET.Element("ParticipantObjectIDTypeCode", {"csd-code": "9", "codeSystemName": "RFC-3881",
                                                    "originalText": "Report Number"}))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
