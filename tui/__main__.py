"""`python -m localhub_tui [--state-dir DIR]` — the same as `localhub tui`."""

from __future__ import annotations

import argparse
import os
import sys

import platformdirs

from .app import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub_tui", description="The localhub terminal UI.")
    parser.add_argument("--state-dir", help="the hub's state directory (default: $LOCALHUB_STATE_DIR or "
                                            "the user data dir, as for `localhub`)")
    args = parser.parse_args(argv)
    # the same default as localhub.config, which the TUI may not import
    state_dir = args.state_dir or os.environ.get("LOCALHUB_STATE_DIR") or platformdirs.user_data_dir("localhub")
    return run(state_dir)


if __name__ == "__main__":
    sys.exit(main())
