"""A server's notice for the script its JupyterLab page carries (page_notice.py): the same sentence
`localhub servers ls` and the TUI show (servers_web.placement: memory kills and storage caps from server_watch.py,
a lab peer's word on a server away, a server lost with a peer).

    GET /services/localhub/api/users/USER/servers/NAME/notice    {"notice": "…" | null}

Answered for the server's owner only, signed in by the hub's cookie or a token of theirs: another user (or a
service's token) is refused even where the hub lets it reach this service.
"""

from __future__ import annotations

from tornado import web

from .. import storage
from ..api import APIHandler
from .servers_web import placement


class ServerNoticeHandler(APIHandler):
    @web.authenticated
    async def get(self, user: str, name: str):
        d = self.daemon
        who = self.current_user or {}
        if who.get("kind") != "user" or who.get("name") != user or user != d.settings.user:
            raise web.HTTPError(403, "A server's notice is shown to its owner only.")
        self.set_header("Cache-Control", "no-store")
        self.write_json({"notice": await self.notice(name)})

    async def notice(self, name: str) -> str | None:
        d = self.daemon
        here = d.watch.notice(storage.container_name(d.settings.instance, d.settings.user, name))
        away = d.servers_away().get(name)
        running = True
        if away is not None:  # whether it runs decides what a lost server's notice says (placement)
            server = (await d.hub_api.servers(d.settings.user)).get(name) or {}
            running = bool(server.get("ready") or server.get("pending"))
        return placement(away, running, here)["notice"]


def handlers(daemon) -> list:
    return [(r"/services/localhub/api/users/([^/]+)/servers/([^/]*)/notice", ServerNoticeHandler,
             {"daemon": daemon})]
