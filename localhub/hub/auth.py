"""Sign-in for a hub on one desktop: the link that `localhub up` (or `localhub login`) prints signs the
desktop user in once, like Jupyter's own token URLs — there is no password to set up.

The authenticator also registers localhub's policy check in front of JupyterHub's server API (handlers an
authenticator provides are routed before JupyterHub's own), so a bad server name or a missing image is a
clear 400 before JupyterHub records anything.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import docker.errors
from jupyterhub.apihandlers.users import UserServerAPIHandler
from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web
from traitlets import Unicode

from ..config import settings_from_dict
from ..errors import LocalhubError
from ..profiles import get_profile, load_profiles
from ..state import StateDir
from ..storage import home_volume_name, volume_usage
from . import login_tokens
from .policy import PolicyError, check_image_present, check_server_name, check_storage, choose_image


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
        raise web.HTTPError(403, f"{message} Run `localhub login` in a terminal for a new one.")


def _settings(state_dir: str):
    runtime = StateDir(Path(state_dir)).read_runtime() or {}
    return settings_from_dict(runtime.get("settings", {}))


def check_launch(state_dir: str, user_name: str, server_name: str, options: dict, is_new: bool) -> None:
    """All policy checks for creating or starting a server; raises PolicyError. Runs in a thread (Docker)."""
    settings = _settings(state_dir)
    if is_new:
        check_server_name(server_name, settings.server_name_max_length)
    try:
        profile = get_profile(load_profiles(settings.config_dir), options.get("profile") or settings.default_profile)
    except LocalhubError as err:
        raise PolicyError(str(err)) from None
    client = docker.from_env()
    try:
        def exists(image):
            try:
                client.images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False

        check_image_present(choose_image(options, profile, settings.image), exists)
        volume = home_volume_name(settings.instance, user_name, server_name)
        check_storage(server_name or "default", volume_usage(client.api, [volume]).get(volume), profile)
    finally:
        client.close()


class PolicyServerAPIHandler(UserServerAPIHandler):
    """JupyterHub's server API with localhub's policies checked first."""

    async def _check(self, user_name: str, server_name: str) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404)
        body = self.get_server_json_body() or {}
        stored = user.orm_spawners.get(server_name)
        options = body.get("user_options")
        if options is None:
            options = (stored.user_options if stored else None) or {}
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, check_launch, self.authenticator.state_dir, user_name, server_name, options, stored is None
            )
        except PolicyError as err:
            raise web.HTTPError(400, str(err)) from None

    @needs_scope("start:servers")
    async def post(self, user_name, server_name=""):
        await self._check(user_name, server_name)
        return await super().post(user_name, server_name)

    @needs_scope("servers")
    async def put(self, user_name, server_name=""):
        # creating without starting: only the name rule applies (image and storage are checked at start)
        try:
            check_server_name(server_name, _settings(self.authenticator.state_dir).server_name_max_length)
        except PolicyError as err:
            raise web.HTTPError(400, str(err)) from None
        return await super().put(user_name, server_name)


class DesktopAuthenticator(Authenticator):
    desktop_user = Unicode(help="The user the sign-in link signs in.").tag(config=True)
    login_tokens_dir = Unicode(help="Where hashes of one-time sign-in tokens are kept.").tag(config=True)
    state_dir = Unicode(help="The hub's state dir (for the policies' settings).").tag(config=True)
    login_service = "a localhub sign-in link"

    async def authenticate(self, handler, data):
        return None  # no passwords: only the sign-in link signs anyone in

    def get_handlers(self, app):
        return [
            (r"/login", TokenLoginHandler),
            (r"/api/users/([^/]+)/servers/([^/]*)", PolicyServerAPIHandler),
        ]
