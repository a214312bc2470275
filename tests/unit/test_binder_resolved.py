"""The offline fallback cache: spec -> recent resolved ids with timestamps, written atomically."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from localhub.binder import Resolved, ResolvedCache
from localhub.binder.resolved import HISTORY

pytestmark = pytest.mark.unit

SPEC = "gh/org/repo/HEAD"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_nothing_remembered_yet(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "resolved.json")
    assert cache.last(SPEC) is None
    assert cache.history(SPEC) == []
    assert not (tmp_path / "resolved.json").exists()


def test_remember_then_last(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "state" / "resolved.json")  # parent made on first write
    cache.remember(SPEC, "a" * 40, at=T0)
    assert cache.last(SPEC) == Resolved("a" * 40, T0)
    assert cache.last("gh/other/repo/HEAD") is None


def test_survives_a_new_instance(tmp_path: Path) -> None:
    ResolvedCache(tmp_path / "r.json").remember(SPEC, "a" * 40, at=T0)
    assert ResolvedCache(tmp_path / "r.json").last(SPEC) == Resolved("a" * 40, T0)


def test_newest_first_and_no_duplicates(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "r.json")
    cache.remember(SPEC, "a", at=T0)
    cache.remember(SPEC, "b", at=T0 + timedelta(hours=1))
    cache.remember(SPEC, "a", at=T0 + timedelta(hours=2))
    assert [entry.id for entry in cache.history(SPEC)] == ["a", "b"]
    assert cache.last(SPEC) == Resolved("a", T0 + timedelta(hours=2))


def test_last_usable_skips_ids_whose_image_is_gone(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "r.json")
    for n, resolved_id in enumerate(["old", "middle", "new"]):
        cache.remember(SPEC, resolved_id, at=T0 + timedelta(minutes=n))
    images = {"old", "middle"}
    assert cache.last(SPEC, usable=images.__contains__).id == "middle"
    assert cache.last(SPEC, usable=lambda _id: False) is None


def test_history_is_bounded(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "r.json")
    for n in range(HISTORY + 5):
        cache.remember(SPEC, f"id{n}", at=T0 + timedelta(minutes=n))
    ids = [entry.id for entry in cache.history(SPEC)]
    assert len(ids) == HISTORY
    assert ids[0] == f"id{HISTORY + 4}"


def test_timestamps_default_to_now_in_utc(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "r.json")
    before = datetime.now(timezone.utc)
    entry = cache.remember(SPEC, "a")
    assert entry.at.tzinfo is not None
    assert before <= cache.last(SPEC).at <= datetime.now(timezone.utc)


def test_file_is_plain_json_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    cache = ResolvedCache(tmp_path / "r.json")
    cache.remember(SPEC, "a", at=T0)
    cache.remember("zenodo/10.5281/zenodo.1", "2", at=T0)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data[SPEC] == [{"id": "a", "at": T0.isoformat()}]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_damaged_file_counts_as_empty_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    cache = ResolvedCache(path)
    assert cache.last(SPEC) is None
    cache.remember(SPEC, "a", at=T0)
    assert cache.last(SPEC).id == "a"


def test_damaged_entries_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({SPEC: [{"id": "x"}, {"id": "b", "at": T0.isoformat()}], "other": "nonsense"}))
    assert ResolvedCache(path).last(SPEC) == Resolved("b", T0)


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    cache = ResolvedCache(path)
    cache.remember(SPEC, "a", at=T0)

    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("localhub.binder.resolved.json.dump", broken_dump)
    with pytest.raises(OSError):
        cache.remember(SPEC, "b", at=T0)
    monkeypatch.undo()
    assert cache.last(SPEC).id == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
