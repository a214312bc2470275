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

The handlers' common ground (the signature checks, signed answers) is agent_signed.py's; the uploads and the
home sent back, agent_transfers.py's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web

from ...profiles import parse_size
from ..trust.members import Membership, NotAMember
from ..trust.signing import MemberVerifier
from .agent_signed import SignedHandler
from .agent_transfers import HomeHandler, ImageHandler, ImageUpload
from .guest_request import GuestRefused, parse_request
from .guests import GuestRunner
from ..trust.keys import pool_dir
from .node import Node

log = logging.getLogger("localhub.pool.host.agent")

API = "/pool/v1"
MAX_BODY = 64 * 1024


class StatusHandler(SignedHandler):
    def get(self) -> None:
        self.reply(200, self.agent.node.status())


class OfferHandler(SignedHandler):
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


class GuestsHandler(SignedHandler):
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


class GuestHandler(SignedHandler):
    async def get(self, guest_id: str) -> None:
        runner, guest = self.guest(guest_id)
        self.reply(200, (await self.blocking(runner.refresh, guest)).to_dict())

    async def delete(self, guest_id: str) -> None:
        runner, guest = self.guest(guest_id)
        await self.blocking(runner.forget, guest)
        self.reply(200, {"forgotten": guest_id})


class GuestVerb(SignedHandler):
    async def post(self, guest_id: str, verb: str) -> None:
        runner, guest = self.guest(guest_id)
        act = {"pause": lambda: runner.pause(guest, "paused by its hub"), "resume": lambda: runner.resume(guest),
               "stop": lambda: runner.stop(guest)}[verb]
        await self.blocking(act)
        self.reply(200, guest.to_dict())


class RevokedHandler(SignedHandler):
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


class NotFound(SignedHandler):
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
