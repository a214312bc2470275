"""Guests on this desktop: servers other lab members run here, under this owner's rules.

A guest is one hardened container of the image its hub sent, with its home on a volume of its own and its
port published on this desktop's LAN address only. Its server speaks only TLS, with a key made here for it
alone and the hub's authority (sent in the run request) as the only one whose callers it accepts and whose
door (the hub's API) it trusts: nothing between the hub and the guest crosses the LAN in clear (trust/tls.py). Whatever the request says, the container gets the
owner's hardening: no privileges, every capability dropped, no new privileges, pids and memory capped, CPU
no more than the owner shares, no host path, the isolated guests' network (isolation.py).

Life of a guest: `running` -> `paused` (the owner came back: frozen at once) -> `running` again if the
owner leaves within the grace period, else `evicted` (stopped; its home waits) -> forgotten once its hub
has taken the home back. A home is never removed before its hub says it has it. Records live in
`<state>/pool/guests.json`, so a restarted daemon finds its guests (the containers keep running meanwhile).

The run request and the guest's TLS files are guest_request.py's; the record and its states guest_record.py's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError
from ...hub.identity import is_root
from ...state import write_atomic
from . import isolation
from .guest_record import EVICTED, PAUSED, RUNNING, STOPPED, Guest, recorded
from .guest_request import GuestRefused, tls_env, tls_files
from .machine import CpuMeter
from ..away.archives import HOME, ensure_volume, load_image, restore_home
from ..away.home_reader import Reader, home_stream, start_reader
from ..away.tar_helpers import remove_helper, sweep
from ..trust.keys import pool_dir

log = logging.getLogger("localhub.pool.host.guests")
PORT = 8888


class GuestRunner:
    """This desktop's guests, on its own engine. Blocking (Docker calls): the agent runs it in threads."""

    def __init__(self, client: docker.DockerClient, state_dir: Path, address: str, labels: dict | None = None):
        self.client, self.address = client, address
        self.labels = {**(labels or {}), "localhub.pool": "guest"}
        self.path = pool_dir(Path(state_dir)) / "guests.json"
        self.images_path = pool_dir(Path(state_dir)) / "images.json"
        self.incoming = pool_dir(Path(state_dir)) / "incoming"
        self.incoming.mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self._readers: dict[str, Future] = {}  # guest id -> the helper to read its home, started at its stop
        self._starting = ThreadPoolExecutor(2, thread_name_prefix="home-reader")
        self.cpu_meter, self.cpu_used = CpuMeter(), 0.0
        self.guests: dict[str, Guest] = self._load()
        self.isolation_problem = isolation.why_unavailable()
        if self.guests and not self.isolation_problem:
            self._apply_isolation()

    # --- records ---------------------------------------------------------------------------------
    def _load(self) -> dict[str, Guest]:
        return recorded(self.path.parent.parent)

    def _save(self) -> None:
        write_atomic(self.path, json.dumps([g.to_dict() for g in self.guests.values()], indent=2) + "\n")

    def get(self, guest_id: str) -> Guest:
        guest = self.guests.get(guest_id)
        if guest is None:
            raise GuestRefused(f"No guest {guest_id} on this desktop.", "no-guest", 404)
        return guest

    def measure_cpu(self) -> float:
        """CPUs the guests actually use (averaged like the load, machine.CpuMeter), from the CPU time their
        containers' cgroups count (read through the engine, which knows where each cgroup is). Called every
        tick of the owner's watch; `cpu_used` keeps the figure for readers that must not wait on the engine."""
        totals = {}
        for guest in [g for g in self.guests.values() if g.state == RUNNING]:
            try:
                stats = self.client.api.stats(guest.container, stream=False, one_shot=True)
                totals[guest.id] = stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
            except (docker.errors.APIError, KeyError, TypeError):
                continue  # gone or not started: it uses no CPU
        self.cpu_used = self.cpu_meter.feed(time.monotonic(), totals)
        return self.cpu_used

    def in_use(self) -> dict:
        """Resources held by guests that are not yet evicted (what the owner's limits are counted against)."""
        live = [g for g in self.guests.values() if g.state in (RUNNING, PAUSED)]
        return {"cpus": sum(g.cpus for g in live), "memory": sum(g.memory for g in live),
                "storage": sum(g.storage for g in self.guests.values())}

    def _set(self, guest: Guest, state: str, notice: str = "") -> None:
        guest.state, guest.since, guest.notice = state, time.time(), notice
        self._save()
        log.info("guest %s (%s from node %s) is now %s%s", guest.id, guest.server, guest.hub_node, state,
                 f": {notice}" if notice else "")

    # --- arrivals ------------------------------------------------------------------------------
    # Guests run only images that lab members sent through the agent: never the owner's own images, which
    # may hold things a guest should not read.
    def _received(self) -> set[str]:
        try:
            return set(json.loads(self.images_path.read_text()))
        except (OSError, ValueError):
            return set()

    def has_image(self, image_id: str) -> bool:
        if image_id not in self._received():
            return False
        try:
            self.client.images.get(image_id)
            return True
        except docker.errors.ImageNotFound:
            return False

    def load_image(self, path: Path) -> None:
        with self._lock:
            try:
                loaded = load_image(self.client, path)
            except LocalhubError as err:
                raise GuestRefused(str(err), "load-failed", 500) from None
            received = self._received() | set(loaded)
            write_atomic(self.images_path, json.dumps(sorted(received)) + "\n")

    def home_path(self, guest_id: str) -> Path:
        return self.incoming / f"{guest_id}-home.tar"

    def run(self, request: dict, hub_node: str, limits: dict) -> Guest:
        """Start a guest. `limits` are what the owner lets this guest have (cpus, memory), already judged."""
        if self.isolation_problem:
            raise GuestRefused(f"This desktop takes no guests: {self.isolation_problem}.", "no-isolation", 503)
        with self._lock:
            if request["guest"] in self.guests:
                raise GuestRefused(f"Guest {request['guest']} already exists here.", "exists", 409)
            image = request["image_id"]
            if not image or not self.has_image(image):
                raise GuestRefused(f"This desktop has not received the image {request['image']} through the pool "
                                   "yet; send it first (guests run only images sent to this desktop).",
                                   "no-image", 409)
            if is_root((self.client.images.get(image).attrs.get("Config") or {}).get("User")):
                raise GuestRefused(f"The image {request['image']} runs as root; this desktop runs guests only as "
                                   "an ordinary user (Binder and localhub images do).", "root-image", 403)
            guest = Guest(id=request["guest"], hub_node=hub_node, server=request["server"], image=image,
                          cpus=min(request["cpus"], limits["cpus"]), memory=min(request["memory"], limits["memory"]),
                          storage=request["storage"], hub=request["hub"], address=self.address)
            self.guests[guest.id] = guest
            self._save()
        labels = {**self.labels, "localhub.guest": guest.id}
        try:
            ensure_volume(self.client, guest.volume, labels)
            home = self.home_path(guest.id)
            if home.exists():
                restore_home(self.client, guest.volume, image, home, labels)
                home.unlink()
            self._apply_isolation()
            tls, guest.cert = tls_files(guest.id, request["tls_ca"])
            container = self.client.containers.create(
                image, command=request["cmd"] or None, name=guest.container, detach=True, labels=labels,
                environment={**request["env"], **tls_env()}, network=isolation.ensure_network(self.client),
                ports={f"{PORT}/tcp": (self.address, 0)}, volumes={guest.volume: {"bind": HOME, "mode": "rw"}},
                working_dir=HOME, privileged=False, cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
                pids_limit=1024, mem_limit=guest.memory, memswap_limit=guest.memory,
                nano_cpus=int(guest.cpus * 1e9))
            container.put_archive("/", tls)
            container.start()
            container.reload()
            guest.port = int(container.ports[f"{PORT}/tcp"][0]["HostPort"])
        except (docker.errors.APIError, isolation.IsolationError, LocalhubError) as err:
            self._discard_failed(guest)
            raise GuestRefused(f"The guest could not start here: {err}", "start-failed", 500) from None
        self._set(guest, RUNNING)
        return guest

    def _discard_failed(self, guest: Guest) -> None:
        """A guest that never ran is removed whole: its hub still has the original of any home it sent."""
        for remove in (lambda: self.client.containers.get(guest.container).remove(force=True),
                       lambda: self.client.volumes.get(guest.volume).remove(force=True)):
            try:
                remove()
            except docker.errors.NotFound:
                pass
        with self._lock:
            self.guests.pop(guest.id, None)
            self._save()

    def _apply_isolation(self) -> None:
        isolation.ensure_network(self.client)
        isolation.apply({g.hub for g in self.guests.values()})

    # --- the owner's side ----------------------------------------------------------------------
    def _container(self, guest: Guest):
        try:
            return self.client.containers.get(guest.container)
        except docker.errors.NotFound:
            return None

    def pause(self, guest: Guest, why: str) -> None:
        if guest.state != RUNNING:
            return
        container = self._container(guest)
        if container is not None and container.status == "running":
            container.pause()
        guest.paused_at = time.time()
        self._set(guest, PAUSED, why)

    def resume(self, guest: Guest) -> None:
        if guest.state != PAUSED:
            return
        container = self._container(guest)
        if container is not None and container.status == "paused":
            container.unpause()
        guest.paused_at = None
        self._set(guest, RUNNING)

    def _stop_container(self, guest: Guest) -> None:
        container = self._container(guest)
        if container is not None:
            if container.status == "paused":
                container.unpause()
            container.stop(timeout=10)

    def evict(self, guest: Guest, why: str) -> None:
        """The owner needs the desktop: stop the guest; its home stays in its volume until its hub takes it."""
        if guest.state in (EVICTED, STOPPED):
            return
        self._stop_container(guest)
        self._set(guest, EVICTED, why)

    def stop(self, guest: Guest) -> None:
        """Its hub asked (the user stopped the server): stop it; the home waits for the hub likewise. The hub
        asks for the home next: the helper that will read it is started while the server stops."""
        if guest.state not in (EVICTED, STOPPED):
            with self._lock:
                if guest.id not in self._readers:
                    self._readers[guest.id] = self._starting.submit(
                        start_reader, self.client, guest.volume, guest.image, self._transfer_labels, self.incoming)
            self._stop_container(guest)
            self._set(guest, STOPPED, "stopped at its hub's request")

    def evict_all(self, why: str) -> int:
        """The owner stops localhub: every guest stops now (its home waits for its hub); returns how many."""
        with self._lock:
            live = [g for g in self.guests.values() if g.state in (RUNNING, PAUSED)]
            for guest in live:
                self.evict(guest, why)
        return len(live)

    def drop_unclaimed_uploads(self, older_than: float) -> list[str]:
        """Homes sent ahead of a run that never came, and uploads cut off half-way, once older than
        `older_than` seconds (their hubs still have the originals); returns the files removed."""
        removed = []
        now = time.time()
        for path in [*self.incoming.glob("*-home.tar"), *self.incoming.glob("upload-*.part")]:
            guest = path.name.split("-", 1)[0]
            try:
                if guest in self.guests or now - path.stat().st_mtime < older_than:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path.name)
            log.info("removed %s: a home sent for a guest that never ran here (its hub keeps the original)",
                     path.name)
        return removed

    def follow_owner(self, accepting: bool, reason: str, grace: float) -> None:
        """Called on every reading of the owner's state: pause at once, resume, or evict after `grace` s."""
        with self._lock:
            for guest in list(self.guests.values()):
                if not accepting and guest.state == RUNNING:
                    self.pause(guest, f"paused: {reason}; the server stops and its files go home in "
                                      f"{grace / 60:.0f} min unless the desktop is free again")
                elif accepting and guest.state == PAUSED:
                    self.resume(guest)
                elif guest.state == PAUSED and time.time() - (guest.paused_at or 0) >= grace:
                    self.evict(guest, f"stopped after {grace / 60:.0f} min: {reason}; its files are on their "
                                      "way home")

    def refresh(self, guest: Guest) -> Guest:
        """Notice a guest container that ended on its own (crashed, or its server shut down when idle)."""
        if guest.state in (RUNNING, PAUSED):
            container = self._container(guest)
            if container is None or container.status in ("exited", "dead", "created"):
                self._set(guest, STOPPED, "the server's container ended")
        return guest

    # --- going home ----------------------------------------------------------------------------
    def sweep(self) -> None:
        """When the agent starts (no home is on its way out yet): what homes sent by a killed daemon left."""
        if removed := sweep(self.client, self.incoming):
            log.info("removed %d helper containers and folders left by homes sent from an earlier run that was "
                     "stopped abruptly", removed)

    @property
    def _transfer_labels(self) -> dict:
        return {**self.labels, "localhub.pool": "transfer"}  # a helper reading a home is no guest

    def _prepared(self, guest: Guest) -> Reader | None:
        """The helper started for the guest's home while it stopped, if it started."""
        with self._lock:
            starting = self._readers.pop(guest.id, None)
        try:
            return starting.result() if starting is not None else None
        except (docker.errors.APIError, LocalhubError, OSError) as err:
            log.warning("the helper to read the home of guest %s did not start (%s); trying again", guest.id, err)
            return None

    def home_stream(self, guest: Guest):
        """The guest's home now, as tar chunks read while they are sent (a context manager, home_reader.py)."""
        return home_stream(self.client, guest.volume, guest.image, self._transfer_labels, self.incoming,
                           self._prepared(guest))

    def _remove_home(self, volume: str) -> None:
        """The helper that read the home for its hub may still mount the volume: the stream's end does not
        wait for its removal (home_reader.home_stream), so a hub that has its home asks to forget it at once.
        That helper's work is done: it goes first."""
        for helper in self.client.containers.list(all=True, ignore_removed=True,
                                                  filters={"volume": volume, "label": "localhub.pool=transfer"}):
            remove_helper(helper)
        try:
            self.client.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass

    def forget(self, guest: Guest) -> None:
        """The hub has the home: remove the container and the volume."""
        container = self._container(guest)
        if container is not None:
            container.remove(force=True)
        if (unused := self._prepared(guest)) is not None:
            unused.close()
        self._remove_home(guest.volume)
        with self._lock:
            self.guests.pop(guest.id, None)
            self._save()
            if not self.isolation_problem:
                self._apply_isolation()
        log.info("guest %s (%s) is gone from this desktop: its hub has its home", guest.id, guest.server)
