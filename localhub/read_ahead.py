"""Chunks made on a thread of their own, a few ahead of the one reading them.

Reading a socket or a pipe, hashing, decrypting and decompressing let go of Python's lock: a producer and a
consumer on two threads then work at once instead of taking turns (a layer archive made while the engine
loads the last one; a home decrypted off the LAN while the last piece is hashed and unpacked).
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator


def read_ahead(chunks: Iterator[bytes], depth: int = 8, name: str = "read-ahead") -> Iterator[bytes]:
    """`chunks`, made on a thread called `name` up to `depth` ahead. An error there is raised here, in order,
    after the chunks made before it; stopping early stops the maker (once its current chunk is made)."""
    made: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                made.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(end)
        except BaseException as err:  # raised where the chunks are read
            put(err)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    maker = threading.Thread(target=make, name=name, daemon=True)
    maker.start()
    try:
        while (item := made.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        maker.join()
