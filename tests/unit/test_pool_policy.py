"""The owner's idle policy (HTCondor-like transitions) and the owner's share limits, as pure functions."""

from __future__ import annotations

import pytest

from localhub.errors import LocalhubError
from localhub.pool.host.machine import CpuMeter, Figures
from localhub.pool.host.policy import BUSY, IDLE, OWNER, Decision, IdlePolicy, Sample, decide
from localhub.pool.host.share import SLOT, Share, free_slots, judge_offer, parse_hours

pytestmark = pytest.mark.unit

P = IdlePolicy()


def run(samples, previous=None, policy=P):
    """Feed (at, since_input, load) samples; return the states in order."""
    states = []
    for at, since, load in samples:
        previous = decide(policy, previous, Sample(at, since, load))
        states.append(previous.state)
    return states, previous


def test_owner_present_until_15_minutes_without_input():
    states, d = run([(0, 0, 0.0), (60, 60, 0.0), (899, 899, 0.0)])
    assert states == [OWNER] * 3 and "accepts guests after 15 min" in d.reason
    states, d = run([(900, 900, 0.0)])
    assert states == [IDLE] and d.accepting


def test_start_needs_low_load():
    states, d = run([(0, 3600, 0.31)])
    assert states == [BUSY] and "0.31 per core" in d.reason
    assert run([(0, 3600, 0.3)])[0] == [IDLE]


def test_owner_returns_with_input_in_the_last_minute():
    states, d = run([(0, 3600, 0.0), (10, 3610, 0.0), (20, 59, 0.0)])
    assert states == [IDLE, IDLE, OWNER] and "owner is back" in d.reason
    # while accepting, input 60 s or more ago is not a return (HTCondor's KeyboardIdle < 60)
    assert run([(0, 3600, 0.0), (10, 60, 0.0)])[0] == [IDLE, IDLE]
    # once the owner was back, the 15 minutes start over
    assert run([(30, 120, 0.0)], previous=d)[0] == [OWNER]


def test_busy_cpu_for_two_minutes_ends_acceptance():
    samples = [(0, 3600, 0.0), (10, 3610, 0.9), (70, 3670, 0.9), (129, 3729, 0.9), (130, 3730, 0.9)]
    states, d = run(samples)
    assert states == [IDLE, IDLE, IDLE, IDLE, BUSY] and "for 2 min" in d.reason


def test_a_dip_in_load_resets_the_busy_timer():
    samples = [(0, 3600, 0.0), (10, 3610, 0.9), (100, 3700, 0.1), (110, 3710, 0.9), (200, 3800, 0.9),
               (229, 3829, 0.9)]
    assert run(samples)[0] == [IDLE, IDLE, IDLE, IDLE, IDLE, IDLE]
    assert run(samples + [(230, 3830, 0.9)])[0][-1] == BUSY


def test_load_between_start_and_busy_thresholds_keeps_accepting():
    assert run([(0, 3600, 0.0), (10, 3610, 0.45), (500, 4100, 0.45)])[0] == [IDLE, IDLE, IDLE]


def test_unknown_input_counts_as_owner_unless_assume_idle():
    d = decide(P, None, Sample(0, None, 0.0))
    assert d.state == OWNER and "--assume-idle" in d.reason
    assert decide(P, None, Sample(0, None, 0.0, assume_idle=True)).state == IDLE
    # an accepting desktop whose idle source vanishes stops accepting
    assert decide(P, Decision(IDLE, "x"), Sample(5, None, 0.0)).state == OWNER


def test_thresholds_are_settings():
    quick = IdlePolicy(idle_after=5, start_load=2.0, owner_window=1, busy_load=3.0, busy_for=1)
    assert run([(0, 5, 1.5), (1, 1.5, 1.5), (2, 0.5, 1.5)], policy=quick)[0] == [IDLE, IDLE, OWNER]


FIG = Figures(cpus=8, load1=0.8, mem_total=16 * 10**9, mem_available=10 * 10**9, disk_free=100 * 2**30)
ACCEPTING = Decision(IDLE, "no owner input for 20 min")


def test_limits_default_to_half_and_never_exceed_the_machine():
    assert Share(enabled=True).limits(FIG) == {"cpus": 4.0, "memory": 8 * 10**9, "storage": 20 * 2**30}
    assert Share(enabled=True, cpus=64, memory=10**12).limits(FIG)["cpus"] == 8
    assert Share(enabled=True, cpus=64, memory=10**12).limits(FIG)["memory"] == 16 * 10**9


def test_offer_answers_with_reasons():
    share = Share(enabled=True, cpus=2, memory=4 * 10**9, disk=10 * 2**30)
    assert judge_offer(SLOT, share, FIG, ACCEPTING, hour=12) == (True, "fits: no owner input for 20 min")
    no = lambda ask, **kw: judge_offer({**SLOT, **ask}, kw.get("share", share), kw.get("fig", FIG),  # noqa: E731
                                       kw.get("decision", ACCEPTING), kw.get("hour", 12), kw.get("in_use"))
    assert no({"cpus": 3}) == (False, "asks 3 CPUs; the owner shares 2 CPUs")
    assert no({"memory": 5 * 10**9})[1].startswith("asks 4.7 GiB memory; the owner shares 3.7 GiB memory")
    assert no({"storage": 11 * 2**30})[1] == "asks 11.0 GiB disk; the owner shares 10.0 GiB disk"
    assert no({}, in_use={"cpus": 1.5})[1] == "asks 1 CPUs; the owner shares 2 CPUs and guests use 1.5 CPUs"
    low = Figures(cpus=8, load1=0.1, mem_total=16 * 10**9, mem_available=10**9, disk_free=100 * 2**30)
    assert no({}, fig=low)[1] == "asks 1.9 GiB memory; only 953.7 MiB memory is free right now"
    assert no({}, share=Share())[1] == "this desktop's owner does not share it"
    assert no({}, decision=Decision(OWNER, "owner input 2 min ago; ..."))[1] == "owner input 2 min ago; ..."
    night = Share(enabled=True, hours="18-08")
    assert no({}, share=night, hour=12)[1] == "this desktop is shared only between 18:00 and 08:00"
    assert no({}, share=night, hour=23)[0] and no({}, share=night, hour=7)[0] and not no({}, share=night, hour=8)[0]


def test_hours():
    assert parse_hours("18-08") == (18, 8) and parse_hours("9:00-17:00") == (9, 17) and parse_hours("0-24") == (0, 0)
    day = Share(hours="9-17")
    assert [day.in_hours(h) for h in (8, 9, 16, 17)] == [False, True, True, False]
    for bad in ("18", "25-3", "9-9", "evening"):
        with pytest.raises(LocalhubError, match="whole hours"):
            parse_hours(bad)


def test_slots_count_default_profiles_that_fit():
    share = Share(enabled=True, cpus=3, memory=8 * 10**9, disk=100 * 2**30)
    assert free_slots(share, FIG, ACCEPTING, 12) == 3  # CPUs are the limit
    assert free_slots(Share(enabled=True, cpus=8, memory=5 * 10**9), FIG, ACCEPTING, 12) == 2  # memory
    assert free_slots(share, FIG, Decision(OWNER, "x"), 12) == 0


# --- the owner's load: the guests' measured CPU use taken off ------------------------------------------------

def test_the_cpu_meter_averages_measured_use_like_the_load():
    meter = CpuMeter()
    assert meter.feed(0.0, {"a": 100.0}) == 0.0  # a first reading is only a baseline
    for second in range(1, 301):  # one guest busy on 1.5 CPUs for five minutes, another idle
        meter.feed(float(second), {"a": 100.0 + 1.5 * second, "b": 7.0})
    assert meter.cpus == pytest.approx(1.5, abs=0.02)
    meter.feed(301.0, {"b": 7.0})  # "a" is gone: nothing of it counts any more, and the average decays
    for second in range(302, 422):
        meter.feed(float(second), {"b": 7.0})
    assert meter.cpus < 1.5 * 0.15


class IdleGuests:
    """Guests holding an allowance of 2 CPUs and using, as measured, 0.1 of it."""

    guests: dict = {}
    isolation_problem = None
    cpu_used = 0.1

    def in_use(self):
        return {"cpus": 2.0, "memory": 2 * 10**9, "storage": 2**30}


def test_the_owners_own_load_is_what_the_guests_do_not_use(tmp_path):
    from localhub.pool.host.idle import IdleSources, ManualIdleSource
    from localhub.pool.host.node import Node
    from localhub.pool.host.share import save_share
    from localhub.pool.trust.keys import Lab

    save_share(tmp_path, Share(enabled=True, cpus=2, memory=4 * 10**9, disk=10 * 2**30))
    busy = Figures(cpus=4, load1=3.4, mem_total=16 * 10**9, mem_available=8 * 10**9, disk_free=100 * 2**30)
    node = Node(tmp_path, Lab(b"k" * 32, "a" * 16), IdleSources([ManualIdleSource(value=3600)]),
                figures=lambda _: busy)
    node.guests = IdleGuests()
    snap = node.tick()
    # (3.4 - 0.1) / 4 = 0.82 per core is the owner's: busy. Taking the guests' 2-CPU allowance off instead
    # (the old upper bound) left 0.35 and counted a desktop its owner was loading as free for guests.
    assert snap.decision.state == BUSY and "0.82 per core" in snap.decision.reason
