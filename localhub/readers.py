"""Blocking streams read without holding anyone: a followed container log blocks in a socket read for as long
as the container is quiet, so it is read in a daemon thread of its own (never the event loop's executor, whose
shutdown waits for every thread), handed over through a small window of chunks, and ended by closing the stream.

The daemon keeps every open `Reader` in a set and closes them all when it shuts down: a client following a log
(`localhub servers logs -f`, the TUI's log screen) sees its stream end, and shutdown never waits on a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

WINDOW = 64  # chunks read ahead of the consumer


class Reader:
    """Iterate a blocking stream (anything iterable with a `close()`) from async code."""

    def __init__(self, stream, name: str = "reader"):
        self._stream = stream
        self._name = name
        self._credits = threading.Semaphore(WINDOW)
        self._closed = threading.Event()
        self._queue: asyncio.Queue | None = None

    def close(self) -> None:
        """End the reading: the thread leaves its read (the stream's socket is closed) and the iteration ends."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._stream.close()
        except Exception:  # closing a half-read HTTP response may complain; it is closed either way
            pass
        if self._queue is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    async def chunks(self, idle: float | None = None, keepalive=b"\n") -> AsyncIterator:
        """The stream's chunks as they arrive; with `idle`, `keepalive` after every `idle` seconds of quiet."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        threading.Thread(target=self._pump, name=self._name, daemon=True).start()
        try:
            while not self._closed.is_set():
                try:
                    chunk = await asyncio.wait_for(self._queue.get(), idle)
                except asyncio.TimeoutError:
                    yield keepalive
                    continue
                if chunk is None:
                    return
                self._credits.release()
                yield chunk
        finally:
            self.close()

    def _pump(self) -> None:
        try:
            for chunk in self._stream:
                while not self._credits.acquire(timeout=1):  # the consumer is slow: wait, unless closed
                    if self._closed.is_set():
                        return
                if self._closed.is_set():
                    return
                self._hand_over(chunk)
        except Exception:  # the stream was closed under the read, or the engine went away
            pass
        self._hand_over(None)

    def _hand_over(self, chunk) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
        except RuntimeError:  # the event loop is gone: nobody is reading any more
            self._closed.set()


class Readers:
    """The open readers of a daemon, so that shutdown can end them all."""

    def __init__(self):
        self._open: set[Reader] = set()

    @contextlib.contextmanager
    def open(self, stream, name: str = "reader"):
        reader = Reader(stream, name)
        self._open.add(reader)
        try:
            yield reader
        finally:
            self._open.discard(reader)
            reader.close()

    def close_all(self) -> None:
        for reader in list(self._open):
            reader.close()
