"""The daemon's own HTTP API, served as a JupyterHub service at /services/localhub/api/.

JupyterHub's REST API already covers users and named servers; this adds what only the daemon knows:
engine facts, storage use, profiles, sign-in links and shutdown. Every request is authenticated by the
hub (a token with access to this service: the CLI's token, or the signed-in desktop user).

This module holds the handlers' base (APIHandler), the hub-wide endpoints and make_app, which also serves the
endpoints of the modules that build on APIHandler (hub/servers_web.py: the servers' listing, stop, resume, logs).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pathlib import Path

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

from . import __version__, api_hub, recovery
from .docker_engine import hub_containers
from .errors import LocalhubError, shown
from .images.catalog import list_environments
from .hub import binder_web
from .hub.network import exposed_warning, not_isolated_warning
from .hubapi import HubError
from .profiles import load_profiles

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
    # these build on this module's handlers
    from .hub import environments_web, home_files_web, notice_web, servers_web
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
    ] + servers_web.handlers(daemon) + [
        (prefix + "/login-link", LoginLinkHandler, args),
        (prefix + "/shutdown", ShutdownHandler, args),
        (prefix + "/recover", RecoverHandler, args),
    ], cookie_secret=daemon.cookie_secret, hub_auth=daemon.hub_auth,
        template_path=str(Path(__file__).parent / "hub" / "templates"))
