"""`localhub bundle create | import | ls | inspect | install`: the offline workshop's bundles, environments on a
USB stick.

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
    from .render import LaunchDisplay  # on use: see render.py

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
    imp.add_argument("file", help="the bundle file, e.g. course.lhb")
    imp.set_defaults(func=cmd_import)

    ls = bundle.add_parser("ls", parents=[common, json_flag], help="bundles imported here and their links")
    ls.set_defaults(func=cmd_ls)

    inspect = bundle.add_parser("inspect", parents=[common, json_flag], help="what a bundle holds")
    inspect.add_argument("file", help="the bundle file, e.g. course.lhb")
    inspect.add_argument("--verify", action="store_true", help="also check every part's hash")
    inspect.set_defaults(func=cmd_inspect)

    install = bundle.add_parser("install", parents=[common, json_flag],
                                help="install localhub from a bundle made --with-installer (no network needed)")
    install.add_argument("file", help="the bundle file, made with --with-installer")
    install.add_argument("--venv", help="where to install (default: ~/.local/share/localhub-venv)")
    install.set_defaults(func=cmd_install)

