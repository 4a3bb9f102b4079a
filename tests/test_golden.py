"""Golden disc trees: what `burner build` puts on a medium, compared with committed fixtures.

The fixtures in tests/golden/<case>.json were generated at commit cf454c3, before issue 10 (the
refactor that must leave behaviour unchanged), by tests/golden/make_golden.py, which builds
every case twice and refuses to write a fixture the two builds disagree on. Each case here is
built again from the same deterministic synthetic input with the current code; its output
folder (staged volume trees, disc or USB images, cover sheet, labels, inserts), normalised as
make_golden.py's docstring describes (dates, times and UIDs burner makes are masked), must
equal the fixture. On a mismatch the test names missing and extra paths and shows a unified
diff of the normalised content, file by file.

An intended change of disc content is made by regenerating the fixtures
(`.venv/bin/python tests/golden/make_golden.py`) in the same commit; the commit's diff of
tests/golden/*.json then shows exactly what changed on the medium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool
from golden import make_golden


@pytest.mark.parametrize("name", sorted(make_golden.CASES))
def test_disc_matches_golden(name: str, tmp_path: Path) -> None:
    for tool in ("pdftotext", "pdftoppm", "zbarimg", "mlabel", "mcopy", "mdir"):
        require_tool(tool)
    fixture = make_golden.fixture_path(name)
    assert fixture.is_file(), f"no fixture {fixture}: run tests/golden/make_golden.py"
    expected = make_golden.load_fixture(name)
    actual, _ = make_golden.normalised_build(make_golden.CASES[name], tmp_path)
    diff = make_golden.differences(expected, actual)
    if diff:
        pytest.fail(f"case {name}: the built medium differs from {fixture.name} "
                    "(regenerate with tests/golden/make_golden.py only if the change is "
                    f"intended):\n{diff}", pytrace=False)
