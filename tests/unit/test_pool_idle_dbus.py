"""The D-Bus idle sources against a real bus: a private dbus-daemon, with stand-ins for GNOME's idle monitor
and logind published on it through jeepney, so the method calls, signatures and replies are the real ones."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from localhub.pool.host import idle

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(not shutil.which("dbus-daemon"), reason="needs dbus-daemon (Debian's dbus)")]

NOW = 1_800_000_000.0
SESSION = "/org/freedesktop/login1/session/_32"


def answer(call):
    """The stand-in services: idle for 90 s (GNOME), and one local user session idle since NOW - 1800 s."""
    method = call.header.fields[3]  # HeaderFields.member
    if method == "GetIdletime":
        return "t", (90_000,)
    if method == "ListSessions":
        return "a(susso)", ([("2", 1000, "alice", "seat0", SESSION)],)
    if method == "GetAll":
        return "a{sv}", ({"IdleHint": ("b", True), "IdleSinceHint": ("t", int((NOW - 1800) * 1e6)),
                          "Class": ("s", "user"), "Remote": ("b", False)},)
    return None


@pytest.fixture
def bus(monkeypatch):
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"], stdout=subprocess.PIPE,
                              text=True)
    address = daemon.stdout.readline().strip()
    connection = open_dbus_connection(bus=address)
    for name in ("org.gnome.Mutter.IdleMonitor", "org.freedesktop.login1"):
        connection.send_and_get_reply(message_bus.RequestName(name))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                call = connection.receive(timeout=0.2)
            except TimeoutError:
                continue
            if call.header.message_type is MessageType.method_call and (reply := answer(call)):
                connection.send_message(new_method_return(call, *reply))

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    yield address
    stop.set()
    worker.join()
    connection.close()
    daemon.terminate()
    daemon.wait(5)


def test_gnome_and_logind_answer_over_a_real_bus(bus):
    assert idle.MutterIdleSource().seconds_since_input() == 90
    logind = idle.LogindIdleSource(clock=lambda: NOW)
    assert logind.seconds_since_input() == pytest.approx(1800) and "session 2" in logind.detail()


def test_no_bus_or_no_service_means_no_information(bus, monkeypatch):
    assert idle.Bus("SESSION").call("org.example.Absent", "/", "org.example.Absent", "Ping") is None
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert idle.MutterIdleSource().seconds_since_input() is None
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    assert idle.MutterIdleSource().seconds_since_input() is None
