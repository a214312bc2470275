"""The command line's shape, without a hub: global options before the command, help on every option and
positional of the whole tree, and the decisions of `servers ls`, `builds ls`, `builds prune`, `logs` and
`config set|get|unset`. tests/integration/test_cli_surface.py proves the same commands against a real hub."""

from __future__ import annotations

import argparse

import json

import pytest

from localhub.cli import build_parser, main

pytestmark = pytest.mark.unit


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


# --- help everywhere ------------------------------------------------------------------------------------------

def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, action) of the tree, subcommands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                yield path + (name,), argparse.Action([], name, help=helps.get(name))
                yield from walk(child, path + (name,))
        else:
            yield path, action


def test_every_command_option_and_positional_has_help():
    missing = [f"{' '.join(path) or 'localhub'} {action.option_strings or action.dest}"
               for path, action in walk(build_parser()) if not action.help]
    assert missing == []


def test_every_command_but_the_terminal_ui_takes_json():
    lacking = []

    def leaves(p, path=()):
        sub = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not sub:
            yield path, p
        for s in sub:
            for name, child in s.choices.items():
                yield from leaves(child, path + (name,))

    for path, leaf in leaves(build_parser()):
        if path == ("tui",):
            continue
        if not any("--json" in a.option_strings for a in leaf._actions):
            lacking.append(" ".join(path))
    assert lacking == []


# --- JSON where a script reads, one sentence where it cannot be ----------------------------------------------

def test_up_in_the_foreground_has_no_json_and_says_so(isolated, capsys, monkeypatch):
    import localhub.daemon

    def foreground(settings):
        raise AssertionError("a hub would have started in the foreground")

    monkeypatch.setattr(localhub.daemon, "run_foreground", foreground)
    assert main(["--json", "up"]) == 1
    out, err = capsys.readouterr()
    assert "needs --detach" in json.loads(out)["error"] and "needs --detach" in err
    assert len(err.strip().splitlines()) == 1


def test_the_terminal_ui_has_no_json_and_says_so(isolated, capsys):
    assert main(["--json", "tui"]) == 1
    assert "no JSON form" in capsys.readouterr().err


def test_down_when_nothing_runs_is_json_too(isolated, capsys):
    import json

    assert main(["down", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stopped"] is False


class Environments:
    """A client stand-in with these environments (only what `builds` reads)."""

    def __init__(self, *images: tuple[str, str, str]):
        self.envs = [{"image": i, "spec": s, "resolved": r, "building": False} for i, s, r in images]

    def environments(self):
        return self.envs


@pytest.mark.parametrize("what, why", [
    ("", "No environment matches"),        # an empty prefix matched every environment: `builds rm '' --yes`
    ("ab", "No environment matches"),      # too short a prefix to name one
    ("abcd", "matches 2 environments"),    # several: never a guess
    ("x\x1b[2J", "No environment matches 'x\\x1b[2J'"),
])
def test_an_environment_is_named_exactly_or_refused(why, what):
    from localhub.cli.environments import _find_environment
    from localhub.errors import LocalhubError

    client = Environments(("r2d-one:1", "gh/org/one/HEAD", "abcd1111"), ("r2d-two:1", "gh/org/two/HEAD", "abcd2222"))
    with pytest.raises(LocalhubError) as refused:
        _find_environment(client, what)
    assert why in str(refused.value)
    assert _find_environment(client, "abcd2")["image"] == "r2d-two:1"
    assert _find_environment(client, "gh/org/one/HEAD")["image"] == "r2d-one:1"


def test_the_pool_commands_speak_json(isolated, capsys):
    import json

    def document(argv):
        assert main(argv) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    made = document(["pool", "init", "--json"])
    # joining needs an invitation on the LAN (tests/unit/test_pool_pairing.py, tests/lan); removing does not
    assert document(["--json", "pool", "remove", "f" * 16, "--interface", "127.0.0.1"]) == {
        "lab": made["lab"], "node": "f" * 16, "serial": 1, "already": False, "told": 0}
    shared = document(["pool", "share", "on", "--cpus", "1", "--json"])
    assert shared["enabled"] is True and shared["limits"]["cpus"] == 1 and "source" in shared["owner_input"]
    assert document(["pool", "share", "off", "--json"])["enabled"] is False
    assert document(["pool", "leave", "--json"]) == {"left": made["lab"], "hub_running": False}
    assert document(["class", "leave", "--json"]) == {"left": False}


# --- servers ls and builds ls: what the TUI shows, readable and whole ---------------------------------------

def test_servers_ls_shows_usage_idle_time_and_names_the_default_server(capsys):
    from datetime import datetime, timezone

    from localhub.cli.render import servers_table
    from localhub.client import Server

    now = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)
    servers_table([
        Server.from_api({"name": "", "status": "running", "cpu_percent": 12.345, "memory_used": 300 * 2**20,
                         "last_activity": "2026-12-01T17:53:00.000Z", "where": "local", "profile": "default",
                         "environment": "gh/org/repo/HEAD"}),
        Server.from_api({"name": "thesis", "status": "stopped", "cpu_percent": 0.0, "memory_used": 1,
                         "last_activity": "2026-11-30T10:00:00Z", "image": "localhub/singleuser:latest"}),
        Server.from_api({"name": "long-job", "status": "running", "cpu_percent": -0.1, "memory_used": 2**30,
                         "last_activity": "2026-11-29T15:00:00Z",
                         "environment": "git/https%3A%2F%2Fexample.org%2Fa-very%2Flong%2Frepository-name.git/main"}),
    ], now=now)
    header, default, stopped, old = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "STATUS", "CPU", "MEMORY", "IDLE", "WHERE", "PROFILE", "STORAGE", "ENVIRONMENT"]
    assert default.split()[:7] == ["(default)", "running", "12.3%", "300.0", "MiB", "7", "min"]
    # a stopped server is not idle and uses nothing: dashes, not "0 s" and "0.0%"
    assert stopped.split()[:5] == ["thesis", "stopped", "-", "-", "-"]
    assert "0.0%" in old and "2 d 3 h" in old
    assert old.endswith("git/https://example.org/a-very/long/repository-name.git/main")  # decoded, whole


def test_builds_ls_shows_each_source_decoded_and_whole(capsys):
    from localhub.cli.render import environments_table

    long = "git/https%3A%2F%2Fgitlab.example.org%2Fgroup%2Fsubgroup%2Fa-rather-long-project-name.git/feature-branch"
    environments_table([
        {"image": "r2d-a:1", "spec": long, "resolved": "0123456789abcdef", "size": 5 * 2**20,
         "built": "2026-12-01T17:00:00+00:00", "servers": ["(default)", "thesis"]},
        {"image": "r2d-b", "spec": "gh/org/next/HEAD", "building": True},
    ])
    header, built, building = capsys.readouterr().out.splitlines()
    assert header.split() == ["RESOLVED", "SIZE", "BUILT", "SERVERS", "SOURCE"]
    assert built.startswith("0123456789ab ") and "(default), thesis" in built
    assert built.endswith("git/https://gitlab.example.org/group/subgroup/a-rather-long-project-name.git/feature-branch")
    assert building.startswith("(building)") and building.endswith("gh/org/next/HEAD")


# --- builds prune ---------------------------------------------------------------------------------------------

class Pruner:
    """The daemon's prune as a client stand-in: what is unused, and what it did when asked."""

    def __init__(self, envs=(), dangling=(), kept=()):
        self.envs = [{"image": i, "source": f"gh/org/{i}/HEAD", "resolved": "abc", "size": 2**20} for i in envs]
        self.dangling = [{"image": f"sha256:{d}", "size": 2**10} for d in dangling]
        self.kept = list(kept)
        self.calls = []

    def prune_environments(self, dry_run=False):
        self.calls.append(dry_run)
        everything = [e["image"] for e in self.envs] + [d["image"] for d in self.dangling]
        return {"dry_run": dry_run, "environments": self.envs, "dangling": self.dangling,
                "freed": None if self.kept and not dry_run else 3 * 2**20,
                "removed": [] if dry_run else [i for i in everything if i not in [k["image"] for k in self.kept]],
                "kept": [] if dry_run else self.kept}


@pytest.fixture
def pruner(monkeypatch):
    from localhub.cli import environments

    def install(**kwargs):
        fake = Pruner(**kwargs)
        monkeypatch.setattr(environments, "client_from", lambda args: fake)
        return fake
    return install


def test_prune_without_yes_removes_nothing_and_says_how(pruner, capsys):
    fake = pruner(envs=["r2d-old"])
    assert main(["builds", "prune"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "add --yes to confirm, or --dry-run" in err and len(err.strip().splitlines()) == 1
    assert fake.calls == [True]  # only asked what it would do


def test_prune_dry_run_lists_what_would_go(pruner, capsys):
    fake = pruner(envs=["r2d-old"], dangling=["0123456789abcdef0123"])
    assert main(["builds", "prune", "--dry-run"]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert first == "Would remove 1 environment no server uses and 1 unnamed image of this hub, freeing 3.0 MiB:"
    assert "gh/org/r2d-old/HEAD  (r2d-old, 1.0 MiB)" in rest[0] and "sha256:0123456789ab" in rest[1]
    assert fake.calls == [True]


def test_prune_with_yes_reports_what_was_kept_and_why(pruner, capsys):
    fake = pruner(envs=["r2d-old", "r2d-busy"], kept=[{"image": "r2d-busy", "reason": "in use by a container"}])
    assert main(["builds", "prune", "--yes"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Removed 1 image:" and "r2d-old" in out[1] and out[-1] == "Kept r2d-busy: in use by a container"
    assert fake.calls == [False]


def test_prune_with_nothing_to_do_says_so_without_asking(pruner, capsys):
    pruner()
    assert main(["builds", "prune"]) == 0
    assert capsys.readouterr().out.startswith("Nothing to prune")


def test_prune_json_is_the_daemons_report(pruner, capsys):
    import json

    pruner(envs=["r2d-old"])
    assert main(["--json", "builds", "prune", "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == ["r2d-old"]


# --- logs -----------------------------------------------------------------------------------------------------

def test_logs_prints_the_last_lines_escaped(isolated, capsys):
    logs = isolated / "state" / "logs"
    logs.mkdir(parents=True)
    (logs / "hub.log").write_text("".join(f"[I line {i}]\n" for i in range(300)) + "GET /x\x1b[2J done\n")
    assert main(["logs", "-n", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["[I line 299]", "GET /x\\x1b[2J done"]
    assert main(["--json", "logs", "-n", "1"]) == 0
    assert capsys.readouterr().out.strip() == '{"log": "hub", "line": "GET /x\\u001b[2J done"}'
    assert main(["logs", "-n", "0"]) == 0 and capsys.readouterr().out == ""


def test_logs_without_a_log_or_with_a_bad_count_say_so(isolated, capsys):
    assert main(["logs", "--daemon"]) == 1
    assert "There is no daemon log in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["logs", "-n", "-3"])
    err = capsys.readouterr().err
    assert "'-3' is not a number of lines" in err or "expected one argument" in err


def test_following_a_log_crosses_its_rotation(tmp_path):
    from localhub.cli.hub import follow_lines, last_lines

    log = tmp_path / "hub.log"
    log.write_text("old 1\nold 2\n")
    lines, end = last_lines(log, 1)
    assert lines == ["old 2"]
    follow = follow_lines(log, end, every=0.01)
    with log.open("a") as f:
        f.write("new 3\n")
    assert next(follow) == "new 3"
    with log.open("a") as f:
        f.write("last words\n")  # written just before the rename: still shown
    log.rename(tmp_path / "hub.log.1")
    log.write_text("after 1\n")
    assert [next(follow), next(follow)] == ["last words", "after 1"]
    follow.close()


# --- config get | set | unset ---------------------------------------------------------------------------------

def config_run(capsys, *argv):
    code = main(["config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_config_set_get_unset_edit_the_file_and_keep_its_comments(isolated, capsys):
    path = isolated / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text("# my hub\nimage = \"localhub/singleuser:latest\"  # the lab's image\n")
    code, out, _ = config_run(capsys, "set", "idle_timeout", "3600")
    assert code == 0 and out.startswith(f"idle_timeout = 3600 in {path}. No hub runs for this state dir")
    assert path.read_text() == ("# my hub\nimage = \"localhub/singleuser:latest\"  # the lab's image\n"
                                "idle_timeout = 3600\n")
    assert config_run(capsys, "get", "idle_timeout")[1] == "3600\n"
    assert config_run(capsys, "--json", "get", "idle_timeout")[1].count('"from": "config file"') == 1
    code, out, _ = config_run(capsys, "unset", "idle_timeout")
    assert code == 0 and "it is 7200 now" in out and "idle_timeout" not in path.read_text()
    code, out, _ = config_run(capsys, "unset", "idle_timeout")
    assert code == 0 and "is not set" in out


@pytest.mark.parametrize("key, value, why", [
    ("idle_timout", "60", "'idle_timout' is not a setting; `localhub config` lists them all."),
    ("port", "80000", "Port 80000 is out of range"),
    ("port", "eighty", "'eighty' is not a valid port: it must be a whole number."),
    ("idle_timeout", "-5", "'-5' is not a valid idle_timeout: it must not be negative."),
    ("start_timeout", "0", "start_timeout must be at least 10 seconds (a server's container alone takes seconds"),
    ("pool_start_timeout", "9", "pool_start_timeout must be at least 10 seconds"),
    ("pool_start_load", "lots", "'lots' is not a valid pool_start_load: it must be a number."),
    ("pool_start_load", "nan", "'nan' is not a valid pool_start_load: it must be a number."),
    ("state_dir", "", "state_dir cannot be empty; `localhub config unset state_dir` brings back its default."),
    ("user", " ", "user cannot be empty"),
    ("labels", "x", "labels cannot be set with `localhub config set`; it is a table"),
    ("image", "evil\x1b[2J", "holds control characters"),
    ("x\x1b[2J", "1", "'x\\x1b[2J' is not a setting"),
])
def test_config_set_refuses_bad_keys_and_values_in_one_sentence(isolated, capsys, key, value, why):
    code, out, err = config_run(capsys, "set", key, value)
    assert code == 1 and out == "" and why in err and len(err.strip().splitlines()) == 1
    assert "\x1b" not in err and not (isolated / "config" / "config.toml").exists()


def test_config_set_says_a_running_hub_needs_a_restart(isolated, capsys, monkeypatch):
    from localhub.cli import config

    monkeypatch.setattr(config, "running_daemon", lambda state: {"settings": {"idle_timeout": 7200, "port": 8765}})
    assert "restart it to apply this one (`localhub restart`)" in config_run(capsys, "set", "idle_timeout", "60")[1]
    assert "already uses this value; no restart" in config_run(capsys, "set", "idle_timeout", "7200")[1]
    assert "`localhub down` then `localhub up`" in config_run(capsys, "set", "port", "9100")[1]
    monkeypatch.setenv("LOCALHUB_IDLE_TIMEOUT", "10")
    assert "LOCALHUB_IDLE_TIMEOUT is set in this environment" in config_run(capsys, "set", "idle_timeout", "60")[1]
