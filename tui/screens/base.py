"""What every tab shares: a way to reach the hub from a thread worker and to report back on the UI thread.

Views run each blocking client call in a thread worker and come back with `ui(...)`, which is a no-op once
the app has gone (a quit while a stream was still open).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple


class PaletteEntry(NamedTuple):
    """One command palette entry: every key-bound action is reachable this way too."""

    title: str
    help: str
    callback: Callable[[], Any]
    discover: bool = True


class HubMixin:
    """For widgets and screens that talk to the hub through the app's connection (mix in before the widget)."""

    _hub_app = None  # remembered: a thread worker of a closed screen can no longer find its app

    @property
    def hub_app(self):
        try:
            self._hub_app = self.app
        except RuntimeError:  # NoActiveAppError: detached from the DOM
            pass
        return self._hub_app

    @property
    def connection(self):
        return self.hub_app.connection

    def ui(self, callback: Callable, *args, **kwargs) -> None:
        """Run `callback` on the UI thread from a worker thread. Dropped when it belongs to a widget that
        has gone meanwhile, or when the app itself is shutting down (a quit during a stream)."""
        app = self.hub_app
        owner = getattr(callback, "__self__", None)
        if app is None or not app.is_running or not self._alive(owner, app):
            return

        def guarded():
            if self._alive(owner, app):
                return callback(*args, **kwargs)
            return None

        try:
            app.call_from_thread(guarded)
        except RuntimeError:
            pass

    @staticmethod
    def _alive(owner, app) -> bool:
        return owner is None or owner is app or getattr(owner, "is_attached", True)

    def tell(self, message: str, severity: str = "information") -> None:
        """A notification from a worker thread; it outlives the widget that sent it."""
        app = self.hub_app
        if app is not None:
            self.ui(app.notify, message, severity=severity, timeout=8 if severity == "error" else 4)

    def notify_error(self, message: str) -> None:
        self.tell(message, "error")

    def on_worker_state_changed(self, event) -> None:
        """Worker messages do not bubble: hand failures to the app, which says them in one sentence."""
        self.hub_app.worker_failed(event)

    def palette(self) -> Iterator[PaletteEntry]:
        """Commands this view adds to the palette (Ctrl+P)."""
        return iter(())
