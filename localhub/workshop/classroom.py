"""This laptop in a class: its agent and mDNS record, its view of the other laptops (what each has, asked
every second), the class's environments, and fetching them (classfetch.py).

The teacher's laptop offers environments (the links given to `localhub class serve`, or every environment
its hub built or imported): their layers are taken out of the engine into the blob store once, and each is
described by a record (spec, link, resolved commit, image, config, layers with chunk hashes). Participants
learn the records from whoever has them, fetch the layers through the swarm (swarm.py) from every laptop that
holds them, load them into their own engine, and from then on launch those links with no network, and serve
the layers to the others in turn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

from tornado.httpserver import HTTPServer

from .. import __version__
from ..binder import BadLink, parse_link
from ..images.catalog import LABEL_RESOLVED, list_environments
from ..pool.discovery import new_zeroconf
from ..pool.trust.tls import ensure_certificate, server_context
from . import classagent, layers
from .blobs import Blob, BlobStore
from .classcode import Membership
from .classfetch import ClassFetches
from .classnet import ClassAdvertiser, ClassBrowser, ClassClient, PeerUnavailable
from .offline import OfflineLinks
from .swarm import PartialStore

log = logging.getLogger("localhub.workshop.classroom")

POLL_EVERY = 1.0


@dataclass
class PeerState:
    peer: object  # discovery.Peer
    have: dict = field(default_factory=dict)
    seen: float = 0.0
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None and time.time() - self.seen < 10

    @property
    def role(self) -> str:
        return self.have.get("role") or self.peer.state


def valid_record(record: dict) -> bool:
    """A record another laptop sent is used only if it holds together: the config is the image's, and the
    layers are the ones the config names."""
    try:
        config = base64.b64decode(record["config"])
        if "sha256:" + hashlib.sha256(config).hexdigest() != record["image_id"]:
            return False
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        blobs = [Blob.from_dict(b) for b in record["layers"]]
        parse_link(record["link"])
        return [b.diff_id for b in blobs] == diff_ids and all(
            b.chunk_count == max(1, -(-b.size // (4 << 20))) for b in blobs) and bool(record["spec"])
    except (KeyError, ValueError, TypeError, BadLink):
        return False


class Member:
    def __init__(self, settings, client, membership: Membership, address: str, hub_api=None, say=print):
        self.settings, self.client, self.membership, self.address = settings, client, membership, address
        self.hub_api, self.say = hub_api, say
        self.state_root = settings.state_dir
        self.role, self.name = membership.role, membership.name
        self.lab = membership.lab(self.state_root)
        self.store = BlobStore()
        self.partials = PartialStore(self.store)
        self.net = ClassClient(self.lab)
        self.offline = OfflineLinks(self.state_root)
        self.envs: dict[str, dict] = {}
        self.ready: set[str] = set()
        self.preparing: str | None = None  # teacher: what is being taken out of the engine
        self.peers: dict[str, PeerState] = {}
        self.uploads = 0
        self.uploaded = 0
        self._tasks: list[asyncio.Task] = []
        self._server = None
        self._azc = None
        self.advertiser = self.browser = None
        self.fetching = ClassFetches(self)  # the class's environments into this laptop's engine
        from .classwork import ClassWork  # material and hand-ins, which need this member

        self.work = ClassWork(self)

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.partials.load)
        cert, key, fingerprint = await asyncio.to_thread(ensure_certificate, self.state_root, self.lab.node)
        self._server = HTTPServer(classagent.make_app(self), ssl_options=server_context(cert, key),
                                  max_body_size=classagent.MAX_HANDIN)
        self._server.listen(self.settings.class_port, self.address)
        self._azc = new_zeroconf([self.address])
        self.advertiser = ClassAdvertiser(self._azc, self.lab, fingerprint, self.address, self.settings.class_port,
                                          min_interval=1.0, label=self.name)
        self.browser = ClassBrowser(self._azc, self.lab)
        await self.advertiser.start(state=self.role, slots=0, gpu=False)
        await self.browser.start()
        await asyncio.to_thread(self._known_here)
        if self.role == "teacher":
            self._tasks.append(asyncio.ensure_future(self._prepare_offers()))
        self._tasks.append(asyncio.ensure_future(self._poll()))
        self.say(f"Class {self.lab.fingerprint[:8]}: this laptop ({self.name}) takes part as {self.role}, on "
                 f"{self.address}:{self.settings.class_port}.")

    async def stop(self) -> None:
        for task in [*self._tasks, *(f.task for f in self.fetching.fetches.values() if f.task)]:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:
                pass
        if self.browser:
            await self.browser.stop()
        if self.advertiser:
            try:
                await self.advertiser.stop()
            except Exception:  # the LAN may be gone; the record then expires by itself
                pass
        if self._azc:
            await self._azc.async_close()
        if self._server:
            self._server.stop()
            # kept-alive connections would otherwise go on reaching this (stopped) member's answers
            await self._server.close_all_connections()
        await self.net.aclose()

    # --- what this laptop has ---------------------------------------------------------------------------
    def _known_here(self) -> None:
        """Environments fetched from this class earlier (or imported) whose images are in the engine."""
        for link in self.offline.links():
            record = self._record_of_offline(link)
            if record is not None:
                self.envs.setdefault(link.spec, record)
                self.ready.add(link.spec)

    def _record_of_offline(self, link) -> dict | None:
        path = self._record_path(link.spec)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        try:
            if self.client.api.inspect_image(record["image"])["Id"] != record["image_id"]:
                return None
        except Exception:
            return None
        return record

    def _record_path(self, spec: str):
        """Where the class's record of an environment fetched (or offered) here is kept."""
        return self.state_root / "workshop" / "environments" / f"{hashlib.sha256(spec.encode()).hexdigest()[:16]}.json"

    def remember_record(self, record: dict) -> None:
        path = self._record_path(record["spec"])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)

    def class_blobs(self) -> dict[str, Blob]:
        found = {}
        for record in self.envs.values():
            for data in record["layers"]:
                found[data["sha256"]] = Blob.from_dict(data)
        return found

    def have(self) -> dict:
        blobs = {}
        for sha, blob in self.class_blobs().items():
            if self.store.get(blob.diff_id) is not None and self.store.get(blob.diff_id).sha256 == sha:
                blobs[sha] = "all"
        blobs.update({sha: mark for sha, mark in self.partials.availability().items() if sha not in blobs})
        offered = [r for spec, r in self.envs.items() if spec in self.ready]
        return {"node": self.lab.node, "name": self.name, "role": self.role, "version": __version__,
                "environments": offered, "ready": sorted(self.ready), "blobs": blobs,
                "uploads": self.uploads, "uploaded": self.uploaded,
                "fetching": {s: f.progress.to_dict() for s, f in self.fetching.fetches.items()
                             if f.task and not f.task.done()},
                "inflight": {sha: list(chunks) for f in self.fetching.fetches.values() if f.swarm
                             for sha, chunks in f.swarm.inflight.items() if chunks},
                "material": self.work.material_summary()}

    def read_chunk(self, sha: str, index: int) -> tuple[bytes, str] | None:
        """(chunk `index` of blob `sha`, the SHA-256 the class's record gives it), if this laptop has it."""
        blob = self.class_blobs().get(sha)
        if blob is not None:
            stored = self.store.get(blob.diff_id)
            if stored is not None and stored.sha256 == sha and 0 <= index < blob.chunk_count:
                offset, length = blob.chunk_range(index)
                with open(self.store.path(stored), "rb") as f:
                    f.seek(offset)
                    return f.read(length), blob.chunks[index]
        return self.partials.read_chunk(sha, index)

    # --- teacher ------------------------------------------------------------------------------------
    def offer(self, membership: Membership) -> None:
        """Take up a teacher's new list of links without leaving the LAN (same class, same record)."""
        self.membership = membership
        self._tasks.append(asyncio.ensure_future(self._prepare_offers()))

    def _offered(self) -> list[tuple[str, str, str]]:
        """(link, spec, image) of each environment this teacher offers."""
        if self.membership.offers:
            return [(o["link"], o["spec"], o["image"]) for o in self.membership.offers]
        found = {}
        for env in list_environments(self.client, {"localhub.instance": self.settings.instance}):
            found.setdefault(env.spec, (env.spec, env.spec, env.image))
        for link in self.offline.links():
            found.setdefault(link.spec, (link.spec, link.spec, link.image))
        return list(found.values())

    async def _prepare_offers(self) -> None:
        offered = await asyncio.to_thread(self._offered)
        for spec in [s for s in self.envs if s not in {o[1] for o in offered}]:
            self.envs.pop(spec, None)  # no longer offered
            self.ready.discard(spec)
        for link, spec, image in offered:
            if spec in self.ready and self.envs[spec]["image"] == image:
                continue
            self.preparing = spec
            try:
                record = await asyncio.to_thread(self._record_for, link, spec, image)
            except Exception as err:  # one environment that cannot be offered does not stop the others
                log.warning("cannot offer %s to the class: %s", spec, err)
                continue
            self.envs[spec] = record
            self.ready.add(spec)
            self.advertiser.set(slots=len(self.ready))
            log.info("offering %s to the class", spec)
        self.preparing = None

    def _record_for(self, link: str, spec: str, image: str) -> dict:
        exported = layers.export(self.client, [image], self.store)[0]
        labels = self.client.api.inspect_image(image)["Config"].get("Labels") or {}
        record = {"spec": spec, "link": link, "resolved": labels.get(LABEL_RESOLVED, ""),
                  "image": image, "image_id": exported.id,
                  "config": base64.b64encode(self.store.config(exported.id)).decode(),
                  "layers": [b.to_dict() for b in exported.layers]}
        self.remember_record(record)
        return record

    # --- everyone -----------------------------------------------------------------------------------
    async def _poll(self) -> None:
        while True:
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bad answer from one laptop must not stop the class
                log.warning("class poll failed: %s", err)
            await asyncio.sleep(POLL_EVERY)

    async def _poll_once(self) -> None:
        peers = {p.node: p for p in self.browser.peers.values()}
        for node in list(self.peers):
            if node not in peers:
                del self.peers[node]

        async def ask(peer):
            state = self.peers.setdefault(peer.node, PeerState(peer))
            state.peer = peer
            try:
                state.have = await self.net.get_json(peer, "/have")
                state.seen, state.error = time.time(), None
            except PeerUnavailable as err:
                state.error = str(err)

        await asyncio.gather(*(ask(p) for p in peers.values()))
        for state in self.peers.values():
            for record in state.have.get("environments") or []:
                if record.get("spec") not in self.envs and valid_record(record):
                    self.envs[record["spec"]] = record
        if self.role == "participant":
            if self.settings.class_prefetch:
                self.fetching.prefetch()
            await self.work.tick()

    def peer_name(self, node: str) -> str:
        state = self.peers.get(node)
        return (state.have.get("name") if state else None) or node

    async def provide(self, launch):
        """For the launcher (resolver.py): the environment from the class, fetched now if need be."""
        spec = launch.spec
        if spec not in self.envs:
            return
        record = self.envs[spec]
        if spec not in self.ready:
            fetch = self.fetching.start_fetch(spec)
            yield {"phase": "fetching", "message": f"{spec} is one of the class's environments: fetching it from "
                                                   "the laptops that have it, instead of building it.\n"}
            while not fetch.task.done():
                await asyncio.wait([fetch.task], timeout=1.0)
                if not fetch.task.done():
                    yield {"phase": "fetching", "message": fetch.progress.line() + "\n",
                           "progress": fetch.progress.fraction}
            if fetch.error:
                yield {"phase": "failed", "message": f"Fetching {spec} from the class failed: {fetch.error}\n"}
                return
        yield {"phase": "waiting", "message": f"{spec} is the class's environment (the teacher's build of "
                                              f"{record['resolved'][:12]}), here with no network needed.\n"}
        yield record["resolved"]

    def status(self) -> dict:
        peers = [{"name": s.have.get("name") or s.peer.name.split(".")[0], "node": node, "address": s.peer.address,
                  "role": s.role, "reachable": s.reachable, "error": s.error, "seen": s.seen,
                  "ready": s.have.get("ready") or [], "fetching": s.have.get("fetching") or {},
                  "uploads": s.have.get("uploads", 0), "uploaded": s.have.get("uploaded", 0)}
                 for node, s in sorted(self.peers.items(), key=lambda kv: kv[1].peer.name)]
        envs = []
        for spec, record in sorted(self.envs.items()):
            fetch = self.fetching.fetches.get(spec)
            envs.append({"spec": spec, "link": record["link"], "resolved": record["resolved"],
                         "image": record["image"], "size": sum(b["size"] for b in record["layers"]),
                         "ready": spec in self.ready,
                         "fetching": fetch.progress.to_dict() if fetch and fetch.task and not fetch.task.done()
                         else None,
                         "error": fetch.error if fetch else None,
                         "sources": fetch.sources if fetch else {},
                         "took": fetch.took if fetch else {},
                         "last": fetch.progress.to_dict() if fetch and fetch.task and fetch.task.done() else None})
        return {"role": self.role, "name": self.name, "class": self.lab.fingerprint, "node": self.lab.node,
                "code": self.membership.code if self.role == "teacher" else None,
                "address": self.address, "port": self.settings.class_port, "preparing": self.preparing,
                "peers": peers, "environments": envs, "uploaded": self.uploaded, **self.work.status()}
