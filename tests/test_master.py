"""The final guard: a mastered image larger than its medium is never written (DESIGN.md 4a,
issue 8). master holds the job naming both sizes; the writers refuse too, before writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import StationDir, make_job_folder

from burner.config import DriveConfig, load_config
from burner.context import JobContext
from burner.errors import JobHeld, Reason
from burner.media import iso
from burner.media.images import ImageFolderWriter
from burner.media.kinds import KINDS, MB, check_image_fits, image_limit
from burner.media.optical import OpticalWriter
from burner.pipeline import STAGES, run_stage
from burner.spool import Spool
from burner.stages import write
from burner.state import StateDB
from burner.station import Station

CAPACITY_MB = 20    # a "DVD" of 20 MB: the small test job fits as planned


def small_dvd(station: StationDir, capacity_mb: int = CAPACITY_MB) -> None:
    """The station's drive takes DVDs of `capacity_mb` only (a writer's own capacity_mb)."""
    text = station.config.read_text()
    station.config.write_text(text.replace("auto_load_blank = true",
                                           f"auto_load_blank = true\ncapacity_mb = {capacity_mb}"))


def inflate_images(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Every ISO master makes comes out `size` bytes long: what was staged is larger than
    the plan's estimate (a file inflating when rewritten, a header that lied about sizes)."""
    real = iso.master

    def bigger(tree: Path, image: Path, volume_id: str, **kwargs: object) -> int:
        real(tree, image, volume_id, **kwargs)
        with open(image, "r+b") as fp:
            fp.truncate(size)
        return size

    monkeypatch.setattr(iso, "master", bigger)


def test_check_image_fits_names_both_sizes_in_mb() -> None:
    check_image_fits(737 * MB, 737 * MB, "cd", "disc 1 of 1")        # exactly full: fine
    with pytest.raises(JobHeld) as caught:
        check_image_fits(1_073_741_824 + 2048, KINDS["cd"].capacity, "cd", "disc 1 of 2")
    text = str(caught.value)
    assert text.startswith("The image for disc 1 of 2 is 1,074 MB, but a CD holds only 737 MB, "
                           "so it was not written.")
    assert "Choose a larger medium" in text and caught.value.exit_code == 3
    assert caught.value.code == Reason.TOO_BIG
    assert caught.value.details == ["disc 1 of 2: image 1,073,743,872 bytes (1,074 MB); the CD "
                                    "holds 737,280,000 bytes (737 MB)"]
    assert image_limit("usb", 62 * MB) == 64 * MB, "a stick image also holds its FAT"


def test_an_image_larger_than_planned_is_held_at_master(station: StationDir,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Staged content grew after planning: the job is held at master with both sizes, and
    nothing reaches the drive."""
    small_dvd(station)
    inflate_images(monkeypatch, (CAPACITY_MB + 5) * MB)
    station.add_job("M1")
    Station(load_config(station.config)).drain()
    assert station.where("M1") == ["held"]
    reason = (station.folder("held") / "M1" / "reason.txt").read_text()
    assert "The image for disc 1 of 1 is 25 MB, but a DVD holds only 20 MB, so it was not " \
           "written." in reason
    assert "disc 1 of 1: image 25,000,000 bytes (25 MB); the DVD holds 20,000,000 bytes " \
           "(20 MB)" in reason
    assert station.query("SELECT state, stage FROM jobs WHERE job_id='M1'") == \
        [("held", "master")]
    assert station.query("SELECT COUNT(*) FROM copies WHERE job_id='M1'") == [(0,)]
    assert not station.drive.exists(), "nothing was written to the drive file"
    assert not (station.media / "M1").exists() or not any((station.media / "M1").rglob("*"))


@pytest.mark.slow
def test_an_image_that_fits_goes_on(station: StationDir, monkeypatch: pytest.MonkeyPatch,
                                    ) -> None:
    small_dvd(station)
    inflate_images(monkeypatch, CAPACITY_MB * MB)       # exactly full
    station.add_job("M2")
    Station(load_config(station.config)).drain()
    assert station.where("M2") != ["held"], (station.folder("held") / "M2" / "reason.txt")


def _mastered(tmp_path: Path, config_path: Path) -> JobContext:
    """A job run in-process up to master (what `burner build` does, but for writing)."""
    job_dir = tmp_path / "jobs" / "W1"
    make_job_folder(job_dir)
    config = load_config(config_path)
    db = StateDB(Path(":memory:"))
    db.add_job("W1", "test")
    ctx = JobContext(config, Spool(config.spool_dir), db, "W1", job_dir, tmp_path / "work")
    for module in STAGES:
        if module.NAME == "write":
            break
        run_stage(ctx, module)
    return ctx


def test_the_write_stage_refuses_an_image_its_writer_cannot_hold(station: StationDir,
                                                                  tmp_path: Path) -> None:
    """Defence in depth: after master, the image file grew and the station's drive now takes
    smaller discs (its settings changed): held at write, the drive file untouched."""
    ctx = _mastered(tmp_path, station.config)
    (image,) = ctx.record.images
    with open(image.path, "r+b") as fp:
        fp.truncate(3 * MB)
    small_dvd(station, 2)
    ctx.config = load_config(station.config)
    with pytest.raises(JobHeld) as caught:
        run_stage(ctx, write)
    assert "is 3 MB, but a DVD holds only 2 MB" in str(caught.value)
    assert not station.drive.exists()
    assert ctx.db.copies("W1") == []


def test_writers_refuse_an_image_larger_than_their_medium(tmp_path: Path) -> None:
    image = tmp_path / "vol1.iso"
    with open(image, "wb") as fp:
        fp.truncate(3 * MB)
    drive = DriveConfig("cd0", f"stdio:{tmp_path / 'cd0.img'}", "cd", auto_load_blank=True,
                        capacity_mb=2)
    writer = OpticalWriter(drive, "xorriso-is-never-run", tmp_path / "tray")
    with pytest.raises(JobHeld, match="is 3 MB, but a CD holds only 2 MB"):
        writer.write_copy(image, 3 * MB, "0" * 64, "disc1-copy1")
    with pytest.raises(JobHeld, match="is 3 MB, but a CD holds only 2 MB"):   # the file counts
        writer.write_copy(image, 1 * MB, "0" * 64, "disc1-copy1")
    assert not (tmp_path / "cd0.img").exists() and not (tmp_path / "tray").exists()

    folder = ImageFolderWriter(tmp_path / "images")
    with open(image, "r+b") as fp:
        fp.truncate(KINDS["iso"].capacity + 2048)        # sparse: nothing is really written
    with pytest.raises(JobHeld, match="but a disc image holds only"):
        folder.write_copy(image, KINDS["iso"].capacity + 2048, "0" * 64, "disc1-copy1")
    assert not (tmp_path / "images").exists()


# --- plan: a medium no writer takes ----------------------------------------------------------


@pytest.mark.slow
def test_a_medium_no_writer_takes_is_held_at_plan_before_staging(station: StationDir,
                                                                  tmp_path: Path) -> None:
    job_dir = station.add_job("BD1")
    manifest = json.loads((job_dir / "job.json").read_text())
    manifest["media"]["type"] = "bd"
    (job_dir / "job.json").write_text(json.dumps(manifest))
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("BD1") == ["held"]
    reason = (station.folder("held") / "BD1" / "reason.txt").read_text()
    assert "No writer for a BD is set up at this station. Ask a technician to configure one, " \
           "or change media.type for this job and retry." in reason
    assert station.query("SELECT state, stage FROM jobs WHERE job_id='BD1'") == \
        [("held", "plan")]
    work = station.data_dir / "work" / "BD1"
    assert not (work / "stage").exists() and not (work / "master").exists(), \
        "no patient data was staged"
    assert not station.drive.exists() and not (station.data_dir / "images").exists()

    # burner build writes nothing, so it needs no writer: the same job builds a BD image.
    proc = station.cli("build", str(station.folder("held") / "BD1"), "--out",
                       str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [v["media"] for v in json.loads(proc.stdout)["volumes"]] == ["bd"]
