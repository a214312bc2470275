"""`localhub up | down | restart | status | recover | login | token | doctor | config | tui`: the hub itself."""

from __future__ import annotations

import argparse
import json
import itertools
import os
import re
import sys
import time
import webbrowser
from pathlib import Path

from .. import lifecycle
from ..client import Client
from ..config import setting_help
from ..errors import LocalhubError, NotRunning, shown
from ..state import StateDir
from .common import client_from, print_json, settings_from


def cmd_up(args) -> int:
    settings = settings_from(args)
    state = StateDir(settings.state_dir)
    runtime = lifecycle.running_daemon(state)
    if runtime:
        if args.json:
            print_json({"running": True, "started": False, "url": runtime["url"], "pid": runtime["daemon_pid"],
                        "state_dir": str(settings.state_dir)})
        else:
            print(f"localhub is already running at {runtime['url']} (pid {runtime['daemon_pid']}); "
                  "`localhub login` prints a sign-in link.")
        return 0
    if not args.detach:
        if args.json:
            raise LocalhubError("`localhub up --json` reports once the hub is ready, so it needs --detach (in the "
                                "foreground the hub's log is the output).")
        from ..lean import DAEMON_LATER, HUB, import_later, skip_unused

        skip_unused(HUB)  # before the daemon's modules import what it leaves out (lean.py)
        import_later(DAEMON_LATER)
        from ..daemon import run_foreground

        return run_foreground(settings)
    lifecycle.start_detached(settings, state)
    client = Client(settings.state_dir)
    warnings = client.info().get("warnings") or []
    link = client.login_link()
    if args.json:
        print_json({"running": True, "started": True, "url": settings.url, "pid": client.runtime.get("daemon_pid"),
                    "state_dir": str(settings.state_dir), "login": link, "warnings": warnings})
        return 0
    for warning in warnings:
        print(f"localhub: warning: {warning}", file=sys.stderr)
    print(f"localhub is running at {settings.url} — sign in: {link}")
    return 0


def stop_hub(args) -> bool:
    """Stop the hub of the state dir; False when none was running."""
    settings = settings_from(args)

    def ask_daemon(keep_servers: bool) -> None:
        Client(settings.state_dir).shutdown(keep_servers=keep_servers)

    return lifecycle.stop(StateDir(settings.state_dir), args.keep_servers, ask_daemon)


def cmd_down(args) -> int:
    settings = settings_from(args)
    stopped = stop_hub(args)
    if args.json:
        print_json({"stopped": bool(stopped), "keep_servers": args.keep_servers,
                    "state_dir": str(settings.state_dir)})
    elif not stopped:
        print(f"localhub is not running for {settings.state_dir}.")
    else:
        print("localhub stopped" + (" (servers keep running)." if args.keep_servers else "."))
    return 0


def cmd_restart(args) -> int:
    from ..recovery import database_problem

    state = StateDir(settings_from(args).state_dir)
    if lifecycle.running_daemon(state):  # it holds its database open; a new hub would refuse to start on a bad one
        problem = database_problem(state.database) or (None if state.database.exists() else "is missing")
        if problem:
            raise LocalhubError(f"The hub's database {state.database} {problem}, so a restart would not start "
                                "again; `localhub down`, then `localhub recover`, starts on a new one with your servers.")
    runtime = state.read_runtime() or {}
    previous = runtime.get("settings", {})
    args.port = args.port or previous.get("port")
    args.ip = args.ip or previous.get("ip")
    args.keep_servers = True
    if stop_hub(args) and not args.json:
        print("localhub stopped (servers keep running).")
    args.detach = True
    return cmd_up(args)


def cmd_recover(args) -> int:
    """Set a damaged database aside, start the hub, and bring back every server whose home it finds."""
    from ..recovery import database_problem, new_database, set_aside

    settings = settings_from(args)
    state = StateDir(settings.state_dir)
    if not lifecycle.running_daemon(state):
        if not state.root.is_dir():
            raise LocalhubError(f"No hub has run with the state directory {state.root}, so there is nothing to "
                                "recover; is --state-dir right?")
        problem = database_problem(state.database)
        if problem:
            kept = set_aside(state.database)
            print(f"The hub's database {problem}; it is kept as {kept} and the hub starts with a new one.",
                  file=sys.stderr if args.json else sys.stdout)
        if not state.database.exists():
            state.prepare()
            new_database(state.database)
        print(f"Starting the hub on port {settings.port} (--port chooses another)…",
              file=sys.stderr if args.json else sys.stdout)
        lifecycle.start_detached(settings, state)
    result = Client(settings.state_dir).recover()
    if args.json:
        print_json(result)
        return 0 if not result["refused"] else 1
    for server in result["adopted"]:
        made = f" (environment {server['spec']})" if server.get("spec") else ""
        print(f"Server '{server['server']}' is back, stopped, with its files{made}.")
    for server in result["refused"]:
        print(f"Server '{server['server']}' could not be brought back: {server['reason']}", file=sys.stderr)
    if not result["adopted"] and not result["refused"]:
        print("Every home of this hub belongs to a server it knows; nothing to bring back.")
    return 0 if not result["refused"] else 1


def cmd_status(args) -> int:
    settings = settings_from(args)
    try:
        client = Client(settings.state_dir)
    except NotRunning as err:
        leftover = lifecycle.leftover_hub(StateDir(settings.state_dir))
        if args.json:
            print_json({"running": False, "state_dir": str(settings.state_dir), "leftover_hub_pid": leftover})
        else:
            print(str(err))
            if leftover:
                print(f"  JupyterHub (pid {leftover}) of a daemon that died is still ending; `localhub down` stops it.")
        return 3
    info = client.info()
    servers = client.servers()
    if args.json:
        print_json({"running": True, **info, "servers": [s.__dict__ for s in servers]})
        return 0
    running = sum(1 for s in servers if s.ready)
    engine = info["engine"]
    print(f"localhub {info['version']} is running at {info['url']} for user {info['user']} "
          f"(up {int(info['uptime'] // 60)} min)")
    print(f"  engine: Docker {engine['version']} (API {engine['api_version']}) at {engine['address']}")
    print(f"  servers: {running} running, {len(servers) - running} stopped")
    print(f"  state: {info['state_dir']}")
    for warning in info.get("warnings") or []:
        print(f"  warning: {warning}")
    return 0


def next_path(text: str, hub_url: str) -> str:
    """`login --next` as a path of this hub: a URL of this hub loses its host, a Binder link of any host becomes
    its /v2/ path here, and anything else is refused."""
    text = text.strip()
    if text == hub_url or text.startswith(hub_url + "/"):
        text = text[len(hub_url):] or "/"
    elif "://" in text and "/v2/" in text:
        text = text[text.index("/v2/", text.index("://") + 3):]
    if not text.startswith("/") or text.startswith("//"):
        raise LocalhubError(f"--next {shown(text)} is not a page of this hub; give a Binder link, a path such as "
                            f"/v2/gh/org/repo/HEAD or a URL starting with {hub_url}/.")
    return text


def cmd_login(args) -> int:
    client = client_from(args)
    link = client.login_link(next_url=next_path(args.next, client.url) if args.next else None)
    print_json({"url": link, "user": client.user, "hub": client.url}) if args.json else print(link)
    if args.open:
        webbrowser.open(link)
    return 0


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LONGEST_TOKEN = 3650 * 86400  # JupyterHub stores an expiry date: keep it far from the calendar's end
NOTE_LIMIT = 200
DURATION_HINT = "write e.g. 30d, 12h, 90m (units s, m, h, d, w) or never"


def duration(text: str) -> int | None:
    """'30d', '12h', '90m', '2w', '3600' (seconds) or 'never' (None), from a minute to ten years."""
    value = text.strip()
    if value == "never":
        return None
    match = re.fullmatch(r"([0-9]{1,12})([smhdw]?)", value)
    if not match:
        raise argparse.ArgumentTypeError(f"'{shown(text)}' is not a duration: {DURATION_HINT}.")
    seconds = int(match[1]) * DURATION_UNITS[match[2] or "s"]
    if seconds < 60:
        raise argparse.ArgumentTypeError(f"'{shown(text)}' is too short: a token must live at least a minute.")
    if seconds > LONGEST_TOKEN:
        raise argparse.ArgumentTypeError(f"'{shown(text)}' is too long: at most 3650d (ten years), or never.")
    return seconds


def note(text: str) -> str:
    if len(text) > NOTE_LIMIT:
        raise argparse.ArgumentTypeError(f"the note is {len(text)} characters long; keep it to {NOTE_LIMIT}.")
    if shown(text, limit=NOTE_LIMIT) != text:
        raise argparse.ArgumentTypeError(f"the note '{shown(text)}' holds control characters; use plain text.")
    return text


def cmd_token(args) -> int:
    client = client_from(args)
    made = client.create_token(args.expires, args.note, ["inherit"] if args.all_rights else None)
    if args.json:
        print_json({"token": made["token"], "user": client.user, "expires_at": made.get("expires_at"),
                    "note": made.get("note"), "scopes": made.get("scopes"), "url": client.url})
        return 0
    print(made["token"])
    until = f"expires {made['expires_at']}" if made.get("expires_at") else "never expires"
    rights = "every right of" if args.all_rights else "launch, start, stop and reach the servers of"
    print(f"(a token that may {rights} {client.user}; it {until}; send it as `Authorization: token …` to "
          f"{client.url}/build/… or the hub's REST API; revoke it at {client.url}/hub/token)", file=sys.stderr)
    return 0


def cmd_doctor(args) -> int:
    from ..doctor import run_checks

    checks = run_checks(settings_from(args))
    if args.json:
        print_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            print(f"{'ok ' if c.ok else 'BAD'} {c.name}: {c.detail}" + (f" — {c.fix}" if c.fix else ""))
    return 0 if all(c.ok for c in checks) else 1


def cmd_tui(args) -> int:
    if args.json:
        raise LocalhubError("The terminal UI draws on a terminal and has no JSON form; `localhub status --json` and "
                            "`localhub servers ls --json` give what it shows.")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LocalhubError("localhub tui needs a terminal, and its input or output is not one; in scripts, use "
                            "the other commands (`localhub status`, `localhub servers ls --json`).")
    # imported here: the daemon package stays headless; only this command needs Textual
    from localhub_tui.app import run

    return run(settings_from(args).state_dir)


LOGS = {"hub": "hub.log", "daemon": "daemon.log"}  # JupyterHub and its proxy; localhub's own daemon


def last_lines(path: Path, count: int, block: int = 65536) -> tuple[list[str], int]:
    """The last `count` lines of a file, read from its end, and where the file ends (to follow from there)."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        data, start = b"", end
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - block)
            f.seek(start)
            data = f.read(end - start)
    lines = data.decode(errors="replace").splitlines()
    return (lines[-count:] if count else []), end


def follow_lines(path: Path, position: int, every: float = 0.5):
    """New lines of a log as they come, across its rotation (logcap.py renames it to .1 and starts anew)."""
    handle = path.open("rb")
    handle.seek(position)
    partial = b""
    try:
        while True:
            chunk = handle.read()
            if chunk:
                *done, partial = (partial + chunk).split(b"\n")
                for line in done:
                    yield line.decode(errors="replace")
                continue
            try:
                rotated = os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                rotated = False  # between the rename and the new file: look again
            if rotated:
                last = handle.read()  # what was written just before the rename
                handle.close()
                handle = path.open("rb")
                *done, partial = (partial + last).split(b"\n")
                for line in done:
                    yield line.decode(errors="replace")
                continue
            time.sleep(every)
    finally:
        handle.close()


def log_line(line: str) -> str:
    """A log line for a terminal: printable as it is, or with its control characters escaped."""
    return line if line.isprintable() else shown(line, limit=len(line) + 1)


def cmd_logs(args) -> int:
    """The hub's own log from the state dir (JupyterHub, its proxy; `--daemon`: localhub's daemon). The logs
    hold no token: the daemon writes them token-free."""
    state = StateDir(settings_from(args).state_dir)
    which = "daemon" if args.daemon else "hub"
    path = state.logs / LOGS[which]
    if not path.exists():
        raise LocalhubError(f"There is no {which} log in {state.logs} yet: a hub writes it from its first "
                            "`localhub up`.")
    lines, end = last_lines(path, args.lines)
    stream = iter(lines) if not args.follow else itertools.chain(lines, follow_lines(path, end))
    for line in stream:
        print(json.dumps({"log": which, "line": line}) if args.json else log_line(line), flush=args.follow)
    return 0


def count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"'{shown(text)}' is not a number of lines (0 or more).")
    return int(text)


def register(sub, common, json_flag) -> None:
    up = sub.add_parser("up", parents=[common, json_flag], help="start the hub (defaults: 127.0.0.1:8765)")
    up.add_argument("--port", type=int, help=setting_help("port"))
    up.add_argument("--ip", help=setting_help("ip"))
    up.add_argument("--detach", action="store_true", help="run in the background and return once ready")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", parents=[common, json_flag], help="stop the hub and its servers (storage kept)")
    down.add_argument("--keep-servers", action="store_true", help="leave servers running")
    down.set_defaults(func=cmd_down)

    restart = sub.add_parser("restart", parents=[common, json_flag], help="restart the hub; servers keep running")
    restart.add_argument("--port", type=int, help="as for `up` (default: the port it had)")
    restart.add_argument("--ip", help="as for `up` (default: the address it had)")
    restart.set_defaults(func=cmd_restart)

    sub.add_parser("status", parents=[common, json_flag], help="what runs").set_defaults(func=cmd_status)
    recover = sub.add_parser("recover", parents=[common, json_flag],
                             help="after a damaged database: set it aside, start the hub and bring servers back "
                                  "from their homes")
    recover.add_argument("--port", type=int, help="port of the hub, when it has to start (as for `up`)")
    recover.add_argument("--ip", help="address to listen on, when it has to start (as for `up`)")
    recover.set_defaults(func=cmd_recover)
    login = sub.add_parser("login", parents=[common, json_flag], help="print a one-time sign-in link")
    login.add_argument("--open", action="store_true", help="open it in the browser")
    login.add_argument("--next", metavar="URL", help="the page of this hub to open once signed in (a Binder link, "
                                                     "or the path the sign-in page names)")
    login.set_defaults(func=cmd_login)
    token = sub.add_parser("token", parents=[common, json_flag],
                           help="print a new API token for scripts and Binder clients (`/build`)")
    token.add_argument("--expires", type=duration, default=30 * 86400, metavar="DURATION",
                       help="when it expires: 30d (default), 12h, 90m, 2w, a number of seconds (a minute to ten "
                            "years), or never")
    token.add_argument("--note", type=note, default="localhub token (CLI)",
                       help=f"what the token is for, shown on the hub's token page (at most {NOTE_LIMIT} characters)")
    token.add_argument("--all-rights", action="store_true",
                       help="give the token every right of the hub's user (admin), not only launching and reaching "
                            "servers")
    token.set_defaults(func=cmd_token)
    doctor = sub.add_parser("doctor", parents=[common, json_flag], help="check the machine")
    doctor.add_argument("--port", type=int, help=setting_help("port"))
    doctor.set_defaults(func=cmd_doctor)

    logs = sub.add_parser("logs", parents=[common, json_flag],
                          help="print the hub's own log (JupyterHub and its proxy; no tokens in it)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    logs.add_argument("-n", "--lines", type=count, default=100, metavar="N",
                      help="lines from the end to start with (default 100)")
    logs.add_argument("--daemon", action="store_true",
                      help="localhub's daemon's log instead (what `localhub up --detach` printed)")
    logs.set_defaults(func=cmd_logs)

    sub.add_parser("tui", parents=[common], help="the terminal UI (also: bare `localhub` on a terminal)"
                   ).set_defaults(func=cmd_tui)
