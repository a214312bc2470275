"""The peer agent: the only door into this desktop for other lab members, over HTTPS, signed both ways.

Two verbs so far:
    GET  /pool/v1/status   live figures, owner idle time, state, guests
    POST /pool/v1/offer    {"cpus": 1, "memory": "2G", "storage": "2Gi"} -> {"accept": bool, "reason": ...}

Every request is checked (auth.py) before anything else, so a stranger learns nothing, not even which paths
exist; every refusal is logged with its reason and answered with it. Every answer, refusals included, is
signed with the lab key for the request it answers.
"""

from __future__ import annotations

import json
import logging
import ssl

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

from ..profiles import parse_size
from .auth import H_NODE, H_NONCE, Refused, RequestVerifier, sign_response
from .keys import Lab
from .node import Node

log = logging.getLogger("localhub.pool.agent")

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
        headers = sign_response(self.agent.lab.key, status, body, self.request.headers.get(H_NONCE, ""),
                                self.agent.lab.node, self.request.headers.get(H_NODE, ""))
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(body)

    def write_error(self, status_code: int, **kwargs) -> None:
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


class NotFound(_Signed):
    def _missing(self, *args) -> None:  # reached only after the signature was checked
        self.reply(404, {"error": f"This agent has no {self.request.method} {self.request.path}.",
                         "reason": "not-found"})

    get = post = put = delete = patch = _missing


class Agent:
    def __init__(self, lab: Lab, node: Node, verifier: RequestVerifier | None = None):
        self.lab, self.node = lab, node
        self.verifier = verifier or RequestVerifier(lab.key, lab.node)
        self.server: tornado.httpserver.HTTPServer | None = None

    def app(self) -> tornado.web.Application:
        args = {"agent": self}
        return tornado.web.Application(
            [(rf"{API}/status", StatusHandler, args), (rf"{API}/offer", OfferHandler, args)],
            default_handler_class=NotFound, default_handler_args=args)

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
