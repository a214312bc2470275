"""Asking a peer's agent: TLS pinned to the peer's certificate, requests signed, answers checked.

Liveness comes from here, not from mDNS: a peer whose agent does not answer within `timeout` is
unreachable, whatever its cached TXT record still says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import h11
import httpx

from ...errors import LocalhubError
from ...read_ahead import read_ahead
from ..host.agent import API
from .archives import CHUNK
from .stream import PROTOCOL, StreamBroken, StreamRefused, Unframer
from ..trust.members import Membership
from ..trust.signing import H_NONCE, H_REVOKED, Refused, sign_member_request, verify_member_response
from ..trust.tls import CertificateMismatch, pinned_context


@dataclass(frozen=True)
class PeerAddress:
    """Where and who a peer is: what a discovered `Peer` carries, or a peers.json pin."""

    node: str
    address: str
    port: int
    cert: str


TRANSFER_SILENCE = 60.0  # seconds a transfer may stay silent before the link counts as dead


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
    def __init__(self, lab: Membership, timeout: float = 3.0):
        self.lab, self.timeout = lab, timeout
        self._contexts: dict[tuple, ssl.SSLContext] = {}
        self.newer: dict[str, int] = {}  # peers whose answers said they hold a newer list of removed desktops

    async def status(self, peer: PeerAddress) -> dict:
        return await self.request(peer, "GET", f"{API}/status")

    async def offer(self, peer: PeerAddress, ask: dict) -> dict:
        return await self.request(peer, "POST", f"{API}/offer", ask)

    async def catch_up(self, peer: PeerAddress) -> bool:
        """Fetch the newer list of removed desktops `peer` said it holds; True if it was newer."""
        self.newer.pop(peer.node, None)
        return self.lab.accept_revocations(await self.request(peer, "GET", f"{API}/lab/revoked"))

    async def pass_on(self, peer: PeerAddress) -> None:
        """Give `peer` this desktop's list of removed desktops."""
        await self.request(peer, "POST", f"{API}/lab/revoked", self.lab.revocations.signed)

    async def request(self, peer: PeerAddress, method: str, path: str, data: dict | None = None,
                      patience: float | None = None) -> dict:
        """A signed JSON request; `patience`: seconds the answer may take when the agent has work to do first
        (stopping a guest waits for its server to shut down), instead of the client's liveness timeout."""
        body = json.dumps(data).encode() if data is not None else b""
        async with self._exchange(peer, method, path, content=body, sha=None, patience=patience,
                                  headers={"Content-Type": "application/json"}) as (response, nonce):
            await response.aread()
            self._check(peer, response, nonce, response.content)
            return response.json()

    async def upload(self, peer: PeerAddress, method: str, path: str, file: Path, sha: str,
                     progress=None) -> dict:
        """Stream a file (an image or a home) to the agent; `sha` is the file's SHA-256, signed up front."""
        size = file.stat().st_size

        async def chunks():
            sent = 0
            with open(file, "rb") as f:
                while chunk := f.read(CHUNK):
                    sent += len(chunk)
                    if progress:
                        progress(sent, size)
                    yield chunk

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with self._exchange(peer, method, path, content=chunks(), sha=sha, headers=headers,
                                  transfer=True) as (response, nonce):
            await response.aread()
            self._check(peer, response, nonce, response.content)
            return response.json()

    async def pinned(self, peer: PeerAddress) -> ssl.SSLContext:
        """The TLS context that accepts only the certificate pinned for `peer` (made once per address)."""
        key = (peer.address, peer.port, peer.cert)
        if key not in self._contexts:
            self._contexts[key] = await pinned_context(peer.address, peer.port, peer.cert, self.timeout)
        return self._contexts[key]

    @contextlib.contextmanager
    def receive_home(self, peer: PeerAddress, path: str, context: ssl.SSLContext):
        """(Unframer, the home's tar chunks) as they arrive from the agent (stream.py). Blocking: run it in a
        worker thread. The chunks end only when the stream's trailer is signed by the peer for this request's
        nonce over what passed; else PeerUnreachable (cut off) or PeerNotAuthentic (altered) is raised, here
        or where the chunks are consumed.

        The request asks the agent to switch the connection to the home stream (HTTP/1.1 Upgrade, h11 reads
        the answer): the bytes then come straight off the TLS socket into a buffer of CHUNK bytes, with no
        HTTP library between them — a per-record HTTP client held the rate to about half a plain TLS read's.
        An agent that answers 200 instead (one of an older localhub) sends the same stream as its body."""
        where = f"peer {peer.node} at {peer.address}:{peer.port}"
        signed = sign_member_request(self.lab, "GET", path, b"", peer.node)
        nonce = signed[H_NONCE]

        def verify(sha: str, trailer: dict) -> None:
            verify_member_response(self.lab, 200, trailer, b"", nonce, peer.node, sha=sha)

        try:
            with socket.create_connection((peer.address, peer.port), timeout=self.timeout) as plain, \
                    context.wrap_socket(plain, server_hostname=peer.address) as tls:
                tls.settimeout(TRANSFER_SILENCE)
                conn = h11.Connection(h11.CLIENT)
                tls.sendall(conn.send(h11.Request(method="GET", target=path, headers=[
                    ("Host", f"{peer.address}:{peer.port}"), ("Connection", "Upgrade"), ("Upgrade", PROTOCOL),
                    *signed.items()])) + conn.send(h11.EndOfMessage()))
                answer, body = _answer(conn, tls)
                if answer.status_code == 101:
                    raw = _received(tls, conn.trailing_data[0])
                elif answer.status_code == 200:
                    raw = body
                else:
                    response = httpx.Response(answer.status_code, headers=answer.headers, content=b"".join(body))
                    self._check(peer, response, nonce, response.content)
                    raise PeerRefused(f"The agent of {where} answered {answer.status_code} instead of a home.",
                                      "error")
                unframer = Unframer(verify)
                try:
                    yield unframer, unframer.unframe(raw)
                finally:
                    raw.close()  # its reading thread ends before the socket closes
        except StreamBroken as err:
            raise PeerUnreachable(f"The home from {where} was cut off ({err}); it was not used.") from None
        except StreamRefused as err:
            raise PeerNotAuthentic(f"The home from {where} is not authentic ({err}); it was not used.",
                                   err.refusal.code) from None
        except h11.ProtocolError as err:
            raise PeerUnreachable(f"The agent of {where} did not answer in HTTP ({err}).") from None
        except (CertificateMismatch, OSError, ssl.SSLError) as err:  # not the engine's errors
            raise _transport_error(err, where, self.timeout) from None

    @contextlib.asynccontextmanager
    async def _exchange(self, peer: PeerAddress, method: str, path: str, content, sha: str | None,
                        headers: dict | None = None, transfer: bool = False, patience: float | None = None):
        """(streamed response, the request's nonce); transport failures, also while the body streams, become
        PeerUnreachable/PeerNotAuthentic with one sentence naming the peer."""
        where = f"peer {peer.node} at {peer.address}:{peer.port}"
        try:
            context = await self.pinned(peer)
            signed = sign_member_request(self.lab, method, path, content if sha is None else b"", peer.node,
                                         sha=sha)
            # transfers may take minutes; only silence longer than a minute counts as a dead link
            timeout = httpx.Timeout(60.0 if transfer else patience or self.timeout, connect=self.timeout)
            async with httpx.AsyncClient(verify=context, timeout=timeout) as http:
                request = http.build_request(method, f"https://{peer.address}:{peer.port}{path}", content=content,
                                             headers={**signed, **(headers or {})})
                response = await http.send(request, stream=True)
                try:
                    yield response, signed[H_NONCE]
                finally:
                    await response.aclose()
        except (CertificateMismatch, asyncio.TimeoutError, httpx.TransportError, OSError, ssl.SSLError) as err:
            raise _transport_error(err, where, self.timeout) from None

    def _check(self, peer: PeerAddress, response: httpx.Response, nonce: str, body: bytes,
               sha: str | None = None) -> None:
        where = f"peer {peer.node} at {peer.address}:{peer.port}"
        try:
            verify_member_response(self.lab, response.status_code, response.headers, body, nonce, peer.node,
                                   sha=sha)
        except Refused as refusal:
            said = _reason(response) if body else ""
            raise PeerNotAuthentic(f"The answer from {where} is not authentic ({refusal.reason})"
                                   + (f"; it said: {said}" if said else "."), refusal.code) from None
        serial = (response.headers.get(H_REVOKED) or "").strip()
        if serial.isdigit() and int(serial) > self.lab.revocations.serial:
            self.newer[peer.node] = int(serial)
        if response.status_code >= 400:
            payload = response.json()
            raise PeerRefused(f"The agent of {where} refused: {payload.get('error')}", payload.get("reason", "error"))


def _answer(conn: h11.Connection, tls: ssl.SSLSocket):
    """The agent's answer head, and its body's pieces (read lazily; none after a 101)."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(tls.recv(1 << 16))
        elif isinstance(event, (h11.Response, h11.InformationalResponse)):
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                continue  # 100 Continue and the like: the answer follows
            return event, _body(conn, tls)


def _body(conn: h11.Connection, tls: ssl.SSLSocket):
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(tls.recv(1 << 16))
        elif isinstance(event, h11.Data):
            yield event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return


def _received(tls: ssl.SSLSocket, ahead: bytes):
    """`_raw`, read and decrypted on a thread of its own up to 8 pieces ahead (read_ahead.py): TLS decrypts
    the next pieces while the last ones are hashed and unpacked, on the desktop's other core. Closed early
    (the home is refused, or tar stopped), it shuts the connection, so that thread is not left waiting on
    the peer."""
    pieces = read_ahead(_raw(tls, ahead), depth=8, name="home-receive")
    try:
        yield from pieces
    finally:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(tls, socket.SHUT_RDWR)  # the TCP connection under TLS: unblocks a read
        pieces.close()


def _raw(tls: ssl.SSLSocket, ahead: bytes):
    """Everything the agent sends on the switched connection until it closes it, in pieces of up to CHUNK
    bytes (each TLS read gives at most one 16 KiB record; filling a large buffer keeps the consumer's work per
    byte small). An end without TLS's closing message is an end too: the stream's own trailer says whether
    all of it came."""
    if ahead:
        yield bytes(ahead)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    ended = False
    while not ended:
        filled = 0
        while filled < CHUNK:
            try:
                got = tls.recv_into(view[filled:])
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                got = 0
            if not got:
                ended = True
                break
            filled += got
        if filled:
            yield bytes(view[:filled])


def _transport_error(err: BaseException, where: str, timeout: float) -> BaseException:
    if isinstance(err, CertificateMismatch):
        return PeerNotAuthentic(str(err), "certificate")
    if isinstance(err, (asyncio.TimeoutError, httpx.TimeoutException)):
        return PeerUnreachable(f"The agent of {where} did not answer within {timeout:g} s.")
    if isinstance(err, (httpx.TransportError, OSError, ssl.SSLError)):
        return PeerUnreachable(f"The agent of {where} is unreachable ({_cause(err)}).")
    return err


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
