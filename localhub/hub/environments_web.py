"""Built environments, for the browser and the daemon's API (tljh-repo2docker's environments page, the CLI's
`builds`, the TUI's Environments tab).

    /services/localhub/environments               the page: every environment with its source, commit, size
                                                  (shared layers counted once), last use and servers; build from a
                                                  link, rebuild, remove (after a confirmation), the build log
    /services/localhub/api/environments           GET the list (JSON); DELETE ?image= removes one
    /services/localhub/api/environments/log       GET ?image= or ?spec=: a build log as text (&download=1: as a file)
    /services/localhub/api/environments/prune     POST {"dry_run": bool}: remove environments no server uses and
                                                  this hub's dangling images

The API handlers are the daemon API's (api.APIHandler: its sign-in and its error shape); api.make_app serves them.

An environment is "ours" when this hub built it or one of its servers runs it (the engine may hold other hubs'
images too); only ours are listed, removed or pruned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import Awaitable
from urllib.parse import unquote

import docker.errors
from tornado import web

from ..api import APIHandler
from ..binder import BadLink, get_provider, parse_spec
from ..errors import shown
from ..images.catalog import LABEL_SPEC, list_environments, remove_environment
from .binder_web import BinderHandler

SERVICE = "/services/localhub"


# --- what is built ------------------------------------------------------------------------------------

def _iso(value) -> str | None:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).isoformat(timespec="seconds")
    return value or None


def _latest(*times: str | None) -> str | None:
    """The latest of ISO timestamps (JupyterHub's end in Z, ours in +00:00)."""
    parsed = []
    for text in times:
        try:
            parsed.append(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except (AttributeError, ValueError):
            continue
    return max(parsed).isoformat(timespec="seconds") if parsed else None


async def inventory(daemon, user: Awaitable[dict] | None = None) -> dict:
    """Every environment of this hub (newest build first) with its size counting shared layers once, the
    servers using it and when it was last used; the builds running now; and the disk they all take together.
    `user`: JupyterHub's model of the desktop user when the caller has asked for it already (the servers
    listing, which the TUI asks with the environments beside it)."""
    d = daemon
    loop = asyncio.get_running_loop()
    # one listing of the engine's images serves everything below (environments, ours, layer holders), asked
    # side by side with the hub: the environments tab asks every few seconds
    summaries, user = await asyncio.gather(loop.run_in_executor(None, d.docker.api.images),
                                           user if user is not None else d.hub_api.user(d.settings.user))
    everything = list_environments(d.docker, summaries=summaries)
    built_here = {summary["Id"] for summary in summaries
                  if (summary.get("Labels") or {}).get("localhub.instance") == d.settings.instance}
    servers = user.get("servers") or {}
    users_of: dict[str, list[tuple[str, dict]]] = {}
    for name, server in servers.items():
        image = (server.get("user_options") or {}).get("image")
        if image:
            users_of.setdefault(image, []).append((name, server))
    ours = [e for e in everything if e.id in built_here or e.image in users_of]
    usage, together = await loop.run_in_executor(None, d.builder.layers.usage, [e.id for e in ours],
                                                 [summary["Id"] for summary in summaries])
    launched: dict[str, float] = {}
    for entry in d.launcher.recent.list():
        launched[entry["spec"]] = max(launched.get(entry["spec"], 0), entry.get("at") or 0)
    rows = []
    for e in ours:
        name, ref, pinned = _described(e.spec, e.resolved)
        using = sorted(users_of.get(e.image, []), key=lambda item: item[0])
        cost = usage.get(e.id)
        rows.append({
            "image": e.image, "spec": e.spec, "source": unquote(e.spec), "name": name, "ref": ref,
            "pinned": pinned,
            "environment": e.environment,
            "resolved": e.resolved, "built": e.built.isoformat() if e.built else None, "repo2docker": e.repo2docker,
            "size": cost.own if cost else e.size,  # what removing it would free
            "shared": cost.shared if cost else 0,  # what it shares with other images (a base image, …)
            "image_size": e.size,  # the engine's figure: every layer under it
            "servers": [name or "(default)" for name, _ in using],
            "running": [name or "(default)" for name, s in using if s.get("ready") or s.get("pending")],
            "last_used": _latest(*(s.get("last_activity") for _, s in using), _iso(launched.get(e.spec))),
            "last_launch": d.launcher.image_traces.get(e.image),  # where its last launch's time went
            "building": False,
        })
    building = [{**job, "building": True, "source": unquote(job["spec"])} for job in d.builder.status()]
    return {"environments": rows + building, "disk": {"environments": together, "count": len(rows)}}


@functools.lru_cache(maxsize=1024)
def _described(spec: str, resolved: str | None) -> tuple[str, str | None, str]:
    """An environment's name, ref and pinned spec (launched or rebuilt from here, it is this very commit, even when
    its branch has moved on since). Kept: a listing describes every environment every few seconds, and an image's
    labels never change."""
    try:
        launch = parse_spec(spec)
        pinned = get_provider(launch.provider).pinned_spec(launch, resolved) if resolved else spec
        return launch.display_name, launch.ref, pinned
    except (BadLink, ValueError):  # a spec an older localhub wrote, or a hand-made label
        return unquote(spec), None, spec


# --- the API --------------------------------------------------------------------------------------------

class EnvironmentsHandler(APIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await inventory(self.daemon))

    @web.authenticated
    async def delete(self):
        image = self.get_argument("image")
        found = await inventory(self.daemon)
        env = next((e for e in found["environments"] if e["image"] == image and not e["building"]), None)
        if env is None:
            raise web.HTTPError(404, f"{shown(image)} is not an environment of this hub.")
        if env["running"]:
            raise web.HTTPError(409, f"Server(s) {', '.join(env['running'])} run this environment; stop them first.")
        try:
            removed = await self.in_thread(lambda: remove_environment(self.daemon.docker, image))
        except ValueError as err:
            raise web.HTTPError(400, str(err)) from None
        except docker.errors.APIError as err:
            raise web.HTTPError(409, f"The engine would not remove {shown(image)}: {err.explanation}") from None
        if not removed:
            raise web.HTTPError(404, f"There is no environment image {shown(image)}.")
        self.write_json({"removed": image, "freed": env["size"]})


def _log_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120] + ".log"


class BuildLogHandler(APIHandler):
    """A kept build log (built or failed), as text; `download=1` offers it as a file."""

    @web.authenticated
    async def get(self):
        image, spec = self.get_argument("image", ""), self.get_argument("spec", "")
        builder = self.daemon.builder
        try:
            text = builder.read_log(image) if image else await self.in_thread(builder.latest_log_for_spec, spec)
        except OSError:  # a name no file can have (too long, say): there is no such log
            text = None
        if text is None:
            raise web.HTTPError(404, f"No build log is kept for {shown(image or spec)}.")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        if self.get_argument("download", "") in ("1", "true", "yes"):
            self.set_header("Content-Disposition", f'attachment; filename="{_log_filename(image or spec)}"')
        self.finish(text)


class PruneHandler(APIHandler):
    """POST {"dry_run": bool}: environments no server uses (running or stopped: a stopped server needs its image
    to start again), and images of this hub left without a name (a build replaced while a container still used
    it). Nothing of another hub, and nothing else of the engine's."""

    @web.authenticated
    async def post(self):
        dry_run = bool(self.json_body().get("dry_run"))
        d = self.daemon
        found = await inventory(d)
        unused = [e for e in found["environments"] if not e["building"] and not e["servers"]]
        # the engine's summaries (one request): images.list() inspects each, and fails on one removed meanwhile
        dangling = await self.in_thread(lambda: d.docker.api.images(filters={"dangling": True, "label": [
            LABEL_SPEC, f"localhub.instance={d.settings.instance}"]}))
        ids = [i["Id"] for i in dangling] + [
            (await self.in_thread(d.docker.images.get, e["image"])).id for e in unused]
        freed = await self.in_thread(d.builder.layers.freed_by, ids)
        removed, kept = [], []
        if not dry_run:
            for e in unused:
                try:
                    await self.in_thread(lambda image=e["image"]: remove_environment(d.docker, image))
                    removed.append(e["image"])
                except (docker.errors.APIError, ValueError) as err:
                    kept.append({"image": e["image"], "reason": str(getattr(err, "explanation", err))})
            for image in dangling:
                try:
                    await self.in_thread(d.docker.images.remove, image["Id"])
                    removed.append(image["Id"])
                except docker.errors.APIError as err:
                    kept.append({"image": image["Id"], "reason": str(err.explanation)})
        self.write_json({
            "dry_run": dry_run,
            "environments": [{"image": e["image"], "source": e["source"], "resolved": e["resolved"],
                              "size": e["size"]} for e in unused],
            "dangling": [{"image": i["Id"], "size": i.get("Size")} for i in dangling],
            "freed": freed if not kept else None, "removed": removed, "kept": kept})


# --- the page -----------------------------------------------------------------------------------------------

class EnvironmentsPageHandler(BinderHandler):
    @web.authenticated
    def get(self):
        self.render("environments.html")


def handlers(daemon) -> list:
    args = {"daemon": daemon}
    api = SERVICE + "/api/environments"
    return [
        (api, EnvironmentsHandler, args),
        (api + "/log", BuildLogHandler, args),
        (api + "/prune", PruneHandler, args),
        (SERVICE + "/environments/?", EnvironmentsPageHandler, args),
    ]
