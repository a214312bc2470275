"""The `localhub` command. Human text by default, one JSON document (or JSON lines for streams) with
--json; exit code 0 only on success; errors are one sentence on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

from . import __version__
from .client import Client
from .config import Settings, load_settings
from .errors import LocalhubError, NotRunning
from .pool.commands import register as register_pool_commands
from .profiles import format_size
from .state import StateDir, pid_alive


def _settings(args) -> Settings:
    return load_settings(
        state_dir=getattr(args, "state_dir", None),
        port=getattr(args, "port", None),
        ip=getattr(args, "ip", None),
    )


def _client(args) -> Client:
    return Client(_settings(args).state_dir)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- hub lifecycle ---------------------------------------------------------------------------------

def cmd_up(args) -> int:
    from .daemon import running_daemon, run_foreground

    settings = _settings(args)
    state = StateDir(settings.state_dir)
    runtime = running_daemon(state)
    if runtime:
        print(f"localhub is already running at {runtime['url']} (pid {runtime['daemon_pid']}); "
              "`localhub login` prints a sign-in link.")
        return 0
    if not args.detach:
        return run_foreground(settings)
    return _start_detached(args, settings, state)


def _start_detached(args, settings: Settings, state: StateDir) -> int:
    state.prepare()
    argv = [sys.executable, "-m", "localhub", "up", "--state-dir", str(settings.state_dir),
            "--port", str(settings.port), "--ip", settings.ip]
    log_path = state.logs / "daemon.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalhubError(_last_line(log_path) or f"localhub stopped during start-up; see {log_path}")
        runtime = state.read_runtime() or {}
        if runtime.get("ready") and runtime.get("daemon_pid") == proc.pid:
            link = Client(settings.state_dir).login_link()
            print(f"localhub is running at {settings.url} — sign in: {link}")
            return 0
        time.sleep(0.25)
    raise LocalhubError(f"localhub did not become ready within 120 s; see {log_path}")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("localhub: ") if lines else ""


def cmd_down(args) -> int:
    settings = _settings(args)
    state = StateDir(settings.state_dir)
    runtime = state.read_runtime()
    if not runtime or not pid_alive(runtime.get("daemon_pid")):
        print(f"localhub is not running for {settings.state_dir}.")
        state.clear_runtime()
        return 0
    pid = runtime["daemon_pid"]
    try:
        Client(settings.state_dir).shutdown(keep_servers=args.keep_servers)
    except LocalhubError:
        os.kill(pid, signal.SIGTERM)  # API unreachable: the signal stops servers and hub too
    deadline = time.monotonic() + 60
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        raise LocalhubError(f"localhub (pid {pid}) did not stop within 60 s; see {state.logs / 'hub.log'}.")
    print("localhub stopped" + (" (servers keep running)." if args.keep_servers else "."))
    return 0


def cmd_restart(args) -> int:
    runtime = StateDir(_settings(args).state_dir).read_runtime() or {}
    previous = runtime.get("settings", {})
    args.port = args.port or previous.get("port")
    args.ip = args.ip or previous.get("ip")
    args.keep_servers = True
    cmd_down(args)
    args.detach = True
    return cmd_up(args)


def cmd_status(args) -> int:
    settings = _settings(args)
    try:
        client = Client(settings.state_dir)
    except NotRunning as err:
        if args.json:
            _print_json({"running": False, "state_dir": str(settings.state_dir)})
        else:
            print(str(err))
        return 3
    info = client.info()
    servers = client.servers()
    if args.json:
        _print_json({"running": True, **info, "servers": [s.__dict__ for s in servers]})
        return 0
    running = sum(1 for s in servers if s.ready)
    engine = info["engine"]
    print(f"localhub {info['version']} is running at {info['url']} for user {info['user']} "
          f"(up {int(info['uptime'] // 60)} min)")
    print(f"  engine: Docker {engine['version']} (API {engine['api_version']}) at {engine['address']}")
    print(f"  servers: {running} running, {len(servers) - running} stopped")
    print(f"  state: {info['state_dir']}")
    return 0


def cmd_login(args) -> int:
    link = _client(args).login_link()
    print(link)
    if args.open:
        webbrowser.open(link)
    return 0


def cmd_doctor(args) -> int:
    from .doctor import run_checks

    checks = run_checks(_settings(args))
    if args.json:
        _print_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            print(f"{'ok ' if c.ok else 'BAD'} {c.name}: {c.detail}" + (f" — {c.fix}" if c.fix else ""))
    return 0 if all(c.ok for c in checks) else 1


def cmd_tui(args) -> int:
    # imported here: the daemon package stays headless; only this command needs Textual
    from localhub_tui.app import run

    return run(_settings(args).state_dir)


def cmd_config(args) -> int:
    from .config import config_file_path, reference, settings_to_dict

    settings = _settings(args)
    if args.json:
        _print_json(settings_to_dict(settings))
        return 0
    current = settings_to_dict(settings)
    print(f"Settings (config file: {config_file_path(settings.config_dir)}; "
          "override any with LOCALHUB_<NAME> or the command's flags)\n")
    for name, default, text in reference():
        print(f"{name} = {json.dumps(current[name])}\n    {text} (default: {default})")
    return 0


# --- servers ---------------------------------------------------------------------------------------

WHERE_HELP = ("where the server runs: local (default), auto (here when it fits, else the idle lab peer with "
              "most room) or a lab peer's name or node id from `localhub pool status`")


def _where(text: str) -> str:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not local, auto or a peer's name (letters, digits, . _ -).")
    return text.lower() if text.lower() in ("local", "auto") else text


def _follow(events, as_json: bool) -> None:
    for event in events:
        if as_json:
            print(json.dumps(event), flush=True)
        elif sys.stderr.isatty():
            print(f"\r[{int(event.get('progress') or 0):3d}%] {event.get('message', '')[:70]:<70}",
                  end="", file=sys.stderr, flush=True)
    if not as_json and sys.stderr.isatty():
        print(file=sys.stderr)


def cmd_servers_new(args) -> int:
    client = _client(args)
    _follow(client.create_server(args.name, profile=args.profile, image=args.image, where=args.where), args.json)
    return _report_ready(client, args)


def cmd_servers_start(args) -> int:
    client = _client(args)
    _follow(client.start_server(args.name, where=args.where), args.json)
    return _report_ready(client, args)


def _report_ready(client: Client, args) -> int:
    url = client.server_url(args.name)
    if args.json:
        print(json.dumps({"name": args.name, "ready": True, "url": url}))
    else:
        print(f"Server '{args.name}' is ready: {url}")
    return 0


def cmd_servers_stop(args) -> int:
    _client(args).stop_server(args.name)
    print(f"Server '{args.name}' stopped; its files are kept.")
    return 0


def cmd_servers_delete(args) -> int:
    client = _client(args)
    if not args.yes and sys.stdin.isatty():
        answer = input(f"Delete server '{args.name}' and ALL files in its home? Type the name to confirm: ")
        if answer.strip() != args.name:
            print("Nothing deleted.")
            return 1
    elif not args.yes:
        raise LocalhubError(f"Deleting '{args.name}' removes all its files; add --yes to confirm.")
    client.delete_server(args.name)
    print(f"Server '{args.name}' deleted with its storage.")
    return 0


def cmd_servers_ls(args) -> int:
    servers = _client(args).servers()
    if args.json:
        _print_json([s.__dict__ for s in servers])
        return 0
    if not servers:
        print("No servers yet; create one with `localhub servers new NAME`.")
        return 0
    print(f"{'NAME':<21} {'STATUS':<9} {'WHERE':<12} {'PROFILE':<9} {'STORAGE':<21} IMAGE")
    for s in servers:
        used = "-" if s.storage_used is None else format_size(s.storage_used)
        cap = "" if s.storage_cap is None else f" / {format_size(s.storage_cap)}"
        warn = " !" if s.storage_used and s.storage_cap and s.storage_used > s.storage_cap * 0.9 else ""
        print(f"{s.name:<21} {s.status:<9} {s.where or 'local':<12} {s.profile or '-':<9} {used + cap + warn:<21} "
              f"{s.image or '-'}")
        if s.notice:
            print(f"{'':<21} note: {s.notice}")
    return 0


def cmd_servers_open(args) -> int:
    client = _client(args)
    server = client.server(args.name)
    url = client.server_url(args.name)
    print(url)
    if not server.ready:
        print(f"(server '{args.name}' is stopped: `localhub servers start {args.name}`)", file=sys.stderr)
    if args.browser:
        webbrowser.open(url)
    return 0


def cmd_servers_logs(args) -> int:
    for line in _client(args).server_logs(args.name, follow=args.follow, tail=args.tail):
        if line or not args.follow:  # while following, empty lines are the daemon's keep-alives
            print(line, flush=True)
    return 0


# --- Binder links and environments ---------------------------------------------------------------

def cmd_spec(args) -> int:
    parsed = Client.parse_link(args.link)
    if args.json:
        print(json.dumps(parsed))
    else:
        for key in ("provider", "repo", "ref", "urlpath", "spec"):
            print(f"{key:<9} {parsed[key] if parsed[key] is not None else '-'}")
    return 0


class LaunchDisplay:
    """Phases and a progress bar on a terminal; the build log as plain lines otherwise."""

    WEIGHTS = {"waiting": 0.05, "fetching": 0.1, "building": 0.2, "built": 0.8, "launching": 0.85, "ready": 1.0}

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.phase = None
        self.done = 0.0

    def show(self, event: dict) -> None:
        phase, message = event.get("phase", ""), (event.get("message") or "").rstrip()
        if phase != self.phase:
            self._clear()
            print(f"==> {phase}", file=self.stream, flush=True)
            self.phase = phase
        self.done = max(self.done, self.WEIGHTS.get(phase, self.done))
        if event.get("progress") is not None and phase == "building":
            self.done = max(self.done, 0.2 + 0.6 * event["progress"])
        if message and phase in ("building", "fetching", "waiting", "failed") or not self.tty:
            self._clear()
            print(f"    {message}", file=self.stream, flush=True)
        if self.tty:
            width = 30
            filled = int(width * self.done)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {int(self.done * 100):3d}% {phase}")
            self.stream.flush()

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")


def cmd_launch(args) -> int:
    client = _client(args)
    display = LaunchDisplay()
    ready = None
    for event in client.launch(args.link, profile=args.profile, rebuild=args.rebuild, where=args.where):
        if args.json:
            print(json.dumps(event), flush=True)
        else:
            display.show(event)
        if event.get("phase") == "ready":
            ready = event
    if not args.json:
        display._clear()
        print(f"Ready: {ready['url']}  (server '{ready['server']}', image {ready['imageName']})")
    if args.open:
        path = ready["url"].removeprefix(client.url)
        webbrowser.open(client.login_link(next_url=path))
    return 0


def cmd_builds_ls(args) -> int:
    envs = [e for e in _client(args).environments()]
    if args.json:
        _print_json(envs)
        return 0
    if not envs:
        print("No environments built yet; `localhub launch LINK` builds one.")
        return 0
    print(f"{'SPEC':<44} {'RESOLVED':<13} {'SIZE':>10}  {'BUILT':<17} SERVERS")
    for e in envs:
        if e.get("building"):
            print(f"{e['image']:<44} (building now)")
            continue
        built = (e.get("built") or "")[:16].replace("T", " ")
        print(f"{e['spec'][:44]:<44} {e['resolved'][:12]:<13} {format_size(e['size']):>10}  {built:<17} "
              f"{', '.join(e['servers']) or '-'}")
    return 0


def _find_environment(client: Client, what: str) -> dict:
    envs = [e for e in client.environments() if not e.get("building")]
    matches = [e for e in envs if what in (e["image"], e["spec"]) or e["resolved"].startswith(what)]
    if not matches:
        raise LocalhubError(f"No environment matches '{what}'; `localhub builds ls` lists them.")
    return matches[0]


def cmd_builds_log(args) -> int:
    client = _client(args)
    try:
        text = client.build_log(image=_find_environment(client, args.environment)["image"])
    except LocalhubError:  # a failed build keeps its log but has no image: by image name, else by spec
        try:
            text = client.build_log(image=args.environment)
        except LocalhubError:
            try:
                spec = Client.parse_link(args.environment)["spec"]  # a link or a spec, written any way
            except LocalhubError:
                spec = args.environment
            text = client.build_log(spec=spec)
    sys.stdout.write(text)
    return 0


def cmd_builds_rm(args) -> int:
    client = _client(args)
    env = _find_environment(client, args.environment)
    if not args.yes:
        raise LocalhubError(f"Removing {env['image']} means rebuilding it at its next launch; add --yes to confirm.")
    client.remove_environment(env["image"])
    print(f"Removed {env['image']}.")
    return 0


# --- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help="the hub's state directory (default: $LOCALHUB_STATE_DIR or "
                                            "the user data dir); addresses one of several hubs")
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON instead of text")

    parser = argparse.ArgumentParser(prog="localhub", description="Binder at home: your own JupyterHub.")
    parser.add_argument("--version", action="version", version=f"localhub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    up = sub.add_parser("up", parents=[common], help="start the hub (defaults: 127.0.0.1:8765)")
    up.add_argument("--port", type=int, help="port of the hub (default 8765; also uses port+1 and port+2)")
    up.add_argument("--ip", help="address to listen on (default 127.0.0.1; 0.0.0.0 opens it to the LAN)")
    up.add_argument("--detach", action="store_true", help="run in the background and return once ready")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", parents=[common], help="stop the hub and its servers (storage kept)")
    down.add_argument("--keep-servers", action="store_true", help="leave servers running")
    down.set_defaults(func=cmd_down)

    restart = sub.add_parser("restart", parents=[common], help="restart the hub; servers keep running")
    restart.add_argument("--port", type=int)
    restart.add_argument("--ip")
    restart.set_defaults(func=cmd_restart)

    sub.add_parser("status", parents=[common, json_flag], help="what runs").set_defaults(func=cmd_status)
    login = sub.add_parser("login", parents=[common], help="print a one-time sign-in link")
    login.add_argument("--open", action="store_true", help="open it in the browser")
    login.set_defaults(func=cmd_login)
    doctor = sub.add_parser("doctor", parents=[common, json_flag], help="check the machine")
    doctor.add_argument("--port", type=int)
    doctor.set_defaults(func=cmd_doctor)

    sub.add_parser("tui", parents=[common], help="the terminal UI (also: bare `localhub` on a terminal)"
                   ).set_defaults(func=cmd_tui)
    config = sub.add_parser("config", parents=[common, json_flag], help="show every setting and what it does")
    config.set_defaults(func=cmd_config)

    servers = sub.add_parser("servers", help="named servers").add_subparsers(dest="servers_command",
                                                                              metavar="ACTION", required=True)
    new = servers.add_parser("new", parents=[common, json_flag], help="create and start a named server")
    new.add_argument("name")
    new.add_argument("--profile", help="resource profile (default: 'default')")
    new.add_argument("--image", help="image to run (default: the profile's, else localhub/singleuser:latest)")
    new.add_argument("--where", type=_where, help=WHERE_HELP)
    new.set_defaults(func=cmd_servers_new)
    for name, func, text in (("start", cmd_servers_start, "start a stopped server"),
                             ("stop", cmd_servers_stop, "stop a server (files kept)")):
        p = servers.add_parser(name, parents=[common, json_flag], help=text)
        p.add_argument("name")
        if name == "start":
            p.add_argument("--where", type=_where, help=WHERE_HELP + " (default: where it ran last)")
        p.set_defaults(func=func)
    delete = servers.add_parser("delete", parents=[common], help="delete a server and its storage")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_servers_delete)
    servers.add_parser("ls", parents=[common, json_flag], help="list servers").set_defaults(func=cmd_servers_ls)
    open_ = servers.add_parser("open", parents=[common], help="print (and open) a server's URL")
    open_.add_argument("name")
    open_.add_argument("--browser", action="store_true", help="open it in the browser")
    open_.set_defaults(func=cmd_servers_open)
    spec = sub.add_parser("spec", parents=[json_flag], help="show how a Binder link is read (offline)")
    spec.add_argument("link", help="a Binder link, Binder spec, repository URL or local directory")
    spec.set_defaults(func=cmd_spec)

    launch = sub.add_parser("launch", parents=[common, json_flag],
                            help="build (once) and start the environment of a Binder link")
    launch.add_argument("link", help="any Binder link (host swapped or not), repository URL or local directory")
    launch.add_argument("--profile", help="resource profile for its server")
    launch.add_argument("--where", type=_where, help=WHERE_HELP)
    launch.add_argument("--rebuild", action="store_true", help="build the same commit again")
    launch.add_argument("--open", action="store_true", help="open it in the browser when ready")
    launch.set_defaults(func=cmd_launch)

    builds = sub.add_parser("builds", help="built environments").add_subparsers(
        dest="builds_command", metavar="ACTION", required=True)
    builds.add_parser("ls", parents=[common, json_flag], help="list environments").set_defaults(func=cmd_builds_ls)
    blog = builds.add_parser("log", parents=[common], help="print an environment's build log")
    blog.add_argument("environment", help="image name, spec or resolved id (prefix)")
    blog.set_defaults(func=cmd_builds_log)
    brm = builds.add_parser("rm", parents=[common], help="remove an environment's image")
    brm.add_argument("environment")
    brm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    brm.set_defaults(func=cmd_builds_rm)

    register_pool_commands(sub, common, json_flag)

    logs = servers.add_parser("logs", parents=[common], help="print a server's log")
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=200, help="lines from the end to start with (default 200)")
    logs.set_defaults(func=cmd_servers_logs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if sys.stdin.isatty() and sys.stdout.isatty():
            args.func = cmd_tui
        else:
            parser.print_help()
            return 0
    try:
        return args.func(args)
    except LocalhubError as err:
        print(f"localhub: {err}", file=sys.stderr)
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
