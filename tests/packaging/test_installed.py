"""localhub as a user installs it: the wheel (not editable) in a fresh virtualenv, with no checkout on the
path. Its unit layer passes against that install, and `localhub up` → `servers new` → `down` works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT
from tests.support.hubs import Hub, free_port_block

pytestmark = [pytest.mark.package, pytest.mark.docker]


@pytest.fixture(scope="module")
def installed(dists, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its test extras installed; returns the venv."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{dists['wheel']}[test]"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def test_the_installed_package_comes_from_the_wheel(installed, tmp_path):
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import localhub, localhub_tui, localhub_profiles, localhub.binder.providers; "
                            "print(localhub.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(installed)), where.stdout


def test_the_unit_layer_passes_against_the_installed_wheel(installed, tmp_path):
    # the checkout without localhub/, so that only the installed package can be imported (tui/ and profiles/
    # stay as files some tests read: under those names they cannot shadow localhub_tui or localhub_profiles)
    copy = tmp_path / "checkout-without-localhub"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", ".git", ".venv", "packaging", "build",
                                                                "dist", "*.egg-info"))
    shutil.rmtree(copy / "localhub")
    done = subprocess.run([str(installed / "bin" / "python"), "-m", "pytest", "-q", "-m", "unit", "-p",
                           "no:cacheprovider", "-x"], cwd=copy, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_up_new_server_down_with_the_installed_command(installed, tmp_path):
    hub = Hub("wheel", tmp_path, free_port_block(start=23000))
    hub.write_config()
    env = {**hub.env, "PATH": f"{installed / 'bin'}:{os.environ['PATH']}"}

    def localhub(*args):
        done = subprocess.run([str(installed / "bin" / "localhub"), *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"localhub {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    try:
        assert "sign in:" in localhub("up", "--detach", "--port", str(hub.port))
        ready = json.loads(localhub("servers", "new", "smoke", "--json").splitlines()[-1])
        assert ready["ready"] and ready["url"].endswith("/smoke/")
        listed = json.loads(localhub("servers", "ls", "--json"))
        assert [(s["name"], s["status"]) for s in listed] == [("smoke", "running")]
        assert "stopped" in localhub("down")
    finally:
        subprocess.run([str(installed / "bin" / "localhub"), "down"], env=env, capture_output=True, timeout=120)
        hub.remove_docker_objects()
