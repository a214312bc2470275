"""What the daemon keeps to tell a server's user (killed at its memory limit, stopped past its storage cap,
paused or lost on a lab peer, back home from one …) shown inside JupyterLab and Notebook 7 themselves, not only
in `localhub servers ls` and the TUI.

The proxy adds one small script (templates/notice.html) to the HTML of a server's own app pages — `lab`,
`tree`, `notebooks`, `edit`, `consoles`, `terminals`, `doc` — and nothing else: no file a user serves, no
API answer, no error page. The script asks the daemon for that server's notice every few seconds
(notice_web.py: answered for the server's owner only) and draws it as a note the user can dismiss, as text.
It asks the daemon's route, not the server's, so an open page never counts as activity that keeps an idle
server from being culled; if the daemon does not answer, the page works as before and the script asks less
often.

No JupyterLab extension and no frontend build: the images a Binder link builds bring their own JupyterLab, of
any version. A page is held whole to add the script, so only pages of at most PAGE_LIMIT bytes (Lab's and
Notebook 7's are about 10 KiB) in an encoding the proxy reads; anything else passes as it came.
"""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote

PAGE_LIMIT = 1024 * 1024
SERVICE = "/services/localhub"  # the daemon's prefix on the hub (api.py)
APP_PAGES = re.compile(r"(lab|tree|notebooks|edit|consoles|terminals|doc)(/|$)")
_SNIPPET = Path(__file__).parent / "templates" / "notice.html"
_MARK = "{notice_url}"


def notice_url(user: str, server: str) -> str:
    """Where a page asks for its server's notice (notice_web.py serves it)."""
    return f"{SERVICE}/api/users/{quote(user, safe='')}/servers/{quote(server, safe='')}/notice"


def page_notice_url(method: str, route: dict | None, prefix: str, path: str, status: int, headers) -> str | None:
    """The notice URL to add to this response if it is one of a server's app pages (else None).

    route: the proxy's data for the route that matched (JupyterHub gives a server's route its user and
    server_name); path: the request's path as it arrived; headers: the upstream's response headers."""
    if method != "GET" or status != 200 or not route or "user" not in route:
        return None
    if headers.get("Content-Type", "").split(";")[0].strip().lower() != "text/html":
        return None
    # tornado's client reads gzip (and asks for nothing else); any other encoding is passed untouched
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("identity", "gzip"):
        return None
    rest = unquote(path)[len(unquote(prefix).rstrip("/")):].lstrip("/")
    if not APP_PAGES.match(rest):
        return None
    return notice_url(route["user"], route.get("server_name") or "")


@cache
def _template() -> str:
    return _SNIPPET.read_text()


def snippet(url: str) -> bytes:
    return _template().replace(_MARK, html.escape(url, quote=True)).encode()


def with_notice(page: bytes, url: str) -> bytes:
    """The page with the notice script before its last `</body>`; a page without one is left as it is."""
    end = page.lower().rfind(b"</body>")
    if end < 0:
        return page
    return page[:end] + snippet(url) + page[end:]


class HeldPage:
    """A server's app page on its way to the browser: held until its end to add the notice script; past
    PAGE_LIMIT it is let go and streamed on untouched."""

    def __init__(self, url: str, limit: int = PAGE_LIMIT):
        self.url, self.limit = url, limit
        self._parts: list[bytes] = []
        self._size = 0
        self.held = True

    def feed(self, chunk: bytes) -> bytes:
        """What to send on now (nothing while the page is held)."""
        if not self.held:
            return chunk
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size <= self.limit:
            return b""
        self.held = False
        out, self._parts = b"".join(self._parts), []
        return out

    def end(self) -> bytes:
        """The rest of the page, with the notice script if it was held whole."""
        if not self.held:
            return b""
        page, self._parts = b"".join(self._parts), []
        return with_notice(page, self.url)
