"""The spawner's side of servers on lab peers: where to run (the daemon's choice, pool/away/placement.py),
the start through the daemon (daemon_link.py), and the wait until the guest answers through its tunnel.

A mixin of LocalhubSpawner (spawner.py), which calls `_choose_peer` and `_start_remote` from its `start`; it
reads the spawner's daemon link, pool address and hub API port, and sets its `guest`.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from tornado import web

from ..errors import LocalhubError
from . import readiness
from .daemon_link import DaemonUnreachable


class OnLabPeers:
    async def _choose_peer(self, where: str, profile) -> dict | None:
        """The peer to run on ({"where": node, "name": …}), or None for this desktop. Outside a lab only
        `local` and `auto` (meaning local) are possible, and the daemon is not asked."""
        if not self.pool_address:
            if where in ("local", "auto"):
                return None
            raise web.HTTPError(400, "This desktop is not in a lab (or its pool is off), so the server cannot "
                                     f"run on '{where}'; `localhub pool init` or `join` first.")
        try:
            choice = await self.daemon.choose(self.user.name, self.name, where, self._ask(profile))
        except LocalhubError as err:
            raise web.HTTPError(400, str(err)) from None
        return None if choice["where"] == "local" else choice

    @staticmethod
    def _ask(profile) -> dict:
        return {"cpus": profile.cpu, "memory": profile.memory, "storage": profile.storage}

    def _remote_env(self) -> dict:
        """The server's environment, with this hub's API at its LAN address instead of the Docker gateway, over
        TLS (the daemon's door there, pool/hub_door.py, answers only TLS)."""
        env = self.get_env()
        gateway = urlsplit(env["JUPYTERHUB_API_URL"]).hostname
        return {k: v.replace(f"http://{gateway}:", f"https://{self.pool_address}:") if isinstance(v, str) else v
                for k, v in env.items()}

    async def _start_remote(self, peer: dict, profile):
        request = {"node": peer["where"], "user": self.user.name, "server": self.name, "volume": self.home_volume,
                   "image": self.image, "ask": self._ask(profile), "env": self._remote_env(),
                   "cmd": await self.get_command(), "hub": [self.pool_address, self.hub_api_port]}
        running = None
        try:
            async for event in self.daemon.start(request):
                if "guest" in event:  # known before it runs: a stop meanwhile (the start's deadline) reaches it
                    self.guest = event["guest"]
                if "step" in event:
                    self.log.info("%s: %s", self._log_name, event["step"])
                    self._pool_steps.append(event["step"])
                running = event.get("running", running)
        except LocalhubError as err:
            raise web.HTTPError(500, f"The server could not start on {peer['name']}: {err}") from None
        self.object_id = ""
        await self._wait_for_guest(running)
        if hasattr(self, "_trace"):
            self._trace["answered"] = time.time()
        self.log.info("%s runs on lab peer %s at %s:%s", self._log_name, running["peer"], running["address"],
                      running["port"])
        return running["address"], running["port"]

    async def _wait_for_guest(self, running: dict) -> None:
        """Return once the guest answers through its tunnel, probed closely, so that JupyterHub's own check (whose
        back-off grows to seconds) succeeds on its first try; a guest that stops or stays silent is stopped and
        said so."""
        server, peer = self.name or "default", running["peer"]
        path = (self.server.base_url if self.server else "/") + "api"
        try:
            await readiness.wait_until_answers(f"http://{running['address']}:{running['port']}{path}",
                                               self._guest_exit, self.http_timeout,
                                               answers=self._answers)
        except readiness.Stopped:
            raise self._spawn_error(f"Server '{server}' did not start on {peer}: its container stopped while "
                                    "starting (its home is back here).", None, "crashed") from None
        except readiness.NeverAnswered:
            await self.daemon.stop(self.guest)
            raise self._spawn_error(f"Server '{server}' did not answer within {self.http_timeout:g} s of starting "
                                    f"on {peer}, so it was stopped (is the image's command a Jupyter server on "
                                    "port 8888?).", None, "timeout") from None

    async def _guest_exit(self) -> int | None:
        """The guest's exit status, None while it runs; a daemon restarting meanwhile says nothing yet (as the
        spawner's own poll takes it)."""
        try:
            return await self.daemon.poll(self.guest)
        except DaemonUnreachable:
            return None
