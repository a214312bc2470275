"""Placement from the live peer list: which peers `auto` asks first, and what a named peer means."""

from __future__ import annotations

import asyncio

import pytest

from localhub.errors import LocalhubError
from localhub.pool.host.machine import Figures
from localhub.pool.away.ledger import Away, Ledger
from localhub.pool.away.placement import Placement, candidates, choose
from localhub.pool.away.target import Offer, Target, local_fits
from tests.unit.pool_fakes import FakeAgents, away, crew
from tests.unit.pool_fakes import view as pool_view

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


# --- choosing a target, with fake targets and fake agents (tests/unit/pool_fakes.py) -----------------

class Fixed(Target):
    """A target that answers offers from a script and counts them."""

    def __init__(self, name, accept, runs_in_hub=False):
        self.name, self.accept, self.runs_in_hub, self.asked = name, accept, runs_in_hub, 0

    async def offer(self, ask):
        self.asked += 1
        return Offer(self.accept, "fits" if self.accept else f"{self.name} is full")


ASK = {"cpus": 1, "memory": 10**9, "storage": 2**30}


async def test_local_is_never_asked_about_auto_prefers_here_then_the_first_willing_peer():
    said = []
    here, full, willing = Fixed("here", True, runs_in_hub=True), Fixed("full", False), Fixed("willing", True)
    assert await choose("local", ASK, Fixed("busy here", False, True), [full], said.append) is not None
    assert full.asked == 0  # local means local: nobody is asked
    assert await choose("auto", ASK, here, [full, willing], said.append) is here and full.asked == 0
    here.accept = False
    assert await choose("auto", ASK, here, [full, willing], said.append) is willing
    assert said == []


async def test_auto_with_nobody_willing_runs_here_and_says_why_a_named_peer_that_declines_is_an_error():
    said = []
    here = Fixed("here", False, runs_in_hub=True)
    assert await choose("auto", ASK, here, [Fixed("bob", False)], said.append) is here
    assert said == ["No idle lab peer can take it (bob: bob is full); running it on this desktop."]
    with pytest.raises(LocalhubError, match="Peer 'bob' declined the server: bob: bob is full."):
        await choose("bob", ASK, here, [Fixed("bob", False)], said.append)


async def test_the_placement_service_asks_live_peers_through_their_agents(tmp_path):
    agents = FakeAgents(offers={"b" * 16: {"accept": False, "reason": "the owner is back"},
                                "c" * 16: {"accept": True, "reason": "fits: idle"}})
    placement = Placement(crew(tmp_path, agents), lambda: [view("bob"), view("carl", cpus=0.5), view("dora", cpus=0.2)],
                          here=Fixed("here", False, runs_in_hub=True))
    assert await placement.choose("ana", "x", "auto", ASK) == {"where": "c" * 16, "name": "carl"}
    assert [c[0] for c in agents.calls] == ["b" * 16, "c" * 16]  # most room first; dora never asked
    # an unreachable peer declines in words
    with pytest.raises(LocalhubError, match="Peer 'dora' declined the server: dora: The agent of peer d+ is "
                                            "unreachable"):
        await placement.choose("ana", "x", "dora", ASK)
    placement.here.accept = True
    assert await placement.choose("ana", "x", "auto", ASK) == {"where": "local"}


async def test_starting_again_puts_a_returning_home_beside_the_new_one(tmp_path):
    team = crew(tmp_path)
    team.ledger.put(away(guest="1" * 16, state="returning"))
    team.ledger.put(away(guest="2" * 16, state="returning", server="other"))
    placement = Placement(team, lambda: [], here=Fixed("here", True, runs_in_hub=True))
    assert await placement.choose("ana", "x", "local", ASK) == {"where": "local"}
    assert team.ledger.get("1" * 16).superseded and not team.ledger.get("2" * 16).superseded
    assert "its earlier home is still on bob; that home will be restored next to this one" in team.said[0]
    # a run still marked running when JupyterHub starts the server again is an orphan: it comes home beside too
    team.ledger.put(away(guest="3" * 16, state="running"))
    await placement.choose("ana", "x", "local", ASK)
    assert (team.ledger.get("3" * 16).state, team.ledger.get("3" * 16).superseded) == ("returning", True)
    with pytest.raises(LocalhubError, match="no longer on the LAN"):
        await placement.start("e" * 16, {}, print)
    assert await placement.poll("9" * 16) == 0  # a guest the ledger does not know is not running


async def test_a_server_stopped_while_it_travels_is_stopped_there_once_it_runs_and_its_start_fails(tmp_path):
    """The spawner's start deadline passed while the image was still being packed (seen in CI on a busy machine):
    JupyterHub's stop came before the guest existed, the start finished anyway, and the server ran on the peer,
    holding its share, until the end of the run."""
    guest = "0" * 16
    agents = FakeAgents({("POST", f"/pool/v1/guests/{guest}/stop"): {"stopped": True},
                         ("POST", "/pool/v1/guests"): {"address": "10.0.0.3", "port": 49153, "state": "running"},
                         ("DELETE", f"/pool/v1/guests/{guest}"): {}})
    team = crew(tmp_path, agents)
    packed = asyncio.Event()
    send_image = team.transfer.send_image

    async def slow_send_image(peer, image, note):
        await packed.wait()
        return await send_image(peer, image, note)

    team.transfer.send_image = slow_send_image
    placement = Placement(team, lambda: [pool_view("bob", node="b" * 16)])
    request = {"guest": guest, "user": "ana", "server": "x", "volume": "vol-x", "image": "img", "ask": ASK,
               "env": {}, "cmd": [], "hub": ["10.0.0.2", 8081]}
    starting = asyncio.ensure_future(placement.start("b" * 16, request, lambda step: None))
    await asyncio.sleep(0.05)
    await placement.stop(guest)  # returns at once: nothing runs there yet
    assert agents.calls == [] and not starting.done()
    packed.set()
    with pytest.raises(LocalhubError, match="given up while the server travelled; it was stopped there"):
        await starting
    assert [(c[1], c[2]) for c in agents.calls] == [
        ("POST", "/pool/v1/guests"), ("POST", f"/pool/v1/guests/{guest}/stop"), ("DELETE", f"/pool/v1/guests/{guest}")]
    assert ("home back", "b" * 16, "vol-x") in team.transfer.moves and team.ledger.get(guest) is None
    assert any("after its start was given up: stopping it there" in line for line in team.said), team.said
    await placement.stop(guest)  # a second stop (JupyterHub's, after the spawner's own) asks nothing more
    assert len(agents.calls) == 3
