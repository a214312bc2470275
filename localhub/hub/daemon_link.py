"""How code inside JupyterHub asks the localhub daemon: the authenticator's policy check and the spawner's
placement on lab peers (the daemon's side is localhub/api_hub.py). The daemon owns the state; this is a thin
client holding the daemon's API token, which JupyterHub's config already has for the localhub service.
"""

from __future__ import annotations

import json
from typing import AsyncIterator

import httpx

from ..errors import LocalhubError


class DaemonRefused(LocalhubError):
    """The daemon said no: the message is its sentence for the user."""


class DaemonUnreachable(LocalhubError):
    """The daemon did not answer (it is restarting, or gone)."""


class DaemonLink:
    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def _client(self, timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers={"Authorization": f"token {self.token}"}, timeout=timeout)

    async def call(self, verb: str, body: dict) -> dict:
        try:
            async with self._client(self.timeout) as http:
                response = await http.post(f"{self.url}/{verb}", json=body)
        except httpx.HTTPError as err:
            raise DaemonUnreachable(f"The localhub daemon did not answer ({err.__class__.__name__}).") from None
        if response.status_code >= 400:
            raise DaemonRefused(_message(response))
        return response.json()

    async def check(self, user: str, server: str, options: dict, new: bool, start: bool = True) -> None:
        """Raises DaemonRefused with the policy's sentence when the server may not be created or started."""
        await self.call("check", {"user": user, "server": server, "options": options, "new": new, "start": start})

    async def storage_used(self, volume: str) -> int | None:
        """A home's usage as the daemon's storage watch last measured it (None: not yet measured)."""
        return (await self.call("usage", {"volume": volume})).get("used")

    async def choose(self, user: str, server: str, where: str, ask: dict) -> dict:
        return await self.call("choose", {"user": user, "server": server, "where": where, "ask": ask})

    async def start(self, request: dict) -> AsyncIterator[dict]:
        """Yields {"guest": id} first (the handle that stops the server even before it runs), {"step": message}
        while the server travels, then {"running": {...}}; a failure raises DaemonRefused with the daemon's
        sentence."""
        try:
            async with self._client(httpx.Timeout(None, connect=10)) as http:
                async with http.stream("POST", f"{self.url}/start", json=request) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise DaemonRefused(_message(response))
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if "error" in event:
                            raise DaemonRefused(event["error"])
                        yield event
                        if "running" in event:
                            return
        except httpx.HTTPError as err:
            raise DaemonUnreachable(f"Lost the localhub daemon while the server started "
                                    f"({err.__class__.__name__}).") from None
        raise DaemonUnreachable("The localhub daemon ended the start without saying how it went.")

    async def poll(self, guest: str) -> int | None:
        return (await self.call("poll", {"guest": guest}))["exit"]

    async def stop(self, guest: str) -> None:
        await self.call("stop", {"guest": guest})

    async def forget(self, user: str, server: str) -> None:
        await self.call("forget", {"user": user, "server": server})


def _message(response: httpx.Response) -> str:
    try:
        return response.json().get("message") or f"The localhub daemon answered {response.status_code}."
    except ValueError:
        return f"The localhub daemon answered {response.status_code}."
