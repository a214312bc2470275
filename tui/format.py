"""Plain-text formatting of the daemon's figures (sizes, percentages, ages) for tables and panels.

Pure functions with the clock passed in, so snapshots and tests can fix the time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import unquote

DASH = "–"


def size(n: int | float | None) -> str:
    """Bytes in binary units, like `localhub servers ls`: 5.3 KiB, 2.0 GiB."""
    if n is None or n < 0:
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return DASH  # unreachable


def storage(used: int | None, cap: int | None) -> tuple[str, bool]:
    """'5.3 KiB / 2.0 GiB' and whether it is over 90 % of the cap (caps are measured, not enforced)."""
    if used is None and cap is None:
        return DASH, False
    text = size(used) + ("" if cap is None else f" / {size(cap)}")
    return text, bool(used and cap and used > cap * 0.9)


def percent(p: float | None) -> str:
    return DASH if p is None else f"{max(p, 0.0):.1f}%"  # samplers can dip a hair below zero


def duration(seconds: float | None) -> str:
    """A compact human duration: 42 s, 7 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return DASH
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def parse_time(value: str | float | int | None) -> datetime | None:
    """JupyterHub's ISO times ('…Z') or epoch seconds, as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def since(value: str | float | int | None, now: datetime) -> str:
    """How long ago `value` was, as a duration ('7 min'); a dash when unknown."""
    when = parse_time(value)
    if when is None:
        return DASH
    return duration((now - when).total_seconds())


def ago(value: str | float | int | None, now: datetime) -> str:
    text = since(value, now)
    return text if text == DASH else f"{text} ago"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def short_spec(spec: str, width: int = 28) -> str:
    """A Binder spec that fits a table column: whole when it fits, else 'provider:name@ref' where name is
    the last part of the repository ('gh:jupyterlab-demo@HEAD', 'local:my-analysis@HEAD')."""
    text = unquote(spec)
    if len(text) <= width:
        return text
    parts = spec.split("/")
    if len(parts) >= 3:
        middle = unquote("/".join(parts[1:-1])).rstrip("/")
        name = middle.rsplit("/", 1)[-1].removesuffix(".git") or middle
        text = f"{parts[0]}:{name}@{unquote(parts[-1])}"
    return text if len(text) <= width else text[: width - 1] + "…"
