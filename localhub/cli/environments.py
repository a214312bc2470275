"""`localhub spec | launch | builds ls | log | rm`: Binder links and the environments built from them."""

from __future__ import annotations

import json
import sys
import webbrowser

from ..client import Client
from ..errors import LocalhubError, shown
from ..profiles import format_size
from .common import WHERE_HELP, client_from, print_json, profile_name, where


def cmd_spec(args) -> int:
    parsed = Client.parse_link(args.link)
    if args.json:
        print(json.dumps(parsed))
    else:
        for key in ("provider", "repo", "ref", "urlpath", "spec"):
            print(f"{key:<9} {parsed[key] if parsed[key] is not None else '-'}")
    return 0


def cmd_launch(args) -> int:
    from .render import LaunchDisplay  # on use: see render.py

    client = client_from(args)
    display = None if args.json else LaunchDisplay()
    ready = None
    try:
        for event in client.launch(args.link, profile=args.profile, rebuild=args.rebuild, where=args.where):
            if args.json:
                if not event.get("tick"):  # JSON lines: the events as BinderHub sends them
                    print(json.dumps(event), flush=True)
            else:
                display.show(event)
            if event.get("phase") == "ready":
                ready = event
    finally:
        if display is not None:
            display.clear()
    if not args.json:
        print(f"Ready: {ready['url']}  (server '{ready['server']}', image {ready['imageName']})")
    if args.open:
        path = ready["url"].removeprefix(client.url)
        webbrowser.open(client.login_link(next_url=path))
    return 0


def cmd_builds_ls(args) -> int:
    envs = client_from(args).environments()
    if args.json:
        print_json(envs)
        return 0
    if not envs:
        print("No environments built yet; `localhub launch LINK` builds one.")
        return 0
    from .render import environments_table  # on use: see render.py

    environments_table(envs)
    return 0


def _find_environment(client: Client, what: str) -> dict:
    """The one environment `what` names: its image, its spec, or a prefix of its resolved id (4 characters at
    least, as git's short ids); none or several is an error, never a guess."""
    envs = [e for e in client.environments() if not e.get("building")]
    exact = [e for e in envs if what in (e["image"], e["spec"])]
    matches = exact or [e for e in envs if len(what) >= 4 and (e.get("resolved") or "").startswith(what)]
    if not matches:
        raise LocalhubError(f"No environment matches '{shown(what)}'; `localhub builds ls` lists them.")
    if len({e["image"] for e in matches}) > 1:
        raise LocalhubError(f"'{shown(what)}' matches {len(matches)} environments "
                            f"({', '.join(shown(e['image'], limit=80) for e in matches[:3])}); name one by its image.")
    return matches[0]


def cmd_builds_log(args) -> int:
    client = client_from(args)
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
    if args.json:
        print_json({"environment": args.environment, "log": text})
    else:
        sys.stdout.write(text)
    return 0


def cmd_builds_rm(args) -> int:
    client = client_from(args)
    env = _find_environment(client, args.environment)
    if not args.yes:
        raise LocalhubError(f"Removing {env['image']} means rebuilding it at its next launch; add --yes to confirm.")
    client.remove_environment(env["image"])
    print_json({"removed": env["image"], "spec": env["spec"]}) if args.json else print(f"Removed {env['image']}.")
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe_prune(report: dict) -> list[str]:
    """What a prune removes (or, dry, would remove), one line each, and what it frees."""
    envs, dangling = report["environments"], report["dangling"]
    if not envs and not dangling:
        return ["Nothing to prune: every environment of this hub is used by a server, and none of its images is "
                "left without a name."]
    removed = set(report["removed"])
    lines = [f"  {e['source']}  ({e['image']}, {format_size(e['size'])})" for e in envs
             if report["dry_run"] or e["image"] in removed]
    lines += [f"  an image of this hub left without a name ({d['image'][:19]}, {format_size(d.get('size') or 0)})"
              for d in dangling if report["dry_run"] or d["image"] in removed]
    what = " and ".join(part for part in (
        _plural(len(envs), "environment") + " no server uses" if envs else "",
        _plural(len(dangling), "unnamed image") + " of this hub" if dangling else "") if part)
    freed = f", freeing {format_size(report['freed'])}" if report.get("freed") is not None else ""
    if report["dry_run"]:
        return [f"Would remove {what}{freed}:", *lines]
    return [f"Removed {_plural(len(removed), 'image')}{freed}:", *lines,
            *[f"Kept {k['image']}: {k['reason']}" for k in report["kept"]]]


def cmd_builds_prune(args) -> int:
    """Unused environments of this hub and its images left without a name (a build replaced while a container
    still used it): the daemon decides which (the TUI's prune and the environments page ask it the same)."""
    client = client_from(args)
    if args.dry_run:
        report = client.prune_environments(dry_run=True)
    else:
        if not args.yes:
            plan = client.prune_environments(dry_run=True)
            if not plan["environments"] and not plan["dangling"]:
                report = plan
            elif sys.stdin.isatty() and not args.json:
                print("\n".join(describe_prune(plan)))
                answer = input("Remove them (they are rebuilt at their next launch)? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    print("Nothing removed.")
                    return 1
                report = client.prune_environments()
            else:
                raise LocalhubError("Pruning removes every environment no server uses (each is rebuilt at its next "
                                    "launch); add --yes to confirm, or --dry-run to see which.")
        else:
            report = client.prune_environments()
    if args.json:
        print_json(report)
    else:
        print("\n".join(describe_prune(report)))
    return 1 if report.get("kept") else 0


def register(sub, common, json_flag) -> None:
    spec = sub.add_parser("spec", parents=[common, json_flag], help="show how a Binder link is read (offline)")
    spec.add_argument("link", help="a Binder link, Binder spec, repository URL or local directory")
    spec.set_defaults(func=cmd_spec)

    launch = sub.add_parser("launch", parents=[common, json_flag],
                            help="build (once) and start the environment of a Binder link")
    launch.add_argument("link", help="any Binder link (host swapped or not), repository URL or local directory")
    launch.add_argument("--profile", type=profile_name, help="resource profile for its server")
    launch.add_argument("--where", type=where, help=WHERE_HELP)
    launch.add_argument("--rebuild", action="store_true", help="build the same commit again")
    launch.add_argument("--open", action="store_true", help="open it in the browser when ready")
    launch.set_defaults(func=cmd_launch)

    builds = sub.add_parser("builds", help="built environments").add_subparsers(
        dest="builds_command", metavar="ACTION", required=True)
    builds.add_parser("ls", parents=[common, json_flag], help="list environments").set_defaults(func=cmd_builds_ls)
    blog = builds.add_parser("log", parents=[common, json_flag], help="print an environment's build log")
    blog.add_argument("environment", help="image name, spec or resolved id (prefix)")
    blog.set_defaults(func=cmd_builds_log)
    brm = builds.add_parser("rm", parents=[common, json_flag], help="remove an environment's image")
    brm.add_argument("environment", help="image name, spec or resolved id (prefix), as `localhub builds ls` shows")
    brm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    brm.set_defaults(func=cmd_builds_rm)
    prune = builds.add_parser("prune", parents=[common, json_flag],
                              help="remove the environments no server uses and this hub's unnamed images (never "
                                   "another hub's, nor anything else of the engine's)")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed and what it frees")
    prune.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    prune.set_defaults(func=cmd_builds_prune)
