"""The notice a server's JupyterLab page asks for (notice_web.py), against the daemon's real tornado application
with a fake hub and engine: the same sentence `servers ls` shows, for the server's owner and no one else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from localhub import api, storage
from localhub.pool.away.ledger import Away
from tests.unit.daemon_fakes import USER, FakeDaemon, serve

pytestmark = pytest.mark.unit


@pytest.fixture
def daemon(tmp_path) -> FakeDaemon:
    daemon = FakeDaemon(tmp_path)
    notices = {storage.container_name(daemon.settings.instance, USER, "hog"): "out of memory: <b>x</b> & more"}
    daemon.watch = SimpleNamespace(notice=notices.get)
    return daemon


def signed_in_as(monkeypatch, who: dict) -> None:
    monkeypatch.setattr(api.APIHandler, "get_current_user", lambda self: who)


async def test_the_owner_reads_each_servers_own_notice(daemon, monkeypatch):
    daemon.hub.add("hog", ready=True)
    daemon.hub.add("calm", ready=True)
    async with serve(daemon, monkeypatch) as http:
        hog = await http.get(f"/users/{USER}/servers/hog/notice")
        calm = await http.get(f"/users/{USER}/servers/calm/notice")
        default = await http.get(f"/users/{USER}/servers//notice")
    assert hog.status_code == 200 and hog.json() == {"notice": "out of memory: <b>x</b> & more"}
    assert hog.headers["cache-control"] == "no-store"
    assert calm.json() == {"notice": None} and default.json() == {"notice": None}


@pytest.mark.parametrize("who, user", [
    ({"kind": "user", "name": "mallory"}, USER),    # another user of the hub, even one let into the service
    ({"kind": "service", "name": "localhub"}, USER),  # a service's token: it is nobody's page
    ({"kind": "user", "name": "mallory"}, "mallory"),  # the same server name under the other user's name
    ({"kind": "user", "name": USER}, "mallory"),    # the owner asking for someone else's server
])
async def test_nobody_else_reads_a_notice(daemon, monkeypatch, who, user):
    daemon.hub.add("hog", ready=True)
    async with serve(daemon, monkeypatch) as http:
        signed_in_as(monkeypatch, who)
        r = await http.get(f"/users/{user}/servers/hog/notice")
    assert r.status_code == 403 and "owner" in r.json()["message"]
    assert "out of memory" not in r.text


async def test_a_server_away_says_what_its_peer_says(daemon, monkeypatch):
    daemon.hub.add("big", ready=True)
    daemon.hub.add("gone", ready=False)
    peer = {"name": "desk-7", "host": "10.0.0.7", "port": 1, "fingerprint": "f"}
    away = {
        "big": Away("g1", USER, "big", "v1", "img", peer, state="running",
                    notice="paused: the owner of desk-7 is back; it moves home in 10 min"),
        "gone": Away("g2", USER, "gone", "v2", "img", peer, state="lost", notice="the peer no longer knows this server"),
    }
    monkeypatch.setattr(daemon, "servers_away", lambda: away, raising=False)
    async with serve(daemon, monkeypatch) as http:
        big = (await http.get(f"/users/{USER}/servers/big/notice")).json()
        gone = (await http.get(f"/users/{USER}/servers/gone/notice")).json()
        listing = {s["name"]: s for s in (await http.get("/servers")).json()["servers"]}
    assert big == {"notice": "paused: the owner of desk-7 is back; it moves home in 10 min"}
    assert gone["notice"].startswith("lost with desk-7 (the peer no longer knows this server)")
    assert big["notice"] == listing["big"]["notice"] and gone["notice"] == listing["gone"]["notice"]
