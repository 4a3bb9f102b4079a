"""A whole synthetic study: a CT series and every kind of document that refers to it."""

from __future__ import annotations

from pathlib import Path

from pydicom.uid import generate_uid

from burner.synth.common import Patient
from burner.synth.ct import make_ct_study
from burner.synth.documents import (
    make_basic_sr,
    make_encapsulated_pdf,
    make_key_object,
    make_presentation_state,
)
from burner.synth.rt import make_rt_structure_set
from burner.synth.waveform import make_waveform


def make_mixed_study(
    out_dir: Path, patient: Patient, *, ct_slices: int = 20, rows: int = 128, cols: int = 128
) -> list[Path]:
    """One study holding a CT series, an SR, a KO, a PR, a PDF, an ECG and an RT structure set."""
    out_dir = Path(out_dir)
    study_uid = generate_uid()
    ct = make_ct_study(
        out_dir, patient, slices=ct_slices, rows=rows, cols=cols, study_uid=study_uid
    )
    picks = sorted({ct[len(ct) // 4], ct[len(ct) // 2], ct[(3 * len(ct)) // 4]})
    return [
        *ct,
        make_basic_sr(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_key_object(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_presentation_state(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_encapsulated_pdf(out_dir, patient, study_uid=study_uid),
        make_waveform(out_dir, patient, study_uid=study_uid),
        make_rt_structure_set(out_dir, patient, study_uid=study_uid, referenced=ct),
    ]
