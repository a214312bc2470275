"""The bad-input matrix of the CLI and the daemon's API (issue 10 items 14 and 15): whatever a user types or a
client sends, the answer is one bounded sentence with its input escaped — never a traceback, never a 500 — and
nothing is made or touched. One shared hub; each row is one command or request."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.hubs import free_port_block, localhub

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

ESC = "\x1b[2J\x1b[31mred"
LONG = "x" * 5000
LIMIT = 600  # characters in one answer


def assert_one_bounded_sentence(text: str) -> None:
    assert "Traceback" not in text and "unexpected error" not in text, text
    assert "\x1b" not in text, "an escape sequence reached the terminal"
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("localhub: "), text
    assert len(lines[0]) <= LIMIT, f"{len(lines[0])} characters"


CLI_ROWS = [
    (["servers", "new", ""], "needs a name"),
    (["servers", "new", "../x"], "not allowed"),
    (["servers", "new", "a/b"], "not allowed"),
    (["servers", "new", ESC], "\\x1b"),
    (["servers", "new", LONG], "characters long"),
    (["servers", "new", "UPPER"], "lowercase"),
    (["servers", "new", "ok-name", "--profile", ESC], "no profile '\\x1b"),
    (["servers", "start", "nope"], "There is no server 'nope'"),
    (["servers", "start", "../x"], "There is no server '../x'"),
    (["servers", "stop", ESC], "There is no server '\\x1b"),
    (["servers", "stop", ""], "needs a name"),
    (["servers", "delete", LONG, "--yes"], "There is no server"),
    (["servers", "delete", "nope"], "--yes"),
    (["servers", "open", "nope"], "There is no server"),
    (["servers", "logs", "nope"], "There is no server"),
    (["builds", "log", LONG], ""),
    (["builds", "log", ESC], ""),
    (["builds", "rm", "nope:1"], ""),
    (["launch", ESC], ""),
    (["launch", "gh/" + LONG], ""),
]


@pytest.mark.parametrize("args, fragment", CLI_ROWS, ids=lambda v: repr(v)[:40] if isinstance(v, list) else None)
def test_cli_bad_input_is_one_bounded_sentence(hub, args, fragment):
    proc = hub.cli(*args, check=False, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_bounded_sentence(proc.stderr)
    assert fragment in proc.stderr


@pytest.mark.parametrize("args", [
    ["servers", "logs", "x", "--tail", "abc"],
    ["token", "--expires", ESC],
    ["servers", "new", "x", "--where", ESC],
    ["up", "--port", "abc"],
    ["servers", "new"],
    [ESC],
    ["servers", "new", "x", "--no-such-flag" + ESC],
])
def test_cli_usage_errors_are_one_sentence_too(hub, args):
    proc = hub.cli(*args, check=False)
    assert proc.returncode == 2
    assert_one_bounded_sentence(proc.stderr)
    assert "--help" in proc.stderr


@pytest.mark.parametrize("port", ["65533", "65534", "0", "-1", "70000"])
def test_ports_localhub_cannot_use_are_refused_before_anything_is_made(tmp_path, port):
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)}
    proc = localhub("up", "--state-dir", str(tmp_path / "s"), "--port", port, env=env, check=False)
    assert proc.returncode == 1 and "out of range" in proc.stderr
    assert_one_bounded_sentence(proc.stderr)
    assert not (tmp_path / "s").exists()


def test_a_relative_state_dir_works_like_an_absolute_one(tmp_path, hub_factory):
    """`up` in one directory, `status` and `down` from the same one: the daemon's children run elsewhere."""
    port = free_port_block(start=24000)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text('labels = { "localhub.test" = "1" }\n')
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("LOCALHUB_STATE_DIR", None)

    def cli(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "localhub", *args, "--state-dir", "rel-state"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert not check or proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    try:
        assert "localhub is running" in cli("up", "--detach", "--port", str(port)).stdout
        assert "running at" in cli("status").stdout
    finally:
        cli("down", check=False)
        from localhub.config import load_settings
        from tests.support.hubs import Hub

        stray = Hub("relative", tmp_path, port)
        stray.__dict__["instance"] = load_settings(state_dir=tmp_path / "rel-state").instance
        leftovers = [n.name for n in _networks(stray.instance)]
        stray.remove_docker_objects()
    assert not leftovers


def _networks(instance: str):
    import docker
    from contextlib import closing

    with closing(docker.from_env()) as engine:
        return engine.networks.list(filters={"label": f"localhub.instance={instance}"})


API = "/services/localhub/api"
API_ROWS = [
    ("POST", f"{API}/login-link", b"not json", 400),
    ("POST", f"{API}/login-link", b"[1, 2]", 400),
    ("POST", f"{API}/login-link", b'{"next": 5}', 400),
    ("POST", f"{API}/login-link", b'{"next": "//elsewhere.example/x"}', 400),
    ("POST", f"{API}/shutdown", b"not json", 400),  # a valid body would stop the shared hub
    ("POST", f"{API}/shutdown", b'"text"', 400),
    ("GET", f"{API}/servers/nope/logs", None, 404),
    ("GET", f"{API}/servers/nope/logs?tail=abc", None, 400),
    ("GET", f"{API}/servers/nope/logs?tail=-1", None, 400),
    ("GET", f"{API}/servers/nope/logs?tail=99999999999999", None, 400),
    ("GET", f"{API}/servers/%1B%5B2J/logs", None, 404),
    ("GET", f"{API}/environments/log?image={'x' * 5000}", None, 404),
    ("GET", f"{API}/environments/log?image=..%2F..%2Fsecrets%2Fapi-token", None, 404),
    ("GET", f"{API}/environments/log?spec=%1B%5B31m", None, 404),
    ("DELETE", f"{API}/environments?image=%1B%5B31mnot-here", None, 404),
    ("DELETE", f"{API}/environments", None, 400),
]


@pytest.mark.parametrize("method, path, body, status", API_ROWS, ids=lambda v: str(v)[:50])
def test_api_bad_requests_are_a_4xx_sentence(hub, method, path, body, status):
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=30) as http:
        r = http.request(method, path, content=body)
    assert r.status_code == status, r.text[:300]
    message = r.json()["message"]
    assert "\x1b" not in message and len(message) <= LIMIT and "Traceback" not in message
