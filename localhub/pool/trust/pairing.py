"""Joining a lab with a code a person can type: `localhub pool invite` on the desktop holding the lab's
authority prints a short code that works once, for a few minutes; `localhub pool join CODE` on the new desktop.

The code (`37-K4QX-9M2T`) is a nameplate (which invitation on the LAN) and a 40-bit password. It is never the
identity and never crosses the network: both sides run SPAKE2 (the password-authenticated key exchange Magic
Wormhole uses, from the `spake2` package) over TLS to the inviting desktop, and only if both typed the same
password do they share a key. The joiner proves it (a MAC over the inviter's TLS certificate, as the joiner saw
it, and the joiner's node id, public key and certificate), so a man in the middle presenting another
certificate is caught, and only then does the inviter send, encrypted with that key, the lab's public key, the
joiner's member card (members.py), the list of removed desktops and its own address. A wrong code gets a
refusal and nothing else; after three wrong tries the invitation closes, so the password cannot be guessed
online. The inviter is found by mDNS (`_localhub-join._tcp`, TXT: nameplate and certificate fingerprint).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from spake2 import SPAKE2_A, SPAKE2_B
from spake2.spake2 import SPAKEError
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

from ...errors import LocalhubError
from .keys import ALPHABET, PeerPins
from .members import Authority, Membership, b64, lab_fingerprint, node_public_key, read_card, save_membership, unb64
from .tls import cert_fingerprint

log = logging.getLogger("localhub.pool.trust.pairing")

SERVICE_TYPE = "_localhub-join._tcp.local."
ID_FOUNDER, ID_JOINER = b"localhub-lab-inviter", b"localhub-lab-joiner"
TRIES = 3
SECRET_CHARS = 8  # 40 bits: with three online tries, a guess succeeds once in 3.6e11
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# --- the code ---------------------------------------------------------------------------------------

def new_code() -> tuple[str, str]:
    """(nameplate, password)."""
    nameplate = str(secrets.randbelow(90) + 10)
    password = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))
    return nameplate, password


def format_code(nameplate: str, password: str) -> str:
    return f"{nameplate}-{password[:4]}-{password[4:]}"


def parse_code(text: str) -> tuple[str, str]:
    """(nameplate, password) from what a person typed, or one sentence saying what is wrong."""
    cleaned = text.strip().upper().translate(_LOOKALIKES)
    found = re.fullmatch(r"(\d{2})[\s\-]*([0-9A-Z]{4})[\s\-]*([0-9A-Z]{4})", cleaned)
    if not found:
        raise LocalhubError("A join code looks like 37-K4QX-9M2T (two digits, then eight letters and digits); "
                            "`localhub pool invite` on a desktop of the lab prints one.")
    password = found[2] + found[3]
    bad = sorted({c for c in password if c not in ALPHABET})
    if bad:
        raise LocalhubError(f"A join code never contains {', '.join(bad)}; compare it with what "
                            "`localhub pool invite` printed.")
    return found[1], password


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def _keys(shared: bytes) -> tuple[bytes, bytes]:
    """(confirmation key, encryption key) from the SPAKE2 key."""
    return (hashlib.sha256(b"localhub-join-confirm\0" + shared).digest(),
            hashlib.sha256(b"localhub-join-grant\0" + shared).digest())


# --- the inviting side ------------------------------------------------------------------------------

@dataclass
class Invitation:
    authority: Authority
    member: Membership  # the inviting desktop's own membership (its revocations, its node)
    cert: str  # the inviting desktop's TLS certificate fingerprint
    address: str
    agent_port: int
    nameplate: str
    password: str
    expires: float  # time.time()
    clock: callable = time.time
    tries: int = TRIES
    joined: str | None = None
    sessions: dict = field(default_factory=dict)  # session id -> SPAKE2_A
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def why_closed(self) -> str | None:
        if self.joined:
            return "this code was used already"
        if self.clock() > self.expires:
            return "this code has expired; ask for a new one (`localhub pool invite`)"
        if self.tries <= 0:
            return "this invitation closed after three wrong codes; ask for a new one"
        return None


class _Join(tornado.web.RequestHandler):
    def initialize(self, invitation: Invitation) -> None:
        self.invitation = invitation

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def check_xsrf_cookie(self) -> None:
        pass

    def answer(self, status: int, data: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def body(self) -> dict | None:
        try:
            data = json.loads(self.request.body or b"{}")
            return data if isinstance(data, dict) else None
        except ValueError:
            return None

    def answered_closed(self) -> bool:
        """Answer 410 when the invitation is closed (expired, used, or too many wrong codes); True if it was."""
        closed = self.invitation.why_closed()
        if closed:
            self.answer(410, {"error": closed, "reason": "closed"})
        return bool(closed)


class StartHandler(_Join):
    def post(self) -> None:
        inv, data = self.invitation, self.body()
        if self.answered_closed():
            return
        if not data or data.get("nameplate") != inv.nameplate or not isinstance(data.get("pake"), str):
            self.answer(404, {"error": "No invitation with this code's number here.", "reason": "no-invitation"})
            return
        if len(inv.sessions) > 16:
            inv.sessions.clear()  # abandoned starts; whoever is real starts again
        pake = SPAKE2_A(inv.password.encode(), idA=ID_FOUNDER, idB=ID_JOINER)
        session = secrets.token_hex(16)
        inv.sessions[session] = (pake, unb64(data["pake"]))
        self.answer(200, {"session": session, "pake": b64(pake.start())})


class FinishHandler(_Join):
    def post(self) -> None:
        inv, data = self.invitation, self.body()
        if self.answered_closed():
            return
        started = inv.sessions.pop((data or {}).get("session", ""), None)
        if started is None:
            self.answer(400, {"error": "Unknown or finished pairing session; start again.", "reason": "session"})
            return
        pake, their_message = started
        try:
            shared = pake.finish(their_message)
            node, key, cert, confirm = (str(data[k]) for k in ("node", "key", "cert", "confirm"))
        except (SPAKEError, KeyError, ValueError, TypeError):
            shared, node = None, ""
        confirm_key, grant_key = _keys(shared or b"\0")
        expected = _mac(confirm_key, "joiner", inv.cert, inv.nameplate, node, key if shared else "",
                        cert if shared else "")
        if not shared or not re.fullmatch(r"[0-9a-f]{16}", node) or not hmac.compare_digest(confirm, expected):
            inv.tries -= 1
            log.warning("a desktop at %s tried a wrong join code (%d tries left)", self.request.remote_ip,
                        max(inv.tries, 0))
            self.answer(403, {"error": "Wrong code: it does not match the one `localhub pool invite` printed.",
                              "reason": "wrong-code", "tries_left": max(inv.tries, 0)})
            if inv.tries <= 0:
                inv.done.set()
            return
        made = inv.authority.card(node, unb64(key), cert)
        grant = {"lab": b64(inv.authority.public), **made, "revoked": inv.member.revocations.signed,
                 "inviter": {"node": inv.member.node, "cert": inv.cert, "address": inv.address,
                             "port": inv.agent_port}}
        nonce = secrets.token_bytes(12)
        sealed = ChaCha20Poly1305(grant_key).encrypt(nonce, json.dumps(grant).encode(), None)
        inv.joined = node
        log.info("desktop %s (node %s) joined the lab", self.request.remote_ip, node)
        self.answer(200, {"grant": b64(nonce + sealed), "confirm": _mac(confirm_key, "inviter", inv.cert, node)})
        inv.done.set()


def invitation_app(invitation: Invitation) -> tornado.web.Application:
    args = {"invitation": invitation}
    return tornado.web.Application([(r"/join/v1/start", StartHandler, args),
                                    (r"/join/v1/finish", FinishHandler, args)])


async def serve_invitation(invitation: Invitation, port: int, ssl_context: ssl.SSLContext, azc) -> str | None:
    """Serve the invitation until a desktop joined (its node id returned), the code expired or three wrong
    codes were tried (None)."""
    server = tornado.httpserver.HTTPServer(invitation_app(invitation), ssl_options=ssl_context,
                                           max_body_size=16 * 1024, idle_connection_timeout=30)
    sockets = tornado.netutil.bind_sockets(port, address=invitation.address)
    server.add_sockets(sockets)
    info = AsyncServiceInfo(SERVICE_TYPE, f"join-{invitation.nameplate}-{invitation.member.node}.{SERVICE_TYPE}",
                            port=sockets[0].getsockname()[1], parsed_addresses=[invitation.address],
                            properties={"np": invitation.nameplate, "cert": invitation.cert,
                                        "lab": invitation.member.fingerprint})
    await (await azc.async_register_service(info))
    try:
        left = invitation.expires - invitation.clock()
        try:
            await asyncio.wait_for(invitation.done.wait(), max(0.0, left))
        except asyncio.TimeoutError:
            pass
    finally:
        await (await azc.async_unregister_service(info))
        server.stop()
        await server.close_all_connections()
    return invitation.joined


# --- the joining side -------------------------------------------------------------------------------

async def find_invitation(azc, nameplate: str, seconds: float) -> list[tuple[str, int, str]]:
    """(address, port, certificate fingerprint) of each desktop on the LAN offering `nameplate`."""
    found: dict[str, tuple[str, int, str]] = {}
    pending: set[asyncio.Task] = set()

    async def resolve(name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if await info.async_request(azc.zeroconf, 3000):
            props = {k.decode(): (v or b"").decode() for k, v in (info.properties or {}).items()}
            addresses = info.parsed_addresses(IPVersion.V4Only)
            if props.get("np") == nameplate and addresses:
                found[name] = (addresses[0], info.port, props.get("cert", ""))

    def changed(zeroconf, service_type, name, state_change):
        if state_change is not ServiceStateChange.Removed:
            task = asyncio.ensure_future(resolve(name))
            pending.add(task)

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[changed])
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not found:
            await asyncio.sleep(0.1)
        if pending:
            await asyncio.wait(pending, timeout=1)
    finally:
        await browser.async_cancel()
    return list(found.values())


async def _server_cert(address: str, port: int) -> str:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port, ssl=probe), 5)
    try:
        return cert_fingerprint(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
    finally:
        writer.close()


@dataclass(frozen=True)
class Joined:
    lab: str  # fingerprint
    node: str
    inviter: dict


async def join(state_dir, code: str, azc, seconds: float = 6.0) -> Joined:
    """Join the lab whose desktop offers `code`; the membership is stored only once it checks out."""
    from .keys import node_id

    nameplate, password = parse_code(code)
    offers = await find_invitation(azc, nameplate, seconds)
    if not offers:
        raise LocalhubError(f"No desktop on the LAN offers join code {nameplate}-…: it expired (codes last a few "
                            "minutes), was used already, or was mistyped; run `localhub pool invite` again on a "
                            "desktop of the lab.")
    address, port, _ = offers[0]
    node = node_id(state_dir)
    public, cert = node_public_key(state_dir)
    seen = await _server_cert(address, port)  # what the joiner will bind into its proof
    # the TLS channel is checked by the PAKE (the MAC covers `seen`), not by a CA: no verification here
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    pake = SPAKE2_B(password.encode(), idA=ID_FOUNDER, idB=ID_JOINER)
    url = f"https://{address}:{port}/join/v1"
    async with httpx.AsyncClient(verify=context, timeout=10) as http:
        started = await http.post(f"{url}/start", json={"nameplate": nameplate, "pake": b64(pake.start())})
        if started.status_code != 200:
            raise LocalhubError(f"The inviting desktop refused: {_said(started)}")
        shared = pake.finish(unb64(started.json()["pake"]))
        confirm_key, grant_key = _keys(shared)
        proof = _mac(confirm_key, "joiner", seen, nameplate, node, b64(public), cert)
        finished = await http.post(f"{url}/finish", json={"session": started.json()["session"], "node": node,
                                                            "key": b64(public), "cert": cert, "confirm": proof})
        # the certificate of the connection that carried the answer must still be the one the proof covered
        if await _server_cert(address, port) != seen:
            raise LocalhubError("The inviting desktop's certificate changed during pairing; try again.")
    if finished.status_code != 200:
        raise LocalhubError(f"The inviting desktop refused: {_said(finished)}")
    answer = finished.json()
    if not hmac.compare_digest(answer.get("confirm", ""), _mac(confirm_key, "inviter", seen, node)):
        raise LocalhubError("The inviting desktop could not prove it knows the code; nothing was stored.")
    sealed = unb64(answer["grant"])
    grant = json.loads(ChaCha20Poly1305(grant_key).decrypt(sealed[:12], sealed[12:], None))
    lab_public = unb64(grant["lab"])
    card = read_card(lab_public, grant["card"])
    if (card.node, card.cert) != (node, cert):
        raise LocalhubError("The lab's card names another desktop; nothing was stored.")
    save_membership(state_dir, lab_public, grant["card"], grant["tag"], grant.get("revoked"))
    inviter = grant["inviter"]
    PeerPins(state_dir).check(inviter["node"], lab_fingerprint(lab_public), seen)  # the inviter, as paired
    return Joined(lab_fingerprint(lab_public), node, inviter)


def _said(response: httpx.Response) -> str:
    try:
        return response.json().get("error") or f"HTTP {response.status_code}"
    except ValueError:
        return f"HTTP {response.status_code}"

