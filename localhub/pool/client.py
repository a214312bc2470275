"""Asking a peer's agent: TLS pinned to the peer's certificate, requests signed, answers checked.

Liveness comes from here, not from mDNS: a peer whose agent does not answer within `timeout` is
unreachable, whatever its cached TXT record still says.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from dataclasses import dataclass

import httpx

from ..errors import LocalhubError
from .agent import API
from .auth import H_NONCE, Refused, sign_request, verify_response
from .keys import Lab
from .tls import CertificateMismatch, pinned_context


@dataclass(frozen=True)
class PeerAddress:
    """Where and who a peer is: what a discovered `Peer` carries, or a peers.json pin."""

    node: str
    address: str
    port: int
    cert: str


class PeerError(LocalhubError):
    pass


class PeerUnreachable(PeerError):
    pass


class PeerRefused(PeerError):
    """The agent answered, and said no (its reason is the message; `code` the short form)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class PeerNotAuthentic(PeerRefused):
    """What answered is not the peer we pinned, or not of our lab."""


class PeerClient:
    def __init__(self, lab: Lab, timeout: float = 3.0):
        self.lab, self.timeout = lab, timeout
        self._contexts: dict[tuple, ssl.SSLContext] = {}

    async def status(self, peer: PeerAddress) -> dict:
        return await self.request(peer, "GET", f"{API}/status")

    async def offer(self, peer: PeerAddress, ask: dict) -> dict:
        return await self.request(peer, "POST", f"{API}/offer", ask)

    async def request(self, peer: PeerAddress, method: str, path: str, data: dict | None = None) -> dict:
        where = f"peer {peer.node} at {peer.address}:{peer.port}"
        body = json.dumps(data).encode() if data is not None else b""
        try:
            key = (peer.address, peer.port, peer.cert)
            if key not in self._contexts:
                self._contexts[key] = await pinned_context(peer.address, peer.port, peer.cert, self.timeout)
            headers = sign_request(self.lab.key, method, path, body, self.lab.node, peer.node)
            async with httpx.AsyncClient(verify=self._contexts[key], timeout=self.timeout) as http:
                response = await http.request(method, f"https://{peer.address}:{peer.port}{path}", content=body,
                                              headers={**headers, "Content-Type": "application/json"})
        except CertificateMismatch as err:
            raise PeerNotAuthentic(str(err), "certificate") from None
        except asyncio.TimeoutError:
            raise PeerUnreachable(f"The agent of {where} did not answer within {self.timeout:g} s.") from None
        except httpx.TimeoutException:
            raise PeerUnreachable(f"The agent of {where} did not answer within {self.timeout:g} s.") from None
        except (httpx.TransportError, OSError, ssl.SSLError) as err:
            raise PeerUnreachable(f"The agent of {where} is unreachable ({_cause(err)}).") from None
        try:
            verify_response(self.lab.key, response.status_code, response.headers, response.content,
                            headers[H_NONCE], peer.node, self.lab.node)
        except Refused as refusal:
            said = _reason(response)
            raise PeerNotAuthentic(f"The answer from {where} is not authentic ({refusal.reason})"
                              + (f"; it said: {said}" if said else "."), refusal.code) from None
        payload = response.json()
        if response.status_code >= 400:
            raise PeerRefused(f"The agent of {where} refused: {payload.get('error')}", payload.get("reason", "error"))
        return payload


def _cause(err: BaseException) -> str:
    """The most telling words in an exception chain: 'Connection refused' rather than 'ConnectError'."""
    seen = err
    while seen is not None:
        if isinstance(seen, OSError) and (seen.errno or seen.strerror):
            return os.strerror(seen.errno) if seen.errno else seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(err) or err.__class__.__name__


def _reason(response: httpx.Response) -> str:
    try:
        return response.json().get("error", "")
    except ValueError:
        return ""
