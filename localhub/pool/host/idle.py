"""How long since the desktop's owner last touched it, read from whatever this desktop offers.

Each source answers `seconds_since_input()` with a number, or None when it cannot tell. `IdleSources` asks
them in order and says which one answered; when none can, the desktop counts as in use (policy.py) unless
the owner shares with --assume-idle. Sources, most precise first:

- `ManualIdleSource`: a file holding the time of the owner's last input (epoch seconds). Tests, and any
  owner-side script (a screensaver hook, a Wayland idle notifier), simulate or report activity through it.
- `MutterIdleSource`: GNOME's own idle monitor over the session bus, which also works on Wayland, where no
  X tool can see input.
- `XIdleSource`: `xprintidle` (milliseconds since X input), when installed and DISPLAY is set.
- `LogindIdleSource`: logind's IdleHint/IdleSinceHint of the local sessions, over the system bus. Desktops
  set IdleHint only after their own screen-idle delay (GNOME: 5 min by default), so "not idle" reads as input
  just now: conservative, never too eager.
- `InputDeviceIdleSource`: the newest access time of /dev/input/event*. Honest caveat: device atimes are
  updated lazily (relatime, and not by every reader), so this can report the owner gone while they type;
  it comes last for that reason.

D-Bus is spoken with jeepney (pure Python, no daemon of ours); a bus or a service that is not there is "this
source cannot tell", never an error.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection


class IdleSource(ABC):
    name: str = ""

    @abstractmethod
    def seconds_since_input(self) -> float | None:
        """Seconds since the owner's last input, or None when this source cannot tell."""

    def detail(self) -> str:
        return self.name


class ManualIdleSource(IdleSource):
    """The owner's last input as written to a file (epoch seconds), or a fixed value."""

    name = "manual"

    def __init__(self, path: Path | None = None, value: float | None = None, clock=time.time):
        self.path, self.value, self.clock = (Path(path) if path else None), value, clock

    def seconds_since_input(self) -> float | None:
        if self.path is None:
            return self.value
        try:
            last = float(self.path.read_text().strip())
        except (OSError, ValueError):
            return None
        return max(0.0, self.clock() - last)

    def record_input(self, at: float | None = None) -> None:
        """Say the owner touched the desktop at `at` (default now)."""
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(f"{self.clock() if at is None else at}\n")
        os.replace(tmp, self.path)

    def detail(self) -> str:
        return f"manual ({self.path})" if self.path else "manual (fixed value)"


def _run(argv: list[str], timeout: float = 2.0) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


class Bus:
    """Method calls on the session or the system bus; None when the bus, the service or the method is not
    there (or does not answer within `timeout`)."""

    def __init__(self, which: str, timeout: float = 2.0):
        self.which, self.timeout = which, timeout

    def available(self) -> bool:
        if self.which == "SESSION":
            return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
        return bool(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")) or os.path.exists("/var/run/dbus/system_bus_socket")

    def call(self, destination: str, path: str, interface: str, method: str, signature: str | None = None,
             body: tuple = ()) -> tuple | None:
        if not self.available():
            return None
        message = new_method_call(DBusAddress(path, bus_name=destination, interface=interface), method, signature,
                                  body)
        try:
            with open_dbus_connection(bus=self.which, auth_timeout=self.timeout) as connection:
                reply = connection.send_and_get_reply(message, timeout=self.timeout)
        except (OSError, ValueError, KeyError, TimeoutError, StopIteration):
            return None
        return reply.body if reply.header.message_type is MessageType.method_return else None


class LogindIdleSource(IdleSource):
    """The smallest idle time over local user and greeter sessions that report an idle hint."""

    name = "logind"
    LOGIN1 = "org.freedesktop.login1"

    def __init__(self, bus=None, clock=time.time):
        self.bus, self.clock, self._used = bus or Bus("SYSTEM"), clock, ""

    def seconds_since_input(self) -> float | None:
        listing = self.bus.call(self.LOGIN1, "/org/freedesktop/login1", f"{self.LOGIN1}.Manager", "ListSessions")
        if listing is None:
            return None
        best, used = None, []
        for session, _uid, _user, _seat, path in listing[0]:
            answer = self.bus.call(self.LOGIN1, path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                                   (f"{self.LOGIN1}.Session",))
            props = {name: value for name, (_signature, value) in (answer or ({},))[0].items()}
            if props.get("Class") not in ("user", "greeter") or props.get("Remote"):
                continue
            since = int(props.get("IdleSinceHint") or 0)
            if props.get("IdleHint") is True and since:
                seconds = max(0.0, self.clock() - since / 1e6)
            elif props.get("IdleHint") is False and since:
                seconds = 0.0  # active now, as far as logind knows
            else:
                continue  # this session's desktop never set the hint: no information
            used.append(session)
            best = seconds if best is None else min(best, seconds)
        self._used = ", ".join(used)
        return best

    def detail(self) -> str:
        return f"logind idle hint (session {self._used})" if self._used else "logind idle hint"


class MutterIdleSource(IdleSource):
    name = "gnome-idle-monitor"

    def __init__(self, bus=None):
        self.bus = bus or Bus("SESSION")

    def seconds_since_input(self) -> float | None:
        answer = self.bus.call("org.gnome.Mutter.IdleMonitor", "/org/gnome/Mutter/IdleMonitor/Core",
                               "org.gnome.Mutter.IdleMonitor", "GetIdletime")
        return answer[0] / 1000 if answer else None  # milliseconds

    def detail(self) -> str:
        return "GNOME idle monitor (org.gnome.Mutter.IdleMonitor, X11 or Wayland)"


class XIdleSource(IdleSource):
    name = "x11"

    def __init__(self, run=_run):
        self.run = run

    def seconds_since_input(self) -> float | None:
        if not os.environ.get("DISPLAY") or (self.run is _run and not shutil.which("xprintidle")):
            return None
        out = self.run(["xprintidle"])
        try:
            return int(out.strip()) / 1000 if out else None
        except ValueError:
            return None

    def detail(self) -> str:
        return f"X server idle time (xprintidle, DISPLAY={os.environ.get('DISPLAY', '')})"


class InputDeviceIdleSource(IdleSource):
    name = "input-devices"

    def __init__(self, pattern: str = "/dev/input/event*", clock=time.time):
        self.pattern, self.clock = pattern, clock

    def seconds_since_input(self) -> float | None:
        times = []
        for path in glob.glob(self.pattern):
            try:
                st = os.stat(path)
            except OSError:
                continue
            times.append(max(st.st_atime, st.st_mtime))
        return max(0.0, self.clock() - max(times)) if times else None

    def detail(self) -> str:
        return f"input device access times ({self.pattern}; may lag: atimes are updated lazily)"


@dataclass(frozen=True)
class IdleReading:
    seconds: float | None  # None: no source could tell
    source: str  # which source answered, in words


class IdleSources:
    """Ask sources in order; the first with an answer wins, and says so."""

    def __init__(self, sources: list[IdleSource]):
        self.sources = sources

    def read(self) -> IdleReading:
        for source in self.sources:
            seconds = source.seconds_since_input()
            if seconds is not None:
                return IdleReading(seconds, source.detail())
        tried = ", ".join(s.name for s in self.sources) or "none"
        return IdleReading(None, f"no readable idle source (tried {tried})")


def manual_path(state_dir: Path) -> Path:
    return Path(state_dir) / "pool" / "owner-input"


def default_sources(state_dir: Path) -> IdleSources:
    """The manual file wins once someone writes it; then the desktop's own monitors; device times last."""
    return IdleSources([ManualIdleSource(manual_path(state_dir)), MutterIdleSource(), XIdleSource(),
                        LogindIdleSource(), InputDeviceIdleSource()])
