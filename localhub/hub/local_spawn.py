"""The spawner's side of servers in this desktop's engine, around DockerSpawner's own: the container's death
watched from before it starts (container_events.py), the wait until the server in it answers (readiness.py),
with one clear sentence when it crashes or stays silent, and paused servers (pausing.py) resumed before
anything needs them (a stop, a removal, a restarted hub's check).

A mixin of LocalhubSpawner (spawner.py), placed before DockerSpawner: it reads the spawner's instance, its
start's trace (`_trace`) and guest, and makes its errors with the spawner's `_spawn_error`.
"""

from __future__ import annotations

import asyncio
import time

import docker.errors

from ..container_events import ContainerEvents
from ..profiles import format_size
from . import readiness
from .resume import nothing_to_unpause


class InThisEngine:
    _events = None  # one ContainerEvents per JupyterHub process, shared by every spawner

    # --- local containers: readiness and deaths ------------------------------------------------------
    def events(self) -> ContainerEvents:
        if InThisEngine._events is None or InThisEngine._events.instance != self.instance:
            InThisEngine._events = ContainerEvents(self.instance)
        return InThisEngine._events

    async def start_object(self):
        # watch for the container's death before it can happen
        self._death, self._forget_death = self.events().died(self.container_id)
        try:
            await super().start_object()
        except BaseException:
            self._forget_death()
            raise
        self._trace["started"] = time.time()

    async def get_ip_and_port(self):
        """The container's address once *it* answers (readiness.py); a crash or silence is a clear error."""
        server = self.name or "default"
        path = (self.server.base_url if self.server else "/") + "api"
        try:
            ip = await readiness.wait_until_ready(
                lambda: self._inspect(self.container_id), self._death, self.network_name, self.port, path,
                self.http_timeout, answers=self._answers)
        except readiness.Stopped as stop:
            log_lines = await self._log_tail()
            text, page = readiness.describe_stop(server, stop, format_size(self.mem_limit or 0), log_lines)
            self.log.warning("%s stopped while starting (exit code %s); last log lines:\n%s",
                             self._log_name, stop.exit_code, "\n".join(log_lines[-readiness.LOG_LINES:]))
            raise self._spawn_error(text, page, "crashed")
        except readiness.NeverAnswered:
            log_lines = await self._log_tail()
            await self.stop_object()  # stopped, not removed: its log stays readable
            raise self._spawn_error(readiness.describe_silence(server, self.http_timeout, log_lines), None,
                                    "timeout")
        finally:
            self._forget_death()
        self._trace["answered"] = time.time()
        return ip, self.port

    async def _answers(self, url: str) -> bool:
        return await readiness.probe(url)

    async def _inspect(self, container_id: str) -> dict | None:
        try:
            return await self.docker("inspect_container", container_id)
        except docker.errors.NotFound:
            return None

    async def _log_tail(self) -> list[str]:
        try:
            raw = await self.docker("logs", self.container_id, tail=readiness.LOG_LINES)
        except docker.errors.APIError:
            return []
        return raw.decode("utf-8", "replace").splitlines()

    # --- paused servers (localhub/pausing.py): running for JupyterHub, resumed before anything needs them --
    async def resume(self) -> bool:
        """Unpause this server's container if it is paused; True if it was."""
        if self.guest or not self.container_id:
            return False
        try:
            await self.docker("unpause", self.container_id)
        except docker.errors.APIError as err:
            if nothing_to_unpause(err.status_code, str(err)):  # gone, or not paused
                return False
            raise
        self.log.info("%s resumed (it was paused)", self._log_name)
        return True

    async def stop_object(self):
        # resumed first, the server shuts down cleanly (kernels stopped, files written) whoever stops it: the
        # idle culler, the memory cap, `down`. Docker 20.10 happens to thaw a paused container for `docker
        # stop`; a clean stop must not rest on one engine's habit
        await self.resume()
        await super().stop_object()

    async def remove_object(self):
        # a container still running when its hub lost track of it (a database recovered after `down
        # --keep-servers`) refuses removal with 409, which DockerSpawner takes for "already removing" before it
        # creates one of the same name (409 again: the start failed); stopped first, it goes
        found = await self._inspect(self.object_id) if self.object_id else None
        if found and found["State"].get("Running"):  # paused ones too: Docker says Running and Paused
            await self.stop_object()
        await super().remove_object()

    async def get_url(self):
        # a hub that restarts checks each running server over HTTP and stops those that do not answer
        await self.resume()
        return await super().get_url()

    def start_polling(self):
        """Besides JupyterHub's periodic poll: a container that dies is noticed at once, so its route goes
        before Docker can hand its address to another server."""
        super().start_polling()
        self._stop_watching()
        if self.container_id and not self.guest:
            def on_event(event: dict) -> None:
                if event.get("status") == "die" and self._poll_callback is not None:
                    asyncio.ensure_future(self.poll_and_notify())
            self._forget_watch = self.events().listen(self.container_id, on_event)

    def stop_polling(self):
        super().stop_polling()
        self._stop_watching()

    def _stop_watching(self) -> None:
        forget = getattr(self, "_forget_watch", None)
        if forget:
            forget()
            self._forget_watch = None
