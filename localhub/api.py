"""The daemon's own HTTP API, served as a JupyterHub service at /services/localhub/api/.

JupyterHub's REST API already covers users and named servers; this adds what only the daemon knows:
engine facts, storage use, profiles, sign-in links and shutdown. Every request is authenticated by the
hub (a token with access to this service: the CLI's token, or the signed-in desktop user).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import docker.errors
from pathlib import Path

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.log import app_log

from . import __version__, api_hub, recovery, storage
from .docker_engine import hub_containers
from .errors import LocalhubError, shown
from .images.catalog import list_environments
from .hub import binder_web
from .hub.network import exposed_warning, not_isolated_warning
from .hubapi import HubError
from .profiles import load_profiles
from .redact import redact

if TYPE_CHECKING:
    from .daemon import Daemon


class APIHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, daemon: "Daemon"):
        self.daemon = daemon
        self.hub_auth = daemon.hub_auth

    def check_xsrf_cookie(self):
        # JupyterHub's HubOAuth calls this for requests signed in by the browser's cookie only (a request with an
        # `Authorization: token` header never gets here); refusing makes the request not signed in
        refusal = cross_site_refusal(self.request)
        if refusal:
            self._refusal = refusal
            raise web.HTTPError(403, refusal)

    def write_json(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        message = getattr(self, "_refusal", None) or self._reason
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # tornado stores '%' doubled when there are no args
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def json_body(self) -> dict:
        """The request's JSON object (empty body: {}); anything else is a 400 sentence, not a 500."""
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The request body must be a JSON object.")
        return body

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def cross_site_refusal(request) -> str | None:
    """Why a cookie-signed-in request is refused as possibly sent by another site's page, or None.

    JupyterHub's cookies carry no SameSite, so a page on any site can make the browser send them with a form or
    a fetch; a request that changes something is therefore accepted only from this hub's own pages: its
    `Origin` names the host the request was sent to, or the browser says `Sec-Fetch-Site: same-origin`. A
    request with neither (no browser sends a POST so) is refused too. Reads (GET, HEAD, OPTIONS) pass: another
    site cannot read their answers."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is not None:
        if urlsplit(origin).netloc.lower() == (request.host or "").lower():
            return None
    elif request.headers.get("Sec-Fetch-Site") == "same-origin":
        return None
    return ("This request was refused: it is signed in by the browser's cookie but did not come from this hub's own "
            "pages (scripts sign in with an 'Authorization: token' header).")


class InfoHandler(APIHandler):
    @web.authenticated
    async def get(self):
        d = self.daemon
        profiles = load_profiles(d.settings.config_dir)
        self.write_json({
            "version": __version__,
            "url": d.settings.url,
            "user": d.settings.user,
            "instance": d.settings.instance,
            "state_dir": str(d.settings.state_dir),
            "started": d.started,
            "uptime": time.time() - d.started,
            "default_image": d.settings.image,
            "engine": await self.in_thread(d.engine_facts),
            # how storage caps are held here: "enforced" by engine quotas or "watched" (storage_watch.py)
            "storage_enforcement": d.storage_watch.mode()[0],
            "storage_enforcement_text": d.storage_watch.mode()[1],
            # servers reach their hub's API, DNS and the internet only (isolation.py); else why not
            "network_isolation": d.network_isolation or "enforced",
            "profiles": [p.to_dict() for p in profiles.values()],
            "profile_warnings": list(profiles.skipped.values()),
            # what a user starting or checking the hub must be told
            "warnings": list(profiles.skipped.values()) + [warning for warning in (
                not_isolated_warning(d.network_isolation) if d.network_isolation else None,
                exposed_warning(d.settings.ip)) if warning],
            "default_profile": d.settings.default_profile,
            "pool": await self.in_thread(d.lab_member.status) if d.lab_member else None,
            "builds_started": d.builder.builds_started,
            "building": d.builder.building(),
            "limits": {
                "max_named_servers": d.settings.max_named_servers,
                "server_name_max_length": d.settings.server_name_max_length,
                "idle_timeout": d.settings.idle_timeout,
                "pause_after": d.settings.pause_after,
                "paused_memory_cap": d.settings.paused_memory_cap,
            },
        })


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
            from .hub.environments_web import inventory  # that module builds on this one's handlers

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
    (`details`: api.container_details), the profiles, the usage sampled, the lab's ledger and the watch."""
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


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """The end of a browser's sign-in to this service, checked against the daemon's own HubOAuth."""

    def initialize(self, daemon: "Daemon"):
        self.hub_auth = daemon.hub_auth


class LoginLinkHandler(APIHandler):
    @web.authenticated
    async def post(self):
        next_url = self.json_body().get("next") or "/hub/home"
        if not isinstance(next_url, str) or not next_url.startswith("/") or next_url.startswith("//"):
            raise web.HTTPError(400, f"next must be a path on this hub (starting with /), not '{shown(next_url)}'.")
        self.write_json({"url": self.daemon.login_link(next_url)})


class ShutdownHandler(APIHandler):
    @web.authenticated
    async def post(self):
        keep = bool(self.json_body().get("keep_servers"))
        self.write_json({"stopping": True, "keep_servers": keep})
        asyncio.get_running_loop().call_later(0.1, self.daemon.request_shutdown, keep)


class RecoverHandler(APIHandler):
    """POST: make every home volume of this hub that the hub does not know a stopped named server again (after a
    damaged database was set aside by `localhub recover`)."""

    @web.authenticated
    async def post(self):
        d = self.daemon
        user = await d.hub_api.user(d.settings.user)
        adoptions = await self.in_thread(lambda: recovery.homes_to_adopt(
            d.settings.user, set(user.get("servers") or {}),
            recovery.homes(d.docker, d.settings.instance), d.launcher.recent.list(),
            list_environments(d.docker, {"localhub.instance": d.settings.instance}),
            hub_containers(d.docker, d.settings.instance)))
        adopted, refused = [], []
        for adoption in adoptions:
            try:
                await d.hub_api.create_server(d.settings.user, adoption.server, adoption.user_options)
            except HubError as err:
                refused.append({"server": adoption.server, "reason": str(err)})
            else:
                adopted.append({"server": adoption.server, **adoption.user_options})
        self.write_json({"adopted": adopted, "refused": refused})


class PoolHandler(APIHandler):
    """This desktop in its lab: its own state, the peers the daemon watches, the servers away; {"off": why}
    while the daemon runs no pool. POST leave: leave the lab; POST forget {node}: drop a peer's pin; POST remove
    {node}: remove a desktop from the lab (on the desktop holding its authority)."""

    @web.authenticated
    async def get(self, *verb):
        if verb:
            raise web.HTTPError(405)
        member = self.daemon.lab_member
        self.write_json(await self.in_thread(member.status) if member else {"off": self.daemon.pool_off})

    @web.authenticated
    async def post(self, verb: str):
        try:
            if verb == "leave":
                self.write_json({"left": await self.daemon.leave_lab()})
                return
            if verb == "remove":
                if self.daemon.lab_member is None:
                    raise LocalhubError(f"this desktop's hub runs without its pool ({self.daemon.pool_off})")
                self.write_json(await self.daemon.lab_member.remove(str(self.json_body().get("node"))))
                return
            self.write_json({"forgotten": self.daemon.forget_peer(str(self.json_body().get("node")))})
        except LocalhubError as err:
            raise web.HTTPError(409, str(err)) from None


def make_app(daemon: "Daemon") -> web.Application:
    from .hub import environments_web, home_files_web, notice_web  # these build on this module's handlers
    from .workshop import web as workshop_web

    prefix = "/services/localhub/api"
    args = {"daemon": daemon}
    return web.Application(binder_web.handlers(daemon) + environments_web.handlers(daemon) + api_hub.handlers(daemon)
                           + workshop_web.handlers(daemon) + home_files_web.handlers(daemon) + notice_web.handlers(daemon)
                           + [
        (r"/services/localhub/oauth_callback", OAuthCallbackHandler, args),
        (prefix + "/info", InfoHandler, args),
        (prefix + "/pool", PoolHandler, args),
        (prefix + "/pool/(leave|forget|remove)", PoolHandler, args),
        (prefix + "/servers", ServersHandler, args),
        (prefix + r"/servers/([^/]*)/logs", ServerLogsHandler, args),
        (prefix + r"/servers/([^/]*)/stop", ServerStopHandler, args),
        (prefix + r"/servers/([^/]*)/resume", ServerResumeHandler, args),
        (prefix + "/login-link", LoginLinkHandler, args),
        (prefix + "/shutdown", ShutdownHandler, args),
        (prefix + "/recover", RecoverHandler, args),
    ], cookie_secret=daemon.cookie_secret, hub_auth=daemon.hub_auth,
        template_path=str(Path(__file__).parent / "hub" / "templates"))


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
