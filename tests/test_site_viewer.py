"""A site's own viewer on the disc ([media] site_viewer): its own top-level folder with its
long names in a Joliet tree (isoinfo -J), DICOM/ and the IHE PDI files still level-1 names,
nothing autoruns, README.TXT and INDEX.HTM say what it is, the DICOMDIR references nothing in
it (dciodvfy, dcmmkdir), the plan counts it, and the disc verifies."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import new_station, output_of, quiet_read, require_tool, run_tool
from disc_checks import check_disc, job_result, unpack
from pydicom.uid import ExplicitVRLittleEndian
from test_plan import image

from burner.config import load_config
from burner.content.siteviewer import site_viewer
from burner.errors import ConfigError
from burner.stages.plan import MB, make_plan


def weasis(root: Path) -> Path:
    folder = root / "Weasis Portable"
    (folder / "conf").mkdir(parents=True)
    (folder / "weasis-launcher.jar").write_bytes(b"PK\3\4 a jar" * 1000)
    (folder / "viewer-win64.exe").write_bytes(b"MZ" + b"\0" * 5000)
    (folder / "viewer-linux.sh").write_bytes(b"#!/bin/sh\n")
    (folder / "conf" / "ext-config.properties").write_text("a=b\n")
    (folder / "AutoRun.inf").write_text("[autorun]\nopen=viewer-win64.exe\n")
    return folder


def listing(image_path: Path, *flags: str) -> list[str]:
    proc = run_tool([require_tool("isoinfo"), *flags, "-f", "-i", str(image_path)])
    assert proc.returncode == 0, output_of(proc)
    return proc.stdout.splitlines()


@pytest.mark.slow
def test_a_site_viewer_goes_on_the_disc_beside_the_standard_content(tmp_path: Path) -> None:
    folder = weasis(tmp_path)
    station = new_station(tmp_path / "station",
                          extra_toml=f"[media]\nsite_viewer = {json.dumps(str(folder))}\n")
    station.add_job("SV1")
    run = station.cli("run", "--once")
    assert station.where("SV1") == ["done"], run.stderr     # verified against SHA256.TXT
    medium = Path(job_result(station.spool, "SV1")["copies"][0]["medium"])
    joliet = listing(medium, "-J")
    assert "/Weasis Portable/weasis-launcher.jar" in joliet
    assert "/Weasis Portable/conf/ext-config.properties" in joliet
    level1 = listing(medium)
    assert any(n.startswith("/WEASIS_P/WEASIS_L.JAR") for n in level1), level1
    for name in level1:       # the standard content keeps its level-1 names
        if name.startswith(("/DICOM", "/IHE_PDI", "/VIEWER")):
            leaf = name.rsplit("/", 1)[1].split(";")[0]
            assert leaf == leaf.upper() and len(leaf.split(".")[0]) <= 8, name
    assert not any("autorun" in n.lower() for n in joliet + level1)
    tree = unpack(medium, tmp_path / "disc")
    (tmp_path / "mkdir").mkdir()
    check_disc(tree, job_result(station.spool, "SV1")["profile"], tmp_path / "mkdir")
    dicomdir = quiet_read(tree / "DICOMDIR")
    ids = ["/".join(r.ReferencedFileID) for r in dicomdir.DirectoryRecordSequence
           if "ReferencedFileID" in r]
    assert ids and all(i.startswith("DICOM/") for i in ids)
    readme = next(p for p in tree.iterdir() if p.name.upper().startswith("README.TXT"))
    assert "Weasis Portable" in readme.read_text(errors="replace")
    index = next(p for p in tree.iterdir() if p.name.upper().startswith("INDEX.HTM"))
    assert "never starts by itself" in index.read_text(errors="replace")


def test_the_plan_counts_the_site_viewer_on_every_volume() -> None:
    instances = [replace(image(ExplicitVRLittleEndian, 60 * MB), sop_instance=f"1.2.{n}")
                 for n in range(10)]
    alone = make_plan(instances, "cd", "auto", ["cd"], web=False)
    assert len(alone.volumes) == 1
    beside = make_plan(instances, "cd", "auto", ["cd"], web=False, reserved=200 * MB)
    assert len(beside.volumes) == 2
    assert all(size >= 200 * MB for size in beside.estimated_bytes)
    assert beside.image_limit == alone.image_limit       # the disc is no smaller


@pytest.mark.parametrize("name, words", [("DICOM", "names"), ("../x", "not a folder")])
def test_a_bad_site_viewer_folder_is_named(tmp_path: Path, name: str, words: str) -> None:
    (tmp_path / "DICOM").mkdir()
    config_file = tmp_path / "burner.toml"
    config_file.write_text(f'[station]\ndata_dir = "{tmp_path}"\n'
                           f'[media]\nsite_viewer = "{tmp_path / name}"\n')
    with pytest.raises(ConfigError, match=words):
        site_viewer(load_config(config_file))
