"""Storage caps where the engine's filesystem allows them (issue 10, item 21): an engine whose volumes live
on XFS with project quotas. A Docker engine of its own (tests/lan/engines.py, role `quota`) whose
`<data-root>/volumes` is an XFS filesystem mounted with `pquota` from a loop file; `localhub doctor` says the
caps are enforced, the spawner makes a home with its cap as its size, and a writer past it gets "Disk quota
exceeded" from the kernel while its neighbour's home is untouched. The main engine (ext4 here) says
"watched", which the other storage tests cover."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localhub.storage_caps import engine_has_quotas
from tests.lan.engines import CACHE, NamespaceEngine
from tests.lan.netns import Host
from tests.unit.fake_engine import make_spawner

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

MiB = 2**20
IMAGE = "localhub/base:test"


def needs() -> str | None:
    if os.geteuid() != 0:
        return "needs root (a loop device, a mount, a dockerd)"
    for tool in ("mkfs.xfs", "losetup", "dockerd", "ip"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if "xfs" not in Path("/proc/filesystems").read_text():
        return "the kernel has no XFS"
    return None


def run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def quota_engine(tmp_path_factory):
    why = needs()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("quota")
    ns = f"lhq{os.getpid() % 100000}"
    volumes = CACHE / "quota" / "volumes"
    image = root / "volumes.xfs"
    with open(image, "wb") as f:
        f.truncate(512 * MiB)
    run("mkfs.xfs", "-q", str(image))
    volumes.mkdir(parents=True, exist_ok=True)
    subprocess.run(["umount", str(volumes)], capture_output=True)  # an interrupted run's
    mounted = subprocess.run(["mount", "-o", "loop,pquota", str(image), str(volumes)], capture_output=True, text=True)
    if mounted.returncode != 0:
        kernel = [line for line in subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
                  if "XFS" in line][-1:]
        pytest.skip(f"XFS with project quotas cannot be mounted here ({' '.join(kernel) or mounted.stderr.strip()})")
    run("ip", "netns", "add", ns)
    engine = NamespaceEngine(Host("quota", ns, "", root), root, role="quota")
    try:
        engine.start()
        engine.load_image(IMAGE)
        yield engine
    finally:
        engine.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["umount", str(volumes)], capture_output=True)


def test_doctor_says_caps_are_enforced_on_an_engine_with_quotas(quota_engine, tmp_path):
    env = {**os.environ, "DOCKER_HOST": quota_engine.docker_host, "LOCALHUB_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "localhub", "doctor", "--json", "--state-dir", str(tmp_path / "s")],
                          env=env, capture_output=True, text=True, timeout=120)
    checks = {c["check"]: c for c in json.loads(proc.stdout)}
    assert checks["storage caps"]["detail"].startswith("storage caps are enforced by the engine")


async def test_a_home_gets_its_cap_as_its_size_and_the_kernel_refuses_writes_past_it(quota_engine):
    api = quota_engine.client.api
    assert engine_has_quotas(api, {"localhub.test": "1"})
    spawner = make_spawner(api, "capped")
    await spawner._ensure_home_volume(64 * MiB)
    assert api.inspect_volume(spawner.home_volume)["Options"] == {"size": str(64 * MiB)}

    writer = quota_engine.client.containers.run(
        IMAGE, ["sh", "-c", "dd if=/dev/zero of=/home/jovyan/fill bs=1M count=200; echo exit=$?; "
                            "ls -l /home/jovyan/fill"],
        volumes={spawner.home_volume: {"bind": "/home/jovyan", "mode": "rw"}}, network_mode="none", remove=True)
    text = writer.decode()
    print(f"\nFIGURE quota-backed home: {text.strip().splitlines()[-1]} for a 64 MiB cap")
    assert "Disk quota exceeded" in text or "No space left on device" in text
    size = int(text.strip().splitlines()[-1].split()[4])
    assert size <= 64 * MiB
