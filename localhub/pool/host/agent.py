"""The peer agent: the only door into this desktop for other lab members, over HTTPS, signed both ways.

Verbs:
    GET    /pool/v1/status                live figures, owner idle time, state, guests
    POST   /pool/v1/offer                 {"cpus": 1, "memory": "2G", "storage": "2Gi"} -> {"accept", "reason"}
    GET    /pool/v1/images/<sha256 hex>   {"present": bool}: does this engine have the image?
    POST   /pool/v1/images                a `docker save` archive, streamed; loaded once its hash checks out
    PUT    /pool/v1/guests/<id>/home      the server's home (tar), streamed, before the guest is run
    POST   /pool/v1/guests                run a guest (guests.py says what a request may and may not ask)
    GET    /pool/v1/guests/<id>           the guest's state
    POST   /pool/v1/guests/<id>/pause|resume|stop
    GET    /pool/v1/guests/<id>/home      the guest's home now (tar), streamed with a signed trailer (stream.py)
    DELETE /pool/v1/guests/<id>           forget the guest: its hub has taken the home back
    GET    /pool/v1/lab/revoked           the list of removed desktops this desktop holds (signed by the lab)
    POST   /pool/v1/lab/revoked           a newer list, passed on by the authority or another member

Only the node that started a guest may act on it. Uploads go to a file first and are used only when their
hash matches the signed one; a home going back is sent while the engine reads it, its hash signed at the end.

Every request is checked (trust/signing.py: the sender's member card, signed by the lab, and the request
signed with the sender's own key) before anything else, so a stranger or a removed desktop learns nothing, not
even which paths exist; every refusal is logged with its reason and answered with it. Every answer, refusals
included, is signed with this desktop's own key for the request it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import ssl
import tempfile
import time
from pathlib import Path

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
import tornado.web

from ...profiles import parse_size
from ...read_ahead import read_ahead
from ..away.stream import PROTOCOL, Framer
from ..trust.members import Membership, NotAMember
from ..trust.signing import H_NODE, H_NONCE, MemberVerifier, Refused, body_hash, sign_member_response
from .guest_request import GuestRefused, parse_request
from .guests import GuestRunner
from ..trust.keys import pool_dir
from .node import Node

log = logging.getLogger("localhub.pool.host.agent")
SEND_SILENCE = 60.0  # seconds a hub may stop reading a home before the link counts as dead

API = "/pool/v1"
MAX_BODY = 64 * 1024


class _Signed(tornado.web.RequestHandler):
    """Checks the request's signature first; answers only through `reply()`, which signs."""

    def initialize(self, agent: "Agent") -> None:
        self.agent = agent
        self.sender: str | None = None

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def prepare(self) -> None:
        try:
            self.sender = self.agent.verifier.verify(self.request.method, self.request.uri, self.request.headers,
                                                     self.request.body)
        except Refused as refusal:
            log.warning("refused %s %s from %s (claims node %s): %s — %s", self.request.method, self.request.path,
                        self.request.remote_ip, self.request.headers.get(H_NODE, "-"), refusal.code, refusal.reason)
            self.reply(refusal.status, {"error": refusal.reason, "reason": refusal.code})

    def reply(self, status: int, data: dict) -> None:
        body = json.dumps(data).encode()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self._sign(status, body)
        self.finish(body)

    def _sign(self, status: int, body: bytes = b"", sha: str | None = None) -> None:
        headers = sign_member_response(self.agent.lab, status, body, self.request.headers.get(H_NONCE, ""),
                                       self.request.headers.get(H_NODE, ""), sha=sha)
        for name, value in headers.items():
            self.set_header(name, value)

    def refuse(self, err: GuestRefused) -> None:
        log.warning("refused %s %s from node %s: %s — %s", self.request.method, self.request.path, self.sender,
                    err.code, err)
        self.reply(err.status, {"error": str(err), "reason": err.code})

    async def blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def guest(self, guest_id: str):
        """The guest, if it exists and the caller is the node that started it."""
        runner = self.agent.runner()
        guest = runner.get(guest_id)
        if guest.hub_node != self.sender:
            raise GuestRefused(f"Guest {guest_id} belongs to another hub.", "not-yours", 403)
        return runner, guest

    # A handler refuses by raising GuestRefused: answered (signed) with its status, code and sentence.
    def log_exception(self, typ, value, tb) -> None:
        if not isinstance(value, GuestRefused):
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs) -> None:
        refusal = (kwargs.get("exc_info") or (None, None))[1]
        if isinstance(refusal, GuestRefused):
            self.refuse(refusal)
            return
        self.reply(status_code, {"error": tornado.httputil.responses.get(status_code, "Error"), "reason": "error"})


class StatusHandler(_Signed):
    def get(self) -> None:
        self.reply(200, self.agent.node.status())


class OfferHandler(_Signed):
    def post(self) -> None:
        try:
            data = json.loads(self.request.body or b"{}")
            ask = {"cpus": float(data["cpus"]),
                   "memory": parse_size(data["memory"]) if isinstance(data["memory"], str) else int(data["memory"]),
                   "storage": parse_size(data["storage"]) if isinstance(data["storage"], str)
                   else int(data["storage"])}
        except (ValueError, KeyError, TypeError):
            self.reply(400, {"error": "An offer needs cpus, memory and storage, e.g. "
                                      '{"cpus": 1, "memory": "2G", "storage": "2Gi"}.', "reason": "bad-offer"})
            return
        accept, reason = self.agent.node.offer(ask)
        log.info("offer from node %s for %s: %s (%s)", self.sender, ask, "yes" if accept else "no", reason)
        self.reply(200, {"accept": accept, "reason": reason})


@tornado.web.stream_request_body
class _Upload(_Signed):
    """A streamed body (an image or a home): headers checked before any byte is accepted, the body spooled to
    a file and hashed as it arrives, and used only if the hash is the one signed."""

    def prepare(self) -> None:
        self.file = None
        try:
            self.sender, self.declared = self.agent.verifier.verify_headers(
                self.request.method, self.request.uri, self.request.headers)
        except Refused as refusal:
            log.warning("refused upload %s from %s: %s — %s", self.request.path, self.request.remote_ip,
                        refusal.code, refusal.reason)
            self.reply(refusal.status, {"error": refusal.reason, "reason": refusal.code})
            return
        if self.request.method not in ("PUT", "POST"):
            try:
                MemberVerifier.check_body(self.declared, body_hash(b""))
            except Refused as refusal:
                self.reply(refusal.status, {"error": refusal.reason, "reason": refusal.code})
            return
        self.request.connection.set_max_body_size(self.agent.max_upload())
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self.agent.incoming)
        self.file, self.path, self.digest, self.began = os.fdopen(fd, "wb"), Path(name), hashlib.sha256(), \
            time.monotonic()

    def data_received(self, chunk: bytes) -> None:
        if self.file is not None:
            self.file.write(chunk)
            self.digest.update(chunk)

    def on_connection_close(self) -> None:
        self._discard()  # the link went down mid-upload: the partial file is worthless

    def _discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
            self.path.unlink(missing_ok=True)

    def received(self) -> Path | None:
        """The complete, checked upload; None (and the refusal sent) when its hash is not the signed one."""
        self.file.close()
        self.file = None
        try:
            MemberVerifier.check_body(self.declared, self.digest.hexdigest())
        except Refused as refusal:
            self.path.unlink(missing_ok=True)
            self.reply(refusal.status, {"error": refusal.reason, "reason": refusal.code})
            return None
        size = self.path.stat().st_size
        log.info("received %s from node %s: %.1f MB in %.1f s", self.request.path, self.sender, size / 1e6,
                 time.monotonic() - self.began)
        return self.path


class ImageHandler(_Signed):
    async def get(self, digest: str) -> None:
        present = await self.blocking(self.agent.runner().has_image, f"sha256:{digest}")
        self.reply(200, {"present": present})


class ImageUpload(_Upload):
    async def post(self) -> None:
        path = self.received()
        if path is None:
            return
        try:
            await self.blocking(self.agent.runner().load_image, path)
        finally:
            path.unlink(missing_ok=True)
        self.reply(200, {"loaded": True})


class HomeHandler(_Upload):
    async def put(self, guest_id: str) -> None:
        path = self.received()
        if path is None:
            return
        try:
            runner = self.agent.runner()
            if guest_id in runner.guests:
                raise GuestRefused(f"Guest {guest_id} already runs; a home is sent before the guest starts.",
                                   "exists", 409)
            path.replace(runner.home_path(guest_id))
        finally:
            path.unlink(missing_ok=True)  # gone already when it was kept
        self.reply(200, {"stored": True})

    async def get(self, guest_id: str) -> None:
        """The home as the engine archives it, sent while it is read, then the signed trailer (stream.py).

        A hub that asks for it (Upgrade: localhub-home-stream) gets the stream straight on the connection,
        switched away from HTTP (101), written by one worker thread with blocking writes (no hop through the
        event loop per piece); else as the answer's chunked body."""
        runner, guest = self.guest(guest_id)
        loop = asyncio.get_running_loop()
        began, cpu, framer = time.monotonic(), time.process_time(), Framer()
        opened = runner.home_stream(guest)
        chunks = await self.blocking(opened.__enter__)
        # read, hashed and framed on a thread of their own, up to 8 pieces ahead of what is sent (read_ahead.py)
        pieces = read_ahead(framer.frames(chunks), depth=8, name="home-send")
        ahead, switched, gone = None, None, False
        try:
            if self.request.headers.get("Upgrade", "").lower() == PROTOCOL:
                self.set_status(101)
                self.set_header("Upgrade", PROTOCOL)
                self.set_header("Connection", "Upgrade")
                self.finish()
                switched = self.detach()
                await switched.write(b"")  # the 101 has gone out: the stream's bytes follow it
                # from here on only a worker thread uses the socket, with blocking writes
                switched.io_loop.remove_handler(switched.fileno())
                switched.socket.settimeout(SEND_SILENCE)
                self.agent.sending.add(switched.socket)
                gone = not await self.blocking(_send_all, switched.socket.sendall, pieces)
            else:
                self.set_status(200)
                self.set_header("Content-Type", "application/x-localhub-home-stream")
                ahead = loop.run_in_executor(None, next, pieces, None)
                while (piece := await ahead) is not None:
                    ahead = loop.run_in_executor(None, next, pieces, None)
                    self.write(piece)
                    await self.flush()
                ahead = None
            if not gone:
                signed = sign_member_response(self.agent.lab, 200, b"", self.request.headers.get(H_NONCE, ""),
                                              self.request.headers.get(H_NODE, ""), sha=framer.sha)
                if switched is None:
                    self.finish(framer.trailer(signed))
                else:
                    gone = not await self.blocking(_send_all, switched.socket.sendall, [framer.trailer(signed)])
                    switched.close()  # the hub has all of it: it goes on while the engine here cleans up
            if not gone:
                log.info("sent the home of guest %s to node %s: %.1f MB in %.2f s (%.2f s of CPU in this process)",
                         guest_id, self.sender, framer.size / 1e6, time.monotonic() - began,
                         time.process_time() - cpu)
        except tornado.iostream.StreamClosedError:
            gone = True
        finally:
            try:
                if gone:
                    log.warning("node %s went away after %.1f MB of the home of guest %s; the guest keeps it",
                                self.sender, framer.size / 1e6, guest_id)
                if ahead is not None:  # stopped mid-stream: let the engine's read finish before closing
                    await asyncio.wait([ahead])
                await self.blocking(pieces.close)
                await self.blocking(chunks.close)
                await self.blocking(opened.__exit__, None, None, None)
            finally:
                if switched is not None:  # after the trailer or cut short (a cut stream is never taken for a home)
                    self.agent.sending.discard(switched.socket)
                    switched.close()


def _send_all(send, pieces) -> bool:
    """`send` every piece; False if the link broke (the hub went away). The engine's errors are raised."""
    for piece in pieces:
        try:
            send(piece)
        except OSError:  # ssl.SSLError and timeouts too
            return False
    return True


class GuestsHandler(_Signed):
    async def post(self) -> None:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise GuestRefused("A run request is a JSON object.", "bad-request") from None
        request = parse_request(data)
        ask = {k: request[k] for k in ("cpus", "memory", "storage")}
        accept, reason = self.agent.node.offer(ask)
        if not accept:
            raise GuestRefused(f"This desktop cannot take the server now: {reason}.", "declined", 409)
        limits = self.agent.node.snapshot.share.limits(self.agent.node.snapshot.figures)
        guest = await self.blocking(self.agent.runner().run, request, self.sender, limits)
        log.info("running guest %s (%s) for node %s on port %d", guest.id, guest.server, self.sender, guest.port)
        self.reply(200, guest.to_dict())


class GuestHandler(_Signed):
    async def get(self, guest_id: str) -> None:
        runner, guest = self.guest(guest_id)
        self.reply(200, (await self.blocking(runner.refresh, guest)).to_dict())

    async def delete(self, guest_id: str) -> None:
        runner, guest = self.guest(guest_id)
        await self.blocking(runner.forget, guest)
        self.reply(200, {"forgotten": guest_id})


class GuestVerb(_Signed):
    async def post(self, guest_id: str, verb: str) -> None:
        runner, guest = self.guest(guest_id)
        act = {"pause": lambda: runner.pause(guest, "paused by its hub"), "resume": lambda: runner.resume(guest),
               "stop": lambda: runner.stop(guest)}[verb]
        await self.blocking(act)
        self.reply(200, guest.to_dict())


class RevokedHandler(_Signed):
    def get(self) -> None:
        self.reply(200, self.agent.lab.revocations.signed or {})

    def post(self) -> None:
        try:
            newer = self.agent.lab.accept_revocations(json.loads(self.request.body or b"{}"))
        except (ValueError, NotAMember) as err:
            self.reply(400, {"error": f"Not a list of removed desktops of this lab: {err}.", "reason": "bad-list"})
            return
        if newer:
            log.info("node %s passed on the lab's list of removed desktops (serial %d): %s", self.sender,
                     self.agent.lab.revocations.serial, ", ".join(sorted(self.agent.lab.revocations.nodes)))
        self.reply(200, {"serial": self.agent.lab.revocations.serial})


class NotFound(_Signed):
    def _missing(self, *args) -> None:  # reached only after the signature was checked
        self.reply(404, {"error": f"This agent has no {self.request.method} {self.request.path}.",
                         "reason": "not-found"})

    get = post = put = delete = patch = _missing


class Agent:
    def __init__(self, lab: Membership, node: Node, verifier: MemberVerifier | None = None,
                 incoming: Path | None = None, on_newer=None):
        self.lab, self.node = lab, node
        # on_newer(sender, serial): a sender holds a newer list of removed desktops (fetch it from there)
        self.verifier = verifier or MemberVerifier(lab, on_newer=on_newer)
        self.server: tornado.httpserver.HTTPServer | None = None
        self.incoming = incoming or pool_dir(node.state_dir) / "incoming"
        self.incoming.mkdir(exist_ok=True)
        self.sending: set = set()  # sockets homes are being written to by worker threads (HomeHandler)

    def runner(self) -> GuestRunner:
        if self.node.guests is None:
            raise GuestRefused("This desktop runs no guests (its daemon has no Docker engine for them).",
                               "no-engine", 503)
        return self.node.guests

    def max_upload(self) -> int:
        snap = self.node.snapshot or self.node.tick()
        return int(snap.share.limits(snap.figures)["storage"])

    def app(self) -> tornado.web.Application:
        args = {"agent": self}
        guest = r"(?P<guest_id>[0-9a-f]{16})"
        return tornado.web.Application([
            (rf"{API}/status", StatusHandler, args), (rf"{API}/offer", OfferHandler, args),
            (rf"{API}/images", ImageUpload, args), (rf"{API}/images/(?P<digest>[0-9a-f]{{64}})", ImageHandler, args),
            (rf"{API}/guests", GuestsHandler, args), (rf"{API}/guests/{guest}", GuestHandler, args),
            (rf"{API}/guests/{guest}/home", HomeHandler, args),
            (rf"{API}/guests/{guest}/(?P<verb>pause|resume|stop)", GuestVerb, args),
            (rf"{API}/lab/revoked", RevokedHandler, args),
        ], default_handler_class=NotFound, default_handler_args=args)

    def listen(self, address: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
        """Serve on one address (the LAN one: never all of them); returns the port (useful when 0 was given)."""
        self.server = tornado.httpserver.HTTPServer(self.app(), ssl_options=ssl_context, max_body_size=MAX_BODY,
                                                    idle_connection_timeout=30)
        sockets = tornado.netutil.bind_sockets(port, address=address)
        self.server.add_sockets(sockets)
        return sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server:
            self.server.stop()
            await self.server.close_all_connections()
        for sock in list(self.sending):  # a worker blocked in a write to a hub that stopped reading returns
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
