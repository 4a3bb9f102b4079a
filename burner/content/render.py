"""Render the human-readable files of a volume from the Jinja2 templates in templates/."""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    """The folder of the templates: $BURNER_TEMPLATES if set, else the package burner.templates.

    The source tree keeps them in the top-level templates/, which pyproject.toml installs as
    burner.templates, so this is that folder in an editable install (`pip install -e`) and the
    installed copy in site-packages after a plain `pip install` of the wheel."""
    env = os.environ.get("BURNER_TEMPLATES")
    if env:
        return Path(env)
    found = resources.files("burner.templates")
    # Jinja's FileSystemLoader and the viewer's copy need a real folder, not a zip member.
    if not isinstance(found, Path) or not found.is_dir():
        raise RuntimeError(f"burner's templates are not a folder on disk: {found}; "
                           "install burner from its wheel or source (pip install), not a zip")
    return found


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
