"""Placement from the live peer list: which peers `auto` asks first, and what a named peer means."""

from __future__ import annotations

import pytest

from localhub.errors import LocalhubError
from localhub.pool.host.machine import Figures
from localhub.pool.away.remote import Away, Ledger, candidates, local_fits

pytestmark = pytest.mark.unit


def view(name, state="idle", slots=1, cpus=1.0, mem=4 * 10**9, live=True):
    figures = {"free_cpus": cpus, "mem_available": mem}
    return {"name": f"{name}._localhub._tcp.local.", "node": name[:1] * 16, "address": "10.0.0.9", "port": 8470,
            "cert": "c" * 32, "live": {"state": state, "slots": slots, "figures": figures} if live else None,
            "error": None if live else "did not answer"}


def test_auto_asks_idle_peers_with_room_most_free_first():
    peers = [view("small", cpus=0.5), view("big", cpus=3.0), view("owner", state="owner", cpus=4),
             view("full", slots=0, cpus=4), view("gone", live=False)]
    assert [p["name"].split(".")[0] for p in candidates("auto", peers)] == ["big", "small"]


def test_a_named_peer_by_name_or_node_id():
    peers = [view("ada"), view("bob")]
    assert candidates("BOB", peers)[0]["name"].startswith("bob")
    assert candidates("a" * 16, peers)[0]["name"].startswith("ada")
    with pytest.raises(LocalhubError, match="No lab peer named 'carl' .*peers: ada \\(aaaa"):
        candidates("carl", peers)
    with pytest.raises(LocalhubError, match="Peer 'gone' is unreachable: did not answer"):
        candidates("gone", [view("gone", live=False)])


def test_local_fits_by_free_memory_and_cpus():
    figures = Figures(cpus=2, load1=1.5, mem_total=8 * 10**9, mem_available=3 * 10**9, disk_free=10**12)
    assert local_fits({"cpus": 0.5, "memory": 2 * 10**9}, figures)
    assert not local_fits({"cpus": 1, "memory": 2 * 10**9}, figures)
    assert not local_fits({"cpus": 0.5, "memory": 4 * 10**9}, figures)


def test_ledger_survives_reopening(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.put(Away(guest="0" * 16, user="ana", server="x", volume="v", image="i",
                    peer={"node": "b" * 16, "address": "10.0.0.3", "port": 8470, "cert": "c" * 32, "name": "bob"}))
    assert Ledger(tmp_path).update("0" * 16, state="running").state == "running"
    assert [a.peer_name for a in Ledger(tmp_path).for_server("ana", "x")] == ["bob"]
    Ledger(tmp_path).remove("0" * 16)
    assert Ledger(tmp_path).all() == []
