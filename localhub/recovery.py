"""A damaged hub database is refused, never silently replaced, and the servers it knew come back from their homes.

JupyterHub keeps the list of servers (and their options) in `jupyterhub.sqlite`; each server's files are in a
Docker volume labelled with its hub instance, user and server name. A database that is empty, truncated, not
SQLite at all — or missing while named servers' homes exist — would make JupyterHub start a blank hub that has
forgotten every server while their homes sit unused, so `check_database` refuses to start over it and names the
way out: `localhub recover` sets the damaged file aside (renamed, never deleted), makes a new database
(`new_database`), starts the hub, and the daemon re-adopts every home volume of this hub as a stopped named server
(`homes_to_adopt` decides which, and with what options).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import storage
from .errors import LocalhubError
from .state import PRIVATE_UMASK

SQLITE_HEADER = b"SQLite format 3\x00"


def database_problem(path: Path) -> str | None:
    """What is wrong with the hub's database, in words that follow its path ("is empty"); None when it is fine
    or does not exist yet (a new hub)."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not header:
        return "is empty"
    if header != SQLITE_HEADER:
        return "is not an SQLite database"
    try:
        db = sqlite3.connect(path)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        return f"is damaged ({err})"
    if check != "ok":
        return f"is damaged ({check})"
    if "users" not in tables:
        return "holds no hub data"
    return None


@dataclass(frozen=True)
class Home:
    """A server's home volume as the engine lists it."""

    volume: str
    user: str
    server: str


def homes(docker, instance: str) -> list[Home]:
    """Every server home of this hub instance: volumes labelled for it whose name is the one storage.py gives
    their labelled user and server (a copy brought back from a lab peer, `…--from-<peer>-<date>`, is not one)."""
    found = []
    for volume in docker.volumes.list(filters={"label": f"localhub.instance={instance}"}):
        labels = volume.attrs.get("Labels") or {}
        user, server = labels.get("localhub.user"), labels.get("localhub.server")
        if user is not None and server is not None and \
                volume.name == storage.home_volume_name(instance, user, server):
            found.append(Home(volume.name, user, server))
    return sorted(found, key=lambda h: (h.user, h.server))


def check_database(path: Path, known_homes: list[Home]) -> None:
    """Refuse to start JupyterHub over a damaged database, with the way out. An empty database with no server
    home to lose (a first start that was interrupted) is simply removed."""
    problem = database_problem(path)
    named = [h.server for h in known_homes if h.server]
    if problem is None and not path.exists() and named:
        problem = "is missing"  # deleted, or a state dir made anew: the default server alone would lose nothing
    if problem is None:
        return
    if problem == "is empty" and not known_homes:
        path.unlink()
        return
    lost = (f"your {len(named)} named server(s) ({', '.join(named[:5])}{', …' if len(named) > 5 else ''})"
            if named else "your servers")
    raise LocalhubError(
        f"The hub's database {path} {problem}: starting on it would forget {lost}, whose files are safe in "
        "their Docker volumes. `localhub recover` sets the database aside and brings the servers back from "
        "their homes."
    )


def new_database(path: Path) -> None:
    """An empty hub database, made by JupyterHub's own schema code, for `recover` to start on (a missing one would
    be refused)."""
    import logging
    import os

    from jupyterhub import orm

    umask = os.umask(PRIVATE_UMASK)  # private from the start, as JupyterHub's own would be
    logging.disable(logging.INFO)  # alembic's migration notes are not the user's concern
    try:
        orm.new_session_factory(f"sqlite:///{path}").kw["bind"].dispose()
    finally:
        logging.disable(logging.NOTSET)
        os.umask(umask)


def set_aside(path: Path) -> Path | None:
    """Rename a damaged database (and its journal) out of JupyterHub's way; the new name, None if there was none."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(target)
    journal = path.with_name(path.name + "-journal")
    if journal.exists():
        journal.rename(target.with_name(target.name + "-journal"))
    return target


@dataclass
class Adoption:
    """A named server to create (stopped) for a home the hub does not know, with what could be found of its
    options."""

    server: str
    user_options: dict = field(default_factory=dict)


def homes_to_adopt(user: str, known: set[str], found: list[Home], recent: list[dict],
                   environments: list, containers: list) -> list[Adoption]:
    """Which homes of `user` become named servers again, and with which options.

    `known`: the server names the hub has; `recent`: launches.json entries (spec → server); `environments`:
    this hub's environment images, newest first (catalog.Environment); `containers`: this hub's containers, whose
    labels and image say a server's profile and image when one survived.
    """
    by_server = {}
    for entry in recent:
        if isinstance(entry, dict) and isinstance(entry.get("server"), str) and isinstance(entry.get("spec"), str):
            by_server.setdefault(entry["server"], entry["spec"])
    adoptions = []
    for home in found:
        if home.user != user or not home.server or home.server in known:
            continue  # the default server needs no record: its home is used again when it starts
        options: dict = {}
        spec = by_server.get(home.server)
        if spec:
            options["spec"] = spec
            image = next((e.image for e in environments if e.spec == spec), None)
            if image:
                options["image"] = image
        for container in containers:
            labels = container.labels or {}
            if labels.get("localhub.user") == user and labels.get("localhub.server") == home.server:
                if labels.get("localhub.profile"):
                    options["profile"] = labels["localhub.profile"]
                image = (container.attrs.get("Config") or {}).get("Image")
                if image and "image" not in options:
                    options["image"] = image
        adoptions.append(Adoption(home.server, options))
    return adoptions
