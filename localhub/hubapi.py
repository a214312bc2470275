"""A small async client of JupyterHub's REST API, used inside the daemon (stop all servers, list them)."""

from __future__ import annotations

import asyncio

import httpx


class HubAPI:
    def __init__(self, base_url: str, token: str):
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/hub/api", headers={"Authorization": f"token {token}"}, timeout=60
        )

    async def users(self) -> list[dict]:
        r = await self._client.get("/users", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        return r.json()

    async def user(self, name: str) -> dict:
        r = await self._client.get(f"/users/{name}", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        return r.json()

    async def stop_server(self, user: str, server: str) -> None:
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        r = await self._client.delete(path)
        if r.status_code not in (202, 204, 400, 404):
            r.raise_for_status()

    async def stop_all_servers(self, timeout: float = 60) -> int:
        """Ask every running server to stop and wait until none is left running."""
        stopped = 0
        for user in await self.users():
            for name, server in (user.get("servers") or {}).items():
                if server.get("ready") or server.get("pending") == "spawn":
                    await self.stop_server(user["name"], name)
                    stopped += 1
        deadline = asyncio.get_running_loop().time() + timeout
        while stopped and asyncio.get_running_loop().time() < deadline:
            busy = [s for u in await self.users() for s in (u.get("servers") or {}).values()
                    if s.get("ready") or s.get("pending")]
            if not busy:
                break
            await asyncio.sleep(0.3)
        return stopped

    async def aclose(self) -> None:
        await self._client.aclose()
