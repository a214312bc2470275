"""A home on the wire: framed chunks, then a signed trailer, so the bytes can be used while they arrive.

The peer does not know a home's hash before it has read it all, and spooling the home to disk first (to
hash it, then send it) doubled the time a home took to come back. So the answer to GET …/home is a stream:

    frame*  end  trailer
    frame   = 4-byte big-endian length n (1 ≤ n ≤ MAX_FRAME) + n bytes of the tar archive
    end     = 4 zero bytes
    trailer = 4-byte length + JSON {"size": bytes sent, "signed": the peer's signing headers}

The trailer is the peer's answer signature (trust/signing.py) over the SHA-256 of every archive byte, for
the request's own nonce: `Unframer` hashes what passes and checks the trailer when the stream ends. Anything
else — an altered byte, a stream cut short, bytes after the trailer, a trailer signed by another desktop —
raises, and the receiver throws away what it unpacked so far (home_swap.restore_home_stream never swaps in
a home whose stream did not end with a valid trailer).
"""

from __future__ import annotations

import hashlib
import json
import struct

from ..trust.signing import Refused

PROTOCOL = "localhub-home-stream"  # what a hub asks the agent's connection to switch to (HTTP Upgrade)
HEAD = struct.Struct(">I")
MAX_FRAME = 16 << 20
MAX_TRAILER = 64 << 10


class StreamBroken(Exception):
    """The stream ended early or is not a home stream (the link dropped, or the peer is not one of ours)."""


class StreamRefused(Exception):
    """The stream arrived whole but its trailer does not vouch for it: altered on the way, or not signed by
    the peer asked. `refusal` says why (trust/signing.py's code and sentence)."""

    def __init__(self, refusal: Refused):
        super().__init__(refusal.reason)
        self.refusal = refusal


def frame(chunk: bytes) -> bytes:
    """A frame's head, for the chunk that follows it."""
    return HEAD.pack(len(chunk))


class _Tally:
    """The archive's bytes that passed so far: their SHA-256 and their number (both ends keep one)."""

    def __init__(self):
        self.digest = hashlib.sha256()
        self.size = 0

    @property
    def sha(self) -> str:
        return self.digest.hexdigest()

    def _count(self, piece) -> None:
        self.digest.update(piece)
        self.size += len(piece)


class Framer(_Tally):
    """The sender's half: an archive's chunks as frames (head and data in one piece, so that one TLS write
    carries both), hashing and counting them as they pass; then the trailer for what passed."""

    def frames(self, chunks):
        for chunk in chunks:
            if chunk:
                self._count(chunk)
                yield frame(chunk) + chunk

    def trailer(self, signed: dict) -> bytes:
        return trailer(self.size, signed)


def trailer(size: int, signed: dict) -> bytes:
    """The end marker and the trailer, for `size` archive bytes whose hash `signed` vouches for."""
    body = json.dumps({"size": size, "signed": signed}).encode()
    return HEAD.pack(0) + HEAD.pack(len(body)) + body


class Unframer(_Tally):
    """Turns the raw bytes of a home stream into the archive's bytes (bytes, or read-only views of the raw
    chunks), hashing them as they pass.

    `verify(sha, signed_headers)` is called once the trailer has arrived (it raises Refused when the
    signature does not hold); iterating `unframe(raw)` raises StreamBroken or StreamRefused instead of
    ending when anything is wrong, so a consumer that reaches the end of the iteration has an authentic
    archive."""

    def __init__(self, verify):
        super().__init__()
        self.verify = verify

    def unframe(self, raw):
        pending = bytearray()  # a frame head or the trailer, gathering
        remaining = 0  # archive bytes still to come in the current frame
        want = HEAD.size  # bytes `pending` needs before it can be read
        stage = "head"  # head -> (data -> head)* -> trailer-head -> trailer -> done
        for chunk in raw:
            view = memoryview(chunk)
            while view:
                if remaining:
                    piece = view[:remaining]
                    view = view[len(piece):]
                    remaining -= len(piece)
                    self._count(piece)
                    yield chunk if len(piece) == len(chunk) else piece  # a view: no copy of a megabyte
                    continue
                if stage == "done":
                    raise StreamBroken("bytes came after the trailer")
                take = view[:want - len(pending)]
                pending += take
                view = view[len(take):]
                if len(pending) < want:
                    continue
                if stage == "head":
                    (length,) = HEAD.unpack(pending)
                    if length > MAX_FRAME:
                        raise StreamBroken(f"a frame of {length} bytes is announced (at most {MAX_FRAME})")
                    remaining, stage = length, ("head" if length else "trailer-head")
                    want = HEAD.size
                elif stage == "trailer-head":
                    (length,) = HEAD.unpack(pending)
                    if not 0 < length <= MAX_TRAILER:
                        raise StreamBroken(f"a trailer of {length} bytes is announced")
                    stage, want = "trailer", length
                else:
                    self._check(bytes(pending))
                    stage = "done"
                pending.clear()
        if stage != "done" or remaining:
            raise StreamBroken(f"the stream ended after {self.size} bytes, before its signed trailer")

    def _check(self, body: bytes) -> None:
        try:
            said = json.loads(body)
            size, signed = said["size"], said["signed"]
            if not isinstance(signed, dict) or not isinstance(size, int):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise StreamBroken("its trailer is not a signed home trailer") from None
        try:
            if size != self.size:
                raise Refused("body-altered", f"the trailer vouches for {size} bytes, {self.size} arrived")
            self.verify(self.sha, signed)
        except Refused as refusal:
            raise StreamRefused(refusal) from None
