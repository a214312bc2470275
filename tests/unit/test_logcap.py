"""The hub's log cannot fill the disk (issue 10, item 10): rotated at its size with one older copy, and a
flood of lines beyond the rate is counted in one line instead of written."""

from __future__ import annotations

import pytest

from localhub.logcap import CappedLog

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_flood_is_summarised_and_the_files_stay_within_twice_the_size(tmp_path):
    clock = Clock()
    log = CappedLog(tmp_path / "hub.log", size=100_000, rate=100, burst=500, clock=clock)
    traceback = b"Traceback (most recent call last):\n  File \"x.py\", line 1\nOSError: [Errno 24] Too many open files\n"
    for _ in range(50_000):  # 150,000 lines within one second
        log.feed(traceback)
    clock.now = 10.0
    log.feed(b"[I] the hub answers again\n")
    log.close()
    text = (tmp_path / "hub.log").read_bytes()
    rotated = tmp_path / "hub.log.1"
    total = len(text) + (rotated.stat().st_size if rotated.exists() else 0)
    assert total <= 200_000
    assert b"log lines were left out: more than 100 a second" in text
    assert text.rstrip().endswith(b"the hub answers again")


def test_lines_are_whole_and_huge_ones_cut(tmp_path):
    log = CappedLog(tmp_path / "hub.log")
    log.feed(b"first half of a li")
    log.feed(b"ne\n" + b"y" * 100_000 + b"\nlast\n")
    log.close()
    lines = (tmp_path / "hub.log").read_bytes().splitlines()
    assert lines[0] == b"first half of a line"
    assert lines[1].endswith(b"[... cut]") and len(lines[1]) < 20_000
    assert lines[2] == b"last"
    assert (tmp_path / "hub.log").stat().st_mode & 0o777 == 0o600
