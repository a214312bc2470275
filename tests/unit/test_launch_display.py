"""The command line's drawing of a launch (cli/render.py): a bar with the build's step, the time elapsed and the
time left on a terminal, the log lines above it; without a terminal, plain lines. A failure's reason is left to
the command's one error line: never printed twice."""

from __future__ import annotations

import io

import pytest

from localhub.cli.render import LaunchDisplay
from localhub.launch_events import LaunchEvent

pytestmark = pytest.mark.unit

REASON = "the Dockerfile's step `RUN false` failed (exit code 1)"
EVENTS = [
    LaunchEvent.at("fetching", "Fetching file:///tmp/broken at 146e225", elapsed=0.5).to_wire(),
    LaunchEvent("building", "#6 [3/3] RUN false", 0.55, elapsed=2.0, detail="step 3 of 3", left=4.0).to_wire(),
    LaunchEvent("building", "", 0.6, elapsed=3.0, detail="step 3 of 3", left=3.0, tick=True).to_wire(),
    LaunchEvent("failed", REASON, 0.6, {"build_log": "http://h/log"}, elapsed=3.4).to_wire(),
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def draw(stream) -> str:
    display = LaunchDisplay(stream)
    for event in EVENTS:
        display.show(event)
    display.clear()
    return stream.getvalue()


def test_without_a_terminal_log_lines_and_phases_but_never_the_reason():
    text = draw(io.StringIO())
    assert "==> fetching (5%)" in text and "==> building (55%)" in text and "==> failed (60%)" in text
    assert "    #6 [3/3] RUN false" in text
    assert REASON not in text  # the command's error line says it, once
    assert text.count("RUN false") == 1  # a tick adds no line


def test_on_a_terminal_a_bar_with_the_step_the_clock_and_the_time_left():
    text = draw(Terminal())
    assert "building · step 3 of 3 · 0:03 elapsed · about 0:03 left" in text
    assert "failed · 0:03 elapsed" in text
    assert REASON not in text


def test_status_line_in_words():
    event = LaunchEvent("building", "", 0.4, elapsed=75, detail="step 2 of 5", left=3725)
    assert LaunchDisplay.status(event) == "building · step 2 of 5 · 1:15 elapsed · about 1:02:05 left"
