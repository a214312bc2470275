"""The `localhub` command. Human text by default, one JSON document (or JSON lines for streams) with
--json; exit code 0 only on success; errors are one sentence on stderr, never a traceback.

One module per command group, each with a `register(subparsers, common, json_flag)`:

    hub           up, down, restart, status, recover, login, token, doctor, logs, tui
    config        config [get | set | unset]: the settings (as tljh-config)
    servers       servers new | start | stop | delete | ls | open | logs | sync
    environments  spec, launch, builds ls | log | rm
    pool          pool init | invite | join | remove | share | status | forget | leave
    bundle        bundle create | import | ls | inspect | install (the offline workshop's bundles)
    classroom     class serve | join | status | fetch | publish | submit | handins | leave
    render        how progress and tables are drawn (no decisions)
    common        settings and client from the common options, JSON output
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import __version__
from ..errors import LocalhubError, shown
from ..lean import skip_unused

# every localhub process starts here (`localhub …`, `python -m localhub …`, the daemon): leave out what none of
# them uses before the commands' modules import httpx (and, in `bundle import`, jsonschema) — lean.py
skip_unused()

from . import bundle, classroom, config, environments, hub, pool, servers  # noqa: E402 (after skip_unused)

GROUPS = (hub, config, servers, environments, pool, bundle, classroom)


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in localhub's form: one line on stderr, what was typed escaped and bounded."""

    def error(self, message: str):
        sentence = f"{shown(message, limit=400)} (`{self.prog} --help` shows how)."
        if "--json" in sys.argv[1:]:  # a script reading stdout learns it too, as of any other failure
            print(json.dumps({"error": sentence, "exit_code": 2}), flush=True)
        self.exit(2, f"localhub: {sentence}\n")


STATE_DIR_HELP = ("the hub's state directory (default: $LOCALHUB_STATE_DIR or the user data dir); addresses one "
                  "of several hubs")
JSON_HELP = "print JSON instead of text (JSON lines for what streams)"


def build_parser() -> argparse.ArgumentParser:
    """The command tree. `--state-dir` and `--json` go before the command (`localhub --state-dir S status`, as
    `git -C` and `docker -H` allow) or after it; given after, they win. After the command they default to
    SUPPRESS: argparse copies a subcommand's defaults over the values read before the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS, help=STATE_DIR_HELP)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)

    parser = Parser(prog="localhub", description="Binder at home: your own JupyterHub.")
    parser.add_argument("--version", action="version", version=f"localhub {__version__}")
    parser.add_argument("--state-dir", help=STATE_DIR_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub, common, json_flag)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if sys.stdin.isatty() and sys.stdout.isatty():
            args.func = hub.cmd_tui
        else:
            parser.print_help()
            return 0
    try:
        return args.func(args)
    except LocalhubError as err:
        print(f"localhub: {err}", file=sys.stderr)
        if getattr(args, "json", False):  # a script reading stdout gets the failure as JSON too
            print(json.dumps({"error": str(err), "exit_code": err.exit_code}), flush=True)
        return err.exit_code
    except KeyboardInterrupt:
        print("localhub: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `localhub … | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a bug: still one sentence, with the way to see more
        if os.environ.get("LOCALHUB_DEBUG"):
            raise
        print(f"localhub: unexpected error ({err.__class__.__name__}: {err}); "
              "run again with LOCALHUB_DEBUG=1 for details and report it.", file=sys.stderr)
        return 1
