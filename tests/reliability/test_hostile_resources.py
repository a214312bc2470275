"""Servers that try to take the machine (issue 10's reliability suite): a memory hog is killed at its limit
and its user is told why; a fork bomb stays within its process limit and the hub keeps answering; a disk
filler is stopped just past its storage cap (this engine's ext4 has no volume quotas: the storage watch
holds the cap). The figures (memory peak, processes at the cap, bytes past the cap, time to stop) are
printed for the closing note."""

from __future__ import annotations

import json
import time
from pathlib import Path

from localhub.storage_caps import margin

import httpx
import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

TINY = """name = "tiny"
description = "a hostile test's small box"
cpu = 0.5
memory = "300M"
storage = "200Mi"
pids = 200
"""


@pytest.fixture(scope="module")
def rhub(hub_factory):
    hub = hub_factory.create("resources")
    (hub.config_dir / "profiles").mkdir(parents=True, exist_ok=True)
    (hub.config_dir / "profiles" / "tiny.toml").write_text(TINY)
    hub.up()
    return hub


def listed(hub, name: str) -> dict:
    return next(s for s in json.loads(hub.cli("servers", "ls", "--json").stdout) if s["name"] == name)


def container_of(hub, name: str):
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith(f"--{name}")]
    return container


def cgroup_v1(container, controller: str, name: str) -> int | None:
    path = Path(f"/sys/fs/cgroup/{controller}/docker/{container.id}/{name}")
    return int(path.read_text()) if path.exists() else None


def test_a_memory_hog_is_killed_at_its_limit_and_the_server_says_so(rhub):
    rhub.cli("servers", "new", "hog", "--profile", "tiny")
    container = container_of(rhub, "hog")
    hog = container.exec_run(["python3", "-c", "x = bytearray(900 * 2**20); print('survived')"])
    assert hog.exit_code == 137 and b"survived" not in hog.output  # killed by the kernel, not finished

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (listed(rhub, "hog").get("notice") or "").startswith("out of memory"):
        time.sleep(0.5)
    server = listed(rhub, "hog")
    assert server["status"] == "running"  # the server itself survived its kernel
    assert server["notice"].startswith("out of memory: the kernel killed python3"), server["notice"]
    assert "memory limit" in server["notice"]
    text = rhub.cli("servers", "ls").stdout
    assert "out of memory: the kernel killed" in text

    peak = cgroup_v1(container, "memory", "memory.max_usage_in_bytes")
    limit = container.attrs["HostConfig"]["Memory"]
    print(f"\nFIGURE memory hog: peak {peak} bytes against a limit of {limit} (900 MiB asked)")
    assert peak is None or peak <= limit

    rhub.cli("servers", "stop", "hog")
    rhub.cli("servers", "start", "hog")
    assert listed(rhub, "hog").get("notice") is None  # a fresh start forgets it
    rhub.cli("servers", "delete", "hog", "--yes")


def test_a_fork_bomb_stays_within_the_process_limit_and_the_hub_answers(rhub):
    rhub.cli("servers", "new", "bomb", "--profile", "tiny")
    container = container_of(rhub, "bomb")
    bomb = ("import os, time\n"
            "for _ in range(100000):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(30); os._exit(0)\n"
            "    except OSError:\n"
            "        break\n"
            "time.sleep(20)\n")
    container.exec_run(["python3", "-c", bomb], detach=True)
    peak = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        peak = max(peak, cgroup_v1(container, "pids", "pids.current") or 0)
        assert httpx.get(f"{rhub.url}/hub/api/", timeout=10).status_code == 200
        time.sleep(0.5)
    print(f"\nFIGURE fork bomb: at most {peak} processes against a limit of 200")
    assert 150 <= peak <= 200  # the bomb reached its cap and no further
    assert listed(rhub, "bomb")["status"] == "running"
    rhub.cli("servers", "delete", "bomb", "--yes")


def test_a_disk_filler_is_stopped_just_past_its_cap_and_told_what_to_delete(rhub):
    cap = 200 * 2**20
    rhub.cli("servers", "new", "filler", "--profile", "tiny")
    container = container_of(rhub, "filler")
    deadline = time.monotonic() + 30
    while not [c for c in rhub.containers(all=False, helpers=True) if c.name.endswith("--filler.meter")]:
        assert time.monotonic() < deadline, "no storage meter beside the server"
        time.sleep(0.2)
    time.sleep(2)
    started = time.monotonic()
    filler = container.exec_run(["sh", "-c", "dd if=/dev/zero of=/home/jovyan/fill bs=1M count=3000 2>&1; echo done"])
    stopped_after = time.monotonic() - started
    assert b"3000+0 records out" not in filler.output  # it was stopped before writing 3 GB

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and listed(rhub, "filler")["status"] != "stopped":
        time.sleep(0.5)
    server = listed(rhub, "filler")
    assert server["status"] == "stopped"
    assert "past its 200.0 MiB storage cap" in server["notice"] and "delete files" in server["notice"]
    used = server["storage_used"]
    print(f"\nFIGURE disk filler: stopped {stopped_after:.1f} s after dd began; home {used / 2**20:.0f} MiB for a "
          f"{cap / 2**20:.0f} MiB cap ({(used - cap) / 2**20:.0f} MiB past it; margin {margin(cap) / 2**20:.0f} MiB)")
    assert used < cap + margin(cap) + 256 * 2**20

    refused = rhub.cli("servers", "start", "filler", check=False)
    assert refused.returncode != 0 and "over its 200.0 MiB cap" in refused.stderr
    rhub.cli("servers", "delete", "filler", "--yes")
    assert not [c for c in rhub.containers(helpers=True) if "--filler" in c.name]  # its meter went with it
