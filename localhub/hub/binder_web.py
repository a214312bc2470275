"""The Binder web service, served by the daemon behind the hub's proxy.

    /build/<provider>/<spec>     Server-Sent Events with BinderHub's phases and fields (token clients)
    /v2/<provider>/<spec>        redirects to the progress page under /services/localhub/ (cookie scope)
    /services/localhub/          the launch page: form, link, badges, recent launches
    /services/localhub/v2/...    the progress page: live build log, then the server at urlpath
    /services/localhub/build/... the same event stream, for the progress page's EventSource

Specs are read from the raw request path: tornado decodes %2F in path arguments, and Binder specs carry
encoded slashes (`git/https%3A%2F%2F…/main`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web
from tornado.iostream import StreamClosedError

from ..binder import BadLink, parse_link, parse_spec, provider_names

SERVICE = "/services/localhub"
KEEPALIVE_SECONDS = 25

# the launch form's provider list: the common ones first
FORM_PROVIDERS = ("gh", "gl", "git", "gist", "bb", "zenodo", "figshare", "hydroshare", "dataverse", "ckan",
                  "swh", "local")

# Form fields → spec, per provider: which part is URL-encoded, and whether a ref follows.
_FORM_RULES = {"gh": (False, True), "gist": (False, True), "bb": (False, True), "gl": (True, True),
               "git": (True, True), "zenodo": (False, False), "figshare": (False, False),
               "hydroshare": (False, False), "dataverse": (False, False), "ckan": (True, False),
               "swh": (False, False), "local": (True, True)}


def raw_spec(request_path: str, marker: str) -> str:
    """The spec after `/build/` or `/v2/`, still percent-encoded."""
    return request_path.split(marker, 1)[1]


def launch_from_request(handler: web.RequestHandler, marker: str):
    spec = raw_spec(handler.request.path, marker)
    query = handler.request.query
    return parse_link("/v2/" + spec + (f"?{query}" if query else ""))


def spec_from_form(provider: str, repository: str, ref: str, path: str):
    """The launch a Binder-style form describes. A pasted Binder link wins over the other fields; a
    repository URL (GitHub, GitLab, …) is read as such, with the form's ref when one is given."""
    repository, ref, path = repository.strip(), ref.strip(), path.strip().lstrip("/")
    pasted_link = "/v2/" in repository or repository.startswith("v2/")
    if pasted_link or (provider not in ("git", "local") and "://" in repository) or provider not in _FORM_RULES:
        launch = parse_link(repository)
        if ref and not pasted_link and launch.ref is not None:
            launch = replace(launch, ref=ref)
    else:
        encode, has_ref = _FORM_RULES[provider]
        body = quote(repository, safe="") if encode else repository.strip("/")
        launch = parse_spec(f"{provider}/{body}" + (f"/{quote(ref or 'HEAD', safe='')}" if has_ref else ""))
    if path:
        opens = path if path.startswith(("lab/", "tree/", "doc/", "notebooks/", "voila/")) else f"lab/tree/{path}"
        launch = replace(launch, urlpath=opens)
    return launch


class BinderHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, daemon):
        self.daemon = daemon
        self.hub_auth = daemon.hub_auth

    def check_xsrf_cookie(self):
        pass

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.log_message % exc.args if isinstance(exc, web.HTTPError) and exc.log_message else ""
        self.render("error.html", status_code=status_code, reason=self._reason, message=message)


class BuildStreamHandler(BinderHandler):
    """BinderHub's /build/ endpoint: always an event stream (EventSource cannot read HTTP errors)."""

    async def get(self, *_):
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        if not self.current_user:
            self.set_status(403)
            await self._emit({"phase": "failed", "status_code": 403,
                              "message": "Not signed in: send the hub's API token (Authorization: token …) or "
                                         "sign in with `localhub login`.\n"})
            self.finish()
            return
        try:
            launch = launch_from_request(self, "/build/")
        except BadLink as err:
            await self._emit({"phase": "failed", "message": f"{err}\n"})
            self.finish()
            return
        keepalive = asyncio.create_task(self._keepalive())
        events = self.daemon.launcher.launch(
            launch, profile=self.get_argument("profile", None) or None,
            rebuild=self.get_argument("rebuild", "") in ("1", "true", "yes"),
            where=self.get_argument("where", None) or None,
            start=self.get_argument("launch", "1") not in ("0", "false", "no"))
        try:
            async for item in events:
                await self._emit(item)
        except StreamClosedError:
            return  # the client left; a build it started goes on for other waiters
        except Exception as err:  # one clear failed event, never a hanging stream
            self.daemon.log(f"launch of {launch.spec} failed: {err!r}")
            await self._emit({"phase": "failed", "message": f"The launch failed unexpectedly: {err}\n"})
        finally:
            keepalive.cancel()
            await events.aclose()
        if not self._finished:
            self.finish()

    async def _emit(self, data: dict) -> None:
        self.write(f"data: {json.dumps(data)}\n\n")
        await self.flush()

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            try:
                self.write(":keepalive\n\n")
                await self.flush()
            except StreamClosedError:
                return


class V2RedirectHandler(web.RequestHandler):
    """A Binder link with the host swapped lands here; the page lives where the sign-in cookie does."""

    def get(self, *_):
        query = self.request.query
        self.redirect(SERVICE + "/v2/" + raw_spec(self.request.path, "/v2/") + (f"?{query}" if query else ""))


class ProgressPageHandler(BinderHandler):
    @web.authenticated
    def get(self, *_):
        try:
            launch = launch_from_request(self, "/v2/")
        except BadLink as err:
            raise web.HTTPError(400, str(err)) from None
        spec = raw_spec(self.request.path, "/v2/")
        query = self.request.query
        self.render("progress.html", spec=launch.spec, repo=launch.repo, ref=launch.ref or "",
                    build_url=f"{SERVICE}/build/{spec}" + (f"?{query}" if query else ""))


class LaunchPageHandler(BinderHandler):
    @web.authenticated
    def get(self):
        self.render("launch.html", providers=[p for p in FORM_PROVIDERS if p in provider_names()], recent=self.daemon.launcher.recent.list(),
                    hub_url=self.daemon.settings.url)


class SpecAPIHandler(BinderHandler):
    """Parse a link or the launch form's fields; what the launch page shows as you type."""

    @web.authenticated
    def get(self):
        try:
            if self.get_argument("link", ""):
                launch = parse_link(self.get_argument("link"))
            else:
                launch = spec_from_form(self.get_argument("provider", "gh"), self.get_argument("repository", ""),
                                        self.get_argument("ref", ""), self.get_argument("path", ""))
        except BadLink as err:
            self.set_status(400)
            self.finish({"error": str(err)})
            return
        url = self.daemon.settings.url
        link = url + launch.binder_path()
        badge = f"{url}{SERVICE}/badge.svg"
        self.finish({**launch.to_dict(), "link": link, "badge": badge,
                     "markdown": f"[![Launch on localhub]({badge})]({link})",
                     "rst": f".. image:: {badge}\n   :target: {link}"})


class BadgeHandler(web.RequestHandler):
    """A launch badge; public, so READMEs can show it."""

    def get(self):
        self.set_header("Content-Type", "image/svg+xml")
        self.set_header("Cache-Control", "max-age=86400")
        self.render("badge.svg")


def handlers(daemon) -> list:
    args = {"daemon": daemon}
    return [
        (r"/build/(.+)", BuildStreamHandler, args),
        (r"/v2/(.+)", V2RedirectHandler),
        (SERVICE + r"/build/(.+)", BuildStreamHandler, args),
        (SERVICE + r"/v2/(.+)", ProgressPageHandler, args),
        (SERVICE + r"/?", LaunchPageHandler, args),
        (SERVICE + r"/api/spec", SpecAPIHandler, args),
        (SERVICE + r"/badge.svg", BadgeHandler),
    ]
