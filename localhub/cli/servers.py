"""`localhub servers new | start | stop | delete | ls | open | logs | sync`: named servers."""

from __future__ import annotations

import json
import sys
import webbrowser

from ..client import Client
from ..errors import LocalhubError, shown
from .common import WHERE_HELP, client_from, print_json, profile_name, where


def named(name: str) -> str:
    """The server a command names. `localhub servers` manages named servers only: an empty name would reach the
    default server (which JupyterHub's home page starts and stops) by accident."""
    if not name.strip():
        raise LocalhubError("This command needs a name: `localhub servers ls` lists your servers (the default "
                            "server is started and stopped from the hub's home page).")
    return name


def cmd_new(args) -> int:
    from .render import follow_spawn  # on use: see render.py

    named(args.name)
    client = client_from(args)
    follow_spawn(client.create_server(args.name, profile=args.profile, image=args.image, where=args.where),
                 args.json)
    return _report_ready(client, args)


def cmd_start(args) -> int:
    from .render import follow_spawn  # on use: see render.py

    named(args.name)
    client = client_from(args)
    follow_spawn(client.start_server(args.name, where=args.where, profile=args.profile), args.json)
    return _report_ready(client, args)


def _report_ready(client: Client, args) -> int:
    url = client.server_url(args.name)
    if args.json:
        print(json.dumps({"name": args.name, "ready": True, "url": url}))
    else:
        print(f"Server '{args.name}' is ready: {url}")
    return 0


def cmd_stop(args) -> int:
    named(args.name)
    client_from(args).stop_server(args.name)
    if args.json:
        print_json({"name": args.name, "stopped": True})
    else:
        print(f"Server '{args.name}' stopped; its files are kept.")
    return 0


def cmd_delete(args) -> int:
    named(args.name)
    client = client_from(args)
    if not args.yes and sys.stdin.isatty() and not args.json:
        answer = input(f"Delete server '{args.name}' and ALL files in its home? Type the name to confirm: ")
        if answer.strip() != args.name:
            print("Nothing deleted.")
            return 1
    elif not args.yes:
        raise LocalhubError(f"Deleting '{shown(args.name)}' removes all its files; add --yes to confirm.")
    client.delete_server(args.name)
    if args.json:
        print_json({"name": args.name, "deleted": True})
    else:
        print(f"Server '{args.name}' deleted with its storage.")
    return 0


def cmd_ls(args) -> int:
    servers = client_from(args).servers()
    if args.json:
        print_json([s.__dict__ for s in servers])
        return 0
    if not servers:
        print("No servers yet; create one with `localhub servers new NAME`.")
        return 0
    from .render import servers_table  # on use: see render.py

    servers_table(servers)
    return 0


def cmd_open(args) -> int:
    named(args.name)
    client = client_from(args)
    server = client.server(args.name)
    if server.status == "paused":
        client.resume_server(args.name)  # a paused server answers at once (opening the URL would resume it too)
    url = client.server_url(args.name)
    if args.json:
        print_json({"name": args.name, "url": url, "ready": server.ready})
    else:
        print(url)
    if not server.ready and not args.json:
        print(f"(server '{args.name}' is stopped: `localhub servers start {args.name}`)", file=sys.stderr)
    if args.browser:
        webbrowser.open(url)
    return 0


def cmd_logs(args) -> int:
    named(args.name)
    for line in client_from(args).server_logs(args.name, follow=args.follow, tail=args.tail):
        if line or not args.follow:  # while following, empty lines are the daemon's keep-alives
            print(json.dumps({"server": args.name, "line": line}) if args.json else line, flush=True)
    return 0


def cmd_sync(args) -> int:
    named(args.name)
    outcome = client_from(args).sync_server(args.name)
    print(json.dumps(outcome) if args.json else outcome["message"])
    return 0


NAME_HELP = ("the new server's name: lowercase letters, digits and single '-', starting with a letter (at most "
             "`server_name_max_length` characters, 20 by default)")


def register(sub, common, json_flag) -> None:
    servers = sub.add_parser("servers", help="named servers").add_subparsers(dest="servers_command",
                                                                              metavar="ACTION", required=True)
    new = servers.add_parser("new", parents=[common, json_flag], help="create and start a named server")
    new.add_argument("name", help=NAME_HELP)
    new.add_argument("--profile", type=profile_name, help="resource profile (default: 'default')")
    new.add_argument("--image", help="image to run (default: the profile's, else localhub/singleuser:latest)")
    new.add_argument("--where", type=where, help=WHERE_HELP)
    new.set_defaults(func=cmd_new)
    start = servers.add_parser("start", parents=[common, json_flag], help="start a stopped server")
    start.add_argument("name", help="the server's name (`localhub servers ls` lists them)")
    start.add_argument("--where", type=where, help=WHERE_HELP + " (default: where it ran last)")
    start.add_argument("--profile", type=profile_name, help="resource profile from now on (default: the one it had)")
    start.set_defaults(func=cmd_start)
    stop = servers.add_parser("stop", parents=[common, json_flag], help="stop a server (files kept)")
    stop.add_argument("name", help="the server's name (`localhub servers ls` lists them)")
    stop.set_defaults(func=cmd_stop)
    delete = servers.add_parser("delete", parents=[common, json_flag], help="delete a server and its storage")
    delete.add_argument("name", help="the server's name (`localhub servers ls` lists them)")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_delete)
    servers.add_parser("ls", parents=[common, json_flag], help="list servers").set_defaults(func=cmd_ls)
    open_ = servers.add_parser("open", parents=[common, json_flag], help="print (and open) a server's URL")
    open_.add_argument("name", help="the server's name (`localhub servers ls` lists them)")
    open_.add_argument("--browser", action="store_true", help="open it in the browser")
    open_.set_defaults(func=cmd_open)
    logs = servers.add_parser("logs", parents=[common, json_flag], help="print a server's log (JSON lines with --json)")
    logs.add_argument("name", help="the server's name (`localhub servers ls` lists them)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=200, help="lines from the end to start with (default 200)")
    logs.set_defaults(func=cmd_logs)
    sync = servers.add_parser("sync", parents=[common, json_flag],
                              help="bring the files of a server's environment into its home (your edits are kept)")
    sync.add_argument("name", help="a running server (`localhub servers ls`)")
    sync.set_defaults(func=cmd_sync)
