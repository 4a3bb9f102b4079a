"""Synthetic DICOM studies for the demo, the tests and the benchmark.

Everything here is made up: phantom pixels, invented names and generated UIDs, never a real
patient. Every file is a DICOM Part 10 file that dicom3tools' `dciodvfy` accepts without errors,
and the files of one patient, study and series agree on their entity-level attributes (checked by
`dcentvfy`).

Study-level attributes (date, time, Study ID, accession, description) are fixed by the first maker
that uses a Study Instance UID in this process, or taken from the referenced files, or derived from
the UID itself, so that separate calls for one study stay consistent.
"""

from burner.synth.common import Patient
from burner.synth.ct import make_ct_study
from burner.synth.documents import (
    BASIC_TEXT_SR,
    GRAYSCALE_PR,
    KEY_OBJECT_SELECTION,
    make_basic_sr,
    make_encapsulated_pdf,
    make_key_object,
    make_presentation_state,
)
from burner.synth.images import (
    MF_WORD_SC_IMAGE,
    SC_IMAGE,
    make_multiframe,
    make_rgb_secondary_capture,
)
from burner.synth.mixed import make_mixed_study
from burner.synth.mr import make_mr_study
from burner.synth.phantom import (
    CT_AIR_POINT,
    CT_BONE_POINT,
    CT_LUNG_POINT,
    CT_SOFT_TISSUE_POINT,
)
from burner.synth.rewrite import rewrite_patient
from burner.synth.rt import RT_STRUCTURE_SET, make_rt_structure_set
from burner.synth.waveform import TWELVE_LEAD_ECG, make_waveform

__all__ = [
    "BASIC_TEXT_SR",
    "CT_AIR_POINT",
    "CT_BONE_POINT",
    "CT_LUNG_POINT",
    "CT_SOFT_TISSUE_POINT",
    "GRAYSCALE_PR",
    "KEY_OBJECT_SELECTION",
    "MF_WORD_SC_IMAGE",
    "Patient",
    "RT_STRUCTURE_SET",
    "SC_IMAGE",
    "TWELVE_LEAD_ECG",
    "make_basic_sr",
    "make_ct_study",
    "make_encapsulated_pdf",
    "make_key_object",
    "make_mixed_study",
    "make_mr_study",
    "make_multiframe",
    "make_presentation_state",
    "make_rgb_secondary_capture",
    "make_rt_structure_set",
    "make_waveform",
    "rewrite_patient",
]
