"""The command line's decisions without a hub (the cli/ package and client.py): what each command refuses, says
and asks for, against fakes (daemon_fakes.py) — the engine suite proves the same commands against a real hub."""

from __future__ import annotations

import json
import sys

import pytest

from localhub import lifecycle
from localhub.cli import hub as hub_commands
from localhub.cli import main
from localhub.errors import LocalhubError
from tests.unit.daemon_fakes import fake_client
from tests.unit.fakehub import FakeHub

pytestmark = pytest.mark.unit


def run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [["servers", "new", ""], ["servers", "stop", " "], ["servers", "delete", "", "--yes"],
                                  ["servers", "logs", ""]])
def test_an_empty_server_name_is_refused_before_anything_is_asked(isolated, capsys, argv):
    code, out, err = run(argv, capsys)
    assert code == 1 and out == "" and err.startswith("localhub: This command needs a name")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["servers", "new", "x", "--profile", ""], ["servers", "start", "x", "--profile", " "],
                                  ["launch", "gh/org/repo/HEAD", "--profile", ""]])
def test_an_empty_profile_is_refused_not_taken_for_the_default(isolated, capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "a profile's name cannot be empty" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["servers", "logs", "x", "--tail", "abc"], ["nonsense\x1b[2J"], ["servers"],
                                  ["up", "--port", "many"]])
def test_usage_errors_are_one_escaped_line(isolated, capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("localhub: ") and len(err.strip().splitlines()) == 1
    assert "\x1b" not in err and "--help" in err


def test_up_when_a_hub_runs_says_so(isolated, capsys, monkeypatch):
    monkeypatch.setattr(lifecycle, "running_daemon", lambda state: {"url": "http://127.0.0.1:1", "daemon_pid": 42})
    code, out, _ = run(["up"], capsys)
    assert code == 0 and "already running at http://127.0.0.1:1 (pid 42)" in out


def test_down_and_status_when_nothing_runs(isolated, capsys):
    code, out, _ = run(["down"], capsys)
    assert code == 0 and "is not running" in out
    code, out, _ = run(["status", "--json"], capsys)
    assert code == 3 and json.loads(out)["running"] is False


def test_restart_keeps_the_port_and_address_the_hub_had(isolated, capsys, monkeypatch):
    from localhub.state import StateDir

    state = StateDir(isolated / "state")
    state.prepare()
    state.write_runtime({"settings": {"port": 9100, "ip": "127.0.0.1"}})
    calls = []
    monkeypatch.setattr(hub_commands, "stop_hub", lambda args: calls.append(("down", args.keep_servers)))
    monkeypatch.setattr(hub_commands, "cmd_up", lambda args: calls.append(("up", args.port, args.ip, args.detach)) or 0)
    assert main(["restart"]) == 0
    assert calls == [("down", True), ("up", 9100, "127.0.0.1", True)]


def test_restart_refuses_before_stopping_a_hub_whose_database_is_gone(isolated, capsys, monkeypatch):
    """A stranger deleted jupyterhub.sqlite under a running hub: restart stopped it, then refused to start."""
    from localhub.state import StateDir

    state = StateDir(isolated / "state")
    state.prepare()
    state.write_runtime({"settings": {"port": 9100, "ip": "127.0.0.1"}})
    monkeypatch.setattr(lifecycle, "running_daemon", lambda st: {"settings": {"port": 9100}})
    monkeypatch.setattr(hub_commands, "stop_hub", lambda args: pytest.fail("the hub was stopped"))
    code, out, err = run(["restart"], capsys)
    assert code == 1 and "is missing, so a restart would not start again" in err
    assert "`localhub down`, then `localhub recover`" in err


def test_recover_sets_a_damaged_database_aside_then_starts_and_adopts(isolated, capsys, monkeypatch):
    from localhub.recovery import database_problem
    from localhub.state import StateDir

    state = StateDir(isolated / "state")
    state.prepare()
    state.database.write_bytes(b"")
    started = []
    monkeypatch.setattr(lifecycle, "start_detached", lambda settings, st: started.append(st.root))

    class Recovering:
        def __init__(self, state_dir):
            pass

        def recover(self):
            return {"adopted": [{"server": "thesis"}, {"server": "climate", "spec": "gh/o/c/HEAD"}],
                    "refused": [{"server": "extra", "reason": "the maximum of 5 named servers"}]}

    monkeypatch.setattr(hub_commands, "Client", Recovering)
    code, out, err = run(["recover"], capsys)
    assert code == 1  # one server could not come back: said, and not a success
    assert len(list(state.root.glob("jupyterhub.sqlite.damaged-*"))) == 1
    assert database_problem(state.database) is None  # a new one to start on (a missing one is refused)
    assert started == [state.root]
    assert "is empty; it is kept as" in out and "Server 'thesis' is back" in out
    assert "(environment gh/o/c/HEAD)" in out and "'extra' could not be brought back" in err


def test_recover_where_no_hub_ever_ran_starts_nothing(isolated, capsys, monkeypatch):
    """Before: a mistyped --state-dir started a new hub on the default port and said 'nothing to bring back'."""
    started = []
    monkeypatch.setattr(lifecycle, "start_detached", lambda settings, st: started.append(st.root))
    code, _, err = run(["recover", "--state-dir", str(isolated / "typo")], capsys)
    assert code == 1 and started == [] and not (isolated / "typo").exists()
    assert "No hub has run with the state directory" in err and "--state-dir" in err


# --- the client ---------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_hub() -> FakeHub:
    return FakeHub("me")


@pytest.mark.parametrize("name, fragment", [("../x", "not allowed"), ("a" * 21, "at most 20 characters"),
                                            ("\x1b[31m", "'\\x1b[31m'"), ("", "not allowed")])
def test_a_new_server_name_is_checked_before_the_hub_is_asked(fake_hub, tmp_path, name, fragment):
    client = fake_client(fake_hub, tmp_path)
    with pytest.raises(LocalhubError, match=fragment.replace("[", r"\[").replace("\\x", r"\\x")):
        list(client.create_server(name))
    assert not [r for r in fake_hub.requests if r[0] in ("POST", "PUT")]


def test_a_new_server_with_a_taken_name_is_refused(fake_hub, tmp_path):
    fake_hub.add("thesis")
    with pytest.raises(LocalhubError, match="exists already; start it with `localhub servers start thesis`"):
        list(fake_client(fake_hub, tmp_path).create_server("thesis"))


def test_a_new_server_past_the_limit_says_what_to_do(fake_hub, tmp_path):
    for i in range(fake_hub.limit):
        fake_hub.add(f"s{i}")
    with pytest.raises(LocalhubError) as refused:
        list(fake_client(fake_hub, tmp_path).create_server("one-more"))
    assert "maximum of" in str(refused.value) and "`localhub servers delete NAME`" in str(refused.value)
    assert "`localhub config set max_named_servers N`" in str(refused.value)


def test_start_with_another_profile_keeps_the_other_options(fake_hub, tmp_path):
    fake_hub.add("climate", spec="gh/o/c/HEAD", image="localhub-env/c:1", profile="default")
    list(fake_client(fake_hub, tmp_path).start_server("climate", profile="large"))
    assert fake_hub.servers["climate"].user_options == {"spec": "gh/o/c/HEAD", "image": "localhub-env/c:1",
                                                   "profile": "large"}


def test_a_running_server_is_not_silently_kept_on_its_old_profile(fake_hub, tmp_path):
    fake_hub.add("climate", ready=True, profile="default")
    with pytest.raises(LocalhubError, match="stop it first"):
        list(fake_client(fake_hub, tmp_path).start_server("climate", profile="large"))


def test_the_default_server_is_addressed_by_its_own_path_and_never_deleted(fake_hub, tmp_path):
    client = fake_client(fake_hub, tmp_path)
    assert client._server_path("") == "/hub/api/users/me/server"
    assert client._server_path("a/b") == "/hub/api/users/me/servers/a%2Fb"
    with pytest.raises(LocalhubError, match="default server cannot be deleted"):
        client.delete_server("")


def test_an_unknown_server_is_named_escaped(fake_hub, tmp_path):
    with pytest.raises(LocalhubError, match=r"There is no server '\\x1b\[2J'"):
        fake_client(fake_hub, tmp_path).server("\x1b[2J")


def test_a_failure_with_json_is_json_on_stdout_and_one_sentence_on_stderr(isolated, capsys):
    code, out, err = run(["servers", "ls", "--json"], capsys)
    assert code == 1 and err.startswith("localhub: No localhub is running")
    assert json.loads(out) == {"error": err.strip().removeprefix("localhub: "), "exit_code": 1}


@pytest.mark.parametrize("argv", [["--json", "servers", "new", "b", "--profile", ""], ["--json", "nosuchcmd"],
                                  ["servers", "new", "--json"], ["--json", "up", "--port", "many"]])
def test_a_usage_error_with_json_is_json_on_stdout_too(isolated, capsys, monkeypatch, argv):
    monkeypatch.setattr(sys, "argv", ["localhub", *argv])
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and json.loads(out)["error"] == err.strip().removeprefix("localhub: ")
