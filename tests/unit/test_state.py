"""Process liveness as the daemon and the CLI judge it."""

import os
import subprocess
import time

import pytest

from localhub.lifecycle import pid_alive

pytestmark = pytest.mark.unit


def test_a_killed_but_unreaped_process_is_not_alive():
    proc = subprocess.Popen(["sleep", "30"])
    assert pid_alive(proc.pid)
    proc.kill()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until it is a zombie: dead, not yet reaped by its parent
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    os.kill(proc.pid, 0)  # signalling a zombie still succeeds…
    assert not pid_alive(proc.pid)  # …but it is not alive
    proc.wait()
    assert not pid_alive(proc.pid)
    assert not pid_alive(None)
