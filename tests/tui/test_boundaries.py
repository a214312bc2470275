"""The daemon stays headless and the TUI stays a client: `localhub/` never imports textual, and `tui/`
imports nothing from localhub but the client and its errors (DESIGN.md, STYLE.md habit 4)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"localhub.client", "localhub.errors"}

IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
import localhub
failed = {}
for module in pkgutil.walk_packages(localhub.__path__, "localhub."):
    if module.name.endswith("__main__"):
        continue  # runs the CLI
    try:
        importlib.import_module(module.name)
    except Exception as err:  # config files JupyterHub/repo2docker exec with `c` defined
        failed[module.name] = f"{err.__class__.__name__}: {err}"
print(json.dumps({"textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")),
                  "imported": sorted(m for m in sys.modules if m.startswith("localhub")),
                  "failed": failed}))
"""


def test_daemon_package_never_imports_textual():
    r = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(result["imported"]) > 10, result
    assert result["textual"] == [], f"localhub/ pulled in textual ({result['textual'][:5]}); failed imports: " \
                                    f"{result['failed']}"


def _localhub_imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "localhub" or alias.name.startswith("localhub."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "localhub":
                for alias in node.names:
                    yield node.lineno, f"localhub.{alias.name}"
            elif node.module.startswith("localhub."):
                yield node.lineno, node.module


def test_tui_imports_only_the_client_and_errors_from_localhub():
    files = sorted((ROOT / "tui").rglob("*.py"))
    assert files
    offending = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for path in files for line, name in _localhub_imports(path) if name not in ALLOWED]
    assert offending == []
    used = {name for path in files for _, name in _localhub_imports(path)}
    assert "localhub.client" in used  # the check sees the imports it is meant to police


def test_the_import_check_catches_a_deeper_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from localhub.config import Settings\nfrom localhub import daemon\nimport localhub.client\n")
    assert [name for _, name in _localhub_imports(bad)] == ["localhub.config", "localhub.daemon",
                                                              "localhub.client"]
