"""Thread workers that never hold up quitting.

Textual runs thread workers in asyncio's default executor, and asyncio joins that executor's threads when
the loop closes. A followed server log blocks in a socket read until the container prints again — possibly
never — so with the stock executor `q` would hang. This executor runs each job on a daemon thread and
does not wait for them on shutdown; a worker cancelled by its screen just ends at its next event.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor


class DaemonThreadExecutor(ThreadPoolExecutor):
    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the awaiting worker, which reports it
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="localhub-tui-worker", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # daemon threads die with the process; nothing to join


def install() -> None:
    """Make the running loop's default executor (used by Textual's thread workers) a daemon one."""
    asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor(max_workers=1))
