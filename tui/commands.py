"""The command palette (Ctrl+P): every action of every tab by name, plus per-server and per-environment
commands. The views list their own entries (`palette()`); this adapts them to Textual's Provider."""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LocalhubCommands(Provider):
    def _entries(self):
        entries = getattr(self.app, "palette_entries", None)
        return list(entries()) if entries else []

    async def discover(self) -> Hits:
        for entry in self._entries():
            if entry.discover:
                yield DiscoveryHit(entry.title, entry.callback, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.title)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.title), entry.callback, help=entry.help)
