"""What the daemon runs in a lab (pool/member.py), on loopback only: it keeps its live view of peers in
memory and leaves the files of others alone."""

from __future__ import annotations

import os
import time

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


async def test_an_owner_who_stops_takes_no_new_guests_and_unclaimed_homes_go_after_a_while(tmp_path):
    from localhub.pool.host.guests import GuestRunner

    start_lab(tmp_path)
    member = LabMember(Settings(state_dir=tmp_path, config_dir=tmp_path / "config", pool_port=0), None,
                       "127.0.0.1", say=lambda message: None)
    await member.start()
    try:
        node = member.service.node
        node.guests = runner = GuestRunner(object(), tmp_path, "127.0.0.1")  # no guests: no engine call
        stale, fresh, partial = (runner.home_path("a" * 16), runner.home_path("b" * 16),
                                 runner.incoming / "upload-x.part")
        for path in (stale, fresh, partial):
            path.write_bytes(b"home")
        for path in (stale, partial):  # sent two hours ago for a run that never came
            os.utime(path, (time.time() - 7200, time.time() - 7200))
        assert sorted(runner.drop_unclaimed_uploads(3600)) == sorted([stale.name, partial.name])
        assert fresh.exists() and not stale.exists()

        said = []
        await member.service.send_guests_home(said.append, patience=1)
        assert node.tick().state == "off" and node.offer({"cpus": 0.1, "memory": 1, "storage": 1}) == \
            (False, "its owner is stopping localhub")
        assert said == []  # no guest was here: nothing to wait for
    finally:
        await member.stop()
