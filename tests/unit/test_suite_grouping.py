"""The suite's own promise: tests that cannot share the machine (marker `lan`: machine-wide namespaces and engine
data roots) run on one xdist worker, one after another, however many workers `scripts/test.sh` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_lan_tests_run_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    lan: the simulated LAN\n")
    (tmp_path / "test_room.py").write_text(
        "import os, time, pytest\n"
        "pytestmark = pytest.mark.lan\n"
        "@pytest.mark.parametrize('desk', range(9))\n"
        "def test_desk(desk, tmp_path_factory):\n"
        "    time.sleep(0.05)\n"
        "    with open(os.environ['WORKERS_SEEN'], 'a') as seen:\n"
        "        seen.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n")
    seen = tmp_path / "workers"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "WORKERS_SEEN": str(seen), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers = seen.read_text().split()
    assert len(workers) == 9
    assert len(set(workers)) == 1, f"the LAN tests ran on {sorted(set(workers))}"
