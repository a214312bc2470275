"""The command line's shape, without a hub: global options before the command, help on every option and
positional of the whole tree, and the decisions of `servers ls`, `builds ls`, `builds prune`, `logs` and
`config set|get|unset`. tests/integration/test_cli_surface.py proves the same commands against a real hub."""

from __future__ import annotations

import argparse

import pytest

from localhub.cli import build_parser, main

pytestmark = pytest.mark.unit


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALHUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOCALHUB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


# --- global options -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, state_dir, as_json", [
    (["--state-dir", "/s", "status"], "/s", False),
    (["status", "--state-dir", "/s"], "/s", False),
    (["--state-dir", "/a", "status", "--state-dir", "/b"], "/b", False),  # the closer one wins
    (["--json", "status"], None, True),
    (["status", "--json"], None, True),
    (["--json", "--state-dir", "/s", "servers", "ls"], "/s", True),
    (["--state-dir", "/s", "builds", "ls"], "/s", False),
    (["--state-dir", "/s", "spec", "gh/org/repo/HEAD"], "/s", False),
    (["spec", "--state-dir", "/s", "gh/org/repo/HEAD"], "/s", False),
    (["--state-dir", "/s", "pool", "status"], "/s", False),
])
def test_global_options_go_before_or_after_the_command(argv, state_dir, as_json):
    args = build_parser().parse_args(argv)
    assert args.state_dir == state_dir and args.json is as_json


def test_the_state_dir_before_the_command_addresses_that_hub(isolated, capsys):
    other = isolated / "other"
    assert main(["--json", "--state-dir", str(other), "status"]) == 3
    assert f'"state_dir": "{other}"' in capsys.readouterr().out
