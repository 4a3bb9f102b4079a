"""Synthetic waveforms: a 12-lead resting ECG of a sinus rhythm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from burner.dicom.codes import code_item
from burner.synth.common import (
    OPERATOR,
    Patient,
    _base,
    _SeriesKind,
    _single_path,
    _study,
    _write,
)

TWELVE_LEAD_ECG = UID("1.2.840.10008.5.1.4.1.1.9.1.1")

_ECG_SERIES = _SeriesKind(TWELVE_LEAD_ECG, "ECG", 904, "RESTING ECG", -10)

# Lead, MDC code, and the lead's share of the two "heart vectors" (frontal, precordial).
_ECG_LEADS = (
    ("I", "2:1", (0.6, 0.0)),
    ("II", "2:2", (1.0, 0.0)),
    ("III", "2:61", (0.4, 0.0)),
    ("aVR", "2:62", (-0.8, 0.0)),
    ("aVL", "2:63", (0.1, 0.0)),
    ("aVF", "2:64", (0.7, 0.0)),
    ("V1", "2:3", (0.0, -0.6)),
    ("V2", "2:4", (0.0, 0.3)),
    ("V3", "2:5", (0.0, 0.7)),
    ("V4", "2:6", (0.0, 1.2)),
    ("V5", "2:7", (0.0, 1.1)),
    ("V6", "2:8", (0.0, 0.8)),
)


def _ecg_samples(rate: int, seconds: int) -> np.ndarray:
    """(samples, 12) int16 ECG in units of 2.5 uV: Gaussian P-QRS-T beats at 72 bpm."""
    t = np.arange(rate * seconds, dtype=np.float64) / rate
    phase = t % (60 / 72)

    def wave(centre: float, width: float, mv: float) -> np.ndarray:
        return mv * np.exp(-(((phase - centre) / width) ** 2))

    beat = (
        wave(0.16, 0.025, 0.15)
        + wave(0.30, 0.008, -0.1)
        + wave(0.32, 0.010, 1.0)
        + wave(0.34, 0.008, -0.25)
        + wave(0.55, 0.050, 0.3)
    )
    wander = 0.05 * np.sin(2 * np.pi * 0.3 * t)
    rng = np.random.default_rng(3)
    leads = [(a + b) * beat + wander + rng.normal(0, 0.01, t.size) for _, _, (a, b) in _ECG_LEADS]
    return np.round(np.stack(leads, axis=1) * 1000 / 2.5).astype(np.int16)


def make_waveform(out_dir: Path, patient: Patient, *, study_uid: str) -> Path:
    """A 12-lead ECG (10 s at 500 Hz) of a synthetic sinus rhythm."""
    study = _study(study_uid)
    ds = _base(patient, study, _ECG_SERIES)
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.OperatorsName = OPERATOR
    ds.AcquisitionContextSequence = []
    rate, seconds = 500, 10
    samples = _ecg_samples(rate, seconds)
    channels = []
    for number, (label, code, _) in enumerate(_ECG_LEADS, start=1):
        channel = Dataset()
        channel.WaveformChannelNumber = number
        channel.ChannelLabel = label
        channel.ChannelSourceSequence = [code_item(code, "MDC", f"Lead {label}")]
        channel.ChannelSensitivity = 2.5
        channel.ChannelSensitivityUnitsSequence = [code_item("uV", "UCUM", "microvolt")]
        channel.ChannelSensitivityCorrectionFactor = 1
        channel.ChannelBaseline = 0
        channel.ChannelSampleSkew = 0
        channel.WaveformBitsStored = 16
        channel.FilterLowFrequency = 0.05
        channel.FilterHighFrequency = 150
        channel.NotchFilterFrequency = 60
        channels.append(channel)
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(channels)
    group.NumberOfWaveformSamples = samples.shape[0]
    group.SamplingFrequency = rate
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = channels
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = samples.tobytes()
    ds.WaveformSequence = [group]
    return _write(ds, _single_path(out_dir, "ECG", ds))
