"""Owner idle sources: each one's reading, what counts as unavailable, and which source is said to be used."""

from __future__ import annotations

import os

import pytest

from localhub.pool.host import idle

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def fake_run(outputs: dict):
    def run(argv, timeout=2.0):
        return outputs.get(tuple(argv))
    return run


class FakeBus:
    """Answers D-Bus method calls by (path, method) from `replies`; anything else is not there (None)."""

    def __init__(self, replies: dict):
        self.replies = replies

    def call(self, destination, path, interface, method, signature=None, body=()):
        return self.replies.get((path, method))


def test_manual_source_through_a_file(tmp_path):
    source = idle.ManualIdleSource(tmp_path / "owner-input", clock=lambda: NOW)
    assert source.seconds_since_input() is None  # nobody wrote it: no information
    source.record_input(NOW - 1200)
    assert source.seconds_since_input() == 1200
    source.record_input()
    assert source.seconds_since_input() == 0
    (tmp_path / "owner-input").write_text("garbage")
    assert source.seconds_since_input() is None
    assert idle.ManualIdleSource(value=42).seconds_since_input() == 42


def _logind(sessions: dict[str, str]):
    """logind on a fake system bus, its sessions' properties written as `loginctl show-session` prints them."""
    kinds = {"IdleHint": "b", "IdleSinceHint": "t", "Class": "s", "Remote": "b"}

    def value(name, text):
        return (kinds[name], text == "yes" if kinds[name] == "b" else int(text) if kinds[name] == "t" else text)

    paths = {s: f"/org/freedesktop/login1/session/_3{s}" for s in sessions}
    replies = {("/org/freedesktop/login1", "ListSessions"):
               ([(s, 1000, "alice", "seat0", paths[s]) for s in sessions],)}
    for s, props in sessions.items():
        pairs = dict(line.split("=", 1) for line in props.splitlines())
        replies[(paths[s], "GetAll")] = ({name: value(name, text) for name, text in pairs.items()},)
    return idle.LogindIdleSource(bus=FakeBus(replies), clock=lambda: NOW)


def test_logind_idle_hint():
    idle_since = int((NOW - 1800) * 1e6)
    source = _logind({"3": f"IdleHint=yes\nIdleSinceHint={idle_since}\nClass=user\nRemote=no\n"})
    assert source.seconds_since_input() == pytest.approx(1800)
    assert "session 3" in source.detail()


def test_logind_takes_the_most_active_local_session_and_skips_remote_ones():
    source = _logind({
        "3": f"IdleHint=yes\nIdleSinceHint={int((NOW - 1800) * 1e6)}\nClass=user\nRemote=no\n",
        "5": f"IdleHint=no\nIdleSinceHint={int((NOW - 10) * 1e6)}\nClass=user\nRemote=no\n",
        "9": f"IdleHint=yes\nIdleSinceHint={int((NOW - 9000) * 1e6)}\nClass=user\nRemote=yes\n",
    })
    assert source.seconds_since_input() == 0


def test_logind_without_hints_or_sessions_is_unavailable():
    assert _logind({"3": "IdleHint=no\nIdleSinceHint=0\nClass=user\nRemote=no\n"}).seconds_since_input() is None
    assert _logind({}).seconds_since_input() is None
    assert idle.LogindIdleSource(bus=FakeBus({})).seconds_since_input() is None  # no logind on the bus


def test_x_and_gnome_monitors(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    assert idle.XIdleSource(run=fake_run({("xprintidle",): "61500\n"})).seconds_since_input() == 61.5
    assert idle.XIdleSource(run=fake_run({})).seconds_since_input() is None
    monkeypatch.delenv("DISPLAY")
    assert idle.XIdleSource(run=fake_run({("xprintidle",): "1\n"})).seconds_since_input() is None
    call = ("/org/gnome/Mutter/IdleMonitor/Core", "GetIdletime")
    assert idle.MutterIdleSource(bus=FakeBus({call: (90000,)})).seconds_since_input() == 90


def test_input_device_times(tmp_path):
    for n, age in ((0, 500), (1, 30)):
        path = tmp_path / f"event{n}"
        path.write_text("")
        os.utime(path, (NOW - age, NOW - age))
    source = idle.InputDeviceIdleSource(str(tmp_path / "event*"), clock=lambda: NOW)
    assert source.seconds_since_input() == pytest.approx(30)
    assert "may lag" in source.detail()
    assert idle.InputDeviceIdleSource(str(tmp_path / "none*")).seconds_since_input() is None


def test_sources_in_order_say_which_answered(tmp_path):
    manual = idle.ManualIdleSource(tmp_path / "owner-input", clock=lambda: NOW)
    sources = idle.IdleSources([manual, idle.ManualIdleSource(value=5)])
    assert sources.read() == idle.IdleReading(5, "manual (fixed value)")
    manual.record_input(NOW - 100)
    assert sources.read() == idle.IdleReading(100, f"manual ({tmp_path / 'owner-input'})")
    nothing = idle.IdleSources([idle.ManualIdleSource(tmp_path / "missing"), idle.LogindIdleSource(bus=FakeBus({}))])
    assert nothing.read() == idle.IdleReading(None, "no readable idle source (tried manual, logind)")
