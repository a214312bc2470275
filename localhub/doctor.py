"""`localhub doctor`: checks the machine and says what to do about each problem."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import docker.errors

from . import docker_engine, isolation, storage_caps, storage_watch
from .config import Settings
from .preflight import port_in_use
from .errors import LocalhubError
from .lifecycle import running_daemon
from .profiles import load_profiles
from .state import StateDir

MIN_FREE_DISK = 5 * 2**30


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    client = None
    try:
        client = docker_engine.connect(timeout=10)
        facts = docker_engine.describe(client)
        checks.append(Check("engine", True, f"Docker {facts['version']} at {facts['address']} (API "
                            f"{facts['api_version']}, cgroup v{facts['cgroup_version']}, {facts['storage_driver']})"))
        if not facts["api_ok"]:
            checks.append(Check("engine API", False, f"API {facts['api_version']} is too old",
                                "upgrade to Docker 20.10 or newer"))
    except LocalhubError as err:
        checks.append(Check("engine", False, str(err)))

    try:
        if client is None:
            raise ImportError  # no engine: nothing to say about builds on it
        from .images.repo2docker_engine import describe_build_method

        checks.append(Check("image builds", True, describe_build_method()))
    except ImportError:
        pass
    except Exception as err:  # a machine without any usable builder
        checks.append(Check("image builds", False, str(err), "install docker-buildx or Debian's docker.io"))

    state = StateDir(settings.state_dir)
    runtime = running_daemon(state)
    if runtime:
        checks.append(Check("hub", True, f"running at {runtime['url']} (pid {runtime['daemon_pid']})"))
    else:
        busy = [p for p in (settings.port, settings.port + 1, settings.port + 2)
                if port_in_use(settings.ip if p == settings.port else "127.0.0.1", p)]
        checks.append(Check("ports", not busy,
                            f"ports {settings.port}-{settings.port + 2} are free" if not busy
                            else f"port(s) {', '.join(map(str, busy))} in use by another program",
                            "" if not busy else "choose another with --port"))

    # looked at, not made: doctor must not create a state dir (with its secrets) for whoever runs it
    existing = next(d for d in (state.root, *state.root.parents) if d.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        checks.append(Check("state dir", False, f"{existing} is not writable for this user, so {state.root} cannot "
                                                f"be used", "choose another with --state-dir or fix its permissions"))
    else:
        free = shutil.disk_usage(existing).free
        checks.append(Check("disk", free >= MIN_FREE_DISK, f"{free / 2**30:.1f} GiB free for {state.root}",
                            "" if free >= MIN_FREE_DISK else "free some disk: images and homes need room"))

    profiles = load_profiles(settings.config_dir)
    checks.append(Check("profiles", True, ", ".join(sorted(profiles))))
    for warning in profiles.skipped.values():
        checks.append(Check("profiles", False, warning, "fix or remove that profile file"))

    if client is not None:
        wanted = {settings.image} | {p.image for p in profiles.values() if p.image}
        for image in sorted(wanted):
            try:
                client.images.get(image)
                checks.append(Check("image", True, f"{image} is present"))
            except docker.errors.ImageNotFound:
                checks.append(Check("image", False, f"{image} is not on this machine",
                                    "run scripts/build-images.sh (localhub never pulls images)"))
    if client is not None:
        quotas = storage_caps.engine_has_quotas(client.api, settings.labels)
        checks.append(Check("storage caps", True, storage_caps.mode_text(quotas)))
        if not quotas and not any(_present(client, image) for image in storage_watch.METER_IMAGES):
            checks.append(Check("storage meter", False, "no localhub base image to measure homes with, so storage "
                                "caps are checked only when a server starts", "run scripts/build-images.sh"))
    # a running hub's own verdict (it tried to apply the rules) over what this shell could do
    problem = runtime["network_isolation"] if runtime and "network_isolation" in runtime else \
        isolation.why_unavailable()
    checks.append(Check("network isolation", problem is None,
                        "servers reach their hub's API, DNS and the internet only (iptables rules on each hub's "
                        "bridge)" if problem is None else f"servers are not isolated: {problem}",
                        "" if problem is None else "run localhub as root (or with CAP_NET_ADMIN) and with iptables "
                                                   "installed, so servers cannot reach this desktop's services or LAN"))
    return checks


def _present(client, image: str) -> bool:
    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False
