"""Reusable fakes for fast tests of launch decisions, in the manner of JupyterHub's tests/mocking.py.

FakeHub answers the part of JupyterHub's REST API localhub uses (a user's servers, start, stop, delete, spawn
progress as Server-Sent Events, tokens) over an httpx transport, so the code under test speaks real HTTP to
it; named-server limits are enforced as JupyterHub does. FakeBuilder stands for the repo2docker builder:
it yields the build events a real build would and records what it was asked to build.

The engine suite (tests/integration) proves the wiring against the real hub; these prove the decisions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import docker.errors
import httpx

from localhub.hubapi import HubAPI
from localhub.images.catalog import image_name
from localhub.images.events import BuildEvent


@dataclass
class FakeServer:
    name: str
    user_options: dict = field(default_factory=dict)
    ready: bool = False
    pending: str | None = None

    def model(self, user: str) -> dict:
        return {"name": self.name, "ready": self.ready, "pending": self.pending, "user_options": self.user_options,
                "url": f"/user/{user}/{self.name}/" if self.ready else None}


class FakeHub:
    """One user's servers behind JupyterHub's REST routes. `requests` records (method, path) of each call."""

    def __init__(self, user: str = "me", named_server_limit: int = 5):
        self.user = user
        self.limit = named_server_limit
        self.servers: dict[str, FakeServer] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_spawn: str | None = None  # a message: the next spawn fails with it
        self.tokens_issued = 0
        self.spawner_marks: tuple[str, ...] = ()  # the spawner's trace marks its ready event carries

    def add(self, name: str, ready: bool = False, **options) -> FakeServer:
        self.servers[name] = FakeServer(name, options, ready=ready)
        return self.servers[name]

    def api(self, base_url: str = "http://hub.test") -> HubAPI:
        """The daemon's hub client, talking to this fake."""
        return HubAPI(base_url, token="fake", transport=httpx.MockTransport(self.handle))

    # --- routes --------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        prefix = f"/hub/api/users/{self.user}"
        if path.startswith(f"/user/{self.user}/"):  # through the proxy: a ready server's own API answers
            server = self.servers.get(path.split("/")[3])
            if server is not None and server.ready and "authorization" not in request.headers:
                return httpx.Response(200, json={"version": "fake"})
            return httpx.Response(503 if server is not None else 404)
        if path == "/hub/api/users" and request.method == "GET":
            return httpx.Response(200, json=[{"name": self.user, "servers": {
                n: s.model(self.user) for n, s in self.servers.items()}}])
        if path == prefix and request.method == "GET":
            return httpx.Response(200, json={"name": self.user, "servers": {
                n: s.model(self.user) for n, s in self.servers.items()}})
        if path == prefix + "/tokens" and request.method == "POST":
            self.tokens_issued += 1
            return httpx.Response(201, json={"token": f"token-{self.tokens_issued}"})
        if path.startswith(prefix + "/servers/"):
            rest = path[len(prefix + "/servers/"):]
            if rest.endswith("/progress"):
                return self._progress(rest.removesuffix("/progress"))
            body = json.loads(request.content or b"{}")
            if request.method == "POST":
                return self._start(rest, body.get("user_options"))
            if request.method == "PUT":
                return self._create(rest, body.get("user_options"))
            if request.method == "DELETE":
                return self._stop(rest, remove=bool(body.get("remove")))
        return httpx.Response(404, json={"status": 404, "message": f"Not found: {path}"})

    def _start(self, name: str, options: dict | None) -> httpx.Response:
        server = self.servers.get(name)
        if server is None and sum(1 for n in self.servers if n) >= self.limit:
            return httpx.Response(400, json={"status": 400, "message": (
                f"User {self.user} already has the maximum of {self.limit} named servers.  "
                "One must be deleted before a new server can be created")})
        if server is not None and (server.ready or server.pending):
            return httpx.Response(400, json={"status": 400, "message": f"{self.user}:{name} is already running"})
        server = server or self.add(name)
        if options is not None:
            server.user_options = options
        server.pending = "spawn"
        return httpx.Response(202)

    def _create(self, name: str, options: dict | None) -> httpx.Response:
        """PUT: a named server recorded without starting it (JupyterHub 6)."""
        if name in self.servers:
            return httpx.Response(409, json={"status": 409, "message": f"User {self.user} already has server {name}"})
        if sum(1 for n in self.servers if n) >= self.limit:
            return httpx.Response(400, json={"status": 400, "message": (
                f"User {self.user} already has the maximum of {self.limit} named servers.  "
                "One must be deleted before a new server can be created")})
        self.add(name, **(options or {}))
        return httpx.Response(201, json=self.servers[name].model(self.user))

    def _progress(self, name: str) -> httpx.Response:
        server = self.servers[name]
        events = [{"progress": 50, "message": "Server requested"}]
        if self.fail_spawn:
            events.append({"progress": 100, "failed": True, "message": self.fail_spawn})
            server.pending = None
            self.fail_spawn = None
        else:
            events.append({"progress": 100, "ready": True, "message": "Server ready", "url": f"/user/{self.user}/{name}/",
                           "localhub_trace": {mark: time.time() for mark in self.spawner_marks}})
            server.pending, server.ready = None, True
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=body.encode())

    def _stop(self, name: str, remove: bool) -> httpx.Response:
        server = self.servers.get(name)
        if server is None:
            return httpx.Response(404, json={"status": 404, "message": f"No such server {name}"})
        server.ready, server.pending = False, None
        if remove:
            del self.servers[name]
        return httpx.Response(204)


class _Images:
    def get(self, name: str):
        return type("Image", (), {"id": "sha256:" + name.encode().hex()[:64]})()


class _EngineAPI:
    def inspect_volume(self, name: str):  # no home volumes: the launcher's home_files leaves new homes to Docker
        raise docker.errors.NotFound(f"no volume {name}")


class FakeBuilder:
    """Builds instantly. `builds` lists (spec, environment, resolved) per real build; an image already built
    (same environment and id) is found, as the real builder finds it in the engine."""

    def __init__(self, fail: str | None = None):
        self.client = type("Engine", (), {"images": _Images(), "api": _EngineAPI()})()
        self.builds: list[tuple[str, str, str | None]] = []
        self.built: set[str] = set()
        self.fail = fail

    async def build(self, spec, repo, resolved_ref=None, rebuild=False, base_image=None,
                    content_providers=("Local", "Git"), environment=None):
        name = image_name(environment or spec, resolved_ref or "content")
        if name in self.built and not rebuild:
            yield BuildEvent("built", f"{name} is already built", 1.0, name)
            return
        self.builds.append((spec, environment, resolved_ref))
        yield BuildEvent("fetching", f"Fetching {repo}")
        yield BuildEvent("building", "Step 1/2", 0.5)
        if self.fail:
            yield BuildEvent("failed", self.fail)
            return
        self.built.add(name)
        yield BuildEvent("built", f"Built {name} in 0.1 s", 1.0, name)
