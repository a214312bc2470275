"""The agent's request handlers' common ground: a request's signature checked before anything else, every
answer signed for the request it answers, a refusal (GuestRefused) answered and logged with its reason."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

import tornado.httputil
import tornado.web

from ..trust.signing import H_NODE, H_NONCE, Refused, sign_member_response
from .guest_request import GuestRefused

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("localhub.pool.host.agent")  # the daemon's log names these lines as before the move


class SignedHandler(tornado.web.RequestHandler):
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

