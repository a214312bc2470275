"""The long fuzzing run of the Binder link parser (issue 10, item 14): 10^5 inputs by default.

Runs the strategies and the oracle of tests/reliability/linkgen.py (the CI layer runs the same, bounded):
hostile text and links that should be good, half each. Every input must end in a LaunchSpec that round-trips
or in one bounded, escaped sentence. Prints the figures and exits 1 if any input broke the promise.

    .venv/bin/python scripts/fuzz_links.py [--inputs 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from localhub.binder import BadLink, parse_link  # noqa: E402
from tests.reliability.linkgen import check_link, good_links, hostile_text  # noqa: E402


def run(strategy, count: int, run_seed: int, tally: collections.Counter, lengths: list[int],
        broken: list[str]) -> None:
    @seed(run_seed)
    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(text: str) -> None:
        tally["inputs"] += 1
        try:
            tally[check_link(text)] += 1
            try:
                parse_link(text)
            except BadLink as err:
                lengths.append(len(str(err)))
        except AssertionError as err:
            tally["broken"] += 1
            broken.append(f"{text[:120]!r}: {err}")
        except Exception:  # a crash: anything but a LaunchSpec or a BadLink
            tally["crashes"] += 1
            broken.append(f"{text[:120]!r}: {traceback.format_exc(limit=3)}")

    one()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="how many inputs in all (default 10^5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tally: collections.Counter = collections.Counter()
    lengths: list[int] = []
    broken: list[str] = []
    started = time.monotonic()
    half = args.inputs // 2
    run(hostile_text(), args.inputs - half, args.seed, tally, lengths, broken)
    run(good_links(), half, args.seed + 1, tally, lengths, broken)
    seconds = time.monotonic() - started
    print(f"inputs:        {tally['inputs']} in {seconds:.0f} s")
    print(f"parsed:        {tally['parsed']} (each round-trips through its spec and its /v2/ path)")
    print(f"refused:       {tally['refused']} (one sentence each; longest {max(lengths, default=0)} characters)")
    print(f"crashes:       {tally['crashes']}")
    print(f"broken promises: {tally['broken']}")
    for line in broken[:10]:
        print("  " + line)
    return 1 if tally["crashes"] or tally["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
