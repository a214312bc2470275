"""How user input is echoed in messages (escaped, bounded) and how `localhub token --expires` reads durations."""

from __future__ import annotations

import argparse

import pytest

from localhub.cli.hub import duration, note
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
                                           ("2w", 14 * 86400), ("60", 60), ("315360000", 315360000),
                                           ("never", None), (" 1h ", 3600)])
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text, why", [
    ("0", "too short"), ("0h", "too short"), ("59s", "too short"), ("1s", "too short"),
    ("3651d", "too long"), ("99999999999", "too long"), ("3000000d", "too long"), ("9999999h", "too long"),
    ("", "is not a duration"), ("-5m", "is not a duration"), ("1y", "is not a duration"),
    ("12 hours", "is not a duration"), ("12 h", "is not a duration"), ("1M", "is not a duration"),
    ("1\nh", "is not a duration"), ("P1D", "is not a duration"), ("1d1h", "is not a duration"),
    ("\x1b[31m", "is not a duration"), ("NEVER", "is not a duration"), ("1e9", "is not a duration"),
])
def test_bad_durations_say_what_is_wrong(text, why):
    with pytest.raises(argparse.ArgumentTypeError, match=why) as caught:
        duration(text)
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)


def test_notes_are_short_plain_text():
    assert note("nightly thebe page") == "nightly thebe page"
    with pytest.raises(argparse.ArgumentTypeError, match="keep it to 200"):
        note("x" * 201)
    with pytest.raises(argparse.ArgumentTypeError, match="control characters") as caught:
        note("ci\x1b[2J\x1b]0;pwned\a")
    assert "\x1b" not in str(caught.value)


def test_an_engine_that_refuses_this_user_is_told_apart_from_one_that_is_down():
    from localhub.docker_engine import unreachable_reason

    denied = unreachable_reason(Exception("Error while fetching server API version: ('Connection aborted.', "
                                          "PermissionError(13, 'Permission denied'))"))
    assert "may not use it" in denied and "docker group" in denied
    down = unreachable_reason(Exception("('Connection aborted.', FileNotFoundError(2, 'No such file'))"))
    assert "is Docker running?" in down and "docker group" not in down
