"""Servers this hub runs on lab peers: where to place one, the journey out, and the journey home.

Out: the image goes to the peer unless it already has it (a `docker save` archive, streamed over the
agent's HTTPS), then the server's home (if it has one yet), then the run request. Home: the peer stops the
guest (the user stopped it, or the peer's owner came back and the grace period ran out), the home comes
back as a checked archive and replaces the local home volume, and only then is the peer told to forget it.

The ledger (`<state>/pool/remote.json`) records every server that is away, from before the first byte
leaves until the peer has forgotten it; whatever is interrupted (the hub restarted, the link cut, the peer
powered off) is finished from the ledger later (`Keeper`, run by the daemon). While a server is away its
local volume holds the last synced copy of its home, refreshed every `sync_every` seconds: when a peer
vanishes, that copy is what the server restarts with. Should the peer come back after the user restarted
the server, the peer's newer copy is restored next to it (volume `…--from-<peer>`), never over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError
from ...state import write_atomic
from .archives import archive_volume_home, image_id, restore_home, save_image
from .client import PeerAddress, PeerClient, PeerError, PeerRefused
from ..trust.keys import load_lab, pool_dir
from ..host.machine import read_figures

log = logging.getLogger("localhub.pool.away.remote")

STARTING, RUNNING, RETURNING, LOST = "starting", "running", "returning", "lost"


@dataclass
class Away:
    """One server that is (or was being sent) away: a ledger entry."""

    guest: str
    user: str
    server: str
    volume: str
    image: str
    peer: dict  # PeerAddress fields plus "name"
    state: str = STARTING
    address: str = ""
    port: int = 0
    started: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)  # when the peer last answered about it
    synced: float | None = None  # when the local volume last got the peer's copy of the home
    superseded: bool = False  # the server was started again without it: its home returns beside, not over
    notice: str = ""  # the peer's word on it (paused because the owner is back, …)
    remote_state: str = ""

    @property
    def where(self) -> PeerAddress:
        return PeerAddress(self.peer["node"], self.peer["address"], int(self.peer["port"]), self.peer["cert"])

    @property
    def peer_name(self) -> str:
        return self.peer.get("name") or self.peer["node"]


class Ledger:
    """remote.json, read and written under an exclusive lock (the hub's spawner and the daemon share it)."""

    def __init__(self, state_dir: Path):
        self.path = pool_dir(state_dir) / "remote.json"
        self.lock_path = pool_dir(state_dir) / "remote.lock"

    @contextlib.contextmanager
    def _locked(self):
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Away]:
        try:
            return {e["guest"]: Away(**e) for e in json.loads(self.path.read_text())}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as err:
            raise LocalhubError(f"Cannot read {self.path} ({err}); it lists servers running on lab peers, "
                                "so it was left as it is.") from None

    def all(self) -> list[Away]:
        with self._locked():
            return list(self._read().values())

    def get(self, guest: str) -> Away | None:
        with self._locked():
            return self._read().get(guest)

    def for_server(self, user: str, server: str) -> list[Away]:
        return [a for a in self.all() if a.user == user and a.server == server]

    def put(self, away: Away) -> None:
        with self._locked():
            entries = self._read()
            entries[away.guest] = away
            write_atomic(self.path, json.dumps([asdict(e) for e in entries.values()], indent=2) + "\n")

    def update(self, guest: str, **changes) -> Away | None:
        with self._locked():
            entries = self._read()
            away = entries.get(guest)
            if away is None:
                return None
            for name, value in changes.items():
                setattr(away, name, value)
            write_atomic(self.path, json.dumps([asdict(e) for e in entries.values()], indent=2) + "\n")
            return away

    def remove(self, guest: str) -> None:
        with self._locked():
            entries = self._read()
            if entries.pop(guest, None) is not None:
                write_atomic(self.path, json.dumps([asdict(e) for e in entries.values()], indent=2) + "\n")


# --- placement -------------------------------------------------------------------------------------

def live_peers_path(state_dir: Path) -> Path:
    return pool_dir(state_dir) / "peers.json"


def read_live_peers(state_dir: Path) -> list[dict]:
    """The peers the daemon's monitor sees now (each a PeerView.to_dict()); empty when the pool is off."""
    try:
        return json.loads(live_peers_path(state_dir).read_text()).get("peers", [])
    except (OSError, ValueError):
        return []


def local_fits(ask: dict, figures=None) -> bool:
    figures = figures or read_figures(Path("/"))
    return figures.mem_available >= ask["memory"] and figures.free_cpus >= ask["cpus"]


def peer_name(view: dict) -> str:
    return view.get("name", "").split(".")[0]


def candidates(where: str, peers: list[dict]) -> list[dict]:
    """Peers to ask, best first. `where` is "auto" (idle peers, most free capacity first) or a peer's node id
    or name (as `localhub pool status` shows it). Raises LocalhubError when a named peer is not there."""
    if where == "auto":
        idle = [p for p in peers if p.get("live") and p["live"].get("state") == "idle" and p["live"].get("slots")]
        return sorted(idle, key=lambda p: (p["live"]["figures"]["free_cpus"], p["live"]["figures"]["mem_available"]),
                      reverse=True)
    wanted = where.lower()
    named = [p for p in peers if wanted in (p.get("node", "").lower(), peer_name(p).lower())]
    if not named:
        known = ", ".join(f"{peer_name(p)} ({p.get('node')})" for p in peers) or "none found"
        raise LocalhubError(f"No lab peer named '{where}' is on the LAN now (peers: {known}); use --where auto, "
                            "local, or a name from `localhub pool status`.")
    if named[0].get("live") is None:
        raise LocalhubError(f"Peer '{where}' is unreachable: {named[0].get('error')}.")
    return named


def address_of(view: dict) -> PeerAddress:
    return PeerAddress(view["node"], view["address"], int(view["port"]), view["cert"])


# --- the journeys --------------------------------------------------------------------------------

class RemoteServers:
    """The hub's side of remote servers, for the spawner (start/poll/stop) and the daemon (Keeper)."""

    def __init__(self, state_dir: Path, docker_client: docker.DockerClient, labels: dict | None = None,
                 sync_every: float = 300, lost_after: float = 60, say=None):
        self.state_dir = Path(state_dir)
        self.docker = docker_client
        self.labels = {**(labels or {}), "localhub.pool": "transfer"}
        self.sync_every, self.lost_after = sync_every, lost_after
        self.ledger = Ledger(self.state_dir)
        self.client = PeerClient(load_lab(self.state_dir), timeout=5.0)
        self.work = pool_dir(self.state_dir) / "transfers"
        self.work.mkdir(exist_ok=True)
        self.say = say or (lambda message: log.info("%s", message))

    async def _blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @contextlib.asynccontextmanager
    async def _lock(self, guest: str):
        """One transfer per guest at a time, across processes (the hub's spawner and the daemon's Keeper)."""
        with open(self.work / f"{guest}.lock", "a") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def choose(self, where: str, ask: dict) -> dict | None:
        """The peer to run on (a live peer view), or None for this desktop."""
        if where == "local":
            return None
        peers = read_live_peers(self.state_dir)
        if where == "auto" and local_fits(ask):
            return None
        reasons = []
        for view in candidates(where, peers):
            try:
                answer = await self.client.offer(address_of(view), ask)
            except PeerError as err:
                reasons.append(f"{peer_name(view)}: {err}")
                continue
            if answer["accept"]:
                return view
            reasons.append(f"{peer_name(view)}: {answer['reason']}")
        if where == "auto":
            self.say("No idle lab peer can take it" + (f" ({'; '.join(reasons)})" if reasons else "")
                     + "; running it on this desktop.")
            return None
        raise LocalhubError(f"Peer '{where}' declined the server: {'; '.join(reasons)}.")

    async def start(self, view: dict, user: str, server: str, volume: str, image: str, ask: dict,
                    env: dict, cmd: list[str], hub: tuple[str, int], progress=None) -> Away:
        """Send the server out. `progress(message)` hears each step (the spawner shows them while it starts)."""
        note = progress or self.say
        peer = address_of(view)
        away = Away(guest=secrets.token_hex(8), user=user, server=server, volume=volume, image=image,
                    peer={**asdict(peer), "name": peer_name(view)})
        self.supersede(user, server)
        self.ledger.put(away)
        try:
            digest = await self._send_image(peer, image, note)
            await self._send_home(peer, away, note)
            note(f"Starting {server or 'the default server'} on {away.peer_name}…")
            answer = await self.client.request(peer, "POST", "/pool/v1/guests", {
                "guest": away.guest, "server": f"{user}/{server}", "image": image,
                "image_id": digest, **ask, "env": env, "cmd": cmd,
                "hub": {"address": hub[0], "port": hub[1]}})
        except BaseException:
            # nothing ran remotely: the home at this hub is still the only one, and current
            self.ledger.remove(away.guest)
            raise
        return self.ledger.update(away.guest, state=RUNNING, address=answer["address"], port=answer["port"],
                                  seen=time.time(), synced=time.time(), remote_state=answer["state"])

    def supersede(self, user: str, server: str) -> None:
        """The server starts again (anywhere) while an earlier run's home is still out: when that home comes
        back, it goes beside the current one, never over it."""
        for earlier in self.ledger.for_server(user, server):
            if earlier.state in (RETURNING, LOST) and not earlier.superseded:
                self.ledger.update(earlier.guest, superseded=True)
                self.say(f"{server}: starts again while its earlier home is still on {earlier.peer_name}; that "
                         "copy will be restored next to this one when it comes back.")

    def _in_use(self, volume: str) -> bool:
        return bool(self.docker.containers.list(filters={"volume": volume}))

    async def _send_image(self, peer: PeerAddress, image: str, note) -> str:
        """Make sure the peer has the image; returns its id."""
        digest = await self._blocking(image_id, self.docker, image)
        if digest is None:
            raise LocalhubError(f"The image {image} is not on this desktop's engine.")
        if (await self.client.request(peer, "GET", f"/pool/v1/images/{digest.split(':')[1]}"))["present"]:
            note(f"The peer already has image {image}.")
            return digest
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            note(f"Packing image {image} for the peer…")
            # saved by id, so the archive carries no tag: loading it never retags an image of the peer's owner
            archive = await self._blocking(save_image, self.docker, digest, Path(tmp) / "image.tar")
            note(f"Sending image {image} ({archive.size / 1e6:.0f} MB) to the peer…")
            began = time.monotonic()
            await self.client.upload(peer, "POST", "/pool/v1/images", archive.path, archive.sha)
            note(f"Image sent and loaded in {time.monotonic() - began:.1f} s.")
        return digest

    async def _send_home(self, peer: PeerAddress, away: Away, note) -> None:
        try:
            await self._blocking(self.docker.volumes.get, away.volume)
        except docker.errors.NotFound:
            return  # a new server: the peer makes its home from the image
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            archive = await self._blocking(archive_volume_home, self.docker, away.volume, away.image,
                                           Path(tmp) / "home.tar", self.labels)
            note(f"Sending the home ({archive.size / 1e6:.1f} MB)…")
            await self.client.upload(peer, "PUT", f"/pool/v1/guests/{away.guest}/home", archive.path, archive.sha)

    async def refresh(self, guest: str) -> None:
        """Ask the peer how the server is (paused? stopped?) and note it, for the server lists."""
        away = self.ledger.get(guest)
        if away is None or away.state != RUNNING:
            return
        status = await self.client.request(away.where, "GET", f"/pool/v1/guests/{guest}")
        self.ledger.update(guest, seen=time.time(), notice=status.get("notice", ""), remote_state=status["state"])

    async def poll(self, guest: str) -> int | None:
        """None while the server runs (or is paused) on the peer; an exit status once it is not."""
        away = self.ledger.get(guest)
        if away is None or away.state != RUNNING:
            return 0
        try:
            status = await self.client.request(away.where, "GET", f"/pool/v1/guests/{guest}")
        except PeerRefused as err:
            if err.code == "no-guest":
                self.ledger.update(guest, state=LOST, notice="the peer no longer knows this server")
                return 1
            raise
        except PeerError as err:
            if time.time() - away.seen > self.lost_after:
                self.ledger.update(guest, state=LOST, notice=f"the peer has been unreachable for over "
                                                             f"{self.lost_after:.0f} s ({err})")
                self.say(f"{away.server}: {away.peer_name} is unreachable; the server counts as lost, and its "
                         f"home as last synced is kept here.")
                return 1
            return None
        self.ledger.update(guest, seen=time.time(), notice=status.get("notice", ""),
                           remote_state=status["state"])
        if status["state"] in ("running", "paused"):
            return None
        self.ledger.update(guest, state=RETURNING)
        await self.bring_home(guest)
        return 0

    async def stop(self, guest: str) -> None:
        """Stop the server on the peer and bring its home back (or leave that to the Keeper, if the peer is
        unreachable now: the last synced copy is already here)."""
        away = self.ledger.update(guest, state=RETURNING)
        if away is None:
            return
        try:
            await self.client.request(away.where, "POST", f"/pool/v1/guests/{guest}/stop")
            await self.bring_home(guest)
        except PeerError as err:
            self.say(f"{away.server}: could not bring the home back from {away.peer_name} now ({err}); it "
                     "will be fetched when the peer answers again.")

    async def bring_home(self, guest: str) -> bool:
        """Fetch the home, restore it, and have the peer forget the guest. True once done."""
        async with self._lock(guest):
            away = self.ledger.get(guest)
            if away is None:
                return True
            target = away.volume
            if away.superseded or await self._blocking(self._in_use, away.volume):
                target = f"{away.volume}--from-{away.peer_name}-{time.strftime('%Y%m%d-%H%M')}"[:200]
            with tempfile.TemporaryDirectory(dir=self.work) as tmp:
                archive = await self.client.download(away.where, f"/pool/v1/guests/{guest}/home",
                                                     Path(tmp) / "home.tar")
                await self._restore(target, away, archive.path)
            await self.client.request(away.where, "DELETE", f"/pool/v1/guests/{guest}")
            self.ledger.remove(guest)
            where = "into its home" if target == away.volume else f"into volume {target} (the server was " \
                                                                    "restarted meanwhile, so it was not overwritten)"
            self.say(f"{away.server}: home back from {away.peer_name} ({archive.size / 1e6:.1f} MB at "
                     f"{archive.rate:.0f} MB/s) {where}.")
            return True

    async def _restore(self, volume: str, away: Away, archive: Path) -> None:
        def restore():
            try:
                self.docker.volumes.get(volume)
            except docker.errors.NotFound:
                self.docker.volumes.create(volume, labels={**self.labels, "localhub.user": away.user,
                                                           "localhub.server": away.server})
            restore_home(self.docker, volume, away.image, archive, self.labels)

        await self._blocking(restore)

    async def sync(self, guest: str) -> None:
        """Copy the running server's home to the local volume (the copy a lost server restarts with)."""
        async with self._lock(guest):
            away = self.ledger.get(guest)
            if away is None or away.state != RUNNING:
                return
            with tempfile.TemporaryDirectory(dir=self.work) as tmp:
                archive = await self.client.download(away.where, f"/pool/v1/guests/{guest}/home",
                                                     Path(tmp) / "home.tar")
                await self._restore(away.volume, away, archive.path)
            self.ledger.update(guest, synced=time.time(), seen=time.time())
            log.info("synced the home of %s from %s (%.1f MB)", away.server, away.peer_name, archive.size / 1e6)

    async def forget_server(self, user: str, server: str) -> None:
        """A deleted server: peers still holding an earlier home of it are told to drop it (when they answer;
        one that does not keeps it, listed as a stopped guest for its owner), and its ledger entries go."""
        for away in self.ledger.for_server(user, server):
            try:
                await self.client.request(away.where, "DELETE", f"/pool/v1/guests/{away.guest}")
            except PeerError as err:
                self.say(f"{server} is deleted, but {away.peer_name} could not be told to drop its copy ({err}).")
            self.ledger.remove(away.guest)


class Keeper:
    """The daemon's loop over the ledger: notes how each server away is (paused, …), syncs running servers'
    homes every `sync_every` seconds, and brings home those left returning or lost once their peer answers."""

    def __init__(self, remote: RemoteServers, every: float = 5.0, longest_wait: float = 300.0):
        self.remote, self.every, self.longest_wait = remote, every, longest_wait
        self._task: asyncio.Task | None = None
        self._retry: dict[str, tuple[float, float]] = {}  # guest -> (next try, current wait): a peer gone
        # for days is asked every few minutes, not every few seconds

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.round()
            except Exception:  # one bad round must not end the keeper; the next one tries again
                log.exception("looking after servers on peers failed")

    async def round(self) -> None:
        now = time.monotonic()
        for away in self.remote.ledger.all():
            next_try, wait = self._retry.get(away.guest, (0.0, self.every))
            if now < next_try:
                continue
            try:
                if away.state in (RETURNING, LOST):
                    await self.remote.bring_home(away.guest)
                elif away.state == RUNNING:
                    await self.remote.refresh(away.guest)  # a paused server's user learns it within seconds
                    if time.time() - (away.synced or 0) >= self.remote.sync_every:
                        await self.remote.sync(away.guest)
                self._retry.pop(away.guest, None)
            except PeerError as err:
                self._retry[away.guest] = (now + wait, min(wait * 2, self.longest_wait))
                log.info("%s on %s: %s (tried again in %.0f s)", away.server, away.peer_name, err, wait)
