"""`localhub bundle create | import | ls | inspect | install` and `localhub class serve | join | status | fetch | publish |
submit | handins | leave`: the offline workshop.

Bundles work with or without a running hub, except `bundle create`, which asks the hub to build the links
first. Progress shows sizes and rates: one updating line on a terminal, a line every few seconds otherwise,
JSON lines with --json.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

from ..binder import parse_link
from ..config import load_settings
from ..errors import LocalhubError, shown
from ..profiles import format_size
from ..workshop.progress import Progress, Throttled
from .common import client_from, print_json
from .render import LaunchDisplay


class ProgressLine:
    """Draws Progress: an updating line on a terminal, plain lines (at most every 2 s) otherwise."""

    def __init__(self, as_json: bool, stream=sys.stderr):
        self.as_json, self.stream, self.tty = as_json, stream, stream.isatty()
        self._last_plain = 0.0
        self._last_what = None

    def __call__(self, progress: Progress) -> None:
        if self.as_json:
            print(json.dumps({"event": "progress", **progress.to_dict()}), flush=True)
            return
        finished = progress.finished is not None
        if self.tty:
            self.stream.write("\r\033[K" + progress.line()[:150] + ("\n" if finished else ""))
            self.stream.flush()
        elif finished or progress.what != self._last_what or time.monotonic() - self._last_plain >= 2:
            self._last_plain, self._last_what = time.monotonic(), progress.what
            print(progress.line(), file=self.stream, flush=True)


def _settings(args):
    return load_settings(state_dir=getattr(args, "state_dir", None))


def _docker():
    from .. import docker_engine

    return docker_engine.connect(timeout=600)


# --- bundles -----------------------------------------------------------------------------------------

def cmd_create(args) -> int:
    from ..workshop.blobs import BlobStore
    from ..workshop.create import Built, create_bundle

    out = Path(args.file)
    if out.is_dir():
        raise LocalhubError(f"{shown(out)} is a folder; name the bundle file to write, e.g. {shown(out / 'course.lhb')}.")
    if not out.parent.exists():
        raise LocalhubError(f"The folder {shown(out.parent)} does not exist.")
    launches = [(link, parse_link(link)) for link in args.links]  # a bad link stops us before any build
    client = client_from(args)
    built = []
    for link, launch in launches:
        if not args.json:
            print(f"Building {launch.spec} (once; a build the hub has already is reused)…", file=sys.stderr)
        display, image = LaunchDisplay(), None
        for event in client.launch(link, start=False):
            if args.json:
                print(json.dumps({"event": "build", "spec": launch.spec, **event}), flush=True)
            else:
                display.show(event)
            image = event.get("imageName") or image
        if not args.json:
            display.clear()
        if not image:
            raise LocalhubError(f"The hub built {launch.spec} but did not name its image.")
        built.append(Built(link, launch, image))
    installer, extra = None, []
    if args.with_installer:
        from ..workshop.installer import Installer

        installer = Installer.prepare(python=args.python, wheelhouse=args.wheelhouse,
                                      say=lambda text: print(text, file=sys.stderr))
        extra = installer.images(_settings(args))
        engine = _docker()
        for name in extra:
            try:
                engine.api.inspect_image(name)
            except Exception:
                raise LocalhubError(f"The image {name} is not in this machine's engine, and the installer carries "
                                    "it; build the offline images first: scripts/build-images.sh.") from None
    name = args.name or out.stem
    manifest = create_bundle(out, built, _docker(), BlobStore(), name, extra_images=extra, installer=installer,
                             report=ProgressLine(args.json))
    summary = {"file": str(out), "name": name, "size": out.stat().st_size, "links": [
        {"link": link.link, "spec": link.spec, "resolved": link.resolved, "image": link.image,
         "image_id": link.image_id}
        for link in manifest.links], "images": len(manifest.images), "layers": len(manifest.layers),
        "installer": manifest.installer is not None}
    if args.json:
        print(json.dumps({"event": "created", **summary}))
        return 0
    print(f"Wrote {out} ({format_size(summary['size'])}): {len(manifest.links)} link(s), "
          f"{len(manifest.images)} image(s), {len(manifest.layers)} layer(s) stored once"
          + (", with the installer" if manifest.installer else "") + ".")
    print(f"On each laptop: `localhub bundle import {out.name}`"
          + (f" (or, with no localhub yet: `tar -xf {out.name} installer/install-from-bundle.sh && "
             f"sh installer/install-from-bundle.sh {out.name}`)" if manifest.installer else "") + ".")
    return 0


def cmd_import(args) -> int:
    from ..workshop.importer import import_bundle

    settings = _settings(args)
    result = import_bundle(Path(args.file), _docker(), settings.state_dir, report=ProgressLine(args.json))
    if args.json:
        print(json.dumps({"event": "imported", **result.to_dict()}))
        return 0
    p = result.progress
    print(f"Imported bundle {result.name}: {result.images_loaded} image(s) loaded, {result.images_present} already "
          f"here; {result.layers_sent} layer(s) written ({format_size(p.done)} read at {format_size(p.rate)}/s), "
          f"{result.layers_skipped} already present.")
    print("These links now launch here with no network:")
    for link in result.links:
        print(f"  {link['link']}")
    return 0


def cmd_ls(args) -> int:
    from ..workshop.offline import OfflineLinks

    bundles = OfflineLinks(_settings(args).state_dir).bundles()
    if args.json:
        print_json(bundles)
        return 0
    if not bundles:
        print("No bundle imported yet; `localhub bundle import FILE` imports one.")
        return 0
    for record in bundles:
        when = dt.datetime.fromtimestamp(record["at"]).strftime("%Y-%m-%d %H:%M")
        print(f"{record['name']}  (bundle {record['id']}, {format_size(record.get('size', 0))}, imported {when} "
              f"from {record.get('file', '?')})")
        for link in record["links"]:
            print(f"  {link['spec']:<50} {link['resolved'][:12]}  {link['image']}")
    return 0


def cmd_inspect(args) -> int:
    from ..workshop.bundlefile import BundleReader

    with BundleReader(Path(args.file)) as reader:
        if args.verify:
            checking = Progress(f"Checking {Path(args.file).name}", total=reader.manifest.size)
            line = Throttled(ProgressLine(args.json))
            reader.verify(on_bytes=lambda n: (checking.add(n), line(checking)))
            checking.finish()
            line(checking, final=True)
        m = reader.manifest
        data = {"file": str(args.file), "id": reader.id, "name": m.name, "created": m.created,
                "created_by": m.created_by, "size": reader.file_size, "verified": bool(args.verify),
                "links": [{"link": l.link, "spec": l.spec, "resolved": l.resolved, "image": l.image,
                           "image_id": l.image_id, "repository": l.repo is not None} for l in m.links],
                "images": [{"id": i.id, "names": list(i.names), "layers": len(i.layers),
                            "size": m.image_size(i)} for i in m.images],
                "layers": len(m.layers), "parts": len(m.parts),
                "layer_bytes": sum(p.size for p in m.parts.values() if p.kind == "layer"),
                "layer_raw_bytes": sum(p.raw_size or 0 for p in m.parts.values() if p.kind == "layer"),
                "installer": m.installer}
    if args.json:
        print_json(data)
        return 0
    print(f"Bundle {data['name']} ({data['id']}), {format_size(data['size'])}, made {data['created']} by "
          f"{data['created_by']}" + (" — every part checked" if args.verify else ""))
    print(f"Links ({len(data['links'])}):")
    for link in data["links"]:
        print(f"  {link['link']}\n      {link['spec']} at {link['resolved'][:12]} -> {link['image']}"
              + ("" if link["repository"] else " (no repository content)"))
    print(f"Images ({len(data['images'])}), {data['layers']} layers stored once: "
          f"{format_size(data['layer_bytes'])} compressed from {format_size(data['layer_raw_bytes'])}")
    for image in data["images"]:
        print(f"  {', '.join(image['names'])}  {image['id'][7:19]}  {image['layers']} layers")
    if data["installer"]:
        inst = data["installer"]
        print(f"Installer: localhub {inst.get('version', '?')} for Python {inst.get('python', '?')}, "
              f"{len(inst.get('wheels', []))} wheels; base images {', '.join(inst.get('images', []))}")
    return 0


def cmd_install(args) -> int:
    from ..workshop.installer import install_from_bundle

    return install_from_bundle(Path(args.file), _settings(args), venv=Path(args.venv) if args.venv else None,
                               say=lambda text: print(text, file=sys.stderr if args.json else sys.stdout))


# --- the class ----------------------------------------------------------------------------------------

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

    settings = _settings(args)
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

    settings = _settings(args)
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

    settings = _settings(args)
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

    handins = Handins(_settings(args).state_dir)
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

    settings = _settings(args)
    left = leave(settings.state_dir)
    if left:
        _reload(args)
    print("Left the class." if left else "This laptop is in no class.")
    return 0


def _bundle_name(text: str) -> str:
    text = text.strip()
    if not re.fullmatch(r"[^\x00-\x1f/\\]{1,100}", text):
        raise argparse_error(f"'{shown(text)}' is not a usable bundle name (1-100 characters, no slashes or "
                             "control characters).")
    return text


def argparse_error(message: str):
    import argparse

    return argparse.ArgumentTypeError(message)


def register(sub, common, json_flag) -> None:
    bundle = sub.add_parser("bundle", help="offline workshop bundles: environments on a USB stick").add_subparsers(
        dest="bundle_command", metavar="ACTION", required=True)
    create = bundle.add_parser("create", parents=[common, json_flag],
                               help="build links (once) and write their environments into one bundle file")
    create.add_argument("file", help="the bundle to write, e.g. course.lhb")
    create.add_argument("links", nargs="+", metavar="LINK", help="Binder links (mybinder.org links work as they are)")
    create.add_argument("--name", type=_bundle_name, help="the bundle's name (default: the file name)")
    create.add_argument("--with-installer", action="store_true",
                        help="carry localhub itself: a wheelhouse for the laptops' Python and the offline base "
                             "images, so a laptop with only Docker and Python installs from the bundle")
    create.add_argument("--python", default=None, help="the laptops' Python version for the wheelhouse "
                                                        "(default: this one's, e.g. 3.11)")
    create.add_argument("--wheelhouse", help="a folder of wheels to carry instead of gathering them")
    create.set_defaults(func=cmd_create)

    imp = bundle.add_parser("import", parents=[common, json_flag],
                            help="check a bundle and load what this machine lacks; its links then launch offline")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)

    ls = bundle.add_parser("ls", parents=[common, json_flag], help="bundles imported here and their links")
    ls.set_defaults(func=cmd_ls)

    inspect = bundle.add_parser("inspect", parents=[json_flag], help="what a bundle holds")
    inspect.add_argument("file")
    inspect.add_argument("--verify", action="store_true", help="also check every part's hash")
    inspect.set_defaults(func=cmd_inspect)

    install = bundle.add_parser("install", parents=[common, json_flag],
                                help="install localhub from a bundle made --with-installer (no network needed)")
    install.add_argument("file")
    install.add_argument("--venv", help="where to install (default: ~/.local/share/localhub-venv)")
    install.set_defaults(func=cmd_install)

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
    leave = klass.add_parser("leave", parents=[common], help="leave the class (environments fetched stay)")
    leave.set_defaults(func=cmd_class_leave)
