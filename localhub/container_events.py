"""The engine's container events for one hub, read once per process and handed to whoever waits on them.

Docker announces a container's death (`die`), the kernel's OOM killer at its memory limit (`oom`) and its
start (`start`) on one long-lived event stream. The spawner uses it to see a crash during start at once and to
drop the route of a server that dies later; the daemon uses it to notice memory kills and new servers. One
reader thread per process follows the stream filtered by the hub's instance label, reconnects (from the last
event seen) when the engine goes away, and calls listeners on their asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import docker
import docker.errors
import requests.exceptions

log = logging.getLogger("localhub.container_events")

WATCHED = ("start", "die", "oom")


class ContainerEvents:
    """Listeners per container id (or for every container) for the events in `WATCHED`."""

    def __init__(self, instance: str, connect: Callable[[], docker.APIClient] | None = None):
        self.instance = instance
        self._connect = connect or (lambda: docker.from_env(timeout=10).api)
        self._listeners: dict[str | None, list[tuple[asyncio.AbstractEventLoop | None, Callable]]] = {}
        self._lock = threading.Lock()
        self._stream = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # set while the stream is open (tests wait on it)

    # --- listening ----------------------------------------------------------------------------
    def listen(self, container_id: str | None, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call `callback(event)` for each event of the container (every container of the hub when None),
        on the caller's running asyncio loop if there is one, else on the reader thread. Returns the function
        that stops listening."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        entry = (loop, callback)
        with self._lock:
            self._listeners.setdefault(container_id, []).append(entry)
        self.start()

        def forget() -> None:
            with self._lock:
                entries = self._listeners.get(container_id, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._listeners.pop(container_id, None)
        return forget

    def died(self, container_id: str) -> tuple[asyncio.Future, Callable[[], None]]:
        """A future resolved with the `die` event of the container (and the function that stops watching)."""
        future = asyncio.get_running_loop().create_future()

        def on_event(event: dict) -> None:
            if event.get("status") == "die" and not future.done():
                future.set_result(event)
        return future, self.listen(container_id, on_event)

    # --- the reader ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, name="container-events", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass

    def _run(self) -> None:
        since = None
        while not self._stopped.is_set():
            try:
                api = self._connect()
                filters = {"type": "container", "event": list(WATCHED),
                           "label": f"localhub.instance={self.instance}"}
                self._stream = api.events(since=since, filters=filters, decode=True)
                self.connected.set()
                for event in self._stream:
                    since = event.get("time", since)
                    self._dispatch(event)
                    if self._stopped.is_set():
                        break
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError, ValueError) as err:
                if not self._stopped.is_set():
                    log.warning("container events: the engine's event stream broke (%s); reconnecting", err)
            finally:
                self.connected.clear()
            if since is None:
                since = int(time.time())
            self._stopped.wait(1.0)

    def _dispatch(self, event: dict) -> None:
        container = event.get("id")
        with self._lock:
            entries = list(self._listeners.get(container, ())) + list(self._listeners.get(None, ()))
        for loop, callback in entries:
            if loop is None:
                _call(callback, event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_call, callback, event)


def _call(callback: Callable[[dict], None], event: dict) -> None:
    try:
        callback(event)
    except Exception:
        log.exception("a container event listener failed")
