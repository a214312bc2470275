"""The README's promises that code can check: the two set-up commands and the settings reference."""

from pathlib import Path

import pytest

from localhub.config import reference_markdown

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_settings_reference_matches_the_code():
    assert reference_markdown() in (ROOT / "README.md").read_text(), \
        "README's settings table drifted: paste reference_markdown() into it"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/install.sh" in readme and "scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
