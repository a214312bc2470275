"""The mDNS record's size and contents, which addresses count as the LAN, update rate limiting, and which
records are listed as lab peers."""

from __future__ import annotations

import asyncio
import time

import ifaddr
import pytest

from localhub.pool import discovery
from localhub.pool.trust.keys import Lab

pytestmark = pytest.mark.unit

LAB = Lab(key=b"k" * 32, node="1111111111111111")
OTHER_LAB = Lab(key=b"o" * 32, node="2222222222222222")
CERT = "c" * 32


def test_txt_is_small_and_complete():
    worst = discovery.build_txt(LAB, CERT, state="owner", slots=99999, gpu=True, seq=10**9)
    assert set(worst) == {"txtvers", "v", "state", "slots", "gpu", "seq", "fp", "node", "cert", "tag"}
    size = discovery.txt_size(worst)
    print(f"TXT record: {size} bytes (budget {discovery.TXT_BUDGET})")
    assert size < 200 < discovery.TXT_BUDGET  # well under, not just under
    from zeroconf.asyncio import AsyncServiceInfo
    info = AsyncServiceInfo(discovery.SERVICE_TYPE, f"x.{discovery.SERVICE_TYPE}", port=1, properties=worst,
                            server="x.local.", parsed_addresses=["10.0.0.1"])
    assert len(info.text) == size  # our count is the wire encoding


def test_tag_proves_membership_and_binds_node_and_certificate():
    tag = discovery.txt_tag(LAB, LAB.node, CERT)
    assert tag != discovery.txt_tag(OTHER_LAB, LAB.node, CERT)
    assert tag != discovery.txt_tag(LAB, "3333333333333333", CERT)
    assert tag != discovery.txt_tag(LAB, LAB.node, "d" * 32)


def adapter(name, *ips):
    return ifaddr.Adapter(name, name, [ifaddr.IP(ip, prefix, name) for ip, prefix in ips])


def test_lan_addresses_leave_out_bridges_tunnels_and_docker_networks():
    adapters = [
        adapter("lo", ("127.0.0.1", 8)),
        adapter("eth0", ("192.168.1.20", 24), (("fe80::1", 0, 2), 64)),
        adapter("wlp2s0", ("10.0.0.7", 24), ("169.254.3.4", 16)),
        adapter("docker0", ("172.17.0.1", 16)),
        adapter("br-0a1b2c", ("172.20.0.1", 16)),
        adapter("mybridge", ("172.30.0.1", 16)),  # a Docker network under a custom name: caught by subnet
        adapter("tailscale0", ("100.64.0.5", 32)),
        adapter("wg0", ("10.8.0.2", 24)),
        adapter("tun0", ("10.9.0.2", 24)),
        adapter("virbr0", ("192.168.122.1", 24)),
    ]
    assert discovery.lan_addresses(adapters, exclude_networks=["172.17.0.0/16", "172.30.0.0/16"]) == \
        ["192.168.1.20", "10.0.0.7"]
    # a veth is a LAN like any other (the test LAN is made of them; containers' host ends carry no address)
    assert discovery.lan_addresses([adapter("veth1", ("10.251.0.2", 24))], exclude_networks=[]) == ["10.251.0.2"]


class FakeZeroconf:
    """Records updates as AsyncZeroconf would receive them (each returns a task to await)."""

    def __init__(self, announce_for: float = 0.0):
        self.calls: list[tuple[str, float, dict]] = []
        self.announce_for = announce_for  # the real one announces three times over about a second

    async def _record(self, what, info):
        self.calls.append((what, time.monotonic(), dict(info.decoded_properties)))
        return asyncio.ensure_future(asyncio.sleep(self.announce_for))

    async def async_register_service(self, info):
        return await self._record("register", info)

    async def async_update_service(self, info):
        return await self._record("update", info)

    async def async_unregister_service(self, info):
        return await self._record("unregister", info)


async def test_updates_are_coalesced_and_rate_limited():
    azc = FakeZeroconf()
    ad = discovery.Advertiser(azc, LAB, CERT, "10.251.0.2", 8470, min_interval=0.5, label="desk")
    await ad.start(state="idle", slots=2, gpu=False)
    ad.set(state="owner", slots=0)
    ad.set(state="busy")
    ad.set(state="owner")  # the latest value wins
    await asyncio.sleep(0.8)
    ad.set(state="idle", slots=2)
    await asyncio.sleep(0.8)
    ad.set(state="idle", slots=2)  # no change: nothing sent
    await asyncio.sleep(0.6)
    ad.set(state="owner")
    ad.set(state="idle")  # changed back before the interval ended: nothing sent either
    await asyncio.sleep(0.8)
    await ad.stop()
    whats = [c[0] for c in azc.calls]
    assert whats == ["register", "update", "update", "unregister"]
    assert azc.calls[1][2]["state"] == "owner" and azc.calls[2][2]["state"] == "idle"
    assert [c[2]["seq"] for c in azc.calls] == ["0", "1", "2", "2"]  # each update a record never seen before
    gaps = [b[1] - a[1] for a, b in zip(azc.calls[:3], azc.calls[1:3])]
    assert all(g >= 0.5 - 0.01 for g in gaps), gaps
    assert ad.name == f"desk-{'1' * 16}.{discovery.SERVICE_TYPE}"
    # two desktops of one lab with the same host name, whose node ids begin alike, still have two names
    twin = discovery.Advertiser(azc, Lab(LAB.key, "1" * 15 + "2"), CERT, "10.251.0.3", 8470, label="desk")
    assert twin.name != ad.name


async def test_a_change_made_while_an_update_is_announced_is_sent_too():
    azc = FakeZeroconf(announce_for=0.4)
    ad = discovery.Advertiser(azc, LAB, CERT, "10.251.0.2", 8470, min_interval=0.2, label="desk")
    await ad.start(state="idle", slots=2, gpu=False)
    ad.set(state="owner")
    await asyncio.sleep(0.35)  # the update for 'owner' is being announced now
    ad.set(state="idle")
    await asyncio.sleep(1.2)
    await ad.stop()
    assert [(c[0], c[2]["state"]) for c in azc.calls] == [("register", "idle"), ("update", "owner"),
                                                          ("update", "idle"), ("unregister", "idle")]


def test_only_members_of_our_lab_are_listed():
    browser = discovery.PeerBrowser(azc=None, lab=LAB)
    peer = Lab(key=LAB.key, node="4444444444444444")
    good = discovery.build_txt(peer, CERT, "idle", 1, False)
    assert browser._refusal(good, ["10.251.0.3"]) is None
    assert "another lab" in browser._refusal(discovery.build_txt(OTHER_LAB, CERT, "idle", 1, False), ["x"])
    copied_fp = {**discovery.build_txt(OTHER_LAB, CERT, "idle", 1, False), "fp": LAB.fingerprint}
    assert "tag does not verify" in browser._refusal(copied_fp, ["x"])
    swapped_cert = {**good, "cert": "d" * 32}
    assert "tag does not verify" in browser._refusal(swapped_cert, ["x"])
    assert browser._refusal(discovery.build_txt(LAB, CERT, "idle", 1, False), ["x"]) == "this desktop itself"
    assert browser._refusal(good, []) == "no IPv4 address"
