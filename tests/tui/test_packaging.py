"""The TUI must install as the `localhub_tui` package with its subpackages and its stylesheet: an editable
install finds them from the source tree, a wheel only ships what pyproject.toml lists."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_ships_every_tui_package_and_its_stylesheet():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(config["packages"])
    wanted = {"localhub_tui" + ("." + ".".join(p.parent.relative_to(ROOT / "tui").parts)
                                if p.parent != ROOT / "tui" else "")
              for p in (ROOT / "tui").rglob("__init__.py")}
    assert wanted <= packages, f"missing from [tool.setuptools] packages: {sorted(wanted - packages)}"
    globs = config.get("package-data", {}).get("localhub_tui", [])
    for sheet in (ROOT / "tui").rglob("*.tcss"):
        relative = sheet.relative_to(ROOT / "tui").as_posix()
        assert any(fnmatch(relative, g) for g in globs), f"{relative} is not in package-data for localhub_tui"
