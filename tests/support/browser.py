"""Navigation in the browser tests that rides out Chromium's ERR_NETWORK_CHANGED: Chromium aborts a navigation,
and every request still under way, when the host's interfaces change, and every container the other tests start
adds a veth to the host. A user's desktop does not change its interfaces many times a minute; this machine does."""

from __future__ import annotations

import time
import weakref

NETWORK_CHANGED = "ERR_NETWORK_CHANGED"


def goto(page, url: str, **options):
    """page.goto(url), tried again (twice at most) when Chromium aborted it because the host's network changed."""
    for attempt in range(3):
        try:
            return page.goto(url, **options)
        except Exception as err:  # playwright's Error; anything else is raised at once
            if NETWORK_CHANGED not in str(err) or attempt == 2:
                raise
            time.sleep(0.5)


class FailedRequests:
    """The requests of a page that never got an answer, as 'URL: reason' (Chromium's error text)."""

    def __init__(self, page):
        self.seen: list[str] = []
        page.on("requestfailed", lambda request: self.seen.append(f"{request.url}: {request.failure}"))

    def network_changed(self) -> bool:
        return any(NETWORK_CHANGED in failure for failure in self.seen)


_WATCHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watch_requests(page) -> FailedRequests:
    """Note the page's failed requests from now on (wait_for_app reads them)."""
    if page not in _WATCHED:
        _WATCHED[page] = FailedRequests(page)
    return _WATCHED[page]


def wait_for_app(page, ready: str, timeout_ms: int = 60_000, errors: list | None = None) -> None:
    """Wait until `ready` (a selector) shows. JupyterLab loads dozens of files after its page: when Chromium
    aborted one of them because the host's network changed, the app never starts, so the page is loaded again
    (twice at most). Any other failed request is named in the error. `errors`: the page's errors the caller
    collects; those of a load given up are dropped with it."""
    failed = watch_requests(page)
    for attempt in range(3):
        try:
            page.wait_for_selector(ready, timeout=timeout_ms)
            return
        except Exception as err:
            if not (failed.network_changed() and attempt < 2):
                raise AssertionError(f"{page.url} did not show {ready}: {err}; requests that failed: "
                                     f"{failed.seen or 'none'}") from err
            failed.seen.clear()
            if errors is not None:
                errors.clear()
            page.reload()


def open_app(page, url: str, ready: str, timeout_ms: int = 60_000, expect=None, errors: list | None = None):
    """Go to `url` and wait for the app there as wait_for_app does. `expect`: a predicate of a response the
    page must receive while loading; that response's JSON body is returned."""
    watch_requests(page)
    answer = None
    if expect is None:
        goto(page, url)
    else:
        for attempt in range(3):
            with page.expect_response(expect, timeout=timeout_ms) as expected:
                goto(page, url)
            try:
                answer = expected.value.json()  # read now: Chromium forgets it as the app goes on
                break
            except Exception as err:  # playwright's Error
                # the response came to a load that goto gave up (ERR_NETWORK_CHANGED) before loading again:
                # its body went with it, and the new load asks again (seen in CI)
                if "navigated away" not in str(err) or attempt == 2:
                    raise
    wait_for_app(page, ready, timeout_ms, errors)
    return answer
