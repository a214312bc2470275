"""Chunks made on a thread of their own, ahead of their reader (read_ahead.py: a bundle's `docker load` archive,
a home leaving or reaching a peer): every chunk arrives in order, an error in the making is raised where the
chunks are read after those made before it, and a reader that stops early stops the maker."""

from __future__ import annotations

import threading

import pytest

from localhub.errors import LocalhubError
from localhub.read_ahead import read_ahead

pytestmark = pytest.mark.unit


def test_chunks_arrive_in_order_and_are_made_on_another_thread():
    makers = set()

    def chunks():
        for i in range(100):
            makers.add(threading.current_thread().name)
            yield bytes([i])

    assert b"".join(read_ahead(chunks(), depth=3, name="the-maker")) == bytes(range(100))
    assert makers == {"the-maker"}  # not the reader's thread


def test_a_damaged_part_is_raised_after_the_chunks_made_before_it():
    def chunks():
        yield b"a"
        yield b"b"
        raise LocalhubError("part layers/x does not match its SHA-256 in the manifest")

    got = []
    with pytest.raises(LocalhubError, match="does not match"):
        for chunk in read_ahead(chunks()):
            got.append(chunk)
    assert got == [b"a", b"b"]


def test_a_reader_that_stops_early_stops_the_maker():
    closed = threading.Event()

    def chunks():
        try:
            while True:
                yield b"x" * 1024
        finally:
            closed.set()

    ahead = read_ahead(chunks(), depth=2)
    assert next(ahead) == b"x" * 1024
    ahead.close()  # the engine refused: the upload ends
    assert closed.wait(5)
    assert not [t for t in threading.enumerate() if t.name == "layers-read-ahead"]
