"""The proxy's side of pausing: a request for a paused server resumes it before it is forwarded.

The daemon pauses an idle server (localhub/pausing.py) and marks its route in the proxy's table with the
container's id (`PAUSED`, in the route's data). A request whose route carries the mark asks the Docker engine
to unpause that container, clears the mark, and only then goes on; requests that arrive together wait on one
unpause. The proxy asks the engine itself (its Engine API, found like the docker CLI finds it), so a paused
server resumes even while the daemon is down. The engine answers 204 (resumed), 409 (it was not paused: the
daemon had only marked it, or someone resumed it; Docker 20.10 answers 500 "… is not paused") or 404 (gone): in
each case the request goes on.

The mark is changed with `PATCH /api/routes/<path>` on the proxy's API (`{"localhub_paused": id | null}`),
which, unlike a POST, keeps the route's `last_activity`: JupyterHub reads it to know when a server was last
used, and a pause is no use of it.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import quote, urlsplit

PAUSED = "localhub_paused"  # the route data key: the id of the paused container behind the route
ENGINE_TIMEOUT = 30


def nothing_to_unpause(status: int, message: str | None) -> bool:
    """Whether the engine's refusal of an unpause means there was nothing to do: the container is gone (404) or
    not paused (409 on newer engines; Docker 20.10 answers 500 "Container … is not paused"). The one reading of
    that answer, for the proxy, the spawner and the daemon."""
    return status in (404, 409) or "is not paused" in (message or "")


class ResumeFailed(Exception):
    """The engine refused to resume the container (its words are the message)."""


def engine_transport() -> tuple[str, dict]:
    """(base URL, httpx transport arguments) of the Docker engine's API, from DOCKER_HOST like the docker CLI."""
    address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if address.startswith("unix://"):
        return "http://docker", {"uds": address[len("unix://"):]}
    parts = urlsplit(address.replace("tcp://", "http://", 1))
    return f"http://{parts.netloc}", {}


async def unpause(container: str) -> bool:
    """Ask the engine to unpause `container`: True if it was paused, False if it was not (or is gone)."""
    import httpx  # only once a paused server is asked for: the proxy starts without it

    base, transport = engine_transport()
    async with httpx.AsyncClient(base_url=base, transport=httpx.AsyncHTTPTransport(**transport),
                                 timeout=ENGINE_TIMEOUT) as engine:
        answer = await engine.post(f"/containers/{quote(container, safe='')}/unpause")
    if answer.status_code == 204:
        return True
    try:
        message = answer.json().get("message")
    except ValueError:
        message = None
    if nothing_to_unpause(answer.status_code, message):
        return False
    raise ResumeFailed(message or f"the engine answered {answer.status_code}")


class Resumer:
    """One unpause at a time per container, shared by the requests that wait for it."""

    def __init__(self, unpause=unpause):
        self._unpause = unpause
        self._pending: dict[str, asyncio.Future] = {}

    async def resume(self, routes, prefix: str) -> None:
        """Resume the container marked on the route at `prefix` (if any), then clear the mark. `routes` is the
        proxy's route store (configurable_http_proxy.store)."""
        data = routes.get(prefix)
        container = data.get(PAUSED) if data else None
        if not container:
            return
        pending = self._pending.get(container)
        if pending is None:
            pending = self._pending[container] = asyncio.ensure_future(self._unpause(container))
            pending.add_done_callback(lambda _: self._pending.pop(container, None))
        await asyncio.shield(pending)
        data = routes.get(prefix)
        if data and data.get(PAUSED) == container:
            routes.update(prefix, {PAUSED: None})
