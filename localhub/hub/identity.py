"""Who a server's processes run as: never root.

An image's `USER` is what its server runs as. repo2docker and localhub's own images end as an ordinary user;
a Dockerfile that ends as root (often a forgotten `USER root` after `apt-get`) would run the server as uid 0,
which the hardened container (no capabilities) turns into odd failures, and which no lab policy allows.
Such an image runs as its ordinary user when it has one (the one named by `NB_USER`, else uid 1000, else its
only user with a uid from 1000), and is refused with the reason when it has none. Guests on lab peers refuse
root images outright (`is_root` is the one rule for both).
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

import docker.errors

FIRST_ORDINARY_UID = 1000
NOBODY = 65534


class RootImage(Exception):
    """The image would run as root and has no ordinary user; the message says what to change."""


def is_root(user: str | None) -> bool:
    """True if an image's `Config.User` (name or uid, optionally `:group`) means root; empty means root."""
    return (user or "root").split(":")[0].strip() in ("root", "0", "")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def ordinary_accounts(passwd: str) -> list[Account]:
    accounts = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        uid = int(fields[2])
        if FIRST_ORDINARY_UID <= uid < NOBODY:
            accounts.append(Account(fields[0], uid, int(fields[3])))
    return accounts


def choose_account(env: list[str] | None, passwd: str) -> Account | None:
    """The ordinary user a root image should run as, if it has one."""
    accounts = ordinary_accounts(passwd)
    wanted = next((e.split("=", 1)[1] for e in env or () if e.startswith("NB_USER=")), None)
    for test in (lambda a: a.name == wanted, lambda a: a.uid == FIRST_ORDINARY_UID):
        found = [a for a in accounts if test(a)]
        if found:
            return found[0]
    return accounts[0] if len(accounts) == 1 else None


def run_as(api, image: str, labels: dict) -> str | None:
    """The `user` to give the server's container: None to keep the image's own (not root), else `uid:gid` of
    its ordinary user. Raises RootImage when the image has none. `api` is a low-level docker.APIClient."""
    config = api.inspect_image(image).get("Config") or {}
    if not is_root(config.get("User")):
        return None
    account = choose_account(config.get("Env"), read_file(api, image, "/etc/passwd", labels))
    if account is None:
        raise RootImage(
            f"Image '{image}' runs as root and has no ordinary user (uid {FIRST_ORDINARY_UID} or above) to run "
            "as instead; localhub never runs servers as root. End its Dockerfile with `USER ${NB_USER}` "
            f"(or `USER {FIRST_ORDINARY_UID}`) after creating that user.")
    return f"{account.uid}:{account.gid}"


def read_file(api, image: str, path: str, labels: dict) -> str:
    """A small text file of an image (empty if absent), read from a created, never started, container."""
    container = api.create_container(image, command=["true"], entrypoint=[], network_disabled=True,
                                     labels={**labels, "localhub.role": "inspect"})["Id"]
    try:
        stream, _ = api.get_archive(container, path)
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member else None
            return handle.read(1 << 20).decode("utf-8", "replace") if handle else ""
    except docker.errors.NotFound:
        return ""
    finally:
        api.remove_container(container, force=True)
