"""The plan stage: medium, profile, and whether the release fits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from conftest import make_job_folder
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit

from burner.build import build_job
from burner.config import load_config
from burner.dicom.headers import Instance
from burner.media import kinds
from burner.stages import plan
from burner.stages.plan import MB, choose_media, estimated_size, split


def image(syntax: str, size: int = 100_000) -> Instance:
    values = {"Rows": 512, "Columns": 512, "BitsAllocated": 16, "SamplesPerPixel": 1}
    return Instance(Path("x"), "x", "1.2.840.10008.5.1.4.1.1.2", "1.2.3", syntax, size,
                    True, "IMAGE", values)


def test_auto_takes_the_smallest_medium_that_holds_the_release() -> None:
    def size(n: int):
        return lambda media: n
    assert choose_media("auto", ["cd", "dvd"], size(100 * MB)) == "cd"
    assert choose_media("auto", ["cd", "dvd"], size(1_600 * MB)) == "dvd"
    assert choose_media("auto", ["cd", "dvd"], size(9_000 * MB)) == "dvd", "largest, then split"
    assert choose_media("auto", [], size(1)) == "iso"
    assert choose_media("bd", ["cd"], size(1)) == "bd"


def test_split_keeps_studies_whole_when_they_fit() -> None:
    sizes = [10] * 6
    studies = [[[0, 1]], [[2, 3]], [[4, 5]]]            # three studies of 20
    assert split(sizes, studies, 40) == [[0, 1, 2, 3], [4, 5]]


def test_split_by_series_when_a_study_is_too_big() -> None:
    sizes = [10] * 6
    studies = [[[0, 1, 2], [3, 4, 5]]]                  # one study of 60, two series of 30
    assert split(sizes, studies, 40) == [[0, 1, 2], [3, 4, 5]]


def test_split_inside_a_series_only_when_it_alone_exceeds_a_volume() -> None:
    sizes = [10] * 10
    studies = [[[0, 1], list(range(2, 10))]]            # series of 20 and of 80
    assert split(sizes, studies, 40) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_allowed_syntax_keeps_its_size() -> None:
    assert estimated_size(image(ExplicitVRLittleEndian), "STD-GEN-CD") == 100_000
    assert estimated_size(image(JPEGBaseline8Bit), "STD-GEN-DVD-JPEG") == 100_000


def test_compressed_input_on_cd_counts_its_decompressed_pixels() -> None:
    assert estimated_size(image(JPEG2000Lossless), "STD-GEN-CD") == 100_000 + 512 * 512 * 2


def _job(tmp_path: Path, media: dict) -> Path:
    job = tmp_path / "P1"
    manifest = make_job_folder(job)
    manifest["media"].update(media)
    (job / "job.json").write_text(json.dumps(manifest))
    return job


def test_a_file_larger_than_the_medium_is_held(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(kinds.KINDS, "cd",
                        replace(kinds.KINDS["cd"], capacity=plan.VOLUME_OVERHEAD + 1000))
    outcome = build_job(load_config(None), _job(tmp_path, {"type": "cd"}), tmp_path / "out")
    assert outcome.held and outcome.exit_code == 3
    assert "larger than a whole CD" in outcome.problems[0]
    assert outcome.volumes == []


def test_a_profile_that_does_not_fit_the_medium_is_rejected(tmp_path: Path) -> None:
    job = _job(tmp_path, {"type": "cd", "profile": "STD-GEN-DVD-J2K"})
    outcome = build_job(load_config(None), job, tmp_path / "out")
    assert outcome.exit_code == 2
    assert "cannot be written to a CD" in outcome.problems[0]


def test_a_writers_own_capacity_counts(tmp_path: Path) -> None:
    """A station with 650 MB CD-Rs splits at 650 MB; a stick stand-in counts with its size."""
    stick = tmp_path / "stick.img"
    with open(stick, "wb") as fp:
        fp.truncate(64 * MB)
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f'[station]\ndata_dir = {json.dumps(str(tmp_path))}\n'
                   '[[drives]]\nname = "cd74"\ndevice = "stdio:cd.img"\nmedia = "cd"\n'
                   'capacity_mb = 650\n'
                   f'[[drives]]\nname = "usb"\ndevice = {json.dumps(str(stick))}\n'
                   'media = "usb"\n')
    caps = plan.writer_capacities(load_config(cfg))
    assert caps == {"cd": 650 * MB, "usb": 62 * MB}
    assert choose_media("auto", ["cd", "usb"], lambda m: 100 * MB, caps) == "cd"
    assert choose_media("auto", ["cd", "usb"], lambda m: 700 * MB, caps) == "cd", \
        "nothing holds it whole: the medium with the most room, split"
