"""Reusable fakes for fast tests of the daemon's decisions (api.py, daemon.py, the cli/ package), in the manner
of JupyterHub's tests/mocking.py.

- `FakeEngine`: the part of the Docker SDK the daemon's handlers use — labelled volumes and containers, environment
  images, a container's log stream — held in plain lists and dicts.
- `FakeDaemon`: what the API handlers ask of `localhub.daemon.Daemon`, around a `FakeHub` (fakehub.py: JupyterHub's
  REST API over an httpx transport) and a `FakeEngine`; it records shutdown requests and sign-in links.
- `serve(daemon)`: the real tornado application of api.make_app on a free port, signed in as the desktop user.
- `fake_client(hub)`: a `localhub.client.Client` whose requests reach a FakeHub (JupyterHub's routes) and a
  small stand-in of the daemon's own /servers route — the CLI's decisions without a running hub.

The engine suite (tests/integration, tests/reliability) proves the wiring against real parts; these prove the
decisions in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import httpx
import tornado.httpserver

from localhub import api, storage
from localhub.client import Client
from localhub.config import Settings
from localhub.hub import servers_web
from localhub.images.catalog import LABEL_SPEC
from localhub.launcher import RecentLaunches
from localhub.readers import Readers
from localhub.state import StateDir
from tests.unit.fakehub import FakeHub

USER = "me"


# --- the engine ----------------------------------------------------------------------------------------------
@dataclass
class FakeVolume:
    name: str
    labels: dict

    @property
    def attrs(self) -> dict:
        return {"Name": self.name, "Labels": self.labels}


@dataclass
class FakeContainer:
    name: str
    labels: dict
    image: str = "localhub/singleuser:latest"
    status: str = "running"
    log: list[bytes] = field(default_factory=list)

    @property
    def attrs(self) -> dict:
        return {"Config": {"Image": self.image, "Labels": self.labels}, "State": {"Status": self.status}}


@dataclass
class FakeImage:
    tags: list[str]
    labels: dict
    id: str = "sha256:" + "0" * 64
    attrs: dict = field(default_factory=lambda: {"Size": 1000})


class LogStream:
    """What `APIClient.logs(stream=True)` returns: an iterable of chunks with `close()`."""

    def __init__(self, chunks):
        self.chunks, self.closed = list(chunks), False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


def _matches(labels: dict, filters: dict | None) -> bool:
    wanted = (filters or {}).get("label") or []
    for rule in [wanted] if isinstance(wanted, str) else wanted:
        key, _, value = rule.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


class FakeEngine:
    def __init__(self, instance: str):
        self.instance = instance
        self.volume_list: list[FakeVolume] = []
        self.container_list: list[FakeContainer] = []
        self.image_list: list[FakeImage] = []
        self.removed_images: list[str] = []
        self.volumes = SimpleNamespace(list=lambda filters=None: [v for v in self.volume_list
                                                                  if _matches(v.labels, filters)])
        self.containers = SimpleNamespace(list=lambda all=False, filters=None, ignore_removed=False: [
            c for c in self.container_list if _matches(c.labels, filters) and (all or c.status == "running")])
        self.images = SimpleNamespace(list=self._list_images, get=self._get_image, remove=self._remove_image)
        self.api = SimpleNamespace(logs=self._logs, df=lambda: {"Volumes": []}, images=self._image_summaries,
                                   containers=self._container_summaries)

    # helpers for tests
    def add_home(self, server: str, user: str = USER) -> FakeVolume:
        volume = FakeVolume(storage.home_volume_name(self.instance, user, server),
                            {"localhub.instance": self.instance, "localhub.user": user, "localhub.server": server})
        self.volume_list.append(volume)
        return volume

    def add_container(self, server: str, user: str = USER, **kwargs) -> FakeContainer:
        labels = {"localhub.instance": self.instance, "localhub.user": user, "localhub.server": server,
                  **kwargs.pop("labels", {})}
        container = FakeContainer(storage.container_name(self.instance, user, server), labels, **kwargs)
        self.container_list.append(container)
        return container

    def add_environment(self, name: str, spec: str) -> FakeImage:
        image = FakeImage([name], {LABEL_SPEC: spec, "localhub.instance": self.instance,
                                   "localhub.built": "2026-01-01T00:00:00+00:00"})
        self.image_list.append(image)
        return image

    # the SDK's calls
    def _list_images(self, filters=None):
        return [i for i in self.image_list if _matches(i.labels, filters)]

    def _container_summaries(self, all=False, filters=None):  # GET /containers/json
        return [{"Id": c.name, "Names": ["/" + c.name], "State": c.status, "Labels": c.labels}
                for c in self.containers.list(all=all, filters=filters)]

    def _image_summaries(self, filters=None):  # GET /images/json
        return [{"Id": i.id, "RepoTags": i.tags, "Labels": i.labels, "Size": i.attrs.get("Size", 0)}
                for i in self._list_images(filters)]

    def _get_image(self, name):
        for image in self.image_list:
            if name in image.tags:
                return image
        raise docker.errors.ImageNotFound(name)

    def _remove_image(self, name, force=False):
        self._get_image(name)
        self.removed_images.append(name)
        self.image_list = [i for i in self.image_list if name not in i.tags]

    def _logs(self, container, stream=True, follow=False, tail=200):
        for c in self.container_list:
            if c.name == container:
                return LogStream(c.log[-tail:] if tail else [])
        raise docker.errors.NotFound(f"No such container: {container}")


# --- the daemon ------------------------------------------------------------------------------------------------
class FakeBuilder:
    def __init__(self):
        self.builds_started = 0
        self.logs: dict[str, str] = {}

    def building(self) -> list[str]:
        return []

    def status(self) -> list[dict]:  # builds running now
        return []

    # what images cost on disk (images/inventory.LayerBook): unknown here, so each counts its engine size
    layers = SimpleNamespace(usage=lambda ids, present=None: ({}, 0), freed_by=lambda ids: 0)

    def read_log(self, image: str) -> str | None:
        if len(image) > 255:
            raise OSError(36, "File name too long")
        return self.logs.get(image)

    def latest_log_for_spec(self, spec: str) -> str | None:
        return None


class FakeDaemon:
    """What api.py's handlers ask of the daemon. `hub` is JupyterHub (a FakeHub), `docker` the engine."""

    def __init__(self, tmp: Path, hub: FakeHub | None = None):
        self.settings = Settings(state_dir=tmp / "state", config_dir=tmp / "config", user=USER,
                                 image="localhub/singleuser:latest")
        self.state = StateDir(self.settings.state_dir)
        self.state.prepare()
        self.hub = hub or FakeHub(USER)
        self.hub_api = self.hub.api()
        self.docker = FakeEngine(self.settings.instance)
        self.builder = FakeBuilder()
        self.launcher = SimpleNamespace(recent=RecentLaunches(self.state.root / "launches.json"), traces={},
                                        image_traces={})
        self.readers = Readers()
        self.usage = SimpleNamespace(latest={}, history=lambda container: [])
        self.watch = SimpleNamespace(notice=lambda container: None)
        self.storage_watch = SimpleNamespace(mode=lambda: ("watched", "storage is watched"),
                                             usage=lambda: self.storage_used)
        self.lab_member = None
        self.network_isolation = None
        self.hub_auth = None
        self.cookie_secret = "c" * 32
        self.token = "t0ken"
        self.started = time.time()
        self.storage_used: dict[str, int] = {}  # volume -> bytes, as the storage watch measured them
        self.shutdowns: list[bool] = []
        self.links: list[str] = []

    def engine_facts(self) -> dict:
        return {"version": "20.10", "api_version": "1.41", "address": "unix:///fake.sock", "api_ok": True}

    def container_details(self) -> dict:
        return servers_web.container_details(self.docker, self.settings.instance, self.storage_watch.usage())

    def servers_away(self) -> dict:
        return {}

    def login_link(self, next_url: str = "/hub/home") -> str:
        self.links.append(next_url)
        return f"{self.settings.url}/hub/login?token=one-time&next={next_url}"

    def request_shutdown(self, keep_servers: bool = False) -> None:
        self.shutdowns.append(keep_servers)

    def log(self, message: str) -> None:
        pass


@contextlib.asynccontextmanager
async def serve(daemon: FakeDaemon, monkeypatch):
    """The daemon's real API application on a free port, every request signed in as the desktop user; yields an
    httpx client for it."""
    monkeypatch.setattr(api.APIHandler, "get_current_user", lambda self: {"name": USER, "kind": "user"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = tornado.httpserver.HTTPServer(api.make_app(daemon))
    server.listen(port, "127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/services/localhub/api", timeout=10) as http:
            yield http
    finally:
        server.stop()
        daemon.readers.close_all()


# --- the command line's client ---------------------------------------------------------------------------------
def fake_client(hub: FakeHub, tmp: Path, max_name: int = 20) -> Client:
    """A Client whose requests reach `hub` (JupyterHub's routes) and a stand-in of the daemon's /servers route."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/services/localhub/api/servers":
            return httpx.Response(200, json={"user": hub.user, "servers": [
                {"name": n, "status": "running" if s.ready else (s.pending or "stopped"), "ready": s.ready,
                 "profile": s.user_options.get("profile", "default"), "where": "local"}
                for n, s in hub.servers.items()]})
        match = path.removeprefix("/services/localhub/api/servers/")
        if match.endswith("/stop") and request.method == "POST":
            name = match.removesuffix("/stop")
            if name in hub.servers:
                hub.servers[name].ready = False
            return httpx.Response(200, json={"stopped": name})
        return _sync(hub.handle(request))

    client = Client.__new__(Client)
    client.state = StateDir(tmp)
    client.runtime = {"url": "http://hub.test", "user": hub.user, "settings": {"server_name_max_length": max_name}}
    client.url, client.user = "http://hub.test", hub.user
    # with a token, as the real client has (the hub's, an admin's): a server must never be sent it
    client.http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handle),
                               headers={"Authorization": "token the-hubs-own"})
    return client


def _sync(response: httpx.Response) -> httpx.Response:
    return httpx.Response(response.status_code, headers=response.headers, content=response.content)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
