"""The agent's images and homes: an upload spooled to a file and used only once its hash is the signed one,
and a guest's home sent back while the engine reads it, its hash signed in a trailer (stream.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import tornado.iostream
import tornado.web

from ...read_ahead import read_ahead
from ..away.stream import PROTOCOL, Framer
from ..trust.signing import H_NODE, H_NONCE, MemberVerifier, Refused, body_hash, sign_member_response
from .agent_signed import SignedHandler
from .guest_request import GuestRefused

log = logging.getLogger("localhub.pool.host.agent")  # the daemon's log names these lines as before the move
SEND_SILENCE = 60.0  # seconds a hub may stop reading a home before the link counts as dead


@tornado.web.stream_request_body
class _Upload(SignedHandler):
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


class ImageHandler(SignedHandler):
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

