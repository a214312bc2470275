"""The class agent: what one laptop offers the others of its class, over HTTPS, signed both ways with the
class key (only laptops that know the class code get an answer, and they can tell the answer is from one).

    GET  /class/v1/have                 who this laptop is, the class's environments it knows, the chunks it
                                        can serve and those it is fetching, its uploads now, the material's
                                        version (teacher)
    GET  /class/v1/chunk/<sha>/<n>      chunk n of a compressed layer (4 MiB), from the store or from a layer
                                        still being received; 503 when this laptop already serves enough
    GET  /class/v1/material             the current material (teacher)
    POST /class/v1/handin?name=&path=   a participant's work (teacher)
"""

from __future__ import annotations

import asyncio
import json
import logging

import tornado.web

from ..pool.trust.signing import H_NODE, H_NONCE, Refused, RequestVerifier, sign_response
from .classnet import API

log = logging.getLogger("localhub.workshop.classagent")

MAX_UPLOADS = 4
MAX_HANDIN = 256 << 20


class _Signed(tornado.web.RequestHandler):
    def initialize(self, member, verifier: RequestVerifier) -> None:
        self.member, self.verifier = member, verifier
        self.sender: str | None = None

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def prepare(self) -> None:
        try:
            self.sender = self.verifier.verify(self.request.method, self.request.uri, self.request.headers,
                                               self.request.body)
        except Refused as refusal:
            log.warning("refused %s %s from %s: %s", self.request.method, self.request.path,
                        self.request.remote_ip, refusal.code)
            self.reply(refusal.status, {"error": refusal.reason, "reason": refusal.code})

    def _sign(self, status: int, body: bytes, sha: str | None = None) -> None:
        for name, value in sign_response(self.member.lab.key, status, body, self.request.headers.get(H_NONCE, ""),
                                         self.member.lab.node, self.request.headers.get(H_NODE, ""),
                                         sha=sha).items():
            self.set_header(name, value)

    def reply(self, status: int, data: dict) -> None:
        self.send(status, json.dumps(data).encode(), "application/json")

    def send(self, status: int, body: bytes, content_type: str = "application/octet-stream",
             sha: str | None = None) -> None:
        """`sha`: the body's SHA-256 when it is known (a chunk's, from the class's record), to sign without
        hashing the body again."""
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self._sign(status, body, sha)
        self.finish(body)

    def write_error(self, status_code: int, **kwargs) -> None:
        self.reply(status_code, {"error": "the class agent failed", "reason": "error"})


class HaveHandler(_Signed):
    def get(self) -> None:
        self.reply(200, self.member.have())


class ChunkHandler(_Signed):
    async def get(self, sha: str, index: str) -> None:
        if self.member.uploads >= MAX_UPLOADS:
            self.reply(503, {"error": "busy: ask another laptop", "reason": "busy"})
            return
        self.member.uploads += 1
        try:
            found = await asyncio.to_thread(self.member.read_chunk, sha, int(index))
        finally:
            self.member.uploads -= 1
        if found is None:
            self.reply(404, {"error": "this laptop does not have that chunk", "reason": "missing"})
            return
        data, chunk_sha = found
        self.member.uploaded += len(data)
        # signed as the chunk the record names: the laptop that asked checks the bytes against that hash
        # before it keeps them (swarm.PartialStore.write), so they are hashed once, there
        self.send(200, data, sha=chunk_sha)


class MaterialHandler(_Signed):
    async def get(self) -> None:
        data = await asyncio.to_thread(self.member.work.material_bytes)
        if data is None:
            self.reply(404, {"error": "no material published", "reason": "missing"})
            return
        self.send(200, data)


class HandinHandler(_Signed):
    async def post(self) -> None:
        name, path = self.get_argument("name", ""), self.get_argument("path", "")
        try:
            stored = await asyncio.to_thread(self.member.work.receive_handin, name, path, self.sender,
                                           self.request.body)
        except ValueError as err:
            self.reply(400, {"error": str(err), "reason": "bad-handin"})
            return
        self.reply(200, stored)


def make_app(member) -> tornado.web.Application:
    args = {"member": member, "verifier": RequestVerifier(member.lab.key, member.lab.node)}
    return tornado.web.Application([
        (API + "/have", HaveHandler, args),
        (API + r"/chunk/([0-9a-f]{64})/([0-9]{1,6})", ChunkHandler, args),
        (API + "/material", MaterialHandler, args),
        (API + "/handin", HandinHandler, args),
    ])
