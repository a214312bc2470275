"""Binder launches: a LaunchSpec becomes a running named server, as a stream of BinderHub-style events.

resolve the ref (offline: fall back to the last id whose image is here) → build once with repo2docker
(concurrent launches share the build) → start the environment's named server (one per environment, its
home volume persistent) → `ready` with the server's URL and a token for it.

Events are LaunchEvents (launch_events.py): a phase, a message and the launch's overall progress, with
BinderHub's fields (`imageName` on built; `url`, `token` on ready) that the hub's /build/ stream sends in
BinderHub's wire format. JupyterHub is reached through the daemon's one hub client (hubapi.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from .binder import BadLink, LaunchSpec, ResolveError, ResolvedCache, get_provider, parse_spec, resolve
from .images.builder import Builder
from .images.catalog import find_image, image_name
from .config import Settings
from .home_files import HomeFiles
from .hub.policy import RESERVED_NAMES
from .hubapi import HubAPI, HubError
from .launch_events import LaunchEvent
from .launch_trace import LaunchTrace
from .state import write_atomic
from .workshop.resolver import WorkshopResolver

RECENT_LIMIT = 20


def server_name_base(launch: LaunchSpec, max_length: int) -> str:
    """A readable server name from the repository: `gh/org/Climate_Model/main` → `climate-model`."""
    last = get_provider(launch.provider).server_name_stem(launch)
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", last.lower())).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"env-{slug}".rstrip("-")
    return slug[:max_length].rstrip("-")


def environment_of(options: dict) -> str | None:
    """The environment a server's launch options name (servers launched before environments were recorded
    carry only their spec)."""
    if options.get("environment"):
        return options["environment"]
    try:
        return parse_spec(options["spec"]).environment if options.get("spec") else None
    except (BadLink, ValueError):
        return None


def unique_server_name(base: str, launch: LaunchSpec, resolved: str, servers: dict, max_length: int) -> str:
    """The server of this launch: the one carrying the same link (a newer commit restarts it), else one
    already running this environment at this id (`…/HEAD` and `…/main` at one commit share it), else the
    first of `base`, `base-2`, … that is free."""
    named = {name: server.get("user_options") or {} for name, server in servers.items() if name}
    for name, options in named.items():
        if options.get("spec") == launch.spec:
            return name
    for name, options in named.items():
        if environment_of(options) == launch.environment and options.get("resolved") == resolved:
            return name
    candidate, n = base, 1
    while candidate in servers or candidate in RESERVED_NAMES:  # a repository called `lab` gets `lab-2`
        n += 1
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)].rstrip("-") + suffix
    return candidate


def full_message(servers: list[str], limit: int) -> str:
    shown_names = ", ".join(servers[:8]) + (", …" if len(servers) > 8 else "")
    return (f"This launch needs a new server, but the limit of {limit} named servers is reached ({shown_names}); "
            "free a slot with `localhub servers delete NAME` (or `d` on the TUI's Servers tab, or Delete on "
            "/hub/home) and launch again.")


class RecentLaunches:
    """The last launches, newest first, for the launch page (a small JSON file in the state dir)."""

    def __init__(self, path: Path):
        self.path = path

    def list(self) -> list[dict]:
        """The entries that have the shape this class writes; a damaged or hand-edited file is not fatal."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [e for e in data if isinstance(e, dict)
                and all(isinstance(e.get(key), str) for key in ("spec", "server", "path"))]

    def add(self, launch: LaunchSpec, server: str) -> None:
        entry = {"spec": launch.spec, "urlpath": launch.urlpath, "server": server, "at": time.time(),
                 "path": launch.binder_path()}
        recent = [e for e in self.list() if e.get("spec") != launch.spec]
        write_atomic(self.path, json.dumps([entry, *recent][:RECENT_LIMIT], indent=1))


class Launcher:
    def __init__(self, settings: Settings, builder: Builder, hub: HubAPI, state_root: Path,
                 workshop: WorkshopResolver | None = None):
        self.settings = settings
        self.builder = builder
        self.hub = hub  # authenticated with the daemon's token
        self.resolved = ResolvedCache(state_root / "resolved.json")
        self.recent = RecentLaunches(state_root / "launches.json")
        self._server_locks: dict[str, asyncio.Lock] = {}
        self._naming = asyncio.Lock()
        # server name -> (the options it will carry, how many launches hold it), from resolve to ready
        self._reserved: dict[str, tuple[dict, int]] = {}
        # bundles imported here and the class on the LAN answer before the network does (localhub/workshop)
        self.workshop = workshop or WorkshopResolver(state_root, builder.client)
        # the last launch's trace (launch_trace.py) of each server and of each image, for servers/builds ls
        self.traces: dict[str, dict] = {}
        self.image_traces: dict[str, dict] = {}
        # a server started on a newer commit gets the commit's files in its home (home_files.py)
        self.home_files = HomeFiles(builder.client, state_root, settings.instance, settings.user, settings.labels)

    def server_lock(self, name: str) -> asyncio.Lock:
        """Held while a launch starts the server `name` (and while its home's files are brought in)."""
        return self._server_locks.setdefault(name, asyncio.Lock())

    async def launch(self, launch: LaunchSpec, profile: str | None = None, rebuild: bool = False,
                     where: str | None = None, start: bool = True) -> AsyncIterator[LaunchEvent]:
        """The launch's events, the last one `ready` (or `built` when not `start`ed) or `failed`; each carries
        the launch's overall progress, never going back, and the seconds since it began."""
        previous, began = None, time.monotonic()
        async for item in self._launch(launch, profile, rebuild, where, start, LaunchTrace()):
            previous = replace(item, elapsed=time.monotonic() - began).after(previous)
            yield previous

    async def _launch(self, launch, profile, rebuild, where, start, trace: LaunchTrace) -> AsyncIterator[LaunchEvent]:
        resolved = None
        async for item in self._resolve(launch):
            if isinstance(item, LaunchEvent):
                yield item
                if item.phase == "failed":
                    return
            else:
                resolved = item
        trace.mark("resolve")

        name = None
        if start:  # the server is chosen before anything is built: a full hub fails now, not after a build
            name = await self._reserve_name(launch, resolved)
            if isinstance(name, list):
                yield LaunchEvent.at("failed", full_message(name, self.settings.max_named_servers))
                return
        try:
            image = None
            async for item in self._build(launch, resolved, rebuild):
                if item.phase == "built":
                    trace.mark("find image" if item.fields.pop("found", False) else "build")
                    if name is None:
                        item = replace(item, fields={**item.fields, "trace": trace.to_wire()})
                yield item
                if item.phase == "failed":
                    return
                image = item.fields.get("imageName", image)
            if name is not None:
                async for item in self._start_server(name, launch, resolved, image, profile, where, trace):
                    yield item
            if image:
                self.image_traces[image] = trace.to_wire()
        finally:
            if name is not None:
                self._release(name)

    async def _resolve(self, launch: LaunchSpec):
        async for item in self.workshop.provide(launch):
            # the workshop's events are BinderHub-shaped dicts; a resolved id (str) ends its say
            yield LaunchEvent.from_wire(item) if isinstance(item, dict) else item
            if not isinstance(item, dict) or item["phase"] == "failed":
                return
        what = launch.ref or "the repository"
        yield LaunchEvent.at("waiting", f"Resolving {what} of {launch.repo} to an immutable id...")
        try:
            resolved = await asyncio.to_thread(resolve, launch)
        except ResolveError as err:
            if getattr(err, "kind", "") != "network":
                yield LaunchEvent.at("failed", str(err))
                return
            last = await asyncio.to_thread(
                self.resolved.last, launch.spec,
                lambda rid: find_image(self.builder.client, launch.environment, rid) is not None)
            if last is None:
                yield LaunchEvent.at("failed", f"{err} No earlier build of {launch.spec} is on this machine to fall "
                                               "back to.")
                return
            yield LaunchEvent.at("waiting", f"{err} Using the last resolved id {last.id[:12]} "
                                            f"(from {last.at:%Y-%m-%d %H:%M} UTC), whose image is on this machine.", 1)
            yield last.id
            return
        await asyncio.to_thread(self.resolved.remember, launch.spec, resolved)
        yield resolved

    async def _build(self, launch: LaunchSpec, resolved: str, rebuild: bool) -> AsyncIterator[LaunchEvent]:
        provider = get_provider(launch.provider)
        repo, ref = provider.build_source(launch, resolved)
        image = image_name(launch.environment, resolved)
        try:
            async for ev in self.builder.build(launch.spec, repo, ref, rebuild=rebuild,
                                               content_providers=provider.fetchers, environment=launch.environment):
                if ev.phase == "failed":
                    # the reason once; where the whole log is, as a field (the page links it, the CLI names
                    # `localhub builds log`)
                    yield LaunchEvent.at("failed", ev.message, build_log=self.build_log_url(image),
                                         spec=launch.spec)
                    return
                if ev.phase == "built":
                    found = "already built" in ev.message
                    yield LaunchEvent.at("built", f"{'Found built' if found else 'Built'} image {ev.image}, "
                                                  "launching...", imageName=ev.image, found=found)
                else:
                    yield replace(LaunchEvent.at(ev.phase, ev.message, ev.progress), left=ev.left,
                                  detail=ev.detail or "", tick=ev.tick)
        except ValueError as err:  # the builder refuses what it cannot build
            yield LaunchEvent.at("failed", str(err))

    def build_log_url(self, image: str) -> str:
        """The page serving an image's build log (kept after a failure too)."""
        return f"{self.settings.url}/services/localhub/api/environments/log?image={quote(image, safe='')}"

    async def _start_server(self, name: str, launch: LaunchSpec, resolved: str, image: str, profile: str | None,
                            where: str | None, trace: LaunchTrace):
        async with self.server_lock(name):
            async for item in self._start_named(name, launch, resolved, image, profile, where, trace):
                yield item
                if item.phase == "failed":
                    return
        user = self.settings.user
        token, _ = await asyncio.gather(
            self.hub.new_token(user, f"Binder launch of {name}", scopes=[f"access:servers!server={user}/{name}"],
                               expires_in=24 * 3600),
            self.hub.answers(f"/user/{user}/{name}/api"))
        trace.mark("first response")
        self.traces[name] = trace.to_wire()
        url = f"{self.settings.url}/user/{user}/{name}/{launch.urlpath or ''}"
        self.recent.add(launch, name)
        yield LaunchEvent.at("ready", f"server running at {url}", url=url, token=token, imageName=image, image=image,
                             server=name, repo_url=launch.repo,
                             binder_ref_url=get_provider(launch.provider).ref_url(launch, resolved),
                             binder_launch_host=self.settings.url + "/", binder_request=f"v2/{launch.spec}",
                             binder_persistent_request=f"v2/{self._persistent_spec(launch, resolved)}",
                             trace=self.traces[name])

    async def _reserve_name(self, launch: LaunchSpec, resolved: str) -> str | list[str]:
        """The launch's server name, held until it is ready so that a concurrent launch of another repository
        with the same name picks another one; the names of the user's servers when every slot is taken."""
        async with self._naming:
            servers = await self.hub.servers(self.settings.user)
            taken = {**servers, **{n: {"user_options": options} for n, (options, _) in self._reserved.items()}}
            name = unique_server_name(server_name_base(launch, self.settings.server_name_max_length),
                                      launch, resolved, taken, self.settings.server_name_max_length)
            named = sorted(n for n in taken if n)
            if name not in taken and len(named) >= self.settings.max_named_servers:
                return named
            options, holders = self._reserved.get(name, ({"spec": launch.spec, "environment": launch.environment,
                                                          "resolved": resolved}, 0))
            self._reserved[name] = (options, holders + 1)
            return name

    def _release(self, name: str) -> None:
        options, holders = self._reserved.pop(name, ({}, 1))
        if holders > 1:
            self._reserved[name] = (options, holders - 1)

    async def _start_named(self, name: str, launch: LaunchSpec, resolved: str, image: str, profile: str | None,
                           where: str | None, trace: LaunchTrace):
        user = self.settings.user
        servers, image_id = await asyncio.gather(  # side by side: both are on every launch's path
            self.hub.servers(user), asyncio.to_thread(lambda: self.builder.client.images.get(image).id))
        server = servers.get(name)
        previous = (server or {}).get("user_options") or {}
        options = {
            "image": image,
            "image_id": image_id,  # a rebuild keeps the name but not the id
            "profile": profile or previous.get("profile") or self.settings.default_profile,
            "spec": launch.spec,
            "environment": launch.environment,
            "resolved": resolved,
            "env": self._binder_env(launch, resolved),
            "where": where or previous.get("where") or "local",
        }
        if launch.urlpath:
            options["default_url"] = "/" + launch.urlpath.lstrip("/")
        if self.settings.cors_allow_origin:  # the pages that may launch it may also use it (Thebe's kernels)
            options["allow_origin"] = self.settings.cors_allow_origin
        running = bool(server and (server.get("ready") or server.get("pending") == "spawn"))
        same_build = previous.get("image") == image and previous.get("image_id") == image_id
        if running and same_build and (not profile or profile == previous.get("profile")):
            trace.mark("server running")
            yield LaunchEvent.at("launching", f"Server '{name}' already runs this environment")
            return
        if running:
            yield LaunchEvent.at("launching", f"Restarting server '{name}' with the new build (its files are kept)")
            await self.hub.stop_server(user, name)
            trace.mark("stop old server")
        # a server that runs here gets a newer commit's files in its home (a new home gets them from Docker)
        if options["where"] == "local" and server is not None:
            files = await asyncio.to_thread(self.home_files.before_start, name, image, resolved,
                                            previous.get("image_id") or previous.get("image"))
            if files is not None and (files.changed or not files.plan):
                yield LaunchEvent.at("launching", files.message, home_files=files.to_dict())
        yield LaunchEvent.at("launching", f"Launching server '{name}'...")
        try:
            await self.hub.start_server(user, name, options)
            async for progress in self.hub.follow_spawn(user, name):
                if progress.get("failed"):
                    yield LaunchEvent.at("failed", f"Server '{name}' failed to start: {progress.get('message', '')}")
                    return
                if progress.get("ready"):
                    trace.mark_spawner(progress.get("localhub_trace"))
                    trace.mark("route added")
                if not progress.get("ready"):
                    yield LaunchEvent.at("launching", progress.get("message", ""), (progress.get("progress") or 0) / 100)
        except HubError as err:
            yield LaunchEvent.at("failed", str(err))

    def _binder_env(self, launch: LaunchSpec, resolved: str) -> dict:
        return {
            "BINDER_LAUNCH_HOST": self.settings.url + "/",
            "BINDER_REQUEST": f"v2/{launch.spec}",
            "BINDER_PERSISTENT_REQUEST": f"v2/{self._persistent_spec(launch, resolved)}",
            "BINDER_REPO_URL": launch.repo,
            "BINDER_REF_URL": get_provider(launch.provider).ref_url(launch, resolved),
            # Binder clients open `url?token=<the ready event's token>` (and Thebe's kernels connect with it), as
            # on mybinder.org; JupyterHub 5+ servers ignore a token in the URL unless told otherwise
            "JUPYTERHUB_ALLOW_TOKEN_IN_URL": "1",
        }

    @staticmethod
    def _persistent_spec(launch: LaunchSpec, resolved: str) -> str:
        return get_provider(launch.provider).pinned_spec(launch, resolved)
