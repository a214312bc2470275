"""Fetching the class's environments, for a laptop in a class (classroom.Member): the chunks of all their
layers in one swarm (swarm.py), from every laptop that holds them, then each environment loaded into the
engine and remembered, so that its link launches here with no network. One fetch at a time; a participant
fetches what it lacks by itself (`prefetch`) unless the class_prefetch setting is off.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field

from ..errors import LocalhubError
from . import layers
from .blobs import Blob
from .progress import Progress
from .swarm import Holder, Swarm

# the class's log, as it was before fetching had a module of its own
log = logging.getLogger("localhub.workshop.classroom")

LOST_AFTER = 30.0  # seconds without a chunk before a fetch gives up (what arrived is kept)


@dataclass
class Fetch:
    spec: str
    progress: Progress
    task: asyncio.Task | None = None
    error: str | None = None
    sources: dict = field(default_factory=dict)
    swarm: Swarm | None = None
    took: dict = field(default_factory=dict)  # seconds each step took: "fetch" (the chunks), "load" (the engine)


class ClassFetches:
    def __init__(self, member):
        self.member = member
        self.fetches: dict[str, Fetch] = {}
        self._one_fetch = asyncio.Lock()  # fetches share layers: one at a time, the others queue

    def prefetch(self) -> None:
        if any(f.task and not f.task.done() for f in self.fetches.values()):
            return  # what is missing is fetched in one pass; what the class offers later, after it
        missing = [spec for spec in sorted(self.member.envs) if spec not in self.member.ready
                   and (spec not in self.fetches or self.fetches[spec].error is None)]
        if missing:
            self.start_fetches(missing)

    def holders(self) -> list[Holder]:
        return [Holder(node, s.peer, s.have.get("blobs") or {}, int(s.have.get("uploads") or 0),
                       s.role == "teacher", {sha: set(c) for sha, c in (s.have.get("inflight") or {}).items()})
                for node, s in self.member.peers.items() if s.reachable]

    async def _get_chunk(self, peer, sha: str, index: int) -> bytes:
        """The chunk as `peer` sent it, its answer signed for the chunk's hash in the class's record: the swarm
        checks the bytes against that hash before it keeps them."""
        blob = self.member.class_blobs().get(sha)
        expected = blob.chunks[index] if blob is not None and 0 <= index < blob.chunk_count else None
        return await self.member.net.get_bytes(peer, f"/chunk/{sha}/{index}", timeout=120, sha=expected)

    def start_fetch(self, spec: str) -> Fetch:
        return self.start_fetches([spec])[0]

    def start_fetches(self, specs: list[str]) -> list[Fetch]:
        """Fetch these environments in one pass: the chunks of all their layers in one swarm (a layer they share
        once), then each loaded into the engine. One pass, not one environment after the other: the room's
        laptops pass each other chunks of every environment at once, and the fetch has one end, not one per
        environment (at each end the last chunks are the ones every laptop waits for)."""
        new = []
        for spec in dict.fromkeys(specs):
            fetch = self.fetches.get(spec)
            if fetch is not None and fetch.task is not None and not fetch.task.done():
                continue
            self.fetches[spec] = fetch = Fetch(spec, Progress(f"Fetching {spec} from the class", total=0))
            new.append(fetch)
        if new:
            task = asyncio.ensure_future(self._fetch(new))
            for fetch in new:
                fetch.task = task
        return [self.fetches[spec] for spec in specs]

    async def _fetch(self, fetches: list[Fetch]) -> None:
        if self._one_fetch.locked():
            for fetch in fetches:
                fetch.progress.stage = "waiting for the fetch before it"
        async with self._one_fetch:
            for fetch in fetches:
                fetch.progress.started = time.monotonic()
                fetch.progress.stage = ""
            await self._fetch_now(fetches)

    async def _fetch_now(self, fetches: list[Fetch]) -> None:
        member = self.member
        records = {fetch.spec: member.envs[fetch.spec] for fetch in fetches}
        try:
            blobs = {spec: [Blob.from_dict(b) for b in record["layers"]] for spec, record in records.items()}
            present = await asyncio.to_thread(layers.present_chains, member.client)
            needed: dict[str, list[Blob]] = {}
            for fetch in fetches:
                chains = layers.chain_ids([b.diff_id for b in blobs[fetch.spec]])
                needed[fetch.spec] = [b for b, chain in zip(blobs[fetch.spec], chains) if chain not in present]
                fetch.progress.skipped = sum(b.size for b in blobs[fetch.spec] if b not in needed[fetch.spec])
            swarm = Swarm(member.partials, self.holders, self._get_chunk, seed=member.lab.node, lost_after=LOST_AFTER)
            for fetch in fetches:
                fetch.swarm = swarm
            await swarm.fetch([b for spec in needed for b in needed[spec]], progress_of=lambda blob: [
                fetch.progress for fetch in fetches if blob in needed[fetch.spec]])
            for fetch in fetches:
                fetch.took["fetch"] = round(fetch.progress.seconds, 2)
        except (LocalhubError, OSError) as err:
            for fetch in fetches:
                self._failed(fetch, err)
            return
        sources = {member.peer_name(n): c for n, c in swarm.sources.items()}
        for fetch in fetches:
            # the sources of the pass: the chunks of the environments fetched together are not told apart
            fetch.sources = sources
            try:
                await self._load(fetch, records[fetch.spec], blobs[fetch.spec])
            except (LocalhubError, OSError) as err:
                self._failed(fetch, err)

    async def _load(self, fetch: Fetch, record: dict, blobs: list[Blob]) -> None:
        member = self.member
        fetch.progress.stage = "loading into the engine"
        began = time.monotonic()
        config = base64.b64decode(record["config"])
        item = layers.ToLoad(record["image_id"], (record["image"],), config, [
            (b.diff_id, b.size, b.raw_size, (lambda b=b: open(member.store.path(member.store.get(b.diff_id)), "rb")))
            for b in blobs])
        await asyncio.to_thread(layers.load, member.client, [item])
        fetch.took["load"] = round(time.monotonic() - began, 2)
        member.remember_record(record)
        member.offline.add_fetched({k: record[k] for k in ("spec", "link", "resolved", "image", "image_id")},
                                   ", ".join(sorted(fetch.sources)) or "this laptop's own layers")
        member.ready.add(fetch.spec)
        member.advertiser.set(slots=len(member.ready))
        fetch.progress.finish()
        log.info("fetched %s from the class (%s)", fetch.spec, fetch.sources)

    def _failed(self, fetch: Fetch, err: Exception) -> None:
        fetch.error = str(err)
        fetch.progress.finish()
        log.warning("fetching %s from the class failed: %s", fetch.spec, err)
