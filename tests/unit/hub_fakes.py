"""Reusable fakes for the decisions of the code that runs inside JupyterHub (hub/auth.py, the spawner's
placement on peers) and of the daemon's endpoints it asks (api_hub.py), in the manner of JupyterHub's
tests/mocking.py: an engine that knows a few images and volume sizes, a daemon around it, a placement service
that answers from a script, and a daemon link that records what the spawner asked."""

from __future__ import annotations

import contextlib
import socket
from types import SimpleNamespace

import docker.errors
import tornado.httpserver
import tornado.web

from localhub import api_hub
from localhub.config import Settings
from localhub.hub.daemon_link import DaemonRefused, DaemonUnreachable
from localhub.pool.away.ledger import Away

TOKEN = "t0ken"


class FakeEngine:
    """`images.get` knows `images`; `volumes` (name -> bytes) are the homes as measured."""

    def __init__(self, images=("localhub/singleuser:latest",), volumes: dict | None = None):
        self.known, self.volumes = set(images), volumes or {}
        self.images = SimpleNamespace(get=self._get)

    def _get(self, image):
        if image not in self.known:
            raise docker.errors.ImageNotFound(image)
        return SimpleNamespace(id="sha256:" + "1" * 64)


class FakePlacement:
    """Answers like pool/away/placement.Placement, from `choice`; records every call."""

    def __init__(self, choice=None, steps=("Image sent and loaded in 0.1 s.",), fail: Exception | None = None):
        self.choice, self.steps, self.fail = choice or {"where": "local"}, steps, fail
        self.calls: list[tuple] = []

    async def choose(self, user, server, where, ask):
        self.calls.append(("choose", user, server, where))
        if isinstance(self.choice, Exception):
            raise self.choice
        return self.choice

    async def start(self, node, request, note):
        self.calls.append(("start", node, request["server"]))
        for step in self.steps:
            note(step)
        if self.fail:
            raise self.fail
        return Away(guest=request["guest"], user=request["user"], server=request["server"], volume=request["volume"],
                    image=request["image"], peer={"node": node, "address": "10.0.0.3", "port": 8470, "cert": "c",
                                                  "name": "bob"}, state="running", address="10.0.0.3", port=49153)

    async def poll(self, guest):
        self.calls.append(("poll", guest))
        return None

    async def stop(self, guest):
        self.calls.append(("stop", guest))

    async def forget(self, user, server):
        self.calls.append(("forget", user, server))


def fake_daemon(tmp_path, engine: FakeEngine | None = None, placement: FakePlacement | None = None):
    settings = Settings(state_dir=tmp_path / "state", config_dir=tmp_path / "config", user="ana",
                        image="localhub/singleuser:latest")
    logged: list[str] = []
    daemon = SimpleNamespace(token=TOKEN, settings=settings, docker=engine or FakeEngine(), logged=logged,
                             log=logged.append, lab_member=SimpleNamespace(placement=placement) if placement else None)
    # homes as the daemon's storage watch measured them: the fake engine's `volumes`
    daemon.storage_watch = SimpleNamespace(used=lambda volume: daemon.docker.volumes.get(volume))
    return daemon


@contextlib.asynccontextmanager
async def serving(daemon):
    """The daemon's hub-side endpoints on a loopback port; yields their base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = tornado.httpserver.HTTPServer(tornado.web.Application(api_hub.handlers(daemon)))
    server.listen(port, "127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}{api_hub.PREFIX}"
    finally:
        server.stop()
        await server.close_all_connections()


class FakeLink:
    """Stands in for hub/daemon_link.DaemonLink inside a spawner: scripted answers, recorded calls."""

    def __init__(self, choice=None, start_events=None, poll=None, refuse: str | None = None,
                 unreachable: bool = False):
        self.choice = choice or {"where": "local"}
        self.start_events = start_events or [{"guest": "0" * 16}, {"step": "Sending the home (1.0 MB)…"},
                                             {"running": {"guest": "0" * 16, "address": "10.0.0.3", "port": 49153,
                                                          "peer": "bob"}}]
        self.poll_answer, self.refuse, self.unreachable = poll, refuse, unreachable
        self.calls: list[tuple] = []

    def _answer(self):
        if self.unreachable:
            raise DaemonUnreachable("The localhub daemon did not answer (ConnectError).")
        if self.refuse:
            raise DaemonRefused(self.refuse)

    async def choose(self, user, server, where, ask):
        self.calls.append(("choose", user, server, where, ask))
        self._answer()
        return self.choice

    async def start(self, request):
        self.calls.append(("start", request))
        self._answer()
        for event in self.start_events:
            yield event

    async def poll(self, guest):
        self.calls.append(("poll", guest))
        self._answer()
        return self.poll_answer

    async def stop(self, guest):
        self.calls.append(("stop", guest))
        self._answer()

    async def forget(self, user, server):
        self.calls.append(("forget", user, server))
        self._answer()
