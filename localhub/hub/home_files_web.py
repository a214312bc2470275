"""`localhub servers sync NAME`: bring the files of a running server's image into its home on demand, by the
rules of home_files.py (a launch of a newer commit does the same before the server starts).

    POST /services/localhub/api/servers/NAME/sync    {"server", "message", "commit", "image", "changed", "files"}
"""

from __future__ import annotations

from tornado import web

from ..api import APIHandler
from ..errors import LocalhubError, shown


class ServerSyncHandler(APIHandler):
    @web.authenticated
    async def post(self, name: str):
        d = self.daemon
        user = await d.hub_api.user(d.settings.user)
        server = (user.get("servers") or {}).get(name)
        if not name or server is None:
            raise web.HTTPError(404, f"There is no server '{shown(name)}'; `localhub servers ls` lists yours.")
        if not server.get("ready"):
            state = "still starting" if server.get("pending") == "spawn" else (
                "stopping" if server.get("pending") else "stopped")
            raise web.HTTPError(409, f"Server '{shown(name)}' is {state}: start it (`localhub servers start "
                                     f"{shown(name)}`, or launch its link: a launch brings the files in too) and "
                                     "sync again.")
        away = d.servers_away().get(name)
        if away is not None:
            raise web.HTTPError(409, f"Server '{shown(name)}' runs on lab peer {shown(away.peer_name)}, where its "
                                     "home is: sync it once it runs on this desktop again.")
        options = server.get("user_options") or {}
        image = options.get("image") or d.settings.image
        async with d.launcher.server_lock(name):
            try:
                outcome = await self.in_thread(d.launcher.home_files.sync, name, image, options.get("resolved", ""))
            except LocalhubError as err:
                raise web.HTTPError(409, str(err)) from None
        if outcome is None:
            raise web.HTTPError(409, f"Server '{shown(name)}' has no home on this desktop to bring files into.")
        self.write_json(outcome.to_dict())


def handlers(daemon) -> list:
    return [(r"/services/localhub/api/servers/([^/]*)/sync", ServerSyncHandler, {"daemon": daemon})]
