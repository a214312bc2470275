"""The daemon's workshop API under /services/localhub/api/workshop (the CLI, the TUI and the workshop page
use it), and the workshop page at /services/localhub/workshop.

    GET  …/api/workshop            bundles imported, the import running now, the class (peers, environments,
                                   fetches, material, hand-ins)
    POST …/api/workshop/class      {"action": "reload"}: take up a new membership (after class serve|join|leave)
    POST …/api/workshop/fetch      {"spec": optional}: fetch the class's environments (or one) now
    POST …/api/workshop/handin     {"server", "path"}: hand a file or folder of a server's home in to the teacher
"""

from __future__ import annotations

import json

from tornado import web

from ..api import APIHandler
from ..errors import LocalhubError
from ..hub.binder_web import SERVICE, BinderHandler

PREFIX = "/services/localhub/api/workshop"


class _Workshop(APIHandler):
    @property
    def workshop(self):
        return self.daemon.workshop

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The request body is not JSON.") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "The request body must be a JSON object.")
        return data

    def member(self):
        if self.workshop.member is None:
            raise web.HTTPError(409, "This laptop is in no class: `localhub class join CODE` (participants) or "
                                     "`localhub class serve` (the teacher).")
        return self.workshop.member


class StatusHandler(_Workshop):
    @web.authenticated
    async def get(self):
        self.write_json(await self.in_thread(self.workshop.status))


class ClassHandler(_Workshop):
    @web.authenticated
    async def post(self):
        if self.body().get("action") != "reload":
            raise web.HTTPError(400, "Unknown action; the only one is reload.")
        await self.workshop.reload()
        self.write_json({"class": self.workshop.member.status() if self.workshop.member else None,
                         "error": self.workshop.error})


class FetchHandler(_Workshop):
    @web.authenticated
    async def post(self):
        member, spec = self.member(), self.body().get("spec")
        specs = [spec] if spec else [s for s in sorted(member.envs) if s not in member.ready]
        unknown = [s for s in specs if s not in member.envs]
        if unknown:
            raise web.HTTPError(404, f"The class offers no environment {unknown[0]}.")
        member.fetching.start_fetches(specs)
        self.write_json({"fetching": specs})


class HandinHandler(_Workshop):
    @web.authenticated
    async def post(self):
        data = self.body()
        server, path = str(data.get("server") or ""), str(data.get("path") or "").strip().lstrip("/")
        if not path:
            raise web.HTTPError(400, "Say what to hand in: a file or folder of the server's home.")
        try:
            stored = await self.member().work.handin(server, path)
        except LocalhubError as err:
            raise web.HTTPError(409, str(err)) from None
        self.write_json(stored)


class WorkshopPageHandler(BinderHandler):
    @web.authenticated
    def get(self):
        self.render("workshop.html", service=SERVICE, api=PREFIX)


def handlers(daemon) -> list:
    args = {"daemon": daemon}
    return [
        (PREFIX, StatusHandler, args),
        (PREFIX + "/class", ClassHandler, args),
        (PREFIX + "/fetch", FetchHandler, args),
        (PREFIX + "/handin", HandinHandler, args),
        (SERVICE + "/workshop", WorkshopPageHandler, args),
    ]
