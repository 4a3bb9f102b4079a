"""Electronic copies through a real station: an AES-256 encrypted ZIP in the portal folder,
opened with Debian's 7z using the passphrase read off the cover sheet PDF (pdftotext); the tree
inside passes dciodvfy and dcmmkdir; a wrong passphrase fails; the passphrase is in no log,
database row or file but the cover sheet. A plain folder copy likewise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import StationDir, new_station, output_of, require_tool, run_tool
from disc_checks import check_disc, job_result

from burner.media.passphrase import confirms

pytestmark = pytest.mark.slow


def electronic_job(station: StationDir, job_id: str, media: str) -> None:
    job = station.add_job(job_id, where="incoming", slices=3)
    manifest = json.loads((job / "job.json").read_text())
    manifest["media"] = {"type": media, "copies": 1}
    (job / "job.json").write_text(json.dumps(manifest))
    (station.folder("approved")).mkdir(exist_ok=True)
    job.rename(station.folder("approved") / job_id)


def cover_text(station: StationDir, job_id: str) -> str:
    covers = list(station.data_dir.rglob(f"*{job_id}*/cover.pdf")) + \
        list((station.spool / "done" / job_id).rglob("cover.pdf"))
    assert covers, "no cover sheet"
    proc = run_tool([require_tool("pdftotext"), "-layout", str(covers[0]), "-"])
    assert proc.returncode == 0, output_of(proc)
    return proc.stdout


def test_encrypted_zip_opens_with_the_cover_sheets_passphrase_only(tmp_path: Path) -> None:
    seven = require_tool("7z")
    station = new_station(tmp_path / "station")
    electronic_job(station, "Z1", "zip")
    run = station.cli("-v", "run", "--once")
    assert station.where("Z1") == ["done"], run.stderr
    portal = station.data_dir / "portal" / "Z1"
    archive = portal / "Z1-1of1.zip"
    assert archive.is_file()
    line = (portal / "Z1-1of1.zip.sha256").read_text()
    import hashlib

    assert line.split()[0] == hashlib.sha256(archive.read_bytes()).hexdigest()
    text = cover_text(station, "Z1")
    phrase = re.search(r"Password: ([A-Z0-9]{5}(?:-[A-Z0-9]{5}){4})", text).group(1)

    wrong = run_tool([seven, "x", "-y", "-pWRONG-PASSWORD", f"-o{tmp_path / 'wrong'}",
                      str(archive)])
    assert wrong.returncode != 0
    assert not any(p.is_file() and p.stat().st_size for p in (tmp_path / "wrong").rglob("*")
                   if p.name == "DICOMDIR")
    opened = run_tool([seven, "x", "-y", f"-p{phrase}", f"-o{tmp_path / 'open'}",
                       str(archive)])
    assert opened.returncode == 0, output_of(opened)
    tree = tmp_path / "open"
    assert {"DICOMDIR", "README.TXT", "INDEX.HTM", "DICOM"} <= {p.name for p in tree.iterdir()}
    assert "locked with a" in (tree / "README.TXT").read_text()
    (tmp_path / "mkdir").mkdir()
    check_disc(tree, job_result(station.spool, "Z1")["profile"], tmp_path / "mkdir")

    # The passphrase is in no file of the station but the cover sheet (its PDF compresses
    # the text, so not even there as plain bytes), nor in what the station printed.
    needle = phrase.encode()
    for path in [*station.data_dir.rglob("*"), *tmp_path.glob("*.log")]:
        if path.is_file() and path.suffix != ".pdf":
            assert needle not in path.read_bytes(), path
    assert phrase not in run.stdout + run.stderr
    # A slow hash of it is kept, to confirm it on the phone.
    check = job_result(station.spool, "Z1")["volumes"][0]["passphrase_check"]
    assert confirms(check, phrase.lower().replace("-", " "))
    assert not confirms(check, "K7QMX-3XPDA-AAAAA-BBBBB-CCCCC")


def test_a_folder_copy_is_the_plain_tree(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station")
    electronic_job(station, "F1", "folder")
    run = station.cli("run", "--once")
    assert station.where("F1") == ["done"], run.stderr
    tree = station.data_dir / "portal" / "F1" / "F1-1of1"
    assert (tree / "DICOMDIR").is_file()
    assert "as a folder" in (tree / "README.TXT").read_text()
    (tmp_path / "mkdir").mkdir()
    check_disc(tree, job_result(station.spool, "F1")["profile"], tmp_path / "mkdir")
    assert "Password" not in cover_text(station, "F1")
