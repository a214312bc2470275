"""A server's journeys to a lab peer and back, decided against fake agents (tests/unit/pool_fakes.py): what
the ledger records at each step, when a server counts as lost, where a returning home goes, and what the
keeper does with each entry. tests/lan/test_pool_remote.py runs the same code against real peers."""

from __future__ import annotations

import time

import pytest

from localhub.pool.away.client import PeerRefused, PeerUnreachable
from localhub.pool.away.keeper import Keeper
from localhub.pool.away.ledger import LOST, RETURNING, RUNNING, Ledger
from localhub.pool.away.peer import LabPeer
from tests.unit.pool_fakes import PEER, FakeAgents, away, crew

pytestmark = pytest.mark.unit

GUEST = "0" * 16
REQUEST = {"guest": GUEST, "user": "ana", "server": "x", "volume": "vol-x", "image": "img",
           "ask": {"cpus": 1, "memory": 10**9, "storage": 2**30}, "env": {"A": "1"}, "cmd": ["jupyterhub-singleuser"],
           "hub": ["10.0.0.2", 8081]}


async def test_a_run_is_in_the_ledger_before_anything_leaves_and_gone_if_the_peer_refuses(tmp_path):
    seen_in_ledger = []

    def run(data):
        seen_in_ledger.append(Ledger(tmp_path).get(GUEST).state)  # what a restarted daemon would find
        return {"address": "10.0.0.3", "port": 49153, "state": "running"}

    agents = FakeAgents({("POST", "/pool/v1/guests"): run})
    team = crew(tmp_path, agents)
    steps = []
    started = await LabPeer(PEER, team).run(REQUEST, steps.append)
    assert seen_in_ledger == ["starting"] and (started.state, started.port, started.peer_name) == (RUNNING, 49153,
                                                                                                   "bob")
    assert [m[0] for m in team.transfer.moves] == ["image", "home out"]
    assert steps == ["Image sent and loaded in 0.1 s.", "Starting x on bob…"]
    sent = agents.calls[-1][3]
    assert sent["hub"] == {"address": "10.0.0.2", "port": 8081} and sent["cpus"] == 1 and sent["image_id"]

    agents.answers[("POST", "/pool/v1/guests")] = PeerRefused("The agent refused: no room.", "declined")
    with pytest.raises(PeerRefused):
        await LabPeer(PEER, team).run({**REQUEST, "guest": "1" * 16}, steps.append)
    assert team.ledger.get("1" * 16) is None and Ledger(tmp_path).get("1" * 16) is None


async def test_poll_while_running_paused_gone_and_unreachable(tmp_path):
    agents = FakeAgents({("GET", "/pool/v1/guests/"): {"state": "paused", "notice": "paused: the owner is back"}})
    team = crew(tmp_path, agents, lost_after=60)
    team.ledger.put(away())
    peer = LabPeer.of(team.ledger.get(GUEST), team)
    assert await peer.poll(GUEST) is None and team.ledger.get(GUEST).notice == "paused: the owner is back"

    agents.answers[("GET", "/pool/v1/guests/")] = PeerUnreachable("The agent did not answer within 5 s.")
    assert await peer.poll(GUEST) is None  # a short silence is not a loss
    team.ledger.update(GUEST, seen=time.time() - 61)
    assert await peer.poll(GUEST) == 1
    assert team.ledger.get(GUEST).state == LOST and "unreachable for over 60 s" in team.ledger.get(GUEST).notice
    assert "counts as lost" in team.said[-1]

    team.ledger.put(away(guest="1" * 16))
    agents.answers[("GET", "/pool/v1/guests/")] = PeerRefused("No guest 1… on this desktop.", "no-guest")
    assert await peer.poll("1" * 16) == 1 and team.ledger.get("1" * 16).state == LOST


async def test_a_guest_stopped_by_its_peer_comes_home_and_is_forgotten_there(tmp_path):
    agents = FakeAgents({("GET", "/pool/v1/guests/"): {"state": "evicted", "notice": "stopped after 10 min"},
                         ("DELETE", "/pool/v1/guests/"): {"forgotten": GUEST}})
    team = crew(tmp_path, agents)
    team.ledger.put(away())
    assert await LabPeer.of(team.ledger.get(GUEST), team).poll(GUEST) == 0
    assert team.transfer.moves == [("home back", "b" * 16, "vol-x")]  # into its own home volume
    assert team.ledger.get(GUEST) is None and agents.calls[-1][1] == "DELETE"  # forgotten only after


async def test_a_home_goes_beside_when_the_server_runs_again_here(tmp_path):
    agents = FakeAgents({("DELETE", "/pool/v1/guests/"): {}})
    team = crew(tmp_path, agents)
    team.ledger.put(away(state=RETURNING))
    team.transfer.volumes_in_use.add("vol-x")
    await LabPeer.of(team.ledger.get(GUEST), team).bring_home(GUEST)
    assert team.transfer.moves[0][2].startswith("vol-x--from-bob-")
    assert "was not overwritten" in team.said[-1]


async def test_stop_with_the_peer_unreachable_leaves_the_home_to_the_keeper(tmp_path):
    agents = FakeAgents({("POST", "/pool/v1/guests/"): PeerUnreachable("The agent is unreachable.")})
    team = crew(tmp_path, agents)
    team.ledger.put(away())
    await LabPeer.of(team.ledger.get(GUEST), team).stop(GUEST)
    assert team.ledger.get(GUEST).state == RETURNING and team.transfer.moves == []
    assert "will be fetched when the peer answers again" in team.said[-1]

    agents.answers = {("GET", "/pool/v1/guests/"): PeerRefused("No guest.", "no-guest")}
    agents.answers[("DELETE", "/pool/v1/guests/")] = {}
    team.transfer.fetch_home = _raise(PeerRefused("No guest.", "no-guest"))
    await Keeper(team).tend(GUEST)  # the peer forgot it meanwhile: the last synced home is all there is
    assert team.ledger.get(GUEST) is None and "no longer has it" in team.said[-1]


async def test_the_keeper_notes_syncs_and_never_overwrites_a_home_in_use(tmp_path):
    agents = FakeAgents({("GET", "/pool/v1/guests/"): {"state": "running", "notice": ""}})
    team = crew(tmp_path, agents)
    team.sync_every = 300
    team.ledger.put(away(synced=time.time()))
    keeper = Keeper(team)
    await keeper.tend(GUEST)
    assert team.transfer.moves == []  # synced just now: only asked how it is
    team.ledger.update(GUEST, synced=time.time() - 301)
    await keeper.tend(GUEST)
    assert team.transfer.moves == [("home back", "b" * 16, "vol-x")] and team.ledger.get(GUEST).synced > time.time() - 5

    team.ledger.update(GUEST, synced=0)
    team.transfer.volumes_in_use.add("vol-x")  # the server runs here too: that run on the peer is an orphan
    await keeper.tend(GUEST)
    assert len(team.transfer.moves) == 1 and team.ledger.get(GUEST).state == RETURNING


def _raise(err):
    async def fail(*args, **kwargs):
        raise err
    return fail
