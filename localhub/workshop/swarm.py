"""Fetching layers from the class: chunk by chunk, from whichever laptops have them, so that the teacher's
uplink is not the bottleneck (a laptop serves the chunks it has received while it still receives others).

PartialStore keeps a blob being received as a file of its final size plus the list of chunks it holds, both
on disk: a fetch broken off (the LAN lost, the laptop closed) resumes where it stopped. Each chunk is checked
against its SHA-256 from the class's record before it is kept, and the whole blob against its own before it
joins the blob store.

Swarm picks, while fewer than `concurrency` requests are out: the rarest chunk still needed, counting the
laptops that hold it and those fetching it right now (every laptop tells the others which chunks it is
fetching), so that the teacher sends each chunk to one laptop and the laptops pass it on; ties broken at
random (laptops start in different places). It comes from the holder with the least load (its own uploads,
ours to it, an extra for the teacher); a chunk that another laptop holds or is fetching is asked of the
teacher only when nothing else can be asked and this laptop has nothing else coming (at the end of a fetch,
or while the laptops that have it are busy): a second copy on the teacher's uplink slows every chunk nobody
has yet. A busy or failing peer is set aside for a moment; when no chunk has arrived for `lost_after` seconds
and no peer holds what is missing, the fetch fails in one sentence and can be run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import LocalhubError
from ..profiles import format_size
from .blobs import Blob, BlobStore
from .progress import Progress

log = logging.getLogger("localhub.workshop.swarm")


class FetchFailed(LocalhubError):
    pass


class PartialStore:
    def __init__(self, store: BlobStore):
        self.store = store
        self.root = store.root / "partial"
        self._have: dict[str, list[bool]] = {}
        self._blobs: dict[str, Blob] = {}

    def _paths(self, blob: Blob) -> tuple[Path, Path]:
        return self.root / f"{blob.sha256}.zst", self.root / f"{blob.sha256}.json"

    def load(self) -> None:
        """Pick up blobs left half-received by an earlier run."""
        for record in self.root.glob("*.json"):
            try:
                data = json.loads(record.read_text())
                blob = Blob.from_dict(data["blob"])
                have = [c == "1" for c in data["have"]]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if len(have) == blob.chunk_count and self._paths(blob)[0].exists():
                self._blobs[blob.sha256], self._have[blob.sha256] = blob, have

    def begin(self, blob: Blob) -> list[bool]:
        if blob.sha256 not in self._have:
            self.root.mkdir(parents=True, exist_ok=True)
            data, _ = self._paths(blob)
            with open(data, "ab") as f:
                f.truncate(blob.size)
            self._blobs[blob.sha256], self._have[blob.sha256] = blob, [False] * blob.chunk_count
            self._save(blob)
        return self._have[blob.sha256]

    def _save(self, blob: Blob) -> None:
        _, record = self._paths(blob)
        tmp = record.with_name(f".{record.name}.tmp")
        tmp.write_text(json.dumps({"blob": blob.to_dict(),
                                   "have": "".join("1" if h else "0" for h in self._have[blob.sha256])}))
        os.replace(tmp, record)

    def has(self, blob: Blob, index: int) -> bool:
        have = self._have.get(blob.sha256)
        return bool(have and have[index])

    def write(self, blob: Blob, index: int, data: bytes) -> bool:
        """Keep chunk `index` if it is the right bytes; False (and nothing kept) otherwise."""
        if hashlib.sha256(data).hexdigest() != blob.chunks[index]:
            return False
        offset, length = blob.chunk_range(index)
        if len(data) != length:
            return False
        path, _ = self._paths(blob)
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        self._have[blob.sha256][index] = True
        self._save(blob)
        return True

    def complete(self, blob: Blob) -> Blob:
        """Move a fully received blob into the store after checking its whole hash."""
        path, record = self._paths(blob)
        with open(path, "rb") as f:
            whole = hashlib.file_digest(f, "sha256").hexdigest()
        if whole != blob.sha256:  # every chunk checked out, so this is a disk that lies
            self.discard(blob)
            raise FetchFailed(f"layer {blob.diff_id[:19]} was received whole but does not match its hash; "
                              "fetch it again.")
        kept = self.store.put(blob, path)
        path.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        self._have.pop(blob.sha256, None)
        self._blobs.pop(blob.sha256, None)
        return kept

    def discard(self, blob: Blob) -> None:
        for path in self._paths(blob):
            path.unlink(missing_ok=True)
        self._have.pop(blob.sha256, None)
        self._blobs.pop(blob.sha256, None)

    def availability(self) -> dict[str, str]:
        """sha -> "1010…": the chunks of each blob being received that this laptop can already serve."""
        return {sha: "".join("1" if h else "0" for h in have) for sha, have in self._have.items() if any(have)}

    def read_chunk(self, sha: str, index: int) -> tuple[bytes, str] | None:
        """(chunk `index` of a blob being received, its SHA-256), if it is here (it was checked as it came)."""
        blob, have = self._blobs.get(sha), self._have.get(sha)
        if blob is None or not have or not 0 <= index < len(have) or not have[index]:
            return None
        offset, length = blob.chunk_range(index)
        with open(self._paths(blob)[0], "rb") as f:
            f.seek(offset)
            return f.read(length), blob.chunks[index]


@dataclass
class Holder:
    """A peer as the swarm sees it: which chunks it holds (sha -> "all" or a bitmap) and how busy it is."""

    key: str  # the peer's node id
    peer: object  # discovery.Peer, handed to `get_chunk`
    blobs: dict[str, str]
    uploads: int = 0
    teacher: bool = False
    fetching: dict[str, set[int]] = field(default_factory=dict)  # sha -> chunks it is fetching right now

    def holds(self, blob: Blob, index: int) -> bool:
        mark = self.blobs.get(blob.sha256)
        return mark == "all" or (mark is not None and index < len(mark) and mark[index] == "1")

    def is_fetching(self, blob: Blob, index: int) -> bool:
        return index in self.fetching.get(blob.sha256, ())


@dataclass
class _Slot:
    blob: Blob
    index: int
    holder: Holder
    task: asyncio.Task = field(default=None)  # type: ignore[assignment]


class Swarm:
    """`fetch(blobs)`: every chunk of every blob, from `holders()` (the class's current view), through
    `get_chunk(peer, sha, index) -> bytes`."""

    def __init__(self, partials: PartialStore, holders: Callable[[], list[Holder]], get_chunk,
                 concurrency: int = 4, per_peer: int = 2, lost_after: float = 30.0, seed: str = ""):
        self.partials, self.holders, self.get_chunk = partials, holders, get_chunk
        self.concurrency, self.per_peer, self.lost_after = concurrency, per_peer, lost_after
        self.random = random.Random(seed or os.urandom(8))
        self.sources: dict[str, int] = {}  # node -> chunks received from it (for the report)
        self.inflight: dict[str, list[int]] = {}  # sha -> chunks being fetched now (told to the other laptops)
        self._resting: dict[str, float] = {}  # node -> until when it is set aside

    async def fetch(self, blobs: list[Blob], progress: Progress | None = None,
                    on_progress: Callable[[Progress], None] | None = None,
                    progress_of: Callable[[Blob], list[Progress]] | None = None) -> list[Blob]:
        """Every blob, in one pass (the chunks of all of them in one choice). Bytes are counted in `progress`,
        or in each Progress `progress_of(blob)` names (several environments fetched together)."""
        counts = progress_of or (lambda blob: [progress] if progress is not None else [])
        blobs = list({b.sha256: b for b in blobs}.values())  # a layer may come twice in one image
        todo = [b for b in blobs if self.partials.store.get(b.diff_id) is None]
        for blob in todo:
            await asyncio.to_thread(self.partials.begin, blob)
        for blob in blobs:
            resumed = sum(blob.chunk_range(i)[1] for i in range(blob.chunk_count) if self.partials.has(blob, i))
            for counted in counts(blob):
                if blob in todo:
                    counted.total += blob.size - resumed
                    counted.skipped += resumed
                else:
                    counted.skipped += blob.size
        need = [(b, i) for b in todo for i in range(b.chunk_count) if not self.partials.has(b, i)]
        self.random.shuffle(need)
        out: dict[tuple[str, int], _Slot] = {}
        last_arrival = time.monotonic()
        try:
            while need or out:
                holders = self.holders()
                now = time.monotonic()
                while len(out) < self.concurrency:
                    slot = self._pick(need, out, holders, now)
                    if slot is None:
                        break
                    need.remove((slot.blob, slot.index))
                    slot.task = asyncio.ensure_future(self.get_chunk(slot.holder.peer, slot.blob.sha256, slot.index))
                    out[(slot.blob.sha256, slot.index)] = slot
                    self.inflight.setdefault(slot.blob.sha256, []).append(slot.index)
                if not out:
                    if time.monotonic() - last_arrival > self.lost_after:
                        missing = sum(b.chunk_range(i)[1] for b, i in need)
                        raise FetchFailed(f"No laptop of the class has given anything for {self.lost_after:.0f} s "
                                          f"({format_size(missing)} still missing): the class LAN is out of reach. "
                                          "What arrived is kept; fetching again resumes there.")
                    await asyncio.sleep(0.3)
                    continue
                done, _ = await asyncio.wait([s.task for s in out.values()], timeout=1.0,
                                             return_when=asyncio.FIRST_COMPLETED)
                for key in [k for k, s in out.items() if s.task in done]:
                    slot = out.pop(key)
                    self.inflight[slot.blob.sha256].remove(slot.index)
                    data = None
                    try:
                        data = slot.task.result()
                    except LocalhubError as err:
                        busy = getattr(err, "status", None) == 503
                        self._resting[slot.holder.key] = time.monotonic() + (0.2 if busy else 3.0)
                        if not busy:
                            log.info("chunk %s/%d from %s failed: %s", slot.blob.sha256[:12], slot.index,
                                     slot.holder.key, err)
                    if data is not None and await asyncio.to_thread(self.partials.write, slot.blob, slot.index, data):
                        last_arrival = time.monotonic()
                        self.sources[slot.holder.key] = self.sources.get(slot.holder.key, 0) + 1
                        for counted in counts(slot.blob):
                            counted.add(len(data))
                            if on_progress:
                                on_progress(counted)
                    else:
                        if data is not None:
                            self._resting[slot.holder.key] = time.monotonic() + 3.0  # sent wrong bytes
                        need.append((slot.blob, slot.index))
        finally:
            self.inflight.clear()
            for slot in out.values():
                slot.task.cancel()
        return [await asyncio.to_thread(self.partials.complete, b) for b in todo]

    def _pick(self, need, out, holders: list[Holder], now: float) -> _Slot | None:
        ours: dict[str, int] = {}
        for slot in out.values():
            ours[slot.holder.key] = ours.get(slot.holder.key, 0) + 1
        ready = [h for h in holders if self._resting.get(h.key, 0) <= now and ours.get(h.key, 0) < self.per_peer]
        best = None
        for blob, index in need:
            if (blob.sha256, index) in out:
                continue
            usable = [h for h in ready if h.holds(blob, index)]
            if not usable:
                continue
            holder = min(usable, key=lambda h: (h.uploads + 2 * ours.get(h.key, 0) + (3 if h.teacher else 0),
                                                self.random.random()))
            spread = [h for h in holders if h.holds(blob, index) or h.is_fetching(blob, index)]
            # the teacher again for a chunk a laptop has or is getting: only when nothing better is left, and
            # only to a laptop that has nothing else coming (it would wait idle): the teacher's uplink is the one
            # the whole room waits on, and a second copy there slows the chunks nobody has yet
            again = holder.teacher and any(not h.teacher for h in spread)
            if again and out:
                continue
            rank = (again, len(spread))
            if best is None or rank < best[0]:
                best = (rank, blob, index, holder)
                if rank == (False, 1):
                    break
        if best is None:
            return None
        return _Slot(best[1], best[2], best[3])
