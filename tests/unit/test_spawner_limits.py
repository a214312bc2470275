"""The spawner's container for a profile, decided against the fake engine: its limits and hardening."""

from __future__ import annotations

import pytest

from tests.unit.fake_engine import FakeEngine, Script, make_spawner

pytestmark = pytest.mark.unit

SMALL = """name = "tiny"
description = "test"
cpu = 0.5
memory = "300M"
storage = "1Gi"
pids = 64
"""


async def test_a_profile_sets_memory_cpu_processes_and_the_container_is_hardened(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.toml").write_text(SMALL)
    engine = FakeEngine()
    engine.images["localhub/singleuser:test"] = Script()
    spawner = make_spawner(engine, "small", config_dir=str(tmp_path))
    spawner.user_options = {"profile": "tiny"}
    await spawner.start()
    container = engine.by_name(spawner.container_name)
    host = container.kwargs["host_config"]
    assert host["Memory"] == 300_000_000 and host["MemorySwap"] == 300_000_000  # no swap past the limit
    assert host["CpuQuota"] == 50_000 and host["CpuPeriod"] == 100_000
    assert host["PidsLimit"] == 64
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges:true"]
    assert not host.get("Privileged")
    assert host["Binds"] == [f"{spawner.home_volume}:/home/jovyan:rw"]  # its home, no host path
    assert container.kwargs["labels"]["localhub.profile"] == "tiny"


async def test_without_a_profile_pids_the_hubs_limit_applies():
    engine = FakeEngine()
    engine.images["localhub/singleuser:test"] = Script()
    spawner = make_spawner(engine, "plain", pids_limit=1024)
    await spawner.start()
    assert engine.by_name(spawner.container_name).kwargs["host_config"]["PidsLimit"] == 1024
