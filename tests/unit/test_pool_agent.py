"""The agent in-process over HTTPS on loopback: status and offer for a signed client, refusals with reasons
(in the answer and in the log) for everyone else, and a client that checks who answered."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from localhub.pool.trust import signing
from localhub.pool.host.agent import Agent
from localhub.pool.away.client import PeerAddress, PeerClient, PeerNotAuthentic, PeerRefused, PeerUnreachable
from localhub.pool.host.idle import IdleSources, ManualIdleSource
from localhub.pool.host.machine import Figures
from localhub.pool.host.node import Node
from localhub.pool.host.share import Share, save_share
from localhub.pool.trust.tls import ensure_certificate, guest_certificate, pinned_context, server_context
from tests.unit.pool_fakes import new_lab

pytestmark = pytest.mark.unit

@pytest.fixture
async def agent(tmp_path):
    """An agent whose owner has been away an hour, sharing 1 CPU / 3 GB / 5 GiB; and a client's membership
    (`server.others`: a third member, and a member of another lab)."""
    home = tmp_path / "agent"
    authority, (lab, caller, third) = new_lab(tmp_path, "agent", "caller", "third")
    _, (stranger,) = new_lab(tmp_path / "elsewhere", "stranger")
    save_share(home, Share(enabled=True, cpus=1, memory=3 * 10**9, disk=5 * 2**30))
    figures = Figures(cpus=4, load1=0.2, mem_total=8 * 10**9, mem_available=6 * 10**9, disk_free=50 * 2**30)
    node = Node(home, lab, IdleSources([ManualIdleSource(value=3600)]), figures=lambda _: figures)
    server = Agent(lab, node)
    server.authority, server.third, server.stranger = authority, third, stranger
    cert_path, key_path, cert = ensure_certificate(home, lab.node)
    port = server.listen("127.0.0.1", 0, server_context(cert_path, key_path))
    yield server, PeerAddress(lab.node, "127.0.0.1", port, cert), caller
    await server.close()


async def test_signed_status_and_offer(agent):
    server, peer, caller = agent
    client = PeerClient(caller)
    status = await client.status(peer)
    assert status["state"] == "idle" and status["node"] == peer.node and status["guests"] == []
    assert status["idle"] == {"seconds": 3600, "source": "manual (fixed value)"}
    assert status["figures"]["free_cpus"] == 3.8 and status["figures"]["mem_available"] == 6 * 10**9
    assert status["slots"] == 1
    assert status["sharing"]["limits"]["cpus"] == 1
    yes = await client.offer(peer, {"cpus": 0.5, "memory": "500M", "storage": "1Gi"})
    assert yes["accept"] is True and yes["reason"].startswith("fits: no owner input for 60 min")
    no = await client.offer(peer, {"cpus": 2, "memory": "500M", "storage": "1Gi"})
    assert no == {"accept": False, "reason": "asks 2 CPUs; the owner shares 1 CPUs"}
    with pytest.raises(PeerRefused, match="An offer needs cpus, memory and storage"):
        await client.offer(peer, {"cpus": 1})
    with pytest.raises(PeerRefused, match="no GET /pool/v1/nothing"):
        await client.request(peer, "GET", "/pool/v1/nothing")
    with pytest.raises(PeerRefused, match="Method Not Allowed"):
        await client.request(peer, "DELETE", "/pool/v1/status")


async def raw(peer, headers=None, method="GET", path="/pool/v1/status", body=b""):
    ctx = await pinned_context(peer.address, peer.port, peer.cert)
    async with httpx.AsyncClient(verify=ctx) as http:
        return await http.request(method, f"https://{peer.address}:{peer.port}{path}", headers=headers or {},
                                  content=body)


async def test_refusals_are_answered_and_logged(agent, caplog):
    server, peer, caller = agent
    caplog.set_level(logging.WARNING, "localhub.pool.host.agent")
    third = server.third
    as_third = signing.sign_member_request(third, "GET", "/pool/v1/status", b"", peer.node)
    with_my_card = {**as_third, signing.H_NODE: caller.node}  # the third member claims to be the caller
    forged = {**as_third, signing.H_SIG: signing.sign_member_request(caller, "GET", "/pool/v1/status", b"",
                                                                     peer.node)[signing.H_SIG]}
    cases = {
        "unsigned": {},
        "other-lab": signing.sign_member_request(server.stranger, "GET", "/pool/v1/status", b"", peer.node),
        "stale": signing.sign_member_request(caller, "GET", "/pool/v1/status", b"", peer.node, now=1),
        "impersonation": with_my_card,
        "bad-signature": forged,  # the third member's card, signed with the caller's key
        "not-a-member": {**as_third, signing.H_CARD: as_third[signing.H_CARD][:-8] + "AAAAAAAA"},
    }
    for code, headers in cases.items():
        response = await raw(peer, headers)
        assert response.status_code in (401, 403) and response.json()["reason"] == code, response.text
        assert f"{code} — " in caplog.text
    body = json.dumps({"cpus": 1, "memory": 1, "storage": 1}).encode()
    signed = signing.sign_member_request(caller, "POST", "/pool/v1/offer", body, peer.node)
    assert (await raw(peer, signed, "POST", "/pool/v1/offer", body.replace(b"1", b"9"))).json()["reason"] == \
        "body-altered"
    assert (await raw(peer, signed, "POST", "/pool/v1/offer", body)).status_code == 200
    replay = await raw(peer, signed, "POST", "/pool/v1/offer", body)
    assert replay.status_code == 401 and replay.json()["reason"] == "replayed"
    # a stranger learns nothing, not even which paths exist
    assert (await raw(peer, {}, path="/anything")).json()["reason"] == "unsigned"
    assert "Server" not in replay.headers


async def test_a_removed_desktop_is_refused_once_any_member_passes_the_list_on(agent, caplog):
    server, peer, caller = agent
    third = PeerClient(server.third)
    assert (await third.status(peer))["state"] == "idle"
    # the authority removes the third desktop; the caller holds the new list and passes it on to the agent
    caller.accept_revocations(server.authority.revoke(caller.revocations, server.third.node))
    client = PeerClient(caller)
    await client.pass_on(peer)
    assert server.lab.revocations.serial == 1
    with pytest.raises(PeerRefused, match=f"not a member of this lab: desktop {server.third.node} was removed"):
        await third.status(peer)
    # a list not signed by the authority is refused, and an older one changes nothing
    with pytest.raises(PeerRefused, match="Not a list of removed desktops of this lab"):
        await client.request(peer, "POST", "/pool/v1/lab/revoked", {"list": "e30", "sig": "AAAA"})
    assert (await client.request(peer, "POST", "/pool/v1/lab/revoked",
                                 server.authority.revoke(type(caller.revocations)(), "f" * 16)))["serial"] == 1


async def test_a_member_holding_an_older_list_catches_up_from_any_answer(agent):
    server, peer, caller = agent
    server.lab.accept_revocations(server.authority.revoke(server.lab.revocations, server.third.node))
    client = PeerClient(caller)
    await client.status(peer)
    assert client.newer == {peer.node: 1}  # the agent's answer said it holds list 1
    assert await client.catch_up(peer) and caller.is_revoked(server.third.node)


async def test_client_with_another_key_gets_an_answer_it_cannot_trust(agent):
    server, peer, caller = agent
    with pytest.raises(PeerNotAuthentic, match="not authentic .*it said: The request is signed for another lab"):
        await PeerClient(server.stranger).status(peer)


async def test_client_refuses_a_certificate_other_than_the_pinned_one(agent):
    server, peer, caller = agent
    wrong = PeerAddress(peer.node, peer.address, peer.port, "0" * 32)
    with pytest.raises(PeerNotAuthentic, match="not the pinned"):
        await PeerClient(caller).status(wrong)


async def test_client_checks_the_responder(agent):
    server, peer, caller = agent
    impostor = PeerAddress("d" * 16, peer.address, peer.port, peer.cert)  # right agent, asked as someone else
    with pytest.raises(PeerNotAuthentic):
        await PeerClient(caller).status(impostor)


async def test_unreachable_agent(agent):
    server, peer, caller = agent
    await server.close()
    with pytest.raises(PeerUnreachable, match="unreachable \\(Connection refused\\)"):
        await PeerClient(caller, timeout=1).status(peer)


# --- the guest verbs, up to where an engine is needed ---------------------------------------------

RUN = {"guest": "0123456789abcdef", "server": "ana/x", "image": "img", "cpus": 1, "memory": 10**9,
       "storage": 2**30, "env": {}, "cmd": [], "hub": {"address": "10.0.0.2", "port": 8081},
       "tls": {"ca": guest_certificate("f" * 16)[1].decode()}}


async def test_run_requests_may_not_ask_for_privileges_or_host_paths(agent):
    server, peer, caller = agent
    client = PeerClient(caller)
    for extra in ({"privileged": True}, {"binds": ["/:/host"]}, {"volumes": {"/etc": {}}}, {"cap_add": ["ALL"]},
                  {"network_mode": "host"}, {"devices": ["/dev/sda"]}):
        with pytest.raises(PeerRefused, match="only under its owner's hardening; a request may not set") as err:
            await client.request(peer, "POST", "/pool/v1/guests", {**RUN, **extra})
        assert err.value.code == "forbidden-option"
    with pytest.raises(PeerRefused, match="Unknown fields in the run request: shell") as err:
        await client.request(peer, "POST", "/pool/v1/guests", {**RUN, "shell": "x"})
    with pytest.raises(PeerRefused, match="guest id is 16 lowercase hex"):
        await client.request(peer, "POST", "/pool/v1/guests", {**RUN, "guest": "../../etc"})
    # guests serve only over TLS: a request without the hub's authority, or with garbage, is refused
    with pytest.raises(PeerRefused, match="needs guest, image, .* and tls {ca}"):
        await client.request(peer, "POST", "/pool/v1/guests", {k: v for k, v in RUN.items() if k != "tls"})
    with pytest.raises(PeerRefused, match="tls.ca is not a PEM certificate"):
        await client.request(peer, "POST", "/pool/v1/guests", {**RUN, "tls": {"ca": "-----BEGIN CERTIFICATE-----x"}})
    # a well-formed request reaches the engine question: this agent has none, and says so
    with pytest.raises(PeerRefused, match="runs no guests") as err:
        await client.request(peer, "POST", "/pool/v1/guests", RUN)
    assert err.value.code == "no-engine"


async def test_streamed_uploads_are_checked_against_their_signed_hash(agent, tmp_path):
    server, peer, caller = agent
    path = "/pool/v1/images"
    body = b"x" * 300_000
    signed = signing.sign_member_request(caller, "POST", path, body, peer.node)
    altered = await raw(peer, signed, "POST", path, body[:-1] + b"y")
    assert altered.status_code == 401 and altered.json()["reason"] == "body-altered"
    replay = await raw(peer, signed, "POST", path, body)
    assert replay.json()["reason"] == "replayed"
    assert (await raw(peer, {}, "POST", path, body)).json()["reason"] == "unsigned"
    assert list(server.incoming.iterdir()) == []  # nothing of a refused upload is kept
    good = tmp_path / "image.tar"
    good.write_bytes(body)
    from localhub.pool.away.archives import file_sha

    with pytest.raises(PeerRefused, match="runs no guests"):  # checked, then handed to the (missing) engine
        await PeerClient(caller).upload(peer, "POST", path, good, file_sha(good))
    assert list(server.incoming.iterdir()) == []


class SlowToStop:
    """The agent's runner with one guest of the caller's, whose server takes `seconds` to shut down."""

    def __init__(self, hub_node: str, seconds: float):
        self.seconds, self.stopped = seconds, False
        self.guest = type("Guest", (), {"hub_node": hub_node, "to_dict": lambda g: {"state": "stopped"}})()

    def get(self, guest_id):
        return self.guest

    def stop(self, guest):
        import time
        time.sleep(self.seconds)
        self.stopped = True


async def test_a_guest_slower_to_stop_than_the_liveness_timeout_is_still_stopped_and_said_so(agent):
    """The hub's stop request waited only the client's liveness timeout (5 s for the daemon) while the agent
    gives a guest's server 10 s to shut down: a slow one was reported as a peer that did not answer, and its
    home 'fetched later'."""
    from localhub.pool.away.peer import STOP_PATIENCE

    server, peer, caller = agent
    runner = SlowToStop(caller.node, seconds=1.0)
    server.runner = lambda: runner
    client = PeerClient(caller, timeout=0.5)  # liveness much shorter than the stop
    with pytest.raises(PeerUnreachable):
        await client.request(peer, "POST", "/pool/v1/guests/" + "0" * 16 + "/stop")
    answer = await client.request(peer, "POST", "/pool/v1/guests/" + "0" * 16 + "/stop", patience=STOP_PATIENCE)
    assert answer == {"state": "stopped"} and runner.stopped
