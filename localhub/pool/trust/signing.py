"""Signing and checking agent requests and responses with the lab key (HMAC-SHA256), both ways.

A request carries, in headers, the lab fingerprint, the sender's and the recipient's node ids, a time, a
random nonce, the body's SHA-256 and an HMAC over all of these plus the method and path. The agent refuses a
request whose lab, body hash or signature is wrong, whose time is off by more than 60 s, or whose nonce it has
already seen within that window; each refusal has a short code and one sentence saying why. The response is
signed over its status, body hash, time and the request's nonce, so a client knows the answer came from a lab
member and belongs to its own question.

TLS (tls.py) keeps requests private; this layer is what decides who may ask anything at all.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from .keys import fingerprint

SKEW = 60.0  # seconds either way a request's time may differ from the agent's clock

H_LAB = "X-Localhub-Lab"
H_NODE = "X-Localhub-Node"
H_TO = "X-Localhub-To"
H_TIME = "X-Localhub-Time"
H_NONCE = "X-Localhub-Nonce"
H_BODY = "X-Localhub-Body-Sha256"
H_SIG = "X-Localhub-Signature"


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def request_signature(key: bytes, method: str, path: str, body_sha: str, ts: str, nonce: str,
                      sender: str, recipient: str) -> str:
    return _mac(key, "localhub-pool-request-v1", method.upper(), path, body_sha, ts, nonce, sender, recipient)


def response_signature(key: bytes, status: int, body_sha: str, ts: str, request_nonce: str,
                       responder: str, recipient: str) -> str:
    return _mac(key, "localhub-pool-response-v1", str(status), body_sha, ts, request_nonce, responder, recipient)


def sign_request(key: bytes, method: str, path: str, body: bytes, sender: str, recipient: str,
                 now: float | None = None, nonce: str | None = None, sha: str | None = None) -> dict[str, str]:
    """The headers that make a request acceptable to `recipient`'s agent. `path` includes any query;
    `sha` instead of `body` signs a body sent as a stream (a file hashed beforehand)."""
    ts = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    sha = sha or body_hash(body)
    return {
        H_LAB: fingerprint(key), H_NODE: sender, H_TO: recipient, H_TIME: ts, H_NONCE: nonce, H_BODY: sha,
        H_SIG: request_signature(key, method, path, sha, ts, nonce, sender, recipient),
    }


@dataclass
class Refused(Exception):
    """Why a request (or a response) was not accepted: a short code and one sentence."""

    code: str
    reason: str
    status: int = 401

    def __str__(self) -> str:
        return self.reason


_NODE_RE = re.compile(r"[0-9a-f]{16}")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")


class NonceCache:
    """Nonces seen within the acceptance window. Only requests with a valid signature get here, so its size
    is bounded by what lab members send in two minutes."""

    def __init__(self):
        self._seen: set[str] = set()
        self._expiry: list[tuple[float, str]] = []

    def add(self, nonce: str, expires: float, now: float) -> bool:
        """Record a nonce; False if it was already there (a replay)."""
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        if nonce in self._seen:
            return False
        self._seen.add(nonce)
        heapq.heappush(self._expiry, (expires, nonce))
        return True


class RequestVerifier:
    """The agent's gate: `verify()` returns the sender's node id or raises Refused."""

    def __init__(self, key: bytes, node: str, skew: float = SKEW, clock=time.time):
        self.key, self.node, self.skew, self.clock = key, node, skew, clock
        self.lab = fingerprint(key)
        self.nonces = NonceCache()

    def verify(self, method: str, path: str, headers, body: bytes) -> str:
        return self.verify_headers(method, path, headers, body_hash(body))[0]

    @staticmethod
    def check_body(declared: str, actual: str) -> None:
        if not hmac.compare_digest(declared, actual):
            raise Refused("body-altered", "The request body does not match its signed hash; it was altered "
                                          "on the way.")

    def verify_headers(self, method: str, path: str, headers, actual_sha: str | None = None) -> tuple[str, str]:
        """(sender, the body's declared SHA-256). Without `actual_sha` the body is not checked: a streamed
        upload checks it against the declared hash with `check_body` once it has all arrived."""
        get = lambda name: (headers.get(name) or "").strip()  # noqa: E731 - tornado and dict headers alike
        if not get(H_SIG):
            raise Refused("unsigned", f"The request is not signed (no {H_SIG} header); only desktops of this "
                                      "lab may use this agent.")
        lab, sender, to, ts, nonce, sha = (get(h) for h in (H_LAB, H_NODE, H_TO, H_TIME, H_NONCE, H_BODY))
        if lab != self.lab:
            raise Refused("other-lab", f"The request is signed for another lab (key fingerprint "
                                       f"{lab or 'missing'}; this desktop's lab is {self.lab}); join this lab "
                                       "with its pairing code first.", 403)
        if not (_NODE_RE.fullmatch(sender) and _NODE_RE.fullmatch(to) and _NONCE_RE.fullmatch(nonce)
                and re.fullmatch(r"[0-9]{1,12}", ts) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise Refused("malformed", "The request's signing headers are malformed (node ids, time, nonce or "
                                       "body hash).", 400)
        if actual_sha is not None:
            self.check_body(sha, actual_sha)
        expected = request_signature(self.key, method, path, sha, ts, nonce, sender, to)
        if not hmac.compare_digest(get(H_SIG), expected):
            raise Refused("bad-signature", "The request's signature does not verify with this lab's key (a "
                                           "wrong key, or the request was altered).", 403)
        _check_addressed_and_fresh(self, to, ts, nonce)
        return sender, sha


def _check_addressed_and_fresh(verifier, to: str, ts: str, nonce: str) -> None:
    """Refuse a request (already known to be signed by its sender) that was meant for another node, is outside
    the allowed clock skew, or was seen before."""
    if to != verifier.node:
        raise Refused("wrong-recipient", f"The request was signed for node {to}, not this node "
                                         f"({verifier.node}).", 403)
    now = verifier.clock()
    off = now - int(ts)
    if abs(off) > verifier.skew:
        raise Refused("stale", f"The request's time is {_span(abs(off))} {'behind' if off > 0 else 'ahead of'} "
                               f"this desktop's clock (allowed ±{verifier.skew:.0f} s); check that both "
                               "desktops keep time (NTP).")
    if not verifier.nonces.add(nonce, int(ts) + verifier.skew, now):
        raise Refused("replayed", "The request's nonce was already used: a replayed request.")


def _span(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def sign_response(key: bytes, status: int, body: bytes, request_nonce: str, responder: str, recipient: str,
                  now: float | None = None, sha: str | None = None) -> dict[str, str]:
    """`sha` instead of `body` signs a body sent as a stream (a file whose hash is known beforehand)."""
    ts = str(int(time.time() if now is None else now))
    sha = sha or body_hash(body)
    return {H_LAB: fingerprint(key), H_NODE: responder, H_TIME: ts, H_BODY: sha,
            H_SIG: response_signature(key, status, sha, ts, request_nonce, responder, recipient)}


def verify_response(key: bytes, status: int, headers, body: bytes, request_nonce: str, responder: str,
                    recipient: str, skew: float = SKEW, clock=time.time, sha: str | None = None) -> None:
    """Raise Refused unless the response was signed by `responder` with our lab key for our request.
    `sha`: the hash of a body that was received as a stream, instead of `body`."""
    get = lambda name: (headers.get(name) or "").strip()  # noqa: E731
    if not get(H_SIG):
        raise Refused("unsigned", "The agent's answer is not signed; it is not a localhub agent of this lab.")
    if get(H_NODE) != responder:
        raise Refused("wrong-responder", f"The answer is signed by node {get(H_NODE) or 'none'}, not the peer "
                                         f"asked ({responder}).")
    sha = sha or body_hash(body)
    ts = get(H_TIME)
    expected = response_signature(key, status, sha, ts, request_nonce, responder, recipient)
    if not hmac.compare_digest(get(H_SIG), expected):
        raise Refused("bad-signature", "The agent's answer does not verify with this lab's key (another lab, or "
                                       "altered on the way).")
    if not ts.isdigit() or abs(clock() - int(ts)) > skew:
        raise Refused("stale", "The agent's answer carries a time more than 60 s off this desktop's clock.")


# --- one identity per desktop: requests and answers signed with the sender's own key (members.py) ----------

H_CARD = "X-Localhub-Card"  # the sender's member card, signed by the lab's authority
H_REVOKED = "X-Localhub-Revoked"  # the serial of the list of removed desktops the sender holds


def _member_message(kind: str, *parts: str) -> bytes:
    return "\n".join((f"localhub-pool-{kind}-v2", *parts)).encode()


def sign_member_request(member, method: str, path: str, body: bytes, recipient: str, now: float | None = None,
                        nonce: str | None = None, sha: str | None = None) -> dict[str, str]:
    """Headers that make a request acceptable to `recipient`'s agent, signed with this desktop's own key."""
    ts = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    sha = sha or body_hash(body)
    message = _member_message("request", method.upper(), path, sha, ts, nonce, member.node, recipient)
    return {H_LAB: member.fingerprint, H_NODE: member.node, H_TO: recipient, H_TIME: ts, H_NONCE: nonce,
            H_BODY: sha, H_CARD: member.card.text, H_REVOKED: str(member.revocations.serial),
            H_SIG: member.sign(message)}


def _check_signature(card, signature: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from .members import unb64

    try:
        card.key.verify(unb64(signature), message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


class MemberVerifier:
    """The agent's gate in a lab of member cards: `verify_headers()` returns (sender, declared body hash) or
    raises Refused. `on_newer(sender, serial)` hears of a sender holding a newer list of removed desktops."""

    def __init__(self, member, skew: float = SKEW, clock=time.time, on_newer=None):
        self.member, self.skew, self.clock = member, skew, clock
        self.node = member.node
        self.nonces = NonceCache()
        self.on_newer = on_newer or (lambda sender, serial: None)

    def verify(self, method: str, path: str, headers, body: bytes) -> str:
        return self.verify_headers(method, path, headers, body_hash(body))[0]

    check_body = staticmethod(RequestVerifier.check_body)

    def verify_headers(self, method: str, path: str, headers, actual_sha: str | None = None) -> tuple[str, str]:
        from .members import NotAMember

        get = lambda name: (headers.get(name) or "").strip()  # noqa: E731
        if not get(H_SIG):
            raise Refused("unsigned", f"The request is not signed (no {H_SIG} header); only desktops of this "
                                      "lab may use this agent.")
        lab, sender, to, ts, nonce, sha = (get(h) for h in (H_LAB, H_NODE, H_TO, H_TIME, H_NONCE, H_BODY))
        if lab != self.member.fingerprint:
            raise Refused("other-lab", f"The request is signed for another lab (fingerprint {lab or 'missing'}; "
                                       f"this desktop's lab is {self.member.fingerprint}); join this lab with a "
                                       "code from `localhub pool invite` first.", 403)
        if not (_NODE_RE.fullmatch(sender) and _NODE_RE.fullmatch(to) and _NONCE_RE.fullmatch(nonce)
                and re.fullmatch(r"[0-9]{1,12}", ts) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise Refused("malformed", "The request's signing headers are malformed (node ids, time, nonce or "
                                       "body hash).", 400)
        try:
            card = self.member.verify_card(get(H_CARD))
        except NotAMember as err:
            code = "revoked" if "removed" in str(err) else "not-a-member"
            raise Refused(code, f"The request's sender is not a member of this lab: {err}.", 403) from None
        if card.node != sender:
            raise Refused("impersonation", f"The request claims node {sender} but carries the card of node "
                                           f"{card.node}; one member cannot act as another.", 403)
        if actual_sha is not None:
            self.check_body(sha, actual_sha)
        message = _member_message("request", method.upper(), path, sha, ts, nonce, sender, to)
        if not _check_signature(card, get(H_SIG), message):
            raise Refused("bad-signature", f"The request's signature does not verify with node {sender}'s own "
                                           "key (another key, or the request was altered).", 403)
        _check_addressed_and_fresh(self, to, ts, nonce)
        serial = get(H_REVOKED)
        if serial.isdigit() and int(serial) > self.member.revocations.serial:
            self.on_newer(sender, int(serial))
        return sender, sha


def sign_member_response(member, status: int, body: bytes, request_nonce: str, recipient: str,
                         now: float | None = None, sha: str | None = None) -> dict[str, str]:
    ts = str(int(time.time() if now is None else now))
    sha = sha or body_hash(body)
    message = _member_message("response", str(status), sha, ts, request_nonce, member.node, recipient)
    return {H_LAB: member.fingerprint, H_NODE: member.node, H_TIME: ts, H_BODY: sha, H_CARD: member.card.text,
            H_REVOKED: str(member.revocations.serial), H_SIG: member.sign(message)}


def verify_member_response(member, status: int, headers, body: bytes, request_nonce: str, responder: str,
                           skew: float = SKEW, clock=time.time, sha: str | None = None) -> None:
    """Raise Refused unless the answer was signed by `responder` itself, a member of our lab not removed."""
    from .members import NotAMember

    get = lambda name: (headers.get(name) or "").strip()  # noqa: E731
    if not get(H_SIG):
        raise Refused("unsigned", "The agent's answer is not signed; it is not a localhub agent of this lab.")
    if get(H_NODE) != responder:
        raise Refused("wrong-responder", f"The answer is signed by node {get(H_NODE) or 'none'}, not the peer "
                                         f"asked ({responder}).")
    try:
        card = member.verify_card(get(H_CARD))
    except NotAMember as err:
        raise Refused("not-a-member", f"the answer's signer is not a member of this lab: {err}") from None
    if card.node != responder:
        raise Refused("impersonation", f"the answer carries the card of node {card.node}, not of {responder}")
    sha = sha or body_hash(body)
    ts = get(H_TIME)
    message = _member_message("response", str(status), sha, ts, request_nonce, responder, member.node)
    if not _check_signature(card, get(H_SIG), message):
        raise Refused("bad-signature", f"the answer does not verify with node {responder}'s own key (altered on "
                                       "the way, or not from it)")
    if not ts.isdigit() or abs(clock() - int(ts)) > skew:
        raise Refused("stale", "The agent's answer carries a time more than 60 s off this desktop's clock.")
