"""What the daemon runs in a lab (pool/member.py), on loopback only: it keeps its live view of peers in
memory and leaves the files of others alone."""

from __future__ import annotations

import pytest

from localhub.config import Settings
from localhub.pool.member import LabMember
from localhub.pool.trust import keys
from localhub.pool.trust.members import start_lab

pytestmark = pytest.mark.unit


async def test_the_pool_keeps_the_peer_pins_it_did_not_write(tmp_path):
    # The pins of trust-on-first-use live in <state>/pool/peers.json; the daemon once wrote its live view of
    # the lab to the same path, and every round of checks wiped the pins.
    start_lab(tmp_path)
    pins = keys.PeerPins(tmp_path)
    pins.check("a" * 16, "lab", "cert-a")
    member = LabMember(Settings(state_dir=tmp_path, config_dir=tmp_path / "config", pool_port=0), None,
                       "127.0.0.1", say=lambda message: None)
    await member.start()
    try:
        assert member.status()["peers"] == [] and member.status()["away"] == []
    finally:
        await member.stop()
    assert set(pins.load()) == {"a" * 16} and pins.load()["a" * 16]["cert"] == "cert-a"
