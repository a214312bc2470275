"""How far a build is, from its own output (images/progress.py), with the clock of the previous build of the same
environment; and the ticks that carry it to followers between log lines (images/events.py)."""

from __future__ import annotations

import asyncio

import pytest

from localhub.images.events import BuildEvent, EventLog
from localhub.images.progress import EXPORT_AT, BuildProgress, BuildTimes, clock_text

pytestmark = pytest.mark.unit

# BuildKit 20.10's plain output of a five-step Dockerfile (as the engine here prints it)
BUILDKIT = """\
#4 [1/5] FROM docker.io/localhub/singleuser:test
#4 sha256:7585601a1fa70cce93240ad570e6462008c278dc601c3571f844b77ab04dc2ca
#4 CACHED
#6 [2/5] COPY WORKSHOP /srv/workshop-copy
#6 DONE 0.0s
#7 [3/5] RUN head -c 67108864 /dev/urandom > /srv/dataset.bin
#7 0.512 some output
#7 DONE 0.6s
#8 [4/5] COPY --chown=1000:1000 . /home/jovyan
#8 DONE 0.0s
#9 [5/5] WORKDIR /home/jovyan
#9 DONE 0.0s
#10 exporting to image
#10 exporting layers
#10 exporting layers 0.4s done
""".splitlines()


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def fed(lines, expected=None, clock=None):
    progress = BuildProgress(expected, clock or Clock())
    for line in lines:
        progress.feed(line)
    return progress


def test_buildkit_steps_move_the_bar_step_by_step():
    fractions = []
    progress = BuildProgress()
    for line in BUILDKIT:
        progress.feed(line)
        fractions.append(progress.fraction())
    assert fractions == sorted(fractions)
    assert fed(BUILDKIT[:3]).fraction() == pytest.approx(EXPORT_AT / 5)  # FROM cached: one of five
    assert fed(BUILDKIT[:6]).detail() == "step 3 of 5"
    assert fed(BUILDKIT[:8]).fraction() == pytest.approx(EXPORT_AT * 3 / 5)
    assert fed(BUILDKIT).fraction() == EXPORT_AT and fed(BUILDKIT).detail() == "writing the image's layers"


def test_stages_count_their_own_steps():
    progress = fed(["#5 [builder 1/2] FROM x", "#5 DONE 0.1s", "#6 [stage-1 1/3] FROM y", "#6 CACHED",
                    "#7 [stage-1  2/3] RUN make"])
    assert progress.total == 5 and progress.steps_done() == 2
    assert progress.detail() == "step 2 of 3 (stage-1)"


def test_the_legacy_builder_counts_steps_too():
    progress = fed(["Step 1/4 : FROM localhub/singleuser:test", " ---> 8534e056636f", "Step 3/4 : RUN make"])
    assert progress.fraction() == pytest.approx(EXPORT_AT * 2 / 4)
    assert progress.detail() == "step 3 of 4"


def test_bytes_moving_are_shown():
    progress = fed(["#4 [1/2] FROM docker.io/library/python:3.11",
                    "#4 sha256:0123abcd 12.50MB / 30.10MB 1.2s"])
    assert progress.detail() == "step 1 of 2, 12.5 MB of 30.1 MB"


def test_with_a_previous_build_the_clock_moves_the_bar_but_never_past_the_running_step():
    clock = Clock()
    progress = fed(BUILDKIT[:6], expected=100, clock=clock)  # step 3 of 5 runs; two done
    assert progress.fraction() == pytest.approx(EXPORT_AT * 2 / 5)
    assert progress.left() == 100
    clock.now += 50  # half the previous build's time: half the bar, inside step 3
    assert progress.fraction() == pytest.approx(EXPORT_AT * 0.5)
    assert progress.left() == 50
    clock.now += 35  # the clock says 85 %, but step 3 still runs: the bar waits at its end
    assert progress.fraction() == pytest.approx(EXPORT_AT * 3 / 5)
    clock.now += 30  # past the previous build's time: no estimate any more, said in words
    assert progress.left() is None
    assert progress.detail() == "step 3 of 5, taking longer than last time (1:40)"


def test_without_a_previous_build_the_bar_moves_by_steps_and_the_clock_still_counts():
    clock = Clock()
    progress = fed(BUILDKIT[:6], clock=clock)
    clock.now += 600
    assert progress.fraction() == pytest.approx(EXPORT_AT * 2 / 5)
    assert progress.elapsed() == 600 and progress.left() is None


def test_clock_text():
    assert [clock_text(s) for s in (0, 9.6, 75, 3725)] == ["0:00", "0:10", "1:15", "1:02:05"]


def test_build_times_keep_the_last_successful_build_per_environment(tmp_path):
    times = BuildTimes(tmp_path / "durations.json")
    assert times.previous("gh:https://github.com/org/repo") is None
    times.record("gh:https://github.com/org/repo", 42.25)
    times.record("gh:https://github.com/org/other", 7)
    assert times.previous("gh:https://github.com/org/repo") == pytest.approx(42.2, abs=0.06)
    (tmp_path / "durations.json").write_text("not json")  # a damaged file is no estimate, never an error
    assert times.previous("gh:https://github.com/org/repo") is None


async def test_a_log_keeps_only_the_newest_tick_and_followers_see_ticks_live():
    log = EventLog()
    await log.publish(BuildEvent("fetching", "one"))
    for n in range(5):
        await log.publish(BuildEvent("building", "", 0.1 * n, tick=True))
    assert [e.message for e in log.events] == ["one"]  # ticks never pile up in the history

    seen = []

    async def follow():
        async for event in log.follow():
            seen.append(event)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.01)
    assert [e.message for e in seen] == ["one", ""] and seen[-1].progress == pytest.approx(0.4)  # the state now
    await log.publish(BuildEvent("building", "", 0.5, tick=True))
    await asyncio.sleep(0.01)
    assert seen[-1].tick and seen[-1].progress == 0.5
    await log.publish(BuildEvent("built", "done", 1.0, "img"))
    await log.close()
    await follower
    assert seen[-1].phase == "built"
