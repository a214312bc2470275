"""Sign-in for a hub on one desktop: the link that `localhub up` (or `localhub login`) prints signs the
desktop user in once, like Jupyter's own token URLs — there is no password to set up.

The authenticator also registers localhub's policy check in front of JupyterHub's server API (handlers an
authenticator provides are routed before JupyterHub's own), so a bad server name or a missing image is a
clear 400 before JupyterHub records anything. The check itself is the daemon's (api_hub.py): this process
only asks, with the daemon's token.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from jupyterhub.apihandlers.users import UserServerAPIHandler
from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web
from traitlets import Unicode

from ..errors import shown
from . import login_tokens
from .daemon_link import DaemonLink, DaemonRefused, DaemonUnreachable


class TokenLoginHandler(BaseHandler):
    async def get(self):
        auth: DesktopAuthenticator = self.authenticator
        token = self.get_argument("token", "")
        next_url = self.get_next_url()
        if token and login_tokens.consume(Path(auth.login_tokens_dir), token):
            user = await self.auth_to_user({"name": auth.desktop_user})
            self.set_login_cookie(user)
            self.redirect(next_url)
            return
        if self.current_user:
            self.redirect(next_url)
            return
        message = (
            "This sign-in link is not valid: links work once and expire after a day."
            if token
            else "This hub signs you in with a link."
        )
        raise web.HTTPError(403, f"{message} Run `{login_command(next_url, self.hub.base_url)}` in a terminal for "
                                 "a new one, which also brings you back here.")


def login_command(next_url: str, base_url: str = "/") -> str:
    """The command that prints a sign-in link returning to `next_url` (the page the visitor was sent from)."""
    if not next_url or next_url.rstrip("/") in (base_url.rstrip("/") + "/hub", base_url.rstrip("/") + "/hub/home"):
        return "localhub login"
    return f"localhub login --next {shlex.quote(shown(next_url, 1000))}"


def launch_options(body: dict | None, stored_options: dict | None, exists: bool) -> tuple[dict, bool]:
    """(options, new) for a start request: the body's user_options if it has them, else the server's stored
    ones (JupyterHub reuses them on restart); `new` when no server of that name exists yet."""
    options = (body or {}).get("user_options")
    if options is None:
        options = stored_options or {}
    return options, not exists


class PolicyServerAPIHandler(UserServerAPIHandler):
    """JupyterHub's server API with localhub's policies checked first (by the daemon, which holds the settings
    and the Docker connection)."""

    async def _check(self, user_name: str, server_name: str, start: bool) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404)
        stored = user.orm_spawners.get(server_name)
        options, new = launch_options(self.get_server_json_body(), stored.user_options if stored else None,
                                      stored is not None)
        new = new or not start  # a create request is held to the name rule even for an existing name
        try:
            await self.authenticator.daemon.check(user_name, server_name, options, new, start)
        except DaemonRefused as err:
            raise web.HTTPError(400, str(err)) from None
        except DaemonUnreachable as err:
            raise web.HTTPError(503, f"{err} Try again in a moment (`localhub status`).") from None

    @needs_scope("start:servers")
    async def post(self, user_name, server_name=""):
        await self._check(user_name, server_name, start=True)
        return await super().post(user_name, server_name)

    @needs_scope("servers")
    async def put(self, user_name, server_name=""):
        # creating without starting: only the name rule applies (image and storage are checked at start)
        await self._check(user_name, server_name, start=False)
        return await super().put(user_name, server_name)


class DesktopAuthenticator(Authenticator):
    desktop_user = Unicode(help="The user the sign-in link signs in.").tag(config=True)
    login_tokens_dir = Unicode(help="Where hashes of one-time sign-in tokens are kept.").tag(config=True)
    daemon_url = Unicode(help="The daemon's API for the hub's code (the policy check).").tag(config=True)
    daemon_token = Unicode(help="The daemon's API token.").tag(config=True)
    login_service = "a localhub sign-in link"

    @property
    def daemon(self) -> DaemonLink:
        return DaemonLink(self.daemon_url, self.daemon_token)

    async def authenticate(self, handler, data):
        return None  # no passwords: only the sign-in link signs anyone in

    def get_handlers(self, app):
        return [
            (r"/login", TokenLoginHandler),
            (r"/api/users/([^/]+)/servers/([^/]*)", PolicyServerAPIHandler),
        ]
