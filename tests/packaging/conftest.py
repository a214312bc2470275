"""The sdist and the wheel built from it, once per session: what `pip install .` gives a user."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Path]:
    """Build the sdist from (a copy of) the checkout, then the wheel from the sdist, as pip does for
    `pip install .`. The copy keeps build files out of the checkout and parallel workers apart."""
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "localhub"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist",
                                                                 "*.egg-info", ".pytest_cache"))
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--outdir", str(out), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sdist = next(out.glob("*.tar.gz"))
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out), str(sdist)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"sdist": sdist, "wheel": next(out.glob("*.whl"))}


@pytest.fixture(scope="session")
def wheel_names(dists) -> set[str]:
    return set(zipfile.ZipFile(dists["wheel"]).namelist())
