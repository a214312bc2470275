"""How user input is echoed in messages (escaped, bounded) and how `localhub token --expires` reads durations."""

from __future__ import annotations

import argparse

import pytest

from localhub.cli.hub import duration
from localhub.errors import shown

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw, echoed", [
    ("thesis", "thesis"),
    ("a b", "a b"),
    ("\x1b[2J", "\\x1b[2J"),
    ("tab\there", "tab\\there"),
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("é中", "é中"),
])
def test_control_and_invisible_characters_are_escaped(raw, echoed):
    assert shown(raw) == echoed


def test_long_input_is_cut_with_an_ellipsis():
    assert shown("x" * 10_000) == "x" * 80 + "…"
    assert shown("y" * 80) == "y" * 80


@pytest.mark.parametrize("text, seconds", [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600", 3600),
                                           ("2w", 14 * 86400), ("never", None), (" NEVER ", None)])
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "", "-5m", "1y", "12 hours", "9" * 20, "\x1b[31m"])
def test_bad_durations_say_what_to_write(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a duration: write e.g. 30d"):
        duration(text)
