"""What a hub may ask of this desktop for a guest: its run request checked (whatever a request says, the agent
decides the hardening, guests.py), and the TLS files its server gets, a key made here for it alone and the
hub's authority (trust/tls.py)."""

from __future__ import annotations

import io
import re
import tarfile

from ...errors import LocalhubError
from ..trust.tls import guest_certificate, pem_fingerprint

GUEST_ID = re.compile(r"[0-9a-f]{16}")
# What a request may never ask for: the agent decides these, not the caller.
FORBIDDEN = ("privileged", "cap_add", "capabilities", "devices", "binds", "mounts", "volumes", "volumes_from",
             "network_mode", "pid_mode", "ipc_mode", "userns_mode", "security_opt", "sysctls", "host_config",
             "runtime", "user", "group_add", "ports", "extra_hosts", "dns")
ALLOWED = {"guest", "server", "image", "image_id", "cpus", "memory", "storage", "env", "cmd", "hub", "tls"}
TLS_DIR = "/srv/localhub-tls"  # in the guest's container: its key and certificate, and its hub's authority


class GuestRefused(LocalhubError):
    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


def parse_request(data: dict) -> dict:
    """Check a run request; GuestRefused names what is wrong or forbidden."""
    if not isinstance(data, dict):
        raise GuestRefused("A run request is a JSON object.", "bad-request")
    forbidden = sorted(k for k in data if k in FORBIDDEN)
    if forbidden:
        raise GuestRefused(f"This desktop runs guests only under its owner's hardening; a request may not set "
                           f"{', '.join(forbidden)}.", "forbidden-option", 403)
    unknown = sorted(set(data) - ALLOWED)
    if unknown:
        raise GuestRefused(f"Unknown fields in the run request: {', '.join(unknown)}.", "bad-request")
    try:
        guest = str(data["guest"])
        hub = data["hub"]
        request = {
            "guest": guest, "server": str(data.get("server", ""))[:120], "image": str(data["image"]),
            "image_id": str(data.get("image_id") or ""), "cpus": float(data["cpus"]), "memory": int(data["memory"]),
            "storage": int(data["storage"]), "env": {str(k): str(v) for k, v in (data.get("env") or {}).items()},
            "cmd": [str(a) for a in (data.get("cmd") or [])], "hub": (str(hub["address"]), int(hub["port"])),
            "tls_ca": str(data["tls"]["ca"]),
        }
    except (KeyError, TypeError, ValueError) as err:
        raise GuestRefused(f"The run request is incomplete or malformed ({err}); it needs guest, image, cpus, "
                           "memory, storage, hub {address, port} and tls {ca}.", "bad-request") from None
    if not GUEST_ID.fullmatch(guest):
        raise GuestRefused("A guest id is 16 lowercase hex digits.", "bad-request")
    if request["cpus"] <= 0 or request["memory"] <= 0:
        raise GuestRefused("A guest needs some CPU and memory.", "bad-request")
    try:
        pem_fingerprint(request["tls_ca"])
    except ValueError:
        raise GuestRefused("The run request's tls.ca is not a PEM certificate; guests serve only over TLS, "
                           "with their hub's authority.", "bad-request") from None
    return request


def tls_files(guest: str, ca_pem: str) -> tuple[bytes, str]:
    """(a tar of TLS_DIR for the container, the fingerprint of the guest's certificate)."""
    key_pem, cert_pem = guest_certificate(guest)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        top = tarfile.TarInfo(TLS_DIR.lstrip("/"))
        top.type, top.mode = tarfile.DIRTYPE, 0o555
        tar.addfile(top)
        # readable by the container's one user, whoever the image makes it: nobody else is in there
        for name, content in (("guest.key", key_pem), ("guest.crt", cert_pem), ("hub-ca.crt", ca_pem.encode())):
            info = tarfile.TarInfo(f"{TLS_DIR.lstrip('/')}/{name}")
            info.size, info.mode = len(content), 0o444
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue(), pem_fingerprint(cert_pem)


def tls_env() -> dict:
    """What tells JupyterHub's single-user server to serve TLS and whom to trust (JupyterHub's internal_ssl)."""
    return {"JUPYTERHUB_SSL_KEYFILE": f"{TLS_DIR}/guest.key", "JUPYTERHUB_SSL_CERTFILE": f"{TLS_DIR}/guest.crt",
            "JUPYTERHUB_SSL_CLIENT_CA": f"{TLS_DIR}/hub-ca.crt"}
