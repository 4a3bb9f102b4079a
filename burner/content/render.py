"""Render the human-readable files of a volume from the Jinja2 templates in templates/."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    env = os.environ.get("BURNER_TEMPLATES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, **context: object) -> str:
    """Render templates/<name>.j2; HTML-like files are autoescaped."""
    autoescape = name.endswith((".HTM", ".html", ".xhtml"))
    return _env(autoescape).get_template(name + ".j2").render(**context)


def write_text(path: Path, text: str, crlf: bool = False) -> None:
    """Write `text` as UTF-8 (CRLF line ends for plain-text files opened on Windows)."""
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    path.write_bytes(text.encode("utf-8"))
