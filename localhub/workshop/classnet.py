"""How the laptops of a class find and ask each other: their own mDNS record (`_localhub-class._tcp`,
announced and browsed with the pool's discovery code under the class key), and signed HTTPS requests
(the pool's trust code: each laptop's own certificate, pinned from the tagged record; every request and
answer signed with the class key).

    ClassAdvertiser / ClassBrowser   the record: role (teacher|participant) as its state, and how many
                                     environments the laptop holds as its slots
    ClassClient                      get_json / get_bytes / post to a peer, answers checked
"""

from __future__ import annotations

import json
import ssl

import httpx

from ..errors import LocalhubError
from ..pool.discovery import Advertiser, Peer, PeerBrowser
from ..pool.trust import signing
from ..pool.trust.keys import Lab
from ..pool.trust.tls import pinned_context

SERVICE_TYPE = "_localhub-class._tcp.local."
API = "/class/v1"
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class ClassAdvertiser(Advertiser):
    service_type = SERVICE_TYPE


class ClassBrowser(PeerBrowser):
    service_type = SERVICE_TYPE


class PeerUnavailable(LocalhubError):
    """A peer did not answer, or answered wrongly; `status` is its HTTP status when it answered."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ClassClient:
    def __init__(self, lab: Lab):
        self.lab = lab
        self._contexts: dict[tuple[str, int, str], ssl.SSLContext] = {}
        self._clients: dict[tuple[str, int, str], httpx.AsyncClient] = {}

    async def _client(self, peer: Peer) -> httpx.AsyncClient:
        key = (peer.address, peer.port, peer.cert)
        if key not in self._clients:
            try:
                context = await pinned_context(peer.address, peer.port, peer.cert)
            except (OSError, ssl.SSLError, TimeoutError) as err:
                raise PeerUnavailable(f"{peer.name.split('.')[0]} did not answer ({err.__class__.__name__})") from None
            self._clients[key] = httpx.AsyncClient(verify=context, timeout=TIMEOUT,
                                                   limits=httpx.Limits(max_connections=8))
        return self._clients[key]

    async def request(self, peer: Peer, method: str, path: str, body: bytes = b"",
                      timeout: float | None = None, headers: dict | None = None,
                      sha: str | None = None) -> httpx.Response:
        """The peer's answer, its signature checked. `sha`: the SHA-256 the answer's body must have, which the
        caller checks against the body itself (a chunk: the swarm hashes it once, as it keeps it); the answer
        is refused unless the peer signed it for that hash."""
        signed = signing.sign_request(self.lab.key, method, path, body, self.lab.node, peer.node)
        who = peer.name.split(".")[0]
        try:
            client = await self._client(peer)
            r = await client.request(method, f"https://{peer.address}:{peer.port}{path}", content=body,
                                     headers={**signed, **(headers or {})},
                                     timeout=httpx.Timeout(timeout, connect=3.0) if timeout else TIMEOUT)
        except httpx.HTTPError as err:
            self.forget(peer)
            raise PeerUnavailable(f"{who} did not answer ({err.__class__.__name__})") from None
        try:
            signing.verify_response(self.lab.key, r.status_code, r.headers, r.content, signed[signing.H_NONCE],
                                    peer.node, self.lab.node, sha=sha if r.status_code == 200 else None)
        except signing.Refused as refusal:
            raise PeerUnavailable(f"{who}'s answer was refused: {refusal}", r.status_code) from None
        if r.status_code >= 400:
            try:
                reason = r.json().get("error", r.reason_phrase)
            except ValueError:
                reason = r.reason_phrase
            raise PeerUnavailable(f"{who}: {reason}", r.status_code)
        return r

    async def get_json(self, peer: Peer, path: str) -> dict:
        return json.loads((await self.request(peer, "GET", API + path)).content)

    async def get_bytes(self, peer: Peer, path: str, timeout: float | None = None, sha: str | None = None) -> bytes:
        return (await self.request(peer, "GET", API + path, timeout=timeout, sha=sha)).content

    async def post(self, peer: Peer, path: str, body: bytes, headers: dict | None = None,
                   timeout: float | None = None) -> dict:
        return json.loads((await self.request(peer, "POST", API + path, body, timeout=timeout,
                                              headers=headers)).content)

    def forget(self, peer: Peer) -> None:
        """Drop the connection to a peer (it went away; the next request makes a new one)."""
        client = self._clients.pop((peer.address, peer.port, peer.cert), None)
        if client is not None:
            import asyncio

            asyncio.ensure_future(client.aclose())

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
