"""The agent in-process over HTTPS on loopback: status and offer for a signed client, refusals with reasons
(in the answer and in the log) for everyone else, and a client that checks who answered."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from localhub.pool.trust import keys, signing
from localhub.pool.host.agent import Agent
from localhub.pool.away.client import PeerAddress, PeerClient, PeerNotAuthentic, PeerRefused, PeerUnreachable
from localhub.pool.host.idle import IdleSources, ManualIdleSource
from localhub.pool.host.machine import Figures
from localhub.pool.host.node import Node
from localhub.pool.host.share import Share, save_share
from localhub.pool.trust.tls import ensure_certificate, pinned_context, server_context

pytestmark = pytest.mark.unit

KEY = b"k" * 32


@pytest.fixture
async def agent(tmp_path):
    """An agent whose owner has been away an hour, sharing 1 CPU / 3 GB / 5 GiB; and a client's lab."""
    home = tmp_path / "agent"
    keys.store_key(home, KEY)
    lab = keys.load_lab(home)
    save_share(home, Share(enabled=True, cpus=1, memory=3 * 10**9, disk=5 * 2**30))
    figures = Figures(cpus=4, load1=0.2, mem_total=8 * 10**9, mem_available=6 * 10**9, disk_free=50 * 2**30)
    node = Node(home, lab, IdleSources([ManualIdleSource(value=3600)]), figures=lambda _: figures)
    server = Agent(lab, node)
    cert_path, key_path, cert = ensure_certificate(home, lab.node)
    port = server.listen("127.0.0.1", 0, server_context(cert_path, key_path))
    caller = keys.Lab(key=KEY, node="c" * 16)
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
    cases = {
        "unsigned": {},
        "other-lab": signing.sign_request(b"o" * 32, "GET", "/pool/v1/status", b"", caller.node, peer.node),
        "stale": signing.sign_request(KEY, "GET", "/pool/v1/status", b"", caller.node, peer.node, now=1),
    }
    for code, headers in cases.items():
        response = await raw(peer, headers)
        assert response.status_code in (401, 403) and response.json()["reason"] == code, response.text
        assert f"{code} — " in caplog.text
    body = json.dumps({"cpus": 1, "memory": 1, "storage": 1}).encode()
    signed = signing.sign_request(KEY, "POST", "/pool/v1/offer", body, caller.node, peer.node)
    assert (await raw(peer, signed, "POST", "/pool/v1/offer", body.replace(b"1", b"9"))).json()["reason"] == \
        "body-altered"
    assert (await raw(peer, signed, "POST", "/pool/v1/offer", body)).status_code == 200
    replay = await raw(peer, signed, "POST", "/pool/v1/offer", body)
    assert replay.status_code == 401 and replay.json()["reason"] == "replayed"
    # a stranger learns nothing, not even which paths exist
    assert (await raw(peer, {}, path="/anything")).json()["reason"] == "unsigned"
    assert "Server" not in replay.headers


async def test_client_with_another_key_gets_an_answer_it_cannot_trust(agent):
    server, peer, caller = agent
    with pytest.raises(PeerNotAuthentic, match="not authentic .*it said: The request is signed for another lab"):
        await PeerClient(keys.Lab(key=b"o" * 32, node=caller.node)).status(peer)


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
       "storage": 2**30, "env": {}, "cmd": [], "hub": {"address": "10.0.0.2", "port": 8081}}


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
    # a well-formed request reaches the engine question: this agent has none, and says so
    with pytest.raises(PeerRefused, match="runs no guests") as err:
        await client.request(peer, "POST", "/pool/v1/guests", RUN)
    assert err.value.code == "no-engine"


async def test_streamed_uploads_are_checked_against_their_signed_hash(agent, tmp_path):
    server, peer, caller = agent
    path = "/pool/v1/images"
    body = b"x" * 300_000
    signed = signing.sign_request(KEY, "POST", path, body, caller.node, peer.node)
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
