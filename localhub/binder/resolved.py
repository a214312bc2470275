"""Remember what each spec last resolved to, so a launch without network can fall back to a known build.

A small JSON file (path chosen by the caller) maps spec -> recent ids, newest first, each with the time it
was resolved. Writes go to a temporary file that replaces the old one, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HISTORY = 10  # ids kept per spec: enough to find one whose image was not pruned


@dataclass(frozen=True)
class Resolved:
    id: str
    at: datetime  # when it was resolved, UTC


class ResolvedCache:
    """`remember(spec, id)` after each successful resolution; `last(spec)` when resolution fails."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def remember(self, spec: str, resolved_id: str, at: datetime | None = None) -> Resolved:
        """Record `resolved_id` as the newest id of `spec` (moving it to the front if it was seen before)."""
        entry = Resolved(resolved_id, (at or datetime.now(timezone.utc)).astimezone(timezone.utc))
        data = self._read()
        older = [e for e in data.get(spec, []) if e.get("id") != resolved_id]
        data[spec] = [{"id": entry.id, "at": entry.at.isoformat()}, *older][:HISTORY]
        self._write(data)
        return entry

    def last(self, spec: str, usable: Callable[[str], bool] | None = None) -> Resolved | None:
        """The newest id of `spec`, or the newest one for which `usable(id)` holds (e.g. "its image exists")."""
        for entry in self.history(spec):
            if usable is None or usable(entry.id):
                return entry
        return None

    def history(self, spec: str) -> list[Resolved]:
        """Every remembered id of `spec`, newest first."""
        entries = []
        for raw in self._read().get(spec, []):
            try:
                entries.append(Resolved(str(raw["id"]), datetime.fromisoformat(raw["at"])))
            except (TypeError, KeyError, ValueError):
                continue  # a hand-edited or damaged entry is skipped, not fatal
        return entries

    def _read(self) -> dict[str, list[dict[str, str]]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)}

    def _write(self, data: dict[str, list[dict[str, str]]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
