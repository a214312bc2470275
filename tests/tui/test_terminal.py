"""The TUI in a real terminal: tmux runs `localhub tui` against a real hub (at 120x40, or 80x24 as the
smallest usable size), we read the screen with `capture-pane` and type keys like a user: stopping a
server, launching a repository, and issue 13's navigation, sort, details pane with its chart, and a shell
in a real server container."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import delete_all_servers

pytestmark = [pytest.mark.terminal, pytest.mark.docker]


class Tmux:
    """One tmux server of our own (-L), so tests never touch a user's sessions."""

    def __init__(self, name: str):
        self.socket = f"localhub-test-{os.getpid()}"
        self.name = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)

    def start(self, command: str, env: dict, size: tuple[int, int] = (120, 40)) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.run("new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]),
                 f"env {exports} {command}")

    def resize(self, width: int, height: int) -> None:
        self.run("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        r = self.run("capture-pane", "-p", "-t", self.name, check=False)
        return r.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.name, check=False).returncode == 0

    def wait(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; the screen:\n{screen}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


def row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if line.strip().startswith(name)), "")


def tui_command(state_dir: Path) -> str:
    """`localhub tui` once the CLI has it; `python -m localhub_tui` otherwise."""
    localhub = Path(sys.executable).with_name("localhub")
    if subprocess.run([localhub, "tui", "--help"], capture_output=True).returncode == 0:
        return f"{shlex.quote(str(localhub))} tui --state-dir {shlex.quote(str(state_dir))}"
    return f"{shlex.quote(sys.executable)} -m localhub_tui --state-dir {shlex.quote(str(state_dir))}"


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (scripts/test.sh installs it)")
    session = Tmux("tui")
    yield session
    session.kill()


def test_stop_a_server_from_a_real_terminal(live, tmux):
    for _ in live.client.create_server("term-a"):
        pass
    env = {"TERM": "xterm-256color", "LOCALHUB_CONFIG_DIR": str(live.config_dir)}
    tmux.start(tui_command(live.state_dir), env)

    screen = tmux.wait(lambda s: "running" in row(s, "term-a"), 60, "the servers table with term-a running")
    assert "Name" in screen and "Status" in screen and "Stop" in screen  # header and footer hints

    tmux.keys("x")
    tmux.wait(lambda s: "stopped" in row(s, "term-a"), 90, "term-a to show as stopped")
    assert live.client.server("term-a").status == "stopped"

    tmux.keys("q")
    deadline = time.monotonic() + 15
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive(), f"the TUI did not quit on q; the screen:\n{tmux.screen()}"


def test_launch_a_repository_from_a_real_terminal(live, tmux, tmp_path):
    from tests.support.binder import CaseRepo, remove_images_under

    repo = CaseRepo("dockerfile-basic", tmp_path, name="term-launch")
    env = {"TERM": "xterm-256color", "LOCALHUB_CONFIG_DIR": str(live.config_dir)}
    try:
        tmux.start(tui_command(live.state_dir), env)
        tmux.wait(lambda s: "Name" in s and "Status" in s, 60, "the servers table")
        tmux.keys("2")
        tmux.wait(lambda s: "Paste a Binder link" in s, 10, "the Launch tab")
        tmux.keys("-l", str(repo.path))
        tmux.wait(lambda s: "provider" in s and "local" in s, 20, "the parsed link")
        tmux.keys("Enter")
        screen = tmux.wait(lambda s: "Ready:" in s or "failed" in s, 600, "the launch to finish")
        assert "Ready:" in screen, screen
        tmux.keys("1")
        tmux.wait(lambda s: "running" in row(s, next(iter(live.client.servers())).name), 30,
                  "the launched server running on the Servers tab")
        tmux.keys("q")
    finally:
        tmux.kill()
        delete_all_servers(live)
        remove_images_under(tmp_path)


def test_navigate_sort_details_and_shell_at_80x24(live, tmux):
    """j/k, sort, the details pane with its CPU chart, and a shell in the real container, at 80x24."""
    for name in ("term-a", "term-b"):
        for _ in live.client.create_server(name):
            pass
    container = live.client.server("term-a").container
    env = {"TERM": "xterm-256color", "LOCALHUB_CONFIG_DIR": str(live.config_dir)}
    tmux.start(tui_command(live.state_dir), env, size=(80, 24))

    # the footer in the predicate too: a capture can catch a frame half written (seen in CI: rows there, the
    # footer line still blank)
    screen = tmux.wait(lambda s: "running" in row(s, "term-a") and "running" in row(s, "term-b")
                       and "q Quit" in (s.splitlines() or [""])[-1], 60, "both servers running, the footer drawn")
    lines = screen.splitlines()
    header = next(line for line in lines if line.strip().startswith("Name"))
    assert "Status" in header and "CPU" in header and "Memory" in header
    assert "Profile" not in header  # collapsed, not cut: no line runs past 80 columns
    assert "q Quit" in lines[-1] and all(len(line) <= 80 for line in lines)

    # sort by Name, then reversed: term-b comes first
    tmux.keys(">")
    tmux.wait(lambda s: "Name ▲" in s, 10, "the sort arrow on Name")
    tmux.keys("I")
    screen = tmux.wait(lambda s: "Name ▼" in s, 10, "the reversed sort")
    names = [line.split()[0] for line in screen.splitlines() if line.strip().startswith("term-")]
    assert names == ["term-b", "term-a"], screen

    # j moves down to term-a; Enter shows its details, whose chart fills as samples arrive
    tmux.keys("g", "j", "Enter")
    screen = tmux.wait(lambda s: "term-a · running" in s and "last" in s and "of 1 CPU" in s
                       and any(block in s for block in "▁▂▃▄▅▆▇█"), 60,  # the chart's baseline at least
                       "the details pane of term-a with its CPU chart drawn from samples")
    assert container in screen and "1.9 GiB memory" in screen and "storage" in screen
    tmux.keys("k")
    tmux.wait(lambda s: "term-b · running" in s, 10, "the details to follow the cursor to term-b")

    # a shell in term-a's container: the TUI steps aside, the shell runs, the TUI comes back
    tmux.keys("j", "e")
    tmux.wait(lambda s: "A shell in server 'term-a'" in s and "$" in s, 30, "the shell")
    tmux.keys("-l", "touch ~/made-in-the-shell && exit")
    tmux.keys("Enter")
    tmux.wait(lambda s: "Back from the shell" in s, 30, "the TUI back after the shell")
    made = subprocess.run(["docker", "exec", container, "sh", "-c", "ls ~"], capture_output=True, text=True)
    assert "made-in-the-shell" in made.stdout, made

    # wider, the collapsed columns come back
    tmux.resize(120, 40)
    tmux.wait(lambda s: "Environment" in s and "Storage" in s, 10, "the columns at 120x40")
    tmux.keys("q")
