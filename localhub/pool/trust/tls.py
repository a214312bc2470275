"""Each node's own TLS certificate, client connections pinned to a peer's certificate fingerprint, and the
certificates that keep a hub's traffic with its servers on peers private.

The agent: no certificate authority; a node makes a self-signed certificate once (`<state>/pool/tls.crt`,
key 0600) and advertises its fingerprint. A client first reads the peer's certificate in a bare handshake
(nothing sent), checks the fingerprint against the pin, then trusts exactly that certificate for the real
request, so no byte of a request reaches a server that does not hold the pinned certificate's private key.

Servers on peers (JupyterHub's internal_ssl, for the one link that crosses the LAN): the hub holds a small
certificate authority of its own (`away-ca.crt`, key 0600) that signs two certificates, one for its API's door
on the LAN address (hub_door.py) and one the hub presents to its servers (away/tunnel.py). A guest's server
gets that authority's certificate as `JUPYTERHUB_SSL_CLIENT_CA`, with a key and certificate its peer made for it
alone (`guest_certificate`): it serves HTTPS, asks callers for a certificate the hub's authority signed, and
checks the hub's door against that authority. The hub pins the guest's certificate by the fingerprint its
peer's signed answer gave.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
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
    key_pem, cert_pem = _issue(f"localhub node {node}")
    _write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _issue(common_name: str, issuer: tuple | None = None, ca: bool = False, ips: tuple[str, ...] = (),
           days: int = 3650) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM): a new EC P-256 key and its certificate, self-signed unless `issuer` =
    (issuer's key, issuer's certificate) signs it. `ips` become subjectAltNames (checked by TLS clients that
    check names: the guest's Jupyter server checks the hub's door)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer_key, signer = issuer or (key, None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer.subject if signer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if signer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    elif issuer is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if ips:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]), critical=False)
    cert = builder.sign(signer_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def pem_fingerprint(pem: bytes | str) -> str:
    return cert_fingerprint(ssl.PEM_cert_to_DER_cert(pem.decode() if isinstance(pem, bytes) else pem))


def guest_certificate(guest: str) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) for one guest's server, made on the peer that runs it: the key never
    leaves that peer. Self-signed; its hub pins it by fingerprint."""
    return _issue(f"localhub guest {guest}")


@dataclass(frozen=True)
class AwayCertificates:
    """This hub's authority for its servers on peers, and the two certificates it signed (see the docstring)."""

    ca_pem: bytes
    door: tuple[Path, Path]  # (certificate, key): the hub API's door on the LAN address
    caller: tuple[Path, Path]  # (certificate, key): what the hub presents to its servers on peers

    def door_context(self) -> ssl.SSLContext:
        return server_context(*self.door)

    def caller_context(self) -> ssl.SSLContext:
        """A client context for a guest's server: presents the hub's certificate; the guest's own is checked
        against its pin by the caller after the handshake (tunnel.py), so nothing is verified here."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(*self.caller)
        return ctx


def away_certificates(state_dir: Path, address: str) -> AwayCertificates:
    """The hub's authority (made once, kept) and its door and caller certificates, made again at every start
    (the door's names the LAN address in use now)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    folder = pool_dir(state_dir)
    ca_cert, ca_key = folder / "away-ca.crt", folder / "away-ca.key"
    if not (ca_cert.exists() and ca_key.exists()):
        key_pem, cert_pem = _issue("localhub hub authority", ca=True)
        _write_private(ca_key, key_pem)
        ca_cert.write_bytes(cert_pem)
    ca_pem = ca_cert.read_bytes()
    issuer = (serialization.load_pem_private_key(ca_key.read_bytes(), None), x509.load_pem_x509_certificate(ca_pem))
    made = {}
    for role, ips in (("door", (address,)), ("caller", ())):
        key_pem, cert_pem = _issue(f"localhub hub {role}", issuer=issuer, ips=ips, days=400)
        cert_path, key_path = folder / f"away-{role}.crt", folder / f"away-{role}.key"
        _write_private(key_path, key_pem)
        cert_path.write_bytes(cert_pem)
        made[role] = (cert_path, key_path)
    return AwayCertificates(ca_pem, made["door"], made["caller"])


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
