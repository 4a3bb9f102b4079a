"""The media table (burner/media/kinds.py) is the one list of media, and the writer base owns the
protocol of a copy: adopt, write, read back, compare, release (DESIGN.md section 10)."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import pytest
from conftest import require_tool

from burner import config as config_module
from burner.config import DriveConfig, load_config
from burner.dicom.profiles import ALLOWED_SYNTAXES
from burner.errors import JobHeld, MediaMismatch, Reason
from burner.media import checksums
from burner.media.images import ImageFolderWriter
from burner.media.kinds import KINDS, auto_media, written_by
from burner.media.optical import OpticalWriter
from burner.media.usb import UsbWriter
from burner.media.writer import FAULT, NO_MEDIUM, READY
from burner.media.writers import no_writer, statuses, writer_for, writer_status

MEDIA = Path(__file__).resolve().parents[1] / "burner" / "media"


def test_every_list_of_media_is_the_table() -> None:
    schema = json.loads(resources.files("burner").joinpath("job.schema.json").read_text())
    assert schema["properties"]["media"]["properties"]["type"]["enum"] == ["auto", *KINDS]
    # a drive's media: every row but sending to another hospital, which no drive does
    assert tuple(k for k, row in KINDS.items() if row.writer not in ("network", "electronic")) \
        == config_module.MEDIA_TYPES
    assert auto_media() == ("cd", "dvd", "dvd-dl", "bd", "usb")
    assert written_by("images") == {"iso"}


def test_every_row_is_whole() -> None:
    for kind in KINDS.values():
        assert kind.profiles <= set(ALLOWED_SYNTAXES), kind.name
        assert kind.default_profile in kind.profiles, kind.name
        assert kind.writer in ("optical", "usb", "images", "network", "electronic"), kind.name
        assert kind.suffix == {"iso": ".iso", "fat32": ".img", "zip": ".zip",
                               "folder": ""}[kind.image], kind.name
    assert KINDS["iso"].profiles == set(ALLOWED_SYNTAXES), "an image folder takes any profile"
    assert {p for k in KINDS.values() if k.name != "iso" for p in k.profiles} == \
        set(ALLOWED_SYNTAXES), "every profile has a medium"
    assert (KINDS["cd"].volume_word, KINDS["usb"].volume_word) == ("disc", "USB stick")


def _module_imports(path: Path) -> set[str]:
    """The burner.media modules `path` imports when it is loaded (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return {n.removeprefix("burner.media.") for n in names if n.startswith("burner.media.")}


def test_no_import_cycles_among_the_media_modules() -> None:
    modules = {p.stem for p in MEDIA.glob("*.py")} - {"__init__"}
    graph = {m: _module_imports(MEDIA / f"{m}.py") & modules for m in modules}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, (*path, module))
        done.add(module)

    for module in sorted(modules):
        visit(module, ())
    assert "writers" not in graph["usb"] and "usb" not in graph["writer"]


def _station(tmp_path: Path, drives: str) -> object:
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f'[station]\nid = "t"\ndata_dir = {json.dumps(str(tmp_path))}\n' + drives)
    return load_config(cfg)


def test_the_writer_of_each_medium(tmp_path: Path) -> None:
    stick = tmp_path / "stick.img"
    stick.write_bytes(bytes(1024))
    config = _station(tmp_path, '[[drives]]\nname = "d0"\ndevice = "stdio:d0.img"\n'
                                'media = "dvd"\n'
                                f'[[drives]]\nname = "u0"\ndevice = {json.dumps(str(stick))}\n'
                                'media = "usb"\n')
    assert isinstance(writer_for(config, "dvd", "J"), OpticalWriter)
    assert isinstance(writer_for(config, "usb", "J"), UsbWriter)
    assert isinstance(writer_for(config, "iso", "J"), ImageFolderWriter)
    with pytest.raises(JobHeld) as held:
        writer_for(config, "bd", "J")
    assert held.value.code == Reason.NO_WRITER == no_writer("cd").code
    assert str(held.value).startswith("No writer for a BD is set up at this station.")


def test_each_writer_says_how_it_stands(tmp_path: Path) -> None:
    require_tool("xorriso")
    stick = tmp_path / "stick.img"
    stick.write_bytes(bytes(3_000_000))
    config = _station(tmp_path, '[[drives]]\nname = "robot"\ndevice = "stdio:drives/r.img"\n'
                                'media = "dvd"\nauto_load_blank = true\n'
                                '[[drives]]\nname = "tray"\ndevice = "stdio:t.img"\n'
                                'media = "cd"\n'
                                f'[[drives]]\nname = "u0"\ndevice = {json.dumps(str(stick))}\n'
                                'media = "usb"\n'
                                '[[drives]]\nname = "u1"\ndevice = "/dev/no-such-stick"\n'
                                'media = "usb"\n')
    (tmp_path / "drives").mkdir()
    (tmp_path / "t.img").write_bytes(bytes(range(256)) * 4000)   # a written disc left in it
    got = {s.name: s for s in statuses(config)}
    assert list(got) == ["robot", "tray", "u0", "u1", "images"]
    assert (got["robot"].state, got["robot"].media) == (READY, "dvd"), got["robot"]
    assert (got["tray"].state, got["tray"].ok) == (NO_MEDIUM, True), got["tray"]
    assert got["tray"].words.endswith(", written")
    assert (got["u0"].state, got["u0"].words) == (READY, "stand-in stick file of 3 MB")
    assert (got["u1"].state, got["u1"].ok) == (FAULT, False)
    assert got["images"].state == READY and got["images"].media == "iso"
    assert writer_status(config, config.drives[3]) == (False, "nothing at /dev/no-such-stick")


def _image(tmp_path: Path, size: int = 64 * 1024) -> tuple[Path, int, str]:
    image = tmp_path / "vol1.iso"
    image.write_bytes(bytes(range(256)) * (size // 256))
    return image, size, checksums.sha256_file(image)[0]


def test_a_copy_that_reads_back_as_the_image_is_adopted_not_written(tmp_path: Path,
                                                                    monkeypatch) -> None:
    image, size, digest = _image(tmp_path)
    writer = ImageFolderWriter(tmp_path / "images")
    first = writer.write_copy(image, size, digest, "disc1-copy1")
    assert Path(first).read_bytes() == image.read_bytes()

    def never(*_args: object) -> None:
        raise AssertionError("written again")

    monkeypatch.setattr(writer, "_write", never)
    calls = []
    assert writer.write_copy(image, size, digest, "disc1-copy1",
                             after_burn=lambda: calls.append(1)) == first
    assert calls == [1], "the copy is read back after adoption all the same"


def test_a_copy_that_reads_back_differently_is_refused(tmp_path: Path, monkeypatch) -> None:
    image, size, digest = _image(tmp_path)
    writer = ImageFolderWriter(tmp_path / "images")
    monkeypatch.setattr(writer, "_read_back", lambda target, size: "0" * 64)
    with pytest.raises(MediaMismatch, match="does not match the image"):
        writer.write_copy(image, size, digest, "disc1-copy1")


def test_a_robot_disc_in_the_tray_after_a_crash_counts_without_a_burn(tmp_path: Path) -> None:
    image, size, digest = _image(tmp_path)
    drive = DriveConfig("d0", f"stdio:{tmp_path / 'd0.img'}", "dvd", auto_load_blank=True)
    writer = OpticalWriter(drive, "xorriso-is-never-run", tmp_path / "tray")
    (tmp_path / "tray").mkdir()
    (tmp_path / "tray" / "disc1-copy1.iso").write_bytes(image.read_bytes())
    assert writer.write_copy(image, size, digest, "disc1-copy1") == \
        str(tmp_path / "tray" / "disc1-copy1.iso")
    assert not (tmp_path / "d0.img").exists()
