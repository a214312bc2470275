"""One identity per desktop: the lab's authority, the member card it gives each desktop that joins, and the
list of desktops removed from the lab.

The desktop that starts a lab (`localhub pool init`) makes the lab's authority, an Ed25519 key that never
leaves it (`<state>/pool/lab-authority.key`, 0600). The lab is named by that key's public half (`lab.pub`,
its fingerprint is the lab's). Every desktop's identity is its own TLS key (tls.py): when it joins, the
authority signs a *member card* binding its node id, its public key and its certificate's fingerprint, and a
short *tag* over node id and certificate for its mDNS record. A member signs each agent request and answer
with its own key (signing.py checks them against the card that comes with them), so a request is attributable
to one desktop, and no member can sign as another, whatever it holds.

Removal (`localhub pool remove NODE`, on the desktop holding the authority): the authority signs a new list of
removed nodes with a higher serial number (`revoked.json`); it is pushed to every peer that answers, and each
member passes it on (every signed request and status says which list its sender holds; a member holding an
older one fetches the newer at once), so a removed desktop is refused everywhere within seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ...errors import LocalhubError
from ...state import write_atomic
from .keys import in_a_lab, membership_path, node_id, pool_dir  # noqa: F401 (in_a_lab: re-exported)
from .tls import ensure_certificate

CARD_VERSION = 2


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def lab_fingerprint(public: bytes) -> str:
    return hashlib.sha256(b"localhub-lab-v2\0" + public).hexdigest()[:16]


class NotAMember(LocalhubError):
    """Why a card, a tag or a list does not hold for this lab (one sentence)."""


# --- the authority ----------------------------------------------------------------------------------

def authority_path(state_dir: Path) -> Path:
    return pool_dir(state_dir) / "lab-authority.key"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Authority:
    """The lab's signing key, on the desktop that started the lab."""

    def __init__(self, key: ed25519.Ed25519PrivateKey):
        self.key = key
        self.public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def create(cls, state_dir: Path) -> "Authority":
        key = ed25519.Ed25519PrivateKey.generate()
        _write_private(authority_path(state_dir), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cls(key)

    @classmethod
    def load(cls, state_dir: Path) -> "Authority | None":
        try:
            pem = authority_path(state_dir).read_bytes()
        except FileNotFoundError:
            return None
        return cls(serialization.load_pem_private_key(pem, None))

    @property
    def fingerprint(self) -> str:
        return lab_fingerprint(self.public)

    def card(self, node: str, public_key: bytes, cert: str) -> dict:
        """A member card for `node` (public key as SPKI DER, certificate fingerprint), with its mDNS tag."""
        payload = json.dumps({"v": CARD_VERSION, "lab": self.fingerprint, "node": node, "key": b64(public_key),
                              "cert": cert, "issued": int(time.time())}, sort_keys=True).encode()
        return {"card": f"{b64(payload)}.{b64(self.key.sign(b'localhub-card-v2' + payload))}",
                "tag": b64(self.key.sign(_tag_message(node, cert)))}

    def revoke(self, current: "Revocations", node: str) -> dict:
        """A new signed list with `node` added."""
        nodes = {**current.nodes, node: int(time.time())}
        body = json.dumps({"lab": self.fingerprint, "serial": current.serial + 1, "nodes": nodes},
                          sort_keys=True).encode()
        return {"list": b64(body), "sig": b64(self.key.sign(b"localhub-revoked-v2" + body))}


def _tag_message(node: str, cert: str) -> bytes:
    return f"localhub-txt-v2\n{node}\n{cert}".encode()


# --- cards ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Card:
    node: str
    key: ec.EllipticCurvePublicKey
    cert: str
    issued: int
    text: str  # as sent in headers


def read_card(lab_public: bytes, text: str) -> Card:
    """The card, if the lab's authority signed it; NotAMember says why not."""
    try:
        payload_b64, sig_b64 = text.split(".")
        payload = unb64(payload_b64)
        _public(lab_public).verify(unb64(sig_b64), b"localhub-card-v2" + payload)
        data = json.loads(payload)
        key = serialization.load_der_public_key(unb64(data["key"]))
        if data.get("v") != CARD_VERSION or data["lab"] != lab_fingerprint(lab_public) or \
                not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("not a card of this lab")
        return Card(str(data["node"]), key, str(data["cert"]), int(data["issued"]), text)
    except (ValueError, KeyError, TypeError, InvalidSignature) as err:
        raise NotAMember(f"the member card was not issued by this lab ({err.__class__.__name__})") from None


def _public(raw: bytes) -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def check_tag(lab_public: bytes, node: str, cert: str, tag: str) -> bool:
    try:
        _public(lab_public).verify(unb64(tag), _tag_message(node, cert))
        return True
    except (ValueError, InvalidSignature):
        return False


# --- removed desktops -------------------------------------------------------------------------------

@dataclass
class Revocations:
    serial: int = 0
    nodes: dict = field(default_factory=dict)  # node id -> when removed
    signed: dict | None = None  # as the authority signed it (what is passed on)


def read_revocations(lab_public: bytes, signed: dict) -> Revocations:
    try:
        body = unb64(signed["list"])
        _public(lab_public).verify(unb64(signed["sig"]), b"localhub-revoked-v2" + body)
        data = json.loads(body)
        if data["lab"] != lab_fingerprint(lab_public):
            raise ValueError("another lab's list")
        return Revocations(int(data["serial"]), {str(k): int(v) for k, v in data["nodes"].items()},
                           {"list": signed["list"], "sig": signed["sig"]})
    except (ValueError, KeyError, TypeError, AttributeError, InvalidSignature) as err:
        raise NotAMember(f"the list of removed desktops was not signed by this lab ({err.__class__.__name__})"
                         ) from None


# --- what a member holds ----------------------------------------------------------------------------

def revoked_path(state_dir: Path) -> Path:
    return pool_dir(state_dir) / "revoked.json"


class Membership:
    """This desktop's place in its lab: the lab's public key, its own key and card, the removed desktops."""

    def __init__(self, state_dir: Path, lab_public: bytes, node: str, card: str, tag: str,
                 key: ec.EllipticCurvePrivateKey):
        self.state_dir, self.lab_public, self.node, self.tag = Path(state_dir), lab_public, node, tag
        self.card = read_card(lab_public, card)
        self.key = key
        self.fingerprint = lab_fingerprint(lab_public)
        self.revocations = Revocations()
        self._revoked_mtime = None
        self.reload_revocations()

    # the signing side
    def sign(self, message: bytes) -> str:
        return b64(self.key.sign(message, ec.ECDSA(hashes.SHA256())))

    def txt_tag(self, node: str, cert: str) -> str:
        return self.tag

    def check_tag(self, node: str, cert: str, tag: str) -> bool:
        return check_tag(self.lab_public, node, cert, tag)

    # the checking side
    def verify_card(self, text: str) -> Card:
        card = read_card(self.lab_public, text)
        if self.is_revoked(card.node):
            raise NotAMember(f"desktop {card.node} was removed from this lab")
        return card

    def is_revoked(self, node: str) -> bool:
        self.reload_revocations()
        return node in self.revocations.nodes

    def reload_revocations(self) -> None:
        """Pick up a list written by another process (`localhub pool remove` without a running hub)."""
        path = revoked_path(self.state_dir)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._revoked_mtime:
            return
        self._revoked_mtime = mtime
        try:
            self.revocations = read_revocations(self.lab_public, json.loads(path.read_text()))
        except (OSError, ValueError, NotAMember):
            pass  # a damaged list is ignored: the next one a peer passes on replaces it

    def accept_revocations(self, signed: dict) -> bool:
        """Keep a newer list of removed desktops (signed by the authority, from whoever passed it on)."""
        new = read_revocations(self.lab_public, signed)
        self.reload_revocations()
        if new.serial <= self.revocations.serial:
            return False
        write_atomic(revoked_path(self.state_dir), json.dumps(new.signed) + "\n", mode=0o600)
        self.revocations, self._revoked_mtime = new, revoked_path(self.state_dir).stat().st_mtime_ns
        return True


def save_membership(state_dir: Path, lab_public: bytes, card: str, tag: str, revocations: dict | None = None
                    ) -> None:
    write_atomic(membership_path(state_dir), json.dumps({"lab": b64(lab_public), "card": card, "tag": tag},
                                                        indent=2) + "\n", mode=0o600)
    if revocations:
        write_atomic(revoked_path(state_dir), json.dumps(revocations) + "\n", mode=0o600)
    else:
        revoked_path(state_dir).unlink(missing_ok=True)


def node_public_key(state_dir: Path) -> tuple[bytes, str]:
    """(this desktop's public key as SPKI DER, its certificate's fingerprint): what its card binds."""
    node = node_id(state_dir)
    cert_path, key_path, cert = ensure_certificate(state_dir, node)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo), cert


def load_membership(state_dir: Path) -> Membership:
    try:
        data = json.loads(membership_path(state_dir).read_text())
    except FileNotFoundError:
        raise LocalhubError("This desktop is in no lab yet: run `localhub pool init` to start one, or "
                            "`localhub pool join CODE` with a code from `localhub pool invite` on a desktop "
                            "already in it.") from None
    except (OSError, ValueError) as err:
        raise LocalhubError(f"This desktop's lab membership ({membership_path(state_dir)}) cannot be read ({err}); "
                            "join the lab again.") from None
    node = node_id(state_dir)
    _, key_path, cert = ensure_certificate(state_dir, node)
    member = Membership(state_dir, unb64(data["lab"]), node, data["card"], data["tag"],
                        serialization.load_pem_private_key(key_path.read_bytes(), None))
    if member.card.node != node or member.card.cert != cert:
        raise LocalhubError("This desktop's member card is for another node or certificate (its certificate was "
                            "made again?); join the lab again with a code from `localhub pool invite`.")
    return member


def start_lab(state_dir: Path) -> Authority:
    """`pool init`: a new authority, and this desktop its first member."""
    authority = Authority.create(state_dir)
    public, cert = node_public_key(state_dir)
    made = authority.card(node_id(state_dir), public, cert)
    save_membership(state_dir, authority.public, made["card"], made["tag"])
    return authority


def forget_membership(state_dir: Path) -> None:
    for path in (membership_path(state_dir), revoked_path(state_dir), authority_path(state_dir)):
        path.unlink(missing_ok=True)
