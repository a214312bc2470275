"""What `pip install .` installs: every module and data file of the source trees, under its installed name,
and every package the code imports declared as a dependency. An editable install finds files in the
checkout and hides both mistakes; only the wheel shows them."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import zipfile

import pytest

from tests.packaging.conftest import ROOT

pytestmark = pytest.mark.unit

# source tree -> installed package name (setup.py's TREES)
TREES = {"localhub": "localhub", "tui": "localhub_tui", "profiles": "localhub_profiles"}
DATA_SUFFIXES = {".py", ".tcss", ".html", ".svg", ".toml", ".json"}


def source_files():
    for tree, installed in TREES.items():
        for path in sorted((ROOT / tree).rglob("*")):
            if path.is_file() and path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
                yield path, f"{installed}/{path.relative_to(ROOT / tree).as_posix()}"


def test_the_wheel_holds_every_module_and_data_file(wheel_names):
    missing = [f"{path.relative_to(ROOT)} (as {name})" for path, name in source_files() if name not in wheel_names]
    assert not missing, "the wheel lacks: " + ", ".join(missing)


def test_the_wheel_holds_nothing_from_outside_the_source_trees(wheel_names):
    tops = {name.split("/", 1)[0] for name in wheel_names}
    assert tops <= {*TREES.values(), "localhub-0.1.0.dist-info"} | {t for t in tops if t.endswith(".dist-info")}


def _imported_top_levels() -> set[str]:
    names = set()
    for tree in TREES:
        for path in (ROOT / tree).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(TREES.values())


def _requirement_name(text: str) -> str:
    return re.split(r"[ ;<>=!~\[]", text, maxsplit=1)[0].lower().replace("_", "-")


def test_every_imported_package_is_a_declared_dependency(dists):
    metadata = zipfile.ZipFile(dists["wheel"]).read("localhub-0.1.0.dist-info/METADATA").decode()
    declared = {_requirement_name(line.split(":", 1)[1].strip()) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_top_levels()):
        dists_of = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists_of, f"'{module}' is imported but no installed distribution provides it"
        if not dists_of & declared:
            undeclared[module] = sorted(dists_of)
    assert not undeclared, f"imported but not declared in pyproject.toml's dependencies: {undeclared}"

