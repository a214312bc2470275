"""A Static that the poll can set every few seconds for free."""

from __future__ import annotations

from textual.widgets import Static


class SteadyStatic(Static):
    """A Static whose update() does nothing when given what it shows already: every update lays the screen out
    again (about a millisecond each), and every poll sets the same hub bar and notes as the poll before."""

    _shown: object = None

    def update(self, content="") -> None:
        if content == self._shown:
            return
        self._shown = content
        super().update(content)
