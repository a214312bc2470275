"""The one exception type users see: a plain sentence that says what went wrong and how to fix it, and the
one way any text a user typed is echoed back in such a sentence (`shown`)."""

from __future__ import annotations

import unicodedata

ECHO_LIMIT = 80


class LocalhubError(Exception):
    """An error meant for the user. `str(err)` is one clear sentence; the CLI prints it without a traceback."""

    exit_code = 1


class NotRunning(LocalhubError):
    """No hub runs for the state directory the user addressed."""


def shown(text: object, limit: int = ECHO_LIMIT) -> str:
    """User input as it may appear inside a message: control and other invisible characters escaped (an
    escape sequence must never reach a terminal or a page), and cut to `limit` characters with '…'."""
    text = str(text)
    cut = len(text) > limit
    text = text[:limit]
    escaped = "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else ch.encode("unicode_escape").decode()
                      for ch in text)
    return escaped + ("…" if cut else "")
