"""The daemon's endpoints for the code that runs inside JupyterHub: the launch policy check (hub/auth.py) and
the placement of servers on lab peers (hub/spawner.py). The daemon owns what both need — its settings, its
Docker connection, the lab's live peers and the ledger of servers away — so JupyterHub's process keeps no pool
state of its own and opens no Docker connection for a check.

    POST check   {user, server, options, new, start}   the name rule; with start, profile, image and storage
    POST choose  {user, server, where, ask}            {"where": "local"} or {"where": node, "name": peer}
    POST start   {node, user, server, volume, image, ask, env, cmd, hub}
                 JSON lines: {"step": …} per step, then {"running": {guest, address, port, peer}} or {"error": …}
    POST poll    {guest}  -> {"exit": null | int}
    POST stop    {guest}
    POST forget  {user, server}                         a deleted server: peers drop their copies
    POST usage   {volume}  -> {"used": bytes | null}     a home's usage as the storage watch last measured it

Requests carry the daemon's API token (JupyterHub's config holds it for the localhub service), compared here:
asking the hub to check it would deadlock while the hub starts, when it polls servers on peers before it
answers anything. Refusals are `{"message": one sentence}` with status 400.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from typing import TYPE_CHECKING

import docker.errors
from tornado import iostream, web

from . import storage
from .errors import LocalhubError
from .hub.policy import PolicyError, check_image_present, check_server_name, check_storage, choose_image
from .profiles import get_profile, load_profiles

if TYPE_CHECKING:
    from .daemon import Daemon

PREFIX = "/services/localhub/api/hub"


def check_launch(settings, image_exists, storage_used, server: str, options: dict, new: bool,
                 start: bool = True) -> None:
    """All policy checks for creating (and, with `start`, starting) a server; raises PolicyError.
    `image_exists(image)` and `storage_used(volume)` ask the engine (blocking)."""
    if new:
        check_server_name(server, settings.server_name_max_length)
    if not start:
        return
    try:
        profile = get_profile(load_profiles(settings.config_dir), options.get("profile") or settings.default_profile)
    except LocalhubError as err:
        raise PolicyError(str(err)) from None
    check_image_present(choose_image(options, profile, settings.image), image_exists)
    check_storage(server or "default", storage_used(server), profile)


class HubSideHandler(web.RequestHandler):
    def initialize(self, daemon: "Daemon"):
        self.daemon = daemon

    def check_xsrf_cookie(self):
        pass  # token-authenticated JSON API

    def prepare(self):
        given = self.request.headers.get("Authorization", "").removeprefix("token ").strip()
        if not given or not hmac.compare_digest(given.encode(), self.daemon.token.encode()):
            raise web.HTTPError(403, "This endpoint is for the hub's own code.")
        try:
            self.body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The request body is not JSON.") from None
        if not isinstance(self.body, dict):
            raise web.HTTPError(400, "The request body is not a JSON object.")

    def write_json(self, data) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = self._reason
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # tornado stores '%' doubled when there are no args
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def log_exception(self, typ, value, tb):
        if not isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)

    @property
    def placement(self):
        member = self.daemon.lab_member
        return member.placement if member else None

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class CheckHandler(HubSideHandler):
    async def post(self):
        d, b = self.daemon, self.body
        user, server = str(b.get("user", "")), str(b.get("server", ""))

        def image_exists(image: str) -> bool:
            try:
                d.docker.images.get(image)
            except docker.errors.ImageNotFound:
                return False
            return True

        def storage_used(name: str) -> int | None:  # measured in the background (storage_watch.py)
            return d.storage_watch.used(storage.home_volume_name(d.settings.instance, user, name))

        try:
            await self.in_thread(lambda: check_launch(d.settings, image_exists, storage_used, server,
                                                      b.get("options") or {}, bool(b.get("new")),
                                                      bool(b.get("start", True))))
        except PolicyError as err:
            raise web.HTTPError(400, str(err)) from None
        self.write_json({"ok": True})


class ChooseHandler(HubSideHandler):
    async def post(self):
        b = self.body
        where = str(b.get("where") or "local")
        if self.placement is None:
            if where in ("local", "auto"):
                self.write_json({"where": "local"})
                return
            raise web.HTTPError(400, "This desktop is not in a lab (or its pool is off), so the server cannot "
                                     f"run on '{where}'; `localhub pool init` or `join` first.")
        try:
            self.write_json(await self.placement.choose(str(b["user"]), str(b["server"]), where, dict(b["ask"])))
        except LocalhubError as err:
            raise web.HTTPError(400, str(err)) from None
        except (KeyError, TypeError, ValueError):
            raise web.HTTPError(400, "A choice needs user, server, where and ask {cpus, memory, storage}.") from None


class StartHandler(HubSideHandler):
    async def post(self):
        if self.placement is None:
            raise web.HTTPError(400, "This desktop's pool is off, so no server can start on a lab peer.")
        self.set_header("Content-Type", "application/x-ndjson")
        lines: asyncio.Queue = asyncio.Queue()
        guest = secrets.token_hex(8)
        request = {k: self.body.get(k) for k in ("user", "server", "volume", "image", "ask", "env", "cmd", "hub")}
        starting = asyncio.ensure_future(self.placement.start(
            str(self.body.get("node")), {**request, "guest": guest}, lambda step: lines.put_nowait({"step": step})))
        starting.add_done_callback(lambda _: lines.put_nowait(None))
        try:
            await self._send({"guest": guest})
            while (line := await lines.get()) is not None:
                await self._send(line)
            away = starting.result()
            address, port = away.route  # the server's TLS tunnel on this desktop (pool/away/tunnel.py)
            await self._send({"running": {"guest": away.guest, "address": address, "port": port,
                                          "peer": away.peer_name}})
        except iostream.StreamClosedError:
            # the spawner gave up on this start (its deadline) or JupyterHub went away: the start still finishes,
            # then the server is stopped there and its home brought back, so it holds no share of the peer
            starting.add_done_callback(lambda task: task.cancelled() or task.exception())  # said by placement
            await self.placement.stop(guest)
            return
        except LocalhubError as err:
            await self._send({"error": str(err)})
        except Exception as err:  # an unforeseen failure is still reported to the spawner, in words
            self.daemon.log(f"starting a server on a peer failed: {err.__class__.__name__}: {err}")
            await self._send({"error": f"{err.__class__.__name__}: {err}"})
        self.finish()

    async def _send(self, data: dict) -> None:
        self.write(json.dumps(data) + "\n")
        await self.flush()


class PollHandler(HubSideHandler):
    async def post(self):
        if self.placement is None:
            self.write_json({"exit": 1, "why": "this desktop's pool is off"})
            return
        self.write_json({"exit": await self.placement.poll(str(self.body.get("guest")))})


class StopHandler(HubSideHandler):
    async def post(self):
        if self.placement is not None:
            await self.placement.stop(str(self.body.get("guest")))
        self.write_json({"stopped": True})


class ForgetHandler(HubSideHandler):
    async def post(self):
        if self.placement is not None:
            await self.placement.forget(str(self.body.get("user")), str(self.body.get("server")))
        self.write_json({"forgotten": True})


class UsageHandler(HubSideHandler):
    async def post(self):
        self.write_json({"used": self.daemon.storage_watch.used(str(self.body.get("volume", "")))})


def handlers(daemon: "Daemon") -> list:
    args = {"daemon": daemon}
    return [(f"{PREFIX}/{verb}", handler, args) for verb, handler in (
        ("check", CheckHandler), ("choose", ChooseHandler), ("start", StartHandler), ("poll", PollHandler),
        ("stop", StopHandler), ("forget", ForgetHandler), ("usage", UsageHandler))]
