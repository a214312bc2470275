"""The daemon API's servers: the listing of the desktop user's servers with what the engine knows of them
(container state, storage use, usage, where each runs and what its user should know), the one stop-and-wait,
resuming a paused server, and a server's container log (redacted, followed on request).

    GET  /services/localhub/api/servers[?environments=1]      {"user", "servers": [...], (environments)}
    POST /services/localhub/api/servers/NAME/stop              {"stopped": NAME}, once it has stopped
    POST /services/localhub/api/servers/NAME/resume            {"resumed": true | false}
    GET  /services/localhub/api/servers/NAME/logs[?follow=1&tail=N]   plain text lines
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import docker.errors
from tornado import web
from tornado.log import app_log

from .. import storage
from ..api import APIHandler
from ..errors import shown
from ..hubapi import HubError
from ..profiles import load_profiles
from ..redact import redact

if TYPE_CHECKING:
    from ..daemon import Daemon

class ServersHandler(APIHandler):
    """The desktop user's servers with what the engine knows of them (container state, storage use).
    `?environments=1` adds the environments (environments_web.inventory) made from the same answer of the hub:
    the TUI shows both on every poll, and JupyterHub's answer grows with every server, so it is asked once."""

    @web.authenticated
    async def get(self):
        d = self.daemon
        # the hub and the engine asked side by side: the TUI and `servers ls` ask every few seconds
        user = asyncio.ensure_future(d.hub_api.user(d.settings.user))
        environments = None
        if self.get_argument("environments", "") == "1":
            from .environments_web import inventory  # that module builds on api.py's handlers

            environments = asyncio.ensure_future(inventory(d, user))
        try:
            user, details = await asyncio.gather(user, self.in_thread(d.container_details))
        except BaseException:
            if environments is not None:  # it needs the hub's answer too: nothing more to say than this failure
                environments.cancel()
                environments.add_done_callback(lambda task: task.cancelled() or task.exception())
            raise
        body = {"user": d.settings.user, "servers": server_rows(d, user, details)}
        if environments is not None:
            try:
                body.update(await environments)
            except Exception as err:  # noqa: BLE001 - the servers are still worth showing; the daemon's log says why
                app_log.error("Listing the environments failed", exc_info=True)
                body["environments_error"] = (f"The environments could not be listed ({err.__class__.__name__}); "
                                              "the daemon's log says why.")
        self.write_json(body)


def server_rows(d: "Daemon", user: dict, details: dict) -> list[dict]:
    """What the listing says of each server: JupyterHub's model of the user (`user`) joined with the engine's
    (`details`: container_details), the profiles, the usage sampled, the lab's ledger and the watch."""
    profiles = load_profiles(d.settings.config_dir)
    away = d.servers_away()
    instance = d.settings.instance
    servers = []
    for name, server in sorted((user.get("servers") or {}).items()):
        if not name and not (server.get("ready") or server.get("pending")):
            continue  # the default server is listed only while it runs
        options = server.get("user_options") or {}
        profile = profiles.get(options.get("profile") or d.settings.default_profile)
        volume = storage.home_volume_name(instance, d.settings.user, name)
        detail = details.get(volume, {})
        container = detail.get("container")
        usage = d.usage.latest.get(container, {})
        servers.append({
            "name": name,
            "ready": bool(server.get("ready")),
            "pending": server.get("pending"),
            # paused: frozen with its memory kept, resumed by the next request (pausing.py)
            "status": ("paused" if detail.get("state") == "paused" else "running") if server.get("ready")
            else (server.get("pending") or "stopped"),
            "url": d.settings.url + server["url"] if server.get("url") else None,
            "profile": profile.name if profile else options.get("profile"),
            "image": options.get("image") or (profile.image if profile else None) or d.settings.image,
            "environment": options.get("spec"),
            "storage_used": detail.get("storage_used"),
            "storage_cap": profile.storage if profile else None,
            "volume": volume,
            "container": container,
            "cpu_percent": usage.get("cpu_percent"),
            "memory_used": usage.get("memory"),
            "cpu_limit": profile.cpu if profile else None,
            "memory_limit": profile.memory if profile else None,
            # [unix time, CPU % of one core, memory bytes] every few seconds, oldest first (bounded)
            "usage_history": [list(sample) for sample in d.usage.history(container)],
            "container_state": detail.get("state"),
            "last_activity": server.get("last_activity"),
            "started": server.get("started"),
            "last_launch": d.launcher.traces.get(name),  # where its last launch's time went (launch_trace.py)
            **placement(away.get(name), bool(server.get("ready") or server.get("pending")),
                        d.watch.notice(storage.container_name(instance, d.settings.user, name))),
        })
    return servers


def placement(away, running: bool, local_notice: str | None = None) -> dict:
    """Where a server runs, and what its user should know about it (paused on a peer, lost with a peer; here:
    killed at its memory limit, stopped at its storage cap — server_watch.py)."""
    if away is None:
        return {"where": "local", "notice": local_notice}
    if away.state == "lost" or (not running and away.state in ("returning", "lost")):
        synced = time.strftime("%H:%M", time.localtime(away.synced)) if away.synced else "never"
        return {"where": away.peer_name, "notice": f"lost with {away.peer_name} ({away.notice}); its home as "
                                                   f"last synced ({synced}) is here, and the peer's copy comes back "
                                                   "when the peer does"}
    return {"where": away.peer_name, "notice": away.notice or None}


KEEPALIVE_SECONDS = 5


class ServerStopHandler(APIHandler):
    """Stop a server and answer once it has stopped: the one stop-and-wait (the daemon's hub client's), so that
    the command line and the TUI do not poll JupyterHub themselves."""

    @web.authenticated
    async def post(self, name: str):
        d = self.daemon
        try:
            stopped = await d.hub_api.stop_server(d.settings.user, name, STOP_TIMEOUT)
        except HubError as err:
            raise web.HTTPError(err.status or 500, str(err)) from None
        if not stopped:
            raise web.HTTPError(504, f"Server '{shown(name)}' did not stop within {STOP_TIMEOUT} s.")
        self.write_json({"stopped": name})


STOP_TIMEOUT = 60


class ServerResumeHandler(APIHandler):
    """Resume a paused server now (`servers start|open`, the TUI): {"resumed": true} if it was paused."""

    @web.authenticated
    async def post(self, name: str):
        d = self.daemon
        resumed = await d.pauser.resume(d.settings.user, name) if d.pauser else False
        self.write_json({"resumed": resumed})


class ServerLogsHandler(APIHandler):
    """A server's container log as plain text lines; `?follow=1` keeps streaming until the client leaves,
    with an empty line as a keep-alive while the container is quiet."""

    @web.authenticated
    async def get(self, name: str):
        d = self.daemon
        container = storage.container_name(d.settings.instance, d.settings.user, name)
        follow = self.get_argument("follow", "0") == "1"
        tail = self.get_argument("tail", "200")
        if not tail.isdigit() or len(tail) > 9:
            raise web.HTTPError(400, f"tail must be a number of lines, not '{shown(tail)}'.")
        tail = int(tail)
        try:
            stream = await self.in_thread(
                lambda: d.docker.api.logs(container, stream=True, follow=follow, tail=tail)
            )
        except docker.errors.NotFound:
            if name not in await d.hub_api.servers(d.settings.user):
                raise web.HTTPError(404, f"There is no server '{shown(name)}'; `localhub servers ls` lists them.") \
                    from None
            raise web.HTTPError(404, f"Server '{shown(name)}' has no container (it is stopped).") from None
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        # while following a quiet container, an empty line every few seconds lets clients notice that their
        # reader has gone away (and lets them stop between lines)
        # the server's own log names the URLs it was asked for, `?token=` included in forms jupyter_server does not
        # scrub (`Token=`, `;token=`, `%74oken=`): whole lines are redacted before they leave
        lines = LineRedactor()
        with d.readers.open(stream, f"log of {name}") as reader:
            async for chunk in reader.chunks(idle=KEEPALIVE_SECONDS if follow else None, keepalive=None):
                # quiet for a while: what is pending is shown as it is, else an empty line is the keep-alive
                self.write((lines.rest() or b"\n") if chunk is None else lines.feed(chunk))
                try:
                    await self.flush()
                except Exception:  # the client went away
                    return
        self.finish(lines.rest())


class LineRedactor:
    """A byte stream's complete lines, each through redact() (a secret split across two chunks is still found);
    a line is held back until its end, up to LINE_LIMIT bytes."""

    LINE_LIMIT = 64 * 1024

    def __init__(self):
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        head, newline, self._partial = (self._partial + chunk).rpartition(b"\n")
        lines = redact((head + newline).decode("utf-8", "replace")).encode() if newline else b""
        return lines + self.rest() if len(self._partial) > self.LINE_LIMIT else lines

    def rest(self) -> bytes:
        rest, self._partial = self._partial, b""
        return redact(rest.decode("utf-8", "replace")).encode()


def container_details(client, instance: str, usage: dict[str, int]) -> dict:
    """Per home volume: its storage use (as the storage watch measured it) and the state of the container
    using it. One request to the engine however many containers the hub has: their summaries, not docker-py's
    containers.list(), which inspects every container one request at a time."""
    details: dict = {name: {"storage_used": used} for name, used in usage.items()}
    try:
        containers = client.api.containers(all=True, filters={"label": f"localhub.instance={instance}"})
    except docker.errors.DockerException:
        containers = []
    for container in containers:
        labels = container.get("Labels") or {}
        volume = storage.home_volume_name(instance, labels.get("localhub.user", ""), labels.get("localhub.server", ""))
        name = (container.get("Names") or [""])[0].lstrip("/")
        details.setdefault(volume, {}).update(container=name, state=container.get("State"))
    return details


def handlers(daemon: "Daemon") -> list:
    prefix, args = "/services/localhub/api", {"daemon": daemon}
    return [
        (prefix + "/servers", ServersHandler, args),
        (prefix + r"/servers/([^/]*)/logs", ServerLogsHandler, args),
        (prefix + r"/servers/([^/]*)/stop", ServerStopHandler, args),
        (prefix + r"/servers/([^/]*)/resume", ServerResumeHandler, args),
    ]
