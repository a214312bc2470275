"""Merging a newer copy into a folder a person works in (nbgitpuller's rules): each rule on real folders,
then Hypothesis over random histories: whatever the base, the newer copy and the person's folder, no edit
is ever lost, nothing is ever removed, and every file that is now the newer copy's is byte for byte right."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localhub.workshop.merge import (ADD, CONFLICT, KEEP, LEFT, RESTORE, UPDATE, merge_dirs, plan_merge,
                                     snapshot_dir, snapshot_from_json, snapshot_to_json)

pytestmark = pytest.mark.unit


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def read(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def dirs(tmp_path):
    v1, v2, home = tmp_path / "v1", tmp_path / "v2", tmp_path / "home"
    for d in (v1, v2, home):
        d.mkdir()
    return v1, v2, home


def test_material_published_twice_keeps_the_edit_made_in_between(dirs):
    v1, v2, home = dirs
    write(v1, {"lesson1.ipynb": "one", "lesson2.ipynb": "two", "data/table.csv": "a,b", "old.txt": "old"})
    first = merge_dirs(home, v1)
    assert {d.path for d in first.by_action(ADD)} == {"lesson1.ipynb", "lesson2.ipynb", "data/table.csv", "old.txt"}
    # the participant edits lesson1 and lesson2, deletes the table, adds notes
    write(home, {"lesson1.ipynb": "one + my answers", "lesson2.ipynb": "two + my notes", "notes.md": "mine"})
    (home / "data" / "table.csv").unlink()
    # the teacher fixes lesson2, adds lesson3, drops old.txt; lesson1 is unchanged upstream
    write(v2, {"lesson1.ipynb": "one", "lesson2.ipynb": "two (fixed)", "lesson3.ipynb": "three", "data/table.csv": "a,b"})
    second = merge_dirs(home, v2, snapshot_from_json(snapshot_to_json(first.base_after)), label="v2")
    assert read(home) == {
        "lesson1.ipynb": "one + my answers",  # edited, unchanged upstream: kept quietly
        "lesson2.ipynb": "two + my notes",  # edited and changed upstream: kept...
        "lesson2.v2.ipynb": "two (fixed)",  # ...with the newer version beside it
        "lesson3.ipynb": "three",  # new upstream: added
        "data/table.csv": "a,b",  # deleted here, still upstream: restored (nbgitpuller's rule)
        "old.txt": "old",  # gone upstream: left in place
        "notes.md": "mine",  # the participant's own: untouched
    }
    actions = {d.path: d.action for d in second.decisions}
    assert actions == {"lesson1.ipynb": KEEP, "lesson2.ipynb": CONFLICT, "lesson3.ipynb": ADD,
                       "data/table.csv": RESTORE, "old.txt": LEFT}
    assert "lesson2.ipynb (edited by you and changed in the newer copy, newer version in lesson2.v2.ipynb)" \
        in second.describe()


def test_untouched_files_are_updated_and_same_named_own_files_are_kept(dirs):
    v1, v2, home = dirs
    write(v1, {"a.txt": "1"})
    base = merge_dirs(home, v1).base_after
    write(home, {"b.txt": "my own b", "b.newer.txt": "also mine"})
    write(v2, {"a.txt": "2", "b.txt": "teacher's b"})
    plan = merge_dirs(home, v2, base)
    assert read(home)["a.txt"] == "2" and [d.path for d in plan.by_action(UPDATE)] == ["a.txt"]
    assert read(home)["b.txt"] == "my own b" and read(home)["b.newer.txt"] == "also mine"
    assert read(home)["b.newer-2.txt"] == "teacher's b"  # a free name beside, never over a file of theirs
    assert plan.conflicts[0].reason.startswith("you made a file of this name")


def test_a_folder_or_link_in_the_way_is_kept_and_named(dirs, tmp_path):
    v1, _, home = dirs
    write(v1, {"data/x.csv": "x", "docs": "a file upstream"})
    write(home, {"docs/mine.md": "mine"})
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, home / "data")  # a link where the newer copy has a folder: never written through
    plan = merge_dirs(home, v1)
    assert {d.path for d in plan.conflicts} == {"data/x.csv", "docs"}
    assert list(outside.iterdir()) == [] and read(home) == {"docs/mine.md": "mine"}


# --- every history --------------------------------------------------------------------------------

PATHS = ["a", "b", "d/c", "d/e", "f"]
content = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]))
version = st.fixed_dictionaries({p: content for p in PATHS})


def materialise(root: Path, files: dict[str, str | None]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    write(root, {p: t for p, t in files.items() if t is not None})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_before=version, newer=version, edits=version, given=st.booleans())
def test_no_edit_is_ever_lost(tmp_path, given_before, newer, edits, given):
    base_dir, newer_dir, home = tmp_path / "base", tmp_path / "newer", tmp_path / "home"
    materialise(base_dir, given_before if given else {})
    materialise(newer_dir, newer)
    materialise(home, {p: (edits[p] if edits[p] is not None else (given_before[p] if given else None))
                       for p in PATHS})
    before = read(home)
    base = snapshot_dir(base_dir) if given else {}
    plan = merge_dirs(home, newer_dir, base)
    after = read(home)
    for path, text in before.items():
        assert path in after, f"{path} was removed"
        untouched = given and given_before[path] == text
        if untouched:
            assert after[path] in (text, newer[path]), f"{path}: neither as given nor the newer copy"
        else:  # edited, or made by the person: exactly as they left it
            assert after[path] == text, f"{path}: the person's version was lost"
    for path, text in newer.items():
        if text is not None and path not in before:
            assert after[path] == text, f"{path}: new upstream and absent here, but not added"
    for dest, source in plan.writes():
        assert after[dest] == newer[source]
    named = {d.path for d in plan.conflicts}
    for path, text in before.items():  # a kept version that differs from a changed upstream is named
        if newer.get(path) is not None and after[path] != newer[path] and \
                (not given or given_before.get(path) != newer[path]):
            assert path in named, f"{path}: kept against a changed upstream without a word"
