"""`localhub class serve | join | status | fetch | publish | submit | handins | leave`: the workshop's class on
the room's LAN (the teacher's laptop serves environments and material; participants fetch, work and hand in).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ..binder import parse_link
from ..errors import LocalhubError
from ..profiles import format_size
from ..workshop.progress import Progress
from .bundle import ProgressLine
from .common import client_from, print_json, settings_from


def _reload(args) -> dict | None:
    """Tell the running hub about a new membership; None when no hub runs (it takes part from its start)."""
    from ..errors import NotRunning

    try:
        client = client_from(args)
    except NotRunning:
        return None
    return client.workshop_post("class", {"action": "reload"})


def _build(args, links: list[str]) -> list[dict]:
    """Have the hub build each link (once); [{"link", "spec", "image"}]."""
    from .render import LaunchDisplay  # on use: see render.py

    launches = [(link, parse_link(link)) for link in links]
    client = client_from(args)
    built = []
    for link, launch in launches:
        display, image = LaunchDisplay(), None
        for event in client.launch(link, start=False):
            if not args.json:
                display.show(event)
            image = event.get("imageName") or image
        if not args.json:
            display.clear()
        built.append({"link": link, "spec": launch.spec, "image": image})
    return built


def cmd_class_serve(args) -> int:
    from ..workshop import classcode

    settings = settings_from(args)
    current = classcode.load_membership(settings.state_dir)
    offers = _build(args, args.links) if args.links else []
    if current is not None and current.role == "teacher" and not args.new_code:
        code = current.code
    else:
        code = classcode.new_code()
    membership = classcode.Membership(key=classcode.class_key(code).hex(), code=code, role="teacher",
                                      name=args.name or "teacher", offers=offers)
    classcode.save_membership(settings.state_dir, membership)
    reloaded = _reload(args)
    data = {"code": code, "class": membership.lab(settings.state_dir).fingerprint, "offers": offers,
            "running": reloaded is not None and bool(reloaded.get("class")),
            "error": (reloaded or {}).get("error")}
    if args.json:
        print_json(data)
        return 0
    print(f"Class code: {code}\n\nOn each participant's laptop:\n\n    localhub class join {code}\n")
    print("Offering " + (", ".join(o["spec"] for o in offers) if offers else
                         "every environment this hub built or imported") + ".")
    if reloaded is None:
        print("No hub runs here: the class starts with `localhub up`.")
    elif data["error"]:
        raise LocalhubError(f"The class could not start: {data['error']}.")
    return 0


def cmd_class_join(args) -> int:
    import socket

    from ..workshop import classcode

    settings = settings_from(args)
    code = classcode.normalise(" ".join(args.code))
    default = re.sub(r"[^\w .-]+", "-", f"{settings.user} on {socket.gethostname()}")[:40].strip()
    name = classcode.participant_name(args.name or default)
    current = classcode.load_membership(settings.state_dir)
    if current is not None and current.role == "teacher" and not args.replace:
        raise LocalhubError("This laptop serves a class as the teacher; add --replace to join another class instead.")
    membership = classcode.Membership(key=classcode.class_key(code).hex(), code=code, role="participant", name=name)
    classcode.save_membership(settings.state_dir, membership)
    reloaded = _reload(args)
    teacher = None
    if reloaded is not None and reloaded.get("class"):
        client = client_from(args)
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline and teacher is None:
            klass = client.workshop().get("class") or {}
            teacher = next((p for p in klass.get("peers", []) if p["role"] == "teacher" and p["reachable"]), None)
            if teacher is None:
                time.sleep(0.5)
    data = {"class": membership.lab(settings.state_dir).fingerprint, "name": name, "running": reloaded is not None,
            "teacher": teacher["name"] if teacher else None, "error": (reloaded or {}).get("error")}
    if args.json:
        print_json(data)
        return 0
    print(f"Joined class {data['class'][:8]} as {name}.")
    if reloaded is None:
        print("No hub runs here: the laptop takes part from `localhub up`.")
    elif data["error"]:
        raise LocalhubError(f"The class could not start: {data['error']}.")
    elif teacher:
        print(f"The teacher's laptop ({teacher['name']}) is on the LAN; its environments are being fetched "
              "(`localhub class status` shows them).")
    else:
        print(f"No teacher's laptop answered within {args.wait:.0f} s: check the code, and that both laptops are on "
              "the same network (`localhub class status`).")
    return 0


def cmd_class_status(args) -> int:
    data = client_from(args).workshop()
    klass = data.get("class")
    if args.json:
        print_json(data)
        return 0
    if not klass:
        print("This laptop is in no class (`localhub class join CODE`, or `localhub class serve` for the teacher).")
        return 0
    if klass.get("running") is False:
        print(f"In a class as {klass['role']}, but it is not running: {klass.get('error') or 'start the hub'}.")
        return 0
    print(f"Class {klass['class'][:8]}: this laptop is {klass['name']} ({klass['role']}) on "
          f"{klass['address']}:{klass['port']}" + (f"; code {klass['code']}" if klass.get("code") else ""))
    if klass.get("preparing"):
        print(f"  preparing {klass['preparing']} for the class…")
    print(f"Environments ({len(klass['environments'])}):")
    for env in klass["environments"]:
        state = "ready" if env["ready"] else (
            Progress.from_dict(env["fetching"]).line()
            if env["fetching"] else (f"failed: {env['error']}" if env["error"] else "not here yet"))
        print(f"  {env['spec']:<50} {format_size(env['size']):>10}  {state}")
    print(f"Laptops on the LAN ({len(klass['peers'])}):")
    for peer in klass["peers"]:
        has = ", ".join(peer["ready"]) or "nothing yet"
        fetching = "; fetching " + ", ".join(f"{s} {int(p['fraction'] * 100)}%" for s, p in peer["fetching"].items())             if peer["fetching"] else ""
        reach = "" if peer["reachable"] else f" — unreachable ({peer['error']})"
        print(f"  {peer['name']:<24} {peer['role']:<12} {peer['address']:<15} has {has}{fetching}{reach}")
    material = klass.get("material")
    if material:
        print(f"Material: {material['name']} version {material['version']} ({format_size(material['size'])})")
    for server, report in (klass.get("merges") or {}).items():
        print(f"  into server {server}: {report}")
    if klass.get("handins") is not None:
        print(f"Hand-ins: {len(klass['handins'])} (`localhub class handins` lists them)")
    return 0


def cmd_class_fetch(args) -> int:
    client = client_from(args)
    started = client.workshop_post("fetch", {"spec": args.spec} if args.spec else {})
    if not args.wait:
        print_json(started) if args.json else print(
            "Fetching " + (", ".join(started["fetching"]) or "nothing (every environment is here)") + ".")
        return 0
    line = ProgressLine(args.json)
    while True:
        klass = client.workshop().get("class") or {}
        envs = [e for e in klass.get("environments", []) if not args.spec or e["spec"] == args.spec]
        for env in envs:
            if env["fetching"]:
                line(Progress.from_dict(env["fetching"]))
        failed = [e for e in envs if e["error"] and not e["ready"] and not e["fetching"]]
        if failed:
            raise LocalhubError(f"Fetching {failed[0]['spec']} failed: {failed[0]['error']}")
        if envs and all(e["ready"] for e in envs):
            break
        time.sleep(0.5)
    result = {"ready": [e["spec"] for e in envs], "sources": {e["spec"]: e["sources"] for e in envs}}
    if args.json:
        print(json.dumps({"event": "ready", **result}))
    else:
        print("Ready to launch offline: " + ", ".join(result["ready"]))
    return 0


def cmd_class_publish(args) -> int:
    from ..workshop.classcode import load_membership
    from ..workshop.material import MaterialStore

    settings = settings_from(args)
    membership = load_membership(settings.state_dir)
    if membership is None or membership.role != "teacher":
        raise LocalhubError("Only the teacher's laptop publishes material: run `localhub class serve` first.")
    info = MaterialStore(settings.state_dir).publish(Path(args.path), args.name)
    summary = {k: info[k] for k in ("version", "name", "size")} | {"files": len(info["files"])}
    if args.json:
        print_json(summary)
    else:
        print(f"Published {summary['name']} version {summary['version']} ({summary['files']} files, "
              f"{format_size(summary['size'])}); participants' servers get it in ~/{summary['name']} within seconds, "
              "their own changes kept.")
    return 0


def cmd_class_submit(args) -> int:
    client = client_from(args)
    server = args.server
    if server is None:
        klass = client.workshop().get("class") or {}
        specs = {e["spec"] for e in klass.get("environments", [])}
        candidates = [s.name for s in client.servers() if s.environment in specs]
        if len(candidates) != 1:
            raise LocalhubError("Say which server's home the work is in: --server NAME ("
                                + (f"one of {', '.join(candidates)}" if candidates else "no class server found")
                                + ").")
        server = candidates[0]
    stored = client.workshop_post("handin", {"server": server, "path": args.path}, timeout=600)
    if args.json:
        print_json(stored)
    else:
        print(f"Handed in {args.path} from server '{server}' ({len(stored['files'])} file(s)) at {stored['at']}.")
    return 0


def cmd_class_handins(args) -> int:
    from ..workshop.handin import Handins

    handins = Handins(settings_from(args).state_dir)
    items = handins.list()
    if args.to:
        count = handins.collect(Path(args.to))
        if not args.json:
            print(f"Copied {count} hand-in(s) into {args.to} (one folder per participant, one per hand-in).")
    if args.json:
        print_json(items)
    elif not args.to:
        if not items:
            print("No work handed in yet.")
        for item in items:
            print(f"{item['at'][:19]}  {item['name']:<24} {item['path']}  ({len(item['files'])} file(s)) "
                  f"-> {handins.root / item['stored']}")
    return 0


def cmd_class_leave(args) -> int:
    from ..workshop.classcode import leave

    settings = settings_from(args)
    left = leave(settings.state_dir)
    if left:
        _reload(args)
    if args.json:
        print_json({"left": bool(left)})
    else:
        print("Left the class." if left else "This laptop is in no class.")
    return 0


def register(sub, common, json_flag) -> None:
    klass = sub.add_parser("class", help="a workshop class on the room's LAN").add_subparsers(
        dest="class_command", metavar="ACTION", required=True)
    serve = klass.add_parser("serve", parents=[common, json_flag],
                             help="teacher: start a class and offer environments to it (prints the class code)")
    serve.add_argument("links", nargs="*", metavar="LINK", help="the links to offer (default: every environment "
                                                                 "this hub built or imported)")
    serve.add_argument("--new-code", action="store_true", help="start over with a new code")
    serve.add_argument("--name", help="how this laptop shows to the class (default: teacher)")
    serve.set_defaults(func=cmd_class_serve)
    join = klass.add_parser("join", parents=[common, json_flag], help="participant: join the class with its code")
    join.add_argument("code", nargs="+", help="the code the teacher shows, e.g. K7Q4-M2PX-9DRT-H8WC")
    join.add_argument("--name", help="your name as the teacher sees it (default: '<user> on <host>')")
    join.add_argument("--replace", action="store_true", help="leave the class this laptop serves as teacher")
    join.add_argument("--wait", type=float, default=5.0, help="seconds to look for the teacher's laptop")
    join.set_defaults(func=cmd_class_join)
    status = klass.add_parser("status", parents=[common, json_flag], help="the laptops of the class and what each has")
    status.set_defaults(func=cmd_class_status)
    fetch = klass.add_parser("fetch", parents=[common, json_flag],
                             help="fetch the class's environments (or one) from the laptops that have them")
    fetch.add_argument("spec", nargs="?", help="one environment's spec (default: all)")
    fetch.add_argument("--wait", action="store_true", help="wait until they are ready, showing progress")
    fetch.set_defaults(func=cmd_class_fetch)
    publish = klass.add_parser("publish", parents=[common, json_flag],
                               help="teacher: hand a folder out to every participant's servers")
    publish.add_argument("path", help="a folder (a git working copy is fine; .git is left out)")
    publish.add_argument("--name", help="the folder's name in the participants' homes (default: its own name)")
    publish.set_defaults(func=cmd_class_publish)
    submit = klass.add_parser("submit", parents=[common, json_flag],
                              help="participant: hand a file or folder of your server's home in to the teacher")
    submit.add_argument("path", help="a path in the server's home, e.g. material/answers.ipynb")
    submit.add_argument("--server", help="the server whose home it is in (default: your one class server)")
    submit.set_defaults(func=cmd_class_submit)
    handins = klass.add_parser("handins", parents=[common, json_flag], help="teacher: the work handed in")
    handins.add_argument("--to", help="copy it all into this folder, one folder per participant")
    handins.set_defaults(func=cmd_class_handins)
    leave = klass.add_parser("leave", parents=[common, json_flag], help="leave the class (environments fetched stay)")
    leave.set_defaults(func=cmd_class_leave)
