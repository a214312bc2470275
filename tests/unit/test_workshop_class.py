"""The class's decisions without a LAN: codes as typed on laptops, and the swarm that fetches layers chunk by
chunk from whichever laptops have them (peers faked in memory: slow, busy, lying, gone)."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
import zstandard

from localhub.errors import LocalhubError
from localhub.workshop import classcode
from localhub.workshop.blobs import CHUNK, BlobStore
from localhub.workshop.classnet import PeerUnavailable
from localhub.workshop.progress import Progress
from localhub.workshop.swarm import FetchFailed, Holder, PartialStore, Swarm

pytestmark = pytest.mark.unit


# --- codes ----------------------------------------------------------------------------------------

def test_a_code_is_read_however_it_is_typed():
    code = classcode.new_code()
    assert len(code) == 19 and code.count("-") == 3
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert classcode.normalise(typed) == code
    assert classcode.class_key(typed) == classcode.class_key(code) != classcode.class_key(classcode.new_code())


@pytest.mark.parametrize("typed, complaint", [("K7Q4-M2PX-9DRT", "has 12"), ("K7Q4-M2PX-9DRT-H8W!", "no '!'"),
                                              ("\x1b[31mK7Q4-M2PX-9DRT-H8WC", "no '\\\\x1b'")])
def test_a_mistyped_code_gets_one_sentence(typed, complaint):
    with pytest.raises(LocalhubError, match=complaint):
        classcode.normalise(typed)


def test_names_are_checked():
    assert classcode.participant_name("  Ada   Lovelace ") == "Ada Lovelace"
    for bad in ("", "a" * 41, "../etc", "x\x1b[2Jy", "ada@home"):
        with pytest.raises(LocalhubError):
            classcode.participant_name(bad)


# --- the swarm ------------------------------------------------------------------------------------

def make_blob(store: BlobStore, tmp_path, size: int, seed: int):
    raw = os.urandom(size)  # incompressible: the blob spans several chunks
    source = tmp_path / f"raw{seed}"
    source.write_bytes(raw)
    other = BlobStore(tmp_path / f"elsewhere{seed}")
    with open(source, "rb") as f:
        blob = other.compress(f, raw_size=len(raw))
    return blob, other.path(blob).read_bytes()


class Peer:
    """A laptop in memory: it holds some chunks; it may be busy, gone, or send wrong bytes."""

    def __init__(self, key, data: dict, have: dict, teacher=False, lie=False, gone=False, busy=0):
        self.key, self.data, self.have, self.teacher = key, data, have, teacher
        self.lie, self.gone, self.busy, self.asked = lie, gone, busy, []

    def holder(self):
        return Holder(self.key, self, self.have, 0, self.teacher)

    async def chunk(self, sha, index):
        self.asked.append(index)
        await asyncio.sleep(0.001)
        if self.gone:
            raise PeerUnavailable(f"{self.key} did not answer")
        if self.busy:
            self.busy -= 1
            raise PeerUnavailable("busy", 503)
        data = self.data[sha][index * CHUNK:(index + 1) * CHUNK]
        return b"x" * len(data) if self.lie else data


def run(swarm, blobs, progress=None):
    return asyncio.run(swarm.fetch(blobs, progress))


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "store")


def test_every_chunk_arrives_checked_from_many_peers(store, tmp_path):
    blob, data = make_blob(store, tmp_path, 3 * CHUNK + 1000, 1)
    teacher = Peer("t", {blob.sha256: data}, {blob.sha256: "all"}, teacher=True)
    half = "".join("1" if i % 2 else "0" for i in range(blob.chunk_count))
    laptop = Peer("l", {blob.sha256: data}, {blob.sha256: half})
    liar = Peer("x", {blob.sha256: data}, {blob.sha256: "all"}, lie=True)
    busy = Peer("b", {blob.sha256: data}, {blob.sha256: "all"}, busy=3)
    peers = {p.key: p for p in (teacher, laptop, liar, busy)}
    swarm = Swarm(PartialStore(store), lambda: [p.holder() for p in peers.values()],
                  lambda peer, sha, i: peer.chunk(sha, i), concurrency=3)
    progress = Progress("fetch", 0)
    [kept] = run(swarm, [blob], progress)
    assert store.path(kept).read_bytes() == data and kept.sha256 == hashlib.sha256(data).hexdigest()
    assert progress.done == blob.size and sum(swarm.sources.values()) == blob.chunk_count
    assert "x" not in swarm.sources  # the liar's bytes were never kept
    assert not list((store.root / "partial").glob("*.zst"))


def test_a_fetch_resumes_with_what_it_had(store, tmp_path):
    blob, data = make_blob(store, tmp_path, 4 * CHUNK, 2)
    partials = PartialStore(store)
    partials.begin(blob)
    assert partials.write(blob, 0, data[:CHUNK]) and partials.write(blob, 2, data[2 * CHUNK:3 * CHUNK])
    assert not partials.write(blob, 1, b"\0" * CHUNK)  # a wrong chunk is never kept
    teacher = Peer("t", {blob.sha256: data}, {blob.sha256: "all"}, teacher=True)
    again = PartialStore(store)
    again.load()  # a new daemon finds the half-fetched blob
    swarm = Swarm(again, lambda: [teacher.holder()], lambda peer, sha, i: peer.chunk(sha, i))
    progress = Progress("fetch", 0)
    run(swarm, [blob], progress)
    assert sorted(teacher.asked) == [i for i in range(blob.chunk_count) if i not in (0, 2)]
    assert progress.skipped == 2 * CHUNK
    assert store.path(store.get(blob.diff_id)).read_bytes() == data


def test_no_one_holding_the_rest_fails_in_one_sentence_and_keeps_what_came(store, tmp_path):
    blob, data = make_blob(store, tmp_path, 2 * CHUNK, 3)
    first_only = Peer("l", {blob.sha256: data}, {blob.sha256: "10"})
    gone = Peer("t", {blob.sha256: data}, {blob.sha256: "all"}, teacher=True, gone=True)
    partials = PartialStore(store)
    swarm = Swarm(partials, lambda: [first_only.holder(), gone.holder()], lambda peer, sha, i: peer.chunk(sha, i),
                  lost_after=0.5)
    with pytest.raises(FetchFailed, match="out of reach.*resumes"):
        run(swarm, [blob])
    assert partials.has(blob, 0) and not partials.has(blob, 1)


def test_the_rarest_chunk_is_taken_first_and_the_teacher_spared():
    from localhub.workshop.blobs import Blob

    blob = Blob("sha256:" + "a" * 64, "b" * 64, 3 * CHUNK, 3 * CHUNK, ("1" * 64, "2" * 64, "3" * 64))
    teacher = Holder("t", None, {blob.sha256: "all"}, teacher=True)
    laptop = Holder("l", None, {blob.sha256: "110"})
    swarm = Swarm(None, lambda: [], None, seed="x")
    slot = swarm._pick([(blob, 0), (blob, 1), (blob, 2)], {}, [teacher, laptop], 0.0)
    assert (slot.index, slot.holder.key) == (2, "t")  # only the teacher has chunk 2
    slot = swarm._pick([(blob, 0), (blob, 1)], {}, [teacher, laptop], 0.0)
    assert slot.holder.key == "l"  # a chunk both have comes from the laptop, not the teacher


def test_a_layer_twice_in_one_image_is_fetched_once(store, tmp_path):
    blob, data = make_blob(store, tmp_path, CHUNK // 2, 4)
    teacher = Peer("t", {blob.sha256: data}, {blob.sha256: "all"}, teacher=True)
    swarm = Swarm(PartialStore(store), lambda: [teacher.holder()], lambda peer, sha, i: peer.chunk(sha, i))
    kept = run(swarm, [blob, blob])
    assert len(kept) == 1 and teacher.asked == [0]
    assert zstandard.ZstdDecompressor().decompress(store.path(kept[0]).read_bytes())


def test_a_chunk_another_laptop_is_fetching_is_left_to_it():
    from localhub.workshop.blobs import Blob

    blob = Blob("sha256:" + "a" * 64, "b" * 64, 2 * CHUNK, 2 * CHUNK, ("1" * 64, "2" * 64))
    teacher = Holder("t", None, {blob.sha256: "all"}, teacher=True)
    neighbour = Holder("n", None, {}, fetching={blob.sha256: {0}})  # getting chunk 0 from the teacher already
    for need in ([(blob, 0), (blob, 1)], [(blob, 1), (blob, 0)]):  # in whichever order this laptop goes
        slot = Swarm(None, lambda: [], None, seed="x")._pick(need, {}, [teacher, neighbour], 0.0)
        assert (slot.index, slot.holder.key) == (1, "t")  # what nobody is getting yet
    # with that one out too, the teacher is asked again for chunk 0 rather than this laptop waiting idle
    slot = Swarm(None, lambda: [], None, seed="x")._pick([(blob, 0)], {}, [teacher, neighbour], 0.0)
    assert (slot.index, slot.holder.key) == (0, "t")


def test_the_teacher_is_not_asked_again_for_what_a_laptop_is_getting_while_a_laptop_can_give_something():
    from localhub.workshop.blobs import Blob

    blob = Blob("sha256:" + "a" * 64, "b" * 64, 2 * CHUNK, 2 * CHUNK, ("1" * 64, "2" * 64))
    teacher = Holder("t", None, {blob.sha256: "all"}, teacher=True)
    # the neighbour holds chunk 1 and is getting chunk 0: both are then held or coming at two laptops
    neighbour = Holder("n", None, {blob.sha256: "01"}, uploads=2, fetching={blob.sha256: {0}})
    for need in ([(blob, 0), (blob, 1)], [(blob, 1), (blob, 0)]):
        slot = Swarm(None, lambda: [], None, seed="x")._pick(need, {}, [teacher, neighbour], 0.0)
        assert (slot.index, slot.holder.key) == (1, "n")  # a busy neighbour rather than a second copy


# --- a laptop fetching the class's environments ---------------------------------------------------

class _Engine:
    """An engine with no image at all; what is loaded into it is only noted (tests/lan loads for real)."""

    class api:
        @staticmethod
        def images(all=False):
            return []


def _record(blob, spec: str) -> dict:
    import base64
    import json

    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [blob.diff_id]}}).encode()
    return {"spec": spec, "link": f"https://mybinder.org/v2/{spec}", "resolved": "0" * 40, "image": f"img/{spec}",
            "image_id": "sha256:" + hashlib.sha256(config).hexdigest(), "config": base64.b64encode(config).decode(),
            "layers": [blob.to_dict()]}


def test_the_class_environments_are_fetched_in_one_pass(store, tmp_path, monkeypatch):
    """Asked for two environments at once, a laptop asks for the second's chunks while the first's are still
    coming (one pass over every layer), rather than after the first is fetched and loaded: the room's laptops
    then pass each other chunks of both, and the fetch has one end, not two."""
    from types import SimpleNamespace

    from localhub.workshop import classfetch, classroom
    from localhub.workshop.classcode import Membership

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first, first_data = make_blob(store, tmp_path, CHUNK // 2, 5)
    second, second_data = make_blob(store, tmp_path, CHUNK // 2, 6)
    loaded = []
    monkeypatch.setattr(classfetch.layers, "load", lambda client, items: loaded.extend(items))
    membership = Membership(key="ab" * 32, code="K7Q4-M2PX-9DRT-H8WC", role="participant", name="ada")
    settings = SimpleNamespace(state_dir=tmp_path / "state", class_port=0)
    member = classroom.Member(settings, _Engine(), membership, "127.0.0.1")
    member.advertiser = SimpleNamespace(set=lambda **kw: None)
    member.envs = {"gh/a/one/main": _record(first, "gh/a/one/main"), "gh/a/two/main": _record(second, "gh/a/two/main")}
    teacher = Peer("t", {first.sha256: first_data, second.sha256: second_data},
                   {first.sha256: "all", second.sha256: "all"}, teacher=True)
    member.fetching.holders = lambda: [teacher.holder()]
    asked, release = [], asyncio.Event()

    async def get_chunk(peer, sha, index):
        asked.append(sha)
        await release.wait()  # the teacher is slow: nothing arrives until the test says so
        return await peer.chunk(sha, index)

    member.fetching._get_chunk = get_chunk

    async def scenario():
        fetches = member.fetching.start_fetches(sorted(member.envs))
        for _ in range(100):
            if len(asked) == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        both_asked = set(asked)
        release.set()
        await asyncio.wait({f.task for f in fetches}, timeout=30)
        return fetches, both_asked

    fetches, both_asked = asyncio.run(scenario())
    assert both_asked == {first.sha256, second.sha256}  # the second environment did not wait for the first
    assert [f.error for f in fetches] == [None, None] and member.ready == set(member.envs)
    assert sorted(item.names[0] for item in loaded) == ["img/gh/a/one/main", "img/gh/a/two/main"]
    assert [f.progress.done for f in fetches] == [first.size, second.size]  # each counts its own layer
    kept = member.store  # the user's blob store (in XDG_CACHE_HOME), each blob checked by hash as it came
    assert kept.path(kept.get(second.diff_id)).read_bytes() == second_data


def test_a_laptop_with_a_chunk_coming_waits_rather_than_ask_the_teacher_for_a_second_copy():
    from localhub.workshop.blobs import Blob
    from localhub.workshop.swarm import _Slot

    blob = Blob("sha256:" + "a" * 64, "b" * 64, 2 * CHUNK, 2 * CHUNK, ("1" * 64, "2" * 64))
    teacher = Holder("t", None, {blob.sha256: "all"}, teacher=True)
    neighbour = Holder("n", None, {}, fetching={blob.sha256: {0}})  # getting chunk 0 (from the teacher)
    swarm = Swarm(None, lambda: [], None, seed="x")
    coming = {(blob.sha256, 1): _Slot(blob, 1, teacher)}  # this laptop is getting chunk 1 from the teacher
    assert swarm._pick([(blob, 0)], coming, [teacher, neighbour], 0.0) is None  # chunk 0 is left to the neighbour
    # held by a busy neighbour: not from the teacher either while something is coming
    neighbour = Holder("n", None, {blob.sha256: "10"}, uploads=9)
    assert swarm._pick([(blob, 0)], coming, [teacher, neighbour], 0.0) is None
    # with nothing coming, this laptop would wait idle: the teacher is asked
    slot = swarm._pick([(blob, 0)], {}, [teacher, neighbour], 0.0)
    assert (slot.index, slot.holder.key) == (0, "t")


def test_a_chunk_comes_over_the_class_agent_signed_for_its_hash_and_other_bytes_are_not_kept(tmp_path, store):
    """The real agent and client on loopback (TLS, signatures): the chunk's bytes are hashed once, by the laptop
    that keeps them; a laptop sending other bytes for the chunk, or signing another hash, gets nothing kept."""
    from types import SimpleNamespace

    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from localhub.pool.discovery import Peer as Record
    from localhub.pool.trust.keys import Lab
    from localhub.pool.trust.tls import ensure_certificate, server_context
    from localhub.workshop import classagent
    from localhub.workshop.classnet import ClassClient

    blob, data = make_blob(store, tmp_path, 2 * CHUNK, 7)
    key = os.urandom(32)
    sent = {"bytes": data, "sha": None}

    def read_chunk(sha, index):
        chunk = sent["bytes"][index * CHUNK:(index + 1) * CHUNK]
        return chunk, sent["sha"] or blob.chunks[index]

    laptop = SimpleNamespace(lab=Lab(key=key, node="a" * 16), uploads=0, uploaded=0, read_chunk=read_chunk)
    cert, private, fingerprint = ensure_certificate(tmp_path / "laptop", "a" * 16)

    async def scenario():
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(classagent.make_app(laptop), ssl_options=server_context(cert, private))
        server.add_sockets(sockets)
        record = Record("laptop._localhub", "a" * 16, "127.0.0.1", sockets[0].getsockname()[1], "participant", 0,
                        False, "0", fingerprint)
        client = ClassClient(Lab(key=key, node="b" * 16))
        partials = PartialStore(store)
        swarm = Swarm(partials, lambda: [Holder("a" * 16, record, {blob.sha256: "all"})],
                      lambda peer, sha, i: client.get_bytes(peer, f"/chunk/{sha}/{i}", sha=blob.chunks[i]),
                      lost_after=1.0)
        outcomes = []
        try:
            for bytes_sent, sha_signed in ((b"x" * len(data), None), (data, "f" * 64), (data, None)):
                sent["bytes"], sent["sha"] = bytes_sent, sha_signed
                try:
                    outcomes.append(("kept", await swarm.fetch([blob])))
                except FetchFailed:
                    outcomes.append(("refused", [i for i in range(blob.chunk_count) if partials.has(blob, i)]))
                swarm._resting.clear()
        finally:
            await client.aclose()
            server.stop()
        return outcomes

    other_bytes, other_hash, right = asyncio.run(scenario())
    assert other_bytes == ("refused", []) and other_hash == ("refused", [])  # nothing of theirs kept
    assert right[0] == "kept" and store.path(store.get(blob.diff_id)).read_bytes() == data
