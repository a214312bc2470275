"""The command line as a script uses it, against a real hub: global options before the command (`localhub
--state-dir S status`), and `--json` on every command whose output a script reads (each output parses)."""

from __future__ import annotations

import json

import pytest

from tests.support.hubs import localhub

pytestmark = pytest.mark.docker


def bare_env(hub) -> dict:
    """The environment of a shell that names no hub: the state dir must come from the command line."""
    return {k: v for k, v in hub.env.items() if k != "LOCALHUB_STATE_DIR"}


def test_global_options_before_the_command_address_the_hub(hub, tmp_path):
    env = bare_env(hub)
    status = json.loads(localhub("--state-dir", str(hub.state_dir), "--json", "status", env=env).stdout)
    assert status["running"] is True and status["url"] == hub.url
    text = localhub("--state-dir", str(hub.state_dir), "status", env=env).stdout
    assert f"is running at {hub.url}" in text
    # after the command, as before; the closer one wins
    nowhere = localhub("--state-dir", str(hub.state_dir), "status", "--state-dir", str(tmp_path), "--json",
                       env=env, check=False)
    assert nowhere.returncode == 3 and json.loads(nowhere.stdout) == {"running": False, "state_dir": str(tmp_path)}
    listed = json.loads(localhub("--json", "--state-dir", str(hub.state_dir), "servers", "ls", env=env).stdout)
    assert isinstance(listed, list)
