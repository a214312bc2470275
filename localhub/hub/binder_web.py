"""The Binder web service, served by the daemon behind the hub's proxy.

    /build/<provider>/<spec>     Server-Sent Events with BinderHub's phases and fields (token clients: the
                                 token in an Authorization header or, for EventSource, in ?token=; CORS
                                 for the origins of the cors_allow_origin setting, as BinderHub's)
    /v2/<provider>/<spec>        through the hub's sign-in (which keeps it as `next`) to the progress page
                                 under /services/localhub/ (cookie scope)
    /services/localhub/          the launch page: form, link, badges, recent launches
    /services/localhub/v2/...    the progress page: live build log, then the server at urlpath
    /services/localhub/build/... the same event stream, for the progress page's EventSource
    /services/localhub/environments   the environments page (environments_web.py)

Ticks (a running build's progress without a log line, every second) go out as events named `progress`:
BinderHub's clients read unnamed events only and never see them; the progress page draws them.

Specs are read from the raw request path: tornado decodes %2F in path arguments, and Binder specs carry
encoded slashes (`git/https%3A%2F%2F…/main`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import quote, unquote, urlsplit

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web
from tornado.iostream import StreamClosedError

from ..binder import DEFAULT_PROVIDERS, BadLink, parse_link, parse_spec
from ..errors import shown
from ..binder.providers import find_provider
from ..binder.spec import host_of
from ..profiles import load_profiles
from ..redact import redact

SERVICE = "/services/localhub"
KEEPALIVE_SECONDS = 25



def form_providers() -> list[str]:
    """The launch form's provider list, in the order the providers ask for (the common ones first)."""
    return [p.name for p in sorted(DEFAULT_PROVIDERS, key=lambda p: p.form_rank)]


def raw_spec(request_path: str, marker: str) -> str:
    """The spec after `/build/` or `/v2/`, still percent-encoded."""
    return request_path.split(marker, 1)[1]


def launch_from_request(handler: web.RequestHandler, marker: str):
    spec = raw_spec(handler.request.path, marker)
    query = handler.request.query
    return parse_link("/v2/" + spec + (f"?{query}" if query else ""))


def spec_from_form(provider: str, repository: str, ref: str, path: str, path_kind: str = ""):
    """The launch a Binder-style form describes. A pasted Binder link wins over the other fields; a
    repository URL (GitHub, GitLab, …) is read as such, with the form's ref when one is given. The path is a
    file to open in JupyterLab (`path_kind` "file", as mybinder.org's form) or a URL path as it is ("url");
    without a kind, a path that starts like a URL path (lab/, tree/, voila/, …) is one."""
    repository, ref, path = repository.strip(), ref.strip(), path.strip().lstrip("/")
    pasted_link = "/v2/" in repository or repository.startswith("v2/")
    chosen = find_provider(provider)
    if pasted_link or chosen is None or ("://" in repository and not chosen.form_takes_urls):
        launch = parse_link(repository)
        if ref and not pasted_link and launch.ref is not None:
            launch = replace(launch, ref=ref)
    else:
        launch = parse_spec(chosen.form_spec(repository, ref))
    if path:
        as_url = path_kind == "url" or (path_kind != "file" and path.startswith(
            ("lab/", "tree/", "doc/", "notebooks/", "voila/")))
        launch = replace(launch, urlpath=path if as_url else f"lab/tree/{path}")
    return launch


class BinderHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, daemon):
        self.daemon = daemon
        self.hub_auth = daemon.hub_auth

    def check_xsrf_cookie(self):
        pass

    def _request_summary(self) -> str:
        # tornado's access log line: a ?token= must never reach a log, even on a refused request
        uri = redact(self.request.uri or "")
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.log_message % exc.args if isinstance(exc, web.HTTPError) and exc.log_message else ""
        self.render("error.html", status_code=status_code, reason=self._reason, message=message)


def from_another_site(request) -> bool:
    """True when the browser says that another site led to this request: a link or script on a page that is not
    this hub's. Fetch Metadata (Sec-Fetch-Site) says it; a browser without it still names the page in Origin or
    Referer. A request with none of them (a command-line client) is not."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site:
        return fetch_site in ("cross-site", "same-site")
    for header in ("Origin", "Referer"):
        page = request.headers.get(header)
        if page:
            return urlsplit(page).netloc.lower() != (request.host or "").lower()
    return False


def allowed_origin(setting: str, origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin answer for `origin`: "*" when every origin is allowed, the origin itself
    when the setting (space-separated origins) names it, else None (no CORS header)."""
    allowed = setting.split()
    if "*" in allowed:
        return "*"
    return origin if origin and origin in allowed else None


class BuildStreamHandler(BinderHandler):
    """BinderHub's /build/ endpoint: always an event stream (EventSource cannot read HTTP errors).

    Browser-side Binder clients (Thebe, Jupyter Book) read it with EventSource, which cannot send a header:
    a `?token=` is taken as if it came in the Authorization header (and dropped from the request, so it is
    never kept in a cookie), and on the public /build/ route the origins of `cors_allow_origin` may read it."""

    def initialize(self, daemon, cors: bool = False):
        super().initialize(daemon)
        self.cors = cors

    def prepare(self):
        token = self.get_query_argument("token", "")
        if token:
            if "Authorization" not in self.request.headers:
                self.request.headers["Authorization"] = f"token {token}"
            self.request.query_arguments.pop("token", None)
            self.request.arguments.pop("token", None)
        if self.cors:
            origin = allowed_origin(self.daemon.settings.cors_allow_origin, self.request.headers.get("Origin"))
            if origin:
                self.set_header("Access-Control-Allow-Origin", origin)
                self.add_header("Vary", "Origin")

    def options(self, *_):
        """The CORS preflight of a client that sends its token in a header."""
        if self.cors and self._headers.get("Access-Control-Allow-Origin"):
            self.set_header("Access-Control-Allow-Methods", "GET, OPTIONS")
            self.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    async def get(self, *_):
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        if not self.current_user:
            self.set_status(403)
            await self._emit({"phase": "failed", "status_code": 403,
                              "message": "Not signed in: send an API token of the hub's user (`localhub token` "
                                         "prints one) as Authorization: token … or as ?token=…, or sign in with "
                                         "`localhub login`.\n"})
            self.finish()
            return
        try:
            launch = launch_from_request(self, "/build/")
        except BadLink as err:
            await self._emit({"phase": "failed", "message": f"{err}\n"})
            self.finish()
            return
        if (from_another_site(self.request) and "Authorization" not in self.request.headers
                and await launch.reaches_inside_once_resolved()):
            self.set_status(403)
            await self._emit({"phase": "failed", "status_code": 403,
                              "message": "A folder of this machine, or a repository on it or its network, is "
                                         "launched only from this hub's own pages, not by another web site: open "
                                         "the link yourself.\n"})
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
                await self._emit(item.to_wire(), "progress" if item.tick else None)
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

    async def _emit(self, data: dict, name: str | None = None) -> None:
        self.write((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n")
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
    """A Binder link with the host swapped lands here. The page lives where the sign-in cookie does, and the
    way there passes the hub's sign-in page with the page as `next`: a visitor who is signed in goes straight
    on, one who is not is told how to sign in and come back to this very link (`localhub login --next …`),
    which the OAuth round trip of the service page alone would lose."""

    def get(self, *_):
        query = self.request.query
        page = SERVICE + "/v2/" + raw_spec(self.request.path, "/v2/") + (f"?{query}" if query else "")
        if "Authorization" in self.request.headers:  # a client with a token: the page itself accepts it
            self.redirect(page)
        else:
            self.redirect("/hub/login?next=" + quote(page, safe=""))


class ProgressPageHandler(BinderHandler):
    @web.authenticated
    async def get(self, *_):
        try:
            launch = launch_from_request(self, "/v2/")
        except BadLink as err:
            raise web.HTTPError(400, str(err)) from None
        spec = raw_spec(self.request.path, "/v2/")
        query = self.request.query
        build_only = self.get_argument("launch", "1") in ("0", "false", "no")  # the environments page's builds
        title = launch.title.replace("Starting", "Building", 1) if build_only else launch.title
        if from_another_site(self.request) and await launch.reaches_inside_once_resolved():
            # another site sent a signed-in browser here: build this machine's folder only once its user says so
            # (the button is a link of this page, so following it is a same-origin navigation)
            self.set_header("Content-Security-Policy", "frame-ancestors 'none'")  # its button is not to be framed
            self.set_header("X-Frame-Options", "DENY")
            folder = not host_of(launch.repo)  # a path or file:// URL, else a host on this network
            self.render("confirm_local.html", title=title, what=launch.repo, folder=folder, here=self.request.uri)
            return
        self.render("progress.html", title=title, spec=unquote(launch.spec), build_only=build_only,
                    build_url=f"{SERVICE}/build/{spec}" + (f"?{query}" if query else ""))


class LaunchPageHandler(BinderHandler):
    @web.authenticated
    def get(self):
        settings = self.daemon.settings
        self.render("launch.html", providers=form_providers(), recent=self.daemon.launcher.recent.list(),
                    hub_url=settings.url, profiles=load_profiles(settings.config_dir),
                    default_profile=settings.default_profile, unquote=unquote)


class SpecAPIHandler(BinderHandler):
    """Parse a link or the launch form's fields; what the launch page shows as you type."""

    @web.authenticated
    def get(self):
        try:
            if self.get_argument("link", ""):
                launch = parse_link(self.get_argument("link"))
            else:
                launch = spec_from_form(self.get_argument("provider", form_providers()[0]), self.get_argument("repository", ""),
                                        self.get_argument("ref", ""), self.get_argument("path", ""),
                                        self.get_argument("path_kind", ""))
        except BadLink as err:
            self.set_status(400)
            self.finish({"error": str(err)})
            return
        url = self.daemon.settings.url
        link = url + launch.binder_path()
        profile = self.get_argument("profile", "")
        if profile and profile != self.daemon.settings.default_profile:
            if profile not in load_profiles(self.daemon.settings.config_dir):
                self.set_status(400)
                self.finish({"error": f"There is no profile '{shown(profile)}'."})
                return
            link += ("&" if "?" in link else "?") + f"profile={quote(profile, safe='')}"
        badge = f"{url}{SERVICE}/badge.svg"
        self.finish({**launch.to_dict(), "title": launch.title, "link": link, "badge": badge,
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
        (r"/build/(.+)", BuildStreamHandler, {**args, "cors": True}),
        (r"/v2/(.+)", V2RedirectHandler),
        (SERVICE + r"/build/(.+)", BuildStreamHandler, args),
        (SERVICE + r"/v2/(.+)", ProgressPageHandler, args),
        (SERVICE + r"/?", LaunchPageHandler, args),
        (SERVICE + r"/api/spec", SpecAPIHandler, args),
        (SERVICE + r"/badge.svg", BadgeHandler),
    ]
