"""The command a server's container runs (hub/server_command.py): JupyterHub's single-user server, in the
project's own image, without the IRI parser jsonschema would build as it is imported; the same command in an
environment whose python3 has no JupyterHub runs `jupyterhub-singleuser` as before; and the server's process
keeps its name in what localhub tells a user."""

from __future__ import annotations

import os
import subprocess
import sys

import docker
import pytest

from localhub.hub.server_command import CODE, server_command
from localhub.server_watch import Process

IMAGE = "localhub/singleuser:test"
PARSER = "rfc3987_syntax.syntax_helpers"  # the module that builds the parser


def imports_in_image(command: list[str]) -> str:
    """The output and `-X importtime` report of `command` (a python3 command line) run in the project's image."""
    out = docker.from_env().containers.run(IMAGE, ["-X", "importtime", *command[1:]], entrypoint="python3",
                                           remove=True, stdout=True, stderr=True)
    return out.decode()


@pytest.mark.docker
def test_the_server_starts_without_building_an_iri_parser_and_the_plain_command_would():
    lean = imports_in_image([*server_command(), "--version"])
    assert "6." in lean.splitlines()[-1] and PARSER not in lean  # JupyterHub's version, no parser built
    plain = imports_in_image(["python3", "-m", "jupyterhub.singleuser", "--version"])
    assert PARSER in plain  # what every server paid before (1.1-1.9 s of its start)


@pytest.mark.unit
def test_a_python3_without_jupyterhub_runs_jupyterhub_singleuser_itself(tmp_path):
    fake = tmp_path / "jupyterhub-singleuser"
    fake.write_text("#!/bin/sh\necho \"ran with: $*\"\n")
    fake.chmod(0o755)
    bare = "/usr/bin/python3"  # the system's Python: no JupyterHub
    if not os.path.exists(bare) or subprocess.run([bare, "-c", "import jupyterhub"], capture_output=True).returncode == 0:
        pytest.skip("needs a python3 without JupyterHub")
    done = subprocess.run([bare, "-I", "-c", CODE, "--ServerApp.ip=0.0.0.0", "--debug"], capture_output=True,
                          text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ran with: --ServerApp.ip=0.0.0.0 --debug", done


@pytest.mark.unit
def test_the_servers_process_keeps_its_name_in_notices():
    ps_line = " ".join(server_command()[:2]) + " " + CODE.replace("\n", " ") + " --ServerApp.ip=0.0.0.0"
    assert Process(1, 80 * 2**20, ps_line).describe() == "jupyterhub-singleuser (pid 1, 80.0 MiB)"
    assert Process(7, 2**20, f"{sys.executable} -m ipykernel_launcher -f k.json").describe().startswith(
        "a notebook's kernel")

