"""The typed launch event: its overall progress by phase, and BinderHub's wire format both ways."""

from __future__ import annotations

import pytest

from localhub.launch_events import PHASES, LaunchEvent

pytestmark = pytest.mark.unit


def test_progress_grows_through_the_phases():
    starts = [LaunchEvent.at(phase, "x").progress for phase in PHASES if phase != "failed"]
    assert starts == sorted(starts) and starts[0] == 0.0 and starts[-1] == 1.0
    assert LaunchEvent.at("building", "step", 0.5).progress == pytest.approx(0.475)


def test_wire_format_is_binderhubs_plus_progress():
    event = LaunchEvent.at("ready", "server running at u", url="u", token="t", imageName="i")
    wire = event.to_wire()
    assert wire == {"phase": "ready", "message": "server running at u\n", "url": "u", "token": "t",
                    "imageName": "i", "progress": 1.0}
    assert LaunchEvent.from_wire(wire) == event


def test_events_of_a_hub_that_sends_no_progress_start_their_phase():
    assert LaunchEvent.from_wire({"phase": "built", "message": "done\n"}).progress == 0.8
    assert LaunchEvent.from_wire({"message": "?"}).phase == "waiting"


def test_after_never_goes_back():
    built = LaunchEvent.at("built", "b")
    assert LaunchEvent.at("waiting", "late").after(built).progress == built.progress
    assert LaunchEvent.at("failed", "no").after(built).progress == built.progress


def test_clock_and_ticks_travel_on_the_wire():
    tick = LaunchEvent("building", "", 0.5, elapsed=12.34, left=30.0, detail="step 3 of 5", tick=True)
    wire = tick.to_wire()
    assert wire == {"phase": "building", "message": "", "progress": 0.5, "elapsed": 12.3, "left": 30.0,
                    "detail": "step 3 of 5", "tick": True}
    back = LaunchEvent.from_wire(wire)
    assert back.tick and back.detail == "step 3 of 5" and back.left == 30.0 and back.elapsed == 12.3
    # a line of the log keeps BinderHub's newline; a hub that sends no clock gives none
    assert LaunchEvent.at("building", "line").to_wire()["message"] == "line\n"
    assert LaunchEvent.from_wire({"phase": "building", "message": "x\n"}).elapsed is None
