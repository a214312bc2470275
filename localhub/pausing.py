"""Paused, not stopped: a server idle for `pause_after` seconds is frozen (`docker pause`: the cgroup freezer,
no CPU, its memory kept) and resumed (the engine's unpause takes a few hundredths of a second) by the next
request through the proxy (hub/resume.py), a launch, `localhub servers start|open` or the TUI.

The daemon runs `Pauser.run` as a task. Each pass it reads the hub's running servers, their containers and the
proxy's routes, and for each running server decides with its own words — Jupyter Server's `/api/status`
(open connections, last activity) and `/api/kernels` (a kernel busy) asked at its address on the hub's
network, never through the proxy (a request there is activity, and would resume it) — whether it is idle:

- never paused: a server with an open connection (a notebook's websocket) or a busy kernel, or whose server
  does not answer (it is not ours to judge), or that has no route (nothing could resume it);
- paused: one idle for `pause_after` since the latest of its own last activity, JupyterHub's, its start and
  the moment it was last resumed.

To pause, the route is marked first, then the container paused, then the mark read again: a request that came in
between found the mark, resumed the container (or found it not yet paused) and cleared the mark, so the
container is resumed at once. A paused server stays running for JupyterHub (its poll sees the container
running), so the idle culler still stops it at `idle_timeout` as before, and the spawner resumes a container
before stopping it (hub/local_spawn.py) so the server shuts down cleanly with every file kept. The memory all paused
servers hold is capped (`paused_memory_cap`): over it, the one paused longest ago is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from .hub.resume import PAUSED, nothing_to_unpause
from .profiles import format_size

log = logging.getLogger("localhub.pausing")

MiB = 1024 * 1024
STATUS_TIMEOUT = 5  # a running server answers its status in milliseconds; a silent one is left alone


@dataclass
class Activity:
    """What a server says of itself (Jupyter Server's /api/status and /api/kernels)."""

    last_activity: float  # unix time
    connections: int
    busy_kernels: int


@dataclass
class Seen:
    """A running server of this hub with a container on this engine, as one pass sees it."""

    user: str
    server: str
    container: str  # the container's id
    name: str  # the container's name (the usage sampler's key)
    paused: bool
    prefix: str  # its route in the proxy: /user/<user>/<server>
    route: dict | None  # the route's data (target, the paused mark), None without a route
    hub_activity: float | None  # JupyterHub's last activity for it
    started: float | None


def why_not_pause(activity: Activity | None, since: float, now: float, pause_after: float) -> str | None:
    """Why a running server must not be paused now, or None when it may be. `since`: the latest moment known
    from elsewhere to have been active (JupyterHub's activity, its start, its last resume)."""
    if activity is None:
        return "its server did not say how busy it is"
    if activity.connections:
        return f"it has {activity.connections} open connection(s)"
    if activity.busy_kernels:
        return f"{activity.busy_kernels} of its kernels are busy"
    idle = now - max(activity.last_activity, since)
    if idle < pause_after:
        return f"it was active {idle:.0f} s ago"
    return None


def over_the_cap(frozen: list[tuple[str, float, int | None]], cap: int) -> list[str]:
    """Which paused servers to stop, oldest pause first, so that the rest hold at most `cap` bytes.
    `frozen`: (key, paused at, memory held or None when not measured yet)."""
    held = sum(memory or 0 for _, _, memory in frozen)
    stop = []
    for key, _, memory in sorted(frozen, key=lambda f: f[1]):
        if held <= cap:
            break
        stop.append(key)
        held -= memory or 0
    return stop


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def activity_from(status: dict, kernels: list[dict]) -> Activity:
    """An Activity from Jupyter Server's /api/status and /api/kernels answers."""
    last = parse_time(status.get("last_activity")) or parse_time(status.get("started")) or 0.0
    busy = sum(1 for k in kernels if k.get("execution_state") in ("busy", "starting"))
    return Activity(last, int(status.get("connections") or 0), busy)


class Pauser:
    """The pauses of one hub's servers. Its parts are asked through small async callables (the real ones are
    made by `for_daemon`; tests give fakes):

        servers()            [{"user", "server", "url", "last_activity", "started"}] of running servers
        containers()         [{"id", "name", "user", "server", "paused"}] of this hub's server containers
        routes()             the proxy's routes {path: data}
        mark(path, id|None)  set or clear a route's paused mark
        pause(id), unpause(id) -> bool (False: it was not paused)
        activity(seen)       Activity | None
        memory_of(name)      bytes held (the usage sampler's last figure) or None
        stop(user, server)   stop a server (through the hub; its files kept)
    """

    def __init__(self, pause_after: float, memory_cap: int, *, servers, containers, routes, mark, pause,
                 unpause, activity, memory_of, stop, clock=time.time):
        self.pause_after = pause_after
        self.memory_cap = memory_cap
        self._servers, self._containers, self._routes, self._mark = servers, containers, routes, mark
        self._pause, self._unpause, self._activity = pause, unpause, activity
        self._memory_of, self._stop, self._clock = memory_of, stop, clock
        self.paused_at: dict[str, float] = {}  # container id -> when it was paused (as seen by this daemon)
        self.resumed_at: dict[str, float] = {}  # container id -> when it was last seen resumed
        self._lock = asyncio.Lock()  # a pass and a resume never interleave

    @property
    def every(self) -> float:
        """Seconds between passes: a quarter of `pause_after`, between 1 and 30 s."""
        return max(1.0, min(30.0, self.pause_after / 4))

    async def run(self) -> None:
        """Passes until cancelled; a failed pass (the hub restarting) is logged and the next one tries again."""
        while True:
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - pausing must outlive a failed pass
                log.warning("pausing idle servers failed this time (%s: %s); trying again in %g s",
                            err.__class__.__name__, err, self.every)
            await asyncio.sleep(self.every)

    async def look(self) -> list[Seen]:
        servers, containers, routes = await asyncio.gather(self._servers(), self._containers(), self._routes())
        by_server = {(c["user"], c["server"]): c for c in containers}
        routes = {path.rstrip("/"): data for path, data in routes.items()}
        seen = []
        for s in servers:
            c = by_server.get((s["user"], s["server"]))
            if c is None:
                continue  # on a lab peer, or its container is gone (JupyterHub's poll will say)
            prefix = s["url"].rstrip("/")
            seen.append(Seen(s["user"], s["server"], c["id"], c["name"], bool(c["paused"]), prefix,
                             routes.get(prefix), parse_time(s.get("last_activity")), parse_time(s.get("started"))))
        return seen

    async def pass_once(self) -> None:
        async with self._lock:
            now = self._clock()
            seen = await self.look()
            for s in seen:
                if s.paused:
                    self.paused_at.setdefault(s.container, now)  # paused before this daemon started
                    if s.route is not None and s.route.get(PAUSED) != s.container:
                        await self._mark(s.prefix, s.container)  # the proxy lost it (restarted): mark again
                    continue
                if s.container in self.paused_at:  # resumed since the last pass (by the proxy, the hub)
                    del self.paused_at[s.container]
                    self.resumed_at[s.container] = now
                if self.pause_after > 0:
                    await self._consider(s, now)
            running = {s.container for s in seen}
            for gone in set(self.paused_at) - running:
                del self.paused_at[gone]
            for gone in set(self.resumed_at) - running:
                del self.resumed_at[gone]
            await self._hold_the_cap(seen)

    async def _consider(self, s: Seen, now: float) -> None:
        since = max(t for t in (s.hub_activity, s.started, self.resumed_at.get(s.container), 0.0) if t is not None)
        if now - since < self.pause_after:
            return  # known to be active lately: no need to ask the server
        if s.route is None:
            return  # without a route nothing could resume it
        why = why_not_pause(await self._activity(s), since, now, self.pause_after)
        if why:
            log.debug("%s stays running: %s", s.server, why)
            return
        await self._mark(s.prefix, s.container)
        try:
            await self._pause(s.container)
        except Exception:
            await self._mark(s.prefix, None)
            raise
        route = (await self._routes()).get(s.prefix) or (await self._routes()).get(s.prefix + "/")
        if not route or route.get(PAUSED) != s.container:
            await self._unpause(s.container)  # a request came meanwhile: it is wanted
            self.resumed_at[s.container] = self._clock()
            return
        self.paused_at[s.container] = self._clock()
        log.info("Server '%s' of %s paused after %s idle (its memory is kept; the next request resumes it).",
                 s.server or "default", s.user, _duration(now - since))

    async def _hold_the_cap(self, seen: list[Seen]) -> None:
        frozen = [s for s in seen if s.paused or s.container in self.paused_at]
        if not frozen:
            return
        figures = [(s.container, self.paused_at.get(s.container, 0.0), self._memory_of(s.name)) for s in frozen]
        held = sum(m or 0 for _, _, m in figures)
        for container in over_the_cap(figures, self.memory_cap * MiB):
            s = next(f for f in frozen if f.container == container)
            log.info("Server '%s' of %s stopped (its files kept): paused servers held %s, over the %s cap "
                     "(paused_memory_cap); it was the one paused longest ago.", s.server or "default", s.user,
                     format_size(held), format_size(self.memory_cap * MiB))
            held -= self._memory_of(s.name) or 0
            self.paused_at.pop(container, None)
            await self._stop(s.user, s.server)

    async def resume(self, user: str, server: str) -> bool:
        """Resume a paused server now (the CLI, the TUI, a launch); True if it was paused."""
        async with self._lock:
            for s in await self.look():
                if (s.user, s.server) == (user, server):
                    resumed = s.paused and await self._unpause(s.container)
                    if s.route is not None and s.route.get(PAUSED):
                        await self._mark(s.prefix, None)
                    self.paused_at.pop(s.container, None)
                    self.resumed_at[s.container] = self._clock()
                    return resumed
        return False


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


# --- the real parts, for the daemon ------------------------------------------------------------------------
def for_daemon(settings, docker_client, hub_api, proxy_token: str, usage) -> Pauser:
    """The daemon's Pauser: the hub through the daemon's hub client, the engine through its Docker client, the
    proxy through its REST API, each server through its own API with the server's own token (the one JupyterHub
    gave it, read from its container): a server runs a repository's code, so the daemon's token (a hub admin's)
    is never sent to one."""
    import docker.errors
    import httpx

    from .docker_engine import hub_containers

    proxy_api = f"http://127.0.0.1:{settings.port + 1}/api/routes"
    proxy = httpx.AsyncClient(headers={"Authorization": f"token {proxy_token}"}, timeout=10)
    to_servers = httpx.AsyncClient(timeout=STATUS_TIMEOUT)
    server_tokens: dict[str, str | None] = {}  # container id -> its JUPYTERHUB_API_TOKEN

    def _token_of(container: str) -> str | None:
        try:
            env = docker_client.api.inspect_container(container)["Config"].get("Env") or []
        except docker.errors.DockerException:
            return None
        return next((e.split("=", 1)[1] for e in env if e.startswith("JUPYTERHUB_API_TOKEN=")), None)

    async def servers() -> list[dict]:
        running = []
        for user in await hub_api.users():
            for name, s in (user.get("servers") or {}).items():
                if s.get("ready") and not s.get("pending") and s.get("url"):
                    running.append({"user": user["name"], "server": name, "url": s["url"],
                                    "last_activity": s.get("last_activity"), "started": s.get("started")})
        return running

    def _containers() -> list[dict]:
        found = []
        for c in hub_containers(docker_client, settings.instance, all=False):
            labels = c.labels or {}
            if labels.get("localhub.role") or "localhub.server" not in labels:
                continue  # a storage meter, a guest of another desktop
            found.append({"id": c.id, "name": c.name, "user": labels.get("localhub.user", ""),
                          "server": labels["localhub.server"], "paused": c.status == "paused"})
        return found

    async def containers() -> list[dict]:
        return await asyncio.to_thread(_containers)

    async def routes() -> dict:
        answer = await proxy.get(proxy_api)
        answer.raise_for_status()
        return answer.json()

    async def mark(path: str, container: str | None) -> None:
        answer = await proxy.patch(proxy_api + quote(path), json={PAUSED: container})
        if answer.status_code not in (204, 404):
            answer.raise_for_status()

    async def pause(container: str) -> None:
        await asyncio.to_thread(docker_client.api.pause, container)

    async def unpause(container: str) -> bool:
        try:
            await asyncio.to_thread(docker_client.api.unpause, container)
        except docker.errors.APIError as err:
            if nothing_to_unpause(err.status_code, str(err)):  # gone, or not paused
                return False
            raise
        return True

    async def activity(s: Seen) -> Activity | None:
        target = (s.route or {}).get("target", "").rstrip("/")
        if not target:
            return None
        base = f"{target}{quote(s.prefix)}/api"
        if s.container not in server_tokens:
            if len(server_tokens) > 1000:
                server_tokens.clear()
            server_tokens[s.container] = await asyncio.to_thread(_token_of, s.container)
        own = server_tokens[s.container]
        if not own:
            return None  # it cannot be asked: not ours to judge
        headers = {"Authorization": f"token {own}"}
        try:
            status = await to_servers.get(f"{base}/status", headers=headers)
            kernels = await to_servers.get(f"{base}/kernels", params={"no_track_activity": "1"}, headers=headers)
        except httpx.HTTPError:
            return None
        if status.status_code != 200 or kernels.status_code != 200:
            return None
        try:
            return activity_from(status.json(), kernels.json())
        except (ValueError, AttributeError, TypeError):
            return None

    def memory_of(name: str) -> int | None:
        return (usage.latest.get(name) or {}).get("memory")

    async def stop(user: str, server: str) -> None:
        await hub_api.stop_server(user, server, timeout=None)

    return Pauser(settings.pause_after, settings.paused_memory_cap, servers=servers, containers=containers,
                  routes=routes, mark=mark, pause=pause, unpause=unpause, activity=activity, memory_of=memory_of,
                  stop=stop)
