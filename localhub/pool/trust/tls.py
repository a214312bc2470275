"""Each node's own TLS certificate, and client connections pinned to a peer's certificate fingerprint.

No certificate authority: a node makes a self-signed certificate once (`<state>/pool/tls.crt`, key 0600)
and advertises its fingerprint. A client first reads the peer's certificate in a bare handshake (nothing
sent), checks the fingerprint against the pin, then trusts exactly that certificate for the real request, so
no byte of a request reaches a server that does not hold the pinned certificate's private key.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import ssl
from pathlib import Path

from ...errors import LocalhubError
from .keys import pool_dir

FINGERPRINT_HEX = 32  # 128 bits of SHA-256: ample for a pin, short enough for a TXT record


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:FINGERPRINT_HEX]


def ensure_certificate(state_dir: Path, node: str) -> tuple[Path, Path, str]:
    """(certificate path, key path, fingerprint); the pair is made at first use and kept."""
    folder = pool_dir(state_dir)
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    if not (cert_path.exists() and key_path.exists()):
        _make_certificate(cert_path, key_path, node)
    pem = cert_path.read_text()
    return cert_path, key_path, cert_fingerprint(ssl.PEM_cert_to_DER_cert(pem))


def _make_certificate(cert_path: Path, key_path: Path, node: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"localhub node {node}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))  # pinned, not CA-checked: expiry adds nothing
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class CertificateMismatch(LocalhubError):
    """The peer's certificate is not the pinned one."""


async def pinned_context(host: str, port: int, expected: str, timeout: float = 3.0) -> ssl.SSLContext:
    """A client context that trusts only the peer's certificate, after checking it matches `expected`."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # this handshake only reads the certificate; nothing is sent
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=probe), timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            pass
    found = cert_fingerprint(der)
    if found != expected:
        raise CertificateMismatch(f"The agent at {host}:{port} presents certificate {found[:12]}…, not the "
                                  f"pinned {expected[:12]}…; it is not the peer it claims to be.")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # peers have no names a CA vouches for; the pin replaces the hostname check
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(der))
    return ctx
