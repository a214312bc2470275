"""Benchmark: the offline workshop, its four ratios measured in ONE run on a simulated room (only same-run
ratios mean much on a shared machine).

The room is tests/lan's (and reuses its helpers: tests/lan/netns.py, engines.py, desks.py, and the workshop's
tests/lan/classroom.py): a teacher's laptop and N participants' laptops (default 4), each in its own network
namespace with its own dockerd (cached engine roles `bench-*`, so a concurrent LAN test run is not kept waiting)
and its own `localhub up`, on a switch with --mbit per link each way and no route anywhere else; plus a bare
laptop whose engine holds no image at all. GitHub exists only for the teacher (local repositories). The
teacher builds two environments of tests/cases/dockerfile-dataset (the single-user image plus 64 MiB of data
each) and writes them into one bundle.

1. Import ÷ docker load. On the bare laptop: `docker load -i saved.tar` of `docker save` of the bundle's two
   images (one archive, shared layers once), against `localhub bundle import course.lhb` (hashes checked,
   layers decompressed as they stream), each timed as its command (the docker CLI's and localhub's start-up
   included); the engine emptied before each; medians of --runs, interleaved. Target ≤ 1.1.
2. Bundle size ÷ Σ docker save. The bundle's bytes against the sum of `docker save` of each of its images on
   its own (what carrying them by hand costs). Target ≤ 0.6.
3. N laptops ready ÷ one transfer. With the class served, one laptop fetches both environments alone
   (`localhub class fetch --wait`, timed from the command's start to its end: fetched from the class and
   loaded); its environments and blobs are then removed, and all N laptops fetch at once; the time until the
   last one is ready, over the lone laptop's. --runs times, interleaved (every laptop back to having fetched
   nothing before each); the ratio of the medians, each run's ratio and the load average printed. Target ≤ 1.5
   (laptops re-serve what they fetched). `--only room` runs this section alone.
4. Offline launch ÷ local launch. `localhub launch <the mybinder.org link>` on a laptop that imported the
   bundle (resolved from it, no network) against the same launch on the teacher's laptop, which built the
   environment (resolved over the network, its image found); the server deleted after each; medians of
   --runs, interleaved. Target ≤ 1.05.

Needs root (namespaces, engines); the main engine is only read (the single-user image is copied from it).
Everything made is removed at the end; the engines' data roots under /var/lib/localhub-test/engines/bench-*
stay as an image cache.

    sudo .venv/bin/python scripts/bench_workshop.py [--laptops N] [--runs R] [--mbit M] [--only room] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.lan.* and localhub, whatever the working directory

from tests.lan.classroom import TEACHER_CACHE, FakeGitHub, Laptop, clear_environments, shape  # noqa: E402
from tests.lan.desks import IMAGE  # noqa: E402
from tests.lan.netns import Lan, netns_available  # noqa: E402

TARGETS = {"import_vs_load": 1.1, "bundle_vs_save": 0.6, "room_vs_one": 1.5, "offline_vs_local_launch": 1.05}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def each(fn, items):
    with ThreadPoolExecutor(max(1, len(items))) as pool:
        return list(pool.map(fn, items))


def timed(fn) -> float:
    began = time.monotonic()
    fn()
    return time.monotonic() - began


def saved_size(engine, names: list[str]) -> int:
    """Bytes of `docker save NAMES`, counted as they stream (nothing on disk)."""
    response = engine.client.api.get(engine.client.api._url("/images/get"), params={"names": names}, stream=True)
    engine.client.api._raise_for_status(response)
    return sum(len(chunk) for chunk in response.iter_content(1 << 20))


def empty_engine(laptop: Laptop) -> None:
    client = laptop.engine.client
    for image in client.images.list(all=True):
        try:
            client.images.remove(image.id, force=True)
        except Exception:
            pass


def forget_class_environments(laptop: Laptop) -> None:
    """Back to a laptop that has fetched nothing: no environment images, no blobs, no records."""
    clear_environments(laptop)
    shutil.rmtree(laptop.cache / "localhub" / "blobs", ignore_errors=True)
    shutil.rmtree(laptop.host.state_dir / "workshop" / "environments", ignore_errors=True)
    for record in (laptop.host.state_dir / "workshop" / "offline").glob("class-*.json"):
        record.unlink()


def rejoin(laptop: Laptop, code: str, first: bool = False) -> None:
    """The laptop in the class and seeing both environments; unless `first`, back to having fetched nothing."""
    if not first:
        laptop.down()
        forget_class_environments(laptop)
        laptop.up()
    laptop.json("class", "join", code, "--name", laptop.name, "--wait", "30")
    deadline = time.monotonic() + 300
    while len(laptop.klass().get("environments") or []) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--laptops", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mbit", type=int, default=64)
    parser.add_argument("--only", choices=("all", "room"), default="all",
                        help="room: only section 3 (one laptop alone, then all of them), --runs times interleaved")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args()
    why_not = netns_available()
    if why_not:
        say(f"bench_workshop: cannot run: {why_not}")
        return 1

    root = Path(tempfile.mkdtemp(prefix="bench-workshop-"))
    lan = Lan(root)
    everyone: list[Laptop] = []
    everything = args.only == "all"
    figures: dict = {"laptops": args.laptops, "mbit": args.mbit, "runs": args.runs,
                     "load_average_before": os.getloadavg()}
    ok = False
    try:
        github = FakeGitHub(root / "github")
        github.repo("dockerfile-dataset", "course")
        github.repo("dockerfile-dataset", "lab2")
        teacher = Laptop(lan, "bench-teacher", root, cache=TEACHER_CACHE / "bench-teacher", extra_env=github.env)
        laptops = [Laptop(lan, f"bench-laptop{i}", root, extra_env={"LOCALHUB_CLASS_PREFETCH": "0"})
                   for i in range(1, args.laptops + 1)]
        bare = Laptop(lan, "bench-bare", root) if everything else None
        everyone = [teacher, *laptops, *([bare] if bare else [])]
        say(f"Starting {len(everyone)} laptops (engines, hubs), {args.mbit} Mbit/s links…")

        def prepare(laptop: Laptop) -> None:
            laptop.engine.start()
            laptop.engine.clear()
            if laptop is bare:
                empty_engine(laptop)
                return
            clear_environments(laptop)
            laptop.engine.load_image(IMAGE)
            shape(lan, laptop.host, args.mbit)
            laptop.up()

        each(prepare, everyone)
        links = [github.link("course", urlpath="lab/tree/index.ipynb"), github.link("lab2")]
        if everything:
            bundle = bundle_figures(teacher, bare, links, root, args, figures)
        room_figures(teacher, laptops, links, args, figures)
        if everything:
            launch_figures(teacher, laptops[0], links, bundle, args, figures)
        ok = True
    finally:
        each(lambda laptop: laptop.down(), [d for d in everyone if d.engine.running])
        lan.close()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"bench_workshop: logs kept in {root}")
    figures["load_average_after"] = os.getloadavg()
    return report(figures, args)


def bundle_figures(teacher: Laptop, bare: Laptop, links: list[str], root: Path, args, figures: dict) -> Path:
    """1. and 2.: the bundle's size against `docker save`; its import against `docker load`, on the bare laptop."""
    stick = root / "stick"
    stick.mkdir()
    bundle = stick / "course.lhb"
    say("The teacher builds two environments and writes the bundle…")
    created = json.loads(teacher.localhub("bundle", "create", str(bundle), *links, "--json",
                                          timeout=1800).stdout.splitlines()[-1])
    images = [link["image"] for link in created["links"]]

    # 2. size
    each_saved = [saved_size(teacher.engine, [name]) for name in images]
    figures["bundle_bytes"], figures["saved_bytes_each"] = bundle.stat().st_size, each_saved
    figures["bundle_vs_save"] = bundle.stat().st_size / sum(each_saved)

    # 1. import vs docker load, on the bare engine
    together = stick / "saved.tar"
    with open(together, "wb") as out:
        response = teacher.engine.client.api.get(teacher.engine.client.api._url("/images/get"),
                                                 params={"names": images}, stream=True)
        for chunk in response.iter_content(1 << 20):
            out.write(chunk)
    loads, imports = [], []
    for run in range(args.runs):
        empty_engine(bare)
        # both timed as their commands, client start-up included: `docker load -i` against `localhub bundle import`
        loads.append(timed(lambda: subprocess.run(["docker", "-H", bare.engine.docker_host, "load", "-q", "-i",
                                                   str(together)], check=True, capture_output=True)))
        empty_engine(bare)
        imports.append(timed(lambda: bare.localhub("bundle", "import", str(bundle), timeout=1800)))
        say(f"  run {run + 1}: docker load {loads[-1]:.1f} s, bundle import {imports[-1]:.1f} s")
    figures["docker_load_s"], figures["bundle_import_s"] = loads, imports
    figures["import_vs_load"] = statistics.median(imports) / statistics.median(loads)
    return bundle


def room_figures(teacher: Laptop, laptops: list[Laptop], links: list[str], args, figures: dict) -> None:
    """3. One laptop alone, then all of them at once, --runs times interleaved (each run from laptops that have
    fetched nothing); the ratio of the medians, and each run's."""
    code = teacher.json("class", "serve", *links, timeout=1800)["code"]
    say("The class is served; waiting for every laptop to see the teacher's environments…")
    each(lambda laptop: rejoin(laptop, code, first=True), laptops)
    ones, rooms, teacher_sent, fetched_each, sources, loads = [], [], [], [], [], []
    for run in range(args.runs):
        ones.append(timed(lambda: laptops[0].localhub("class", "fetch", "--wait", timeout=1800)))
        alone = [e.get("took") for e in laptops[0].klass()["environments"]]
        figures.setdefault("one_laptop_took", []).append(alone)
        say(f"    alone, seconds fetching / loading each environment: {alone}")
        rejoin(laptops[0], code)
        sent_before = teacher.klass().get("uploaded", 0)
        began = time.monotonic()
        finished = each(lambda laptop: (laptop.localhub("class", "fetch", "--wait", timeout=1800),
                                        time.monotonic() - began)[1], laptops)
        loads.append(os.getloadavg()[0])
        states = {laptop.name: laptop.klass()["environments"] for laptop in laptops}
        sources.append({name: [e["sources"] for e in envs] for name, envs in states.items()})
        took = {name: [e.get("took") for e in envs] for name, envs in states.items()}
        figures.setdefault("room_took", []).append(took)
        rooms.append(finished)
        teacher_sent.append(teacher.klass().get("uploaded", 0) - sent_before)
        fetched_each.append([sum((e.get("last") or {}).get("done", 0) for e in envs) for envs in states.values()])
        # how often the teacher's uplink carried what one laptop needed (1.0: each chunk once)
        said_sent = teacher_sent[-1] / max(1, max(fetched_each[-1]))
        say(f"  run {run + 1}: one laptop alone {ones[-1]:.1f} s; {len(laptops)} at once "
            f"{', '.join(f'{t:.1f}' for t in finished)} s: ratio {max(finished) / ones[-1]:.2f}; the teacher sent "
            f"{said_sent:.2f}x what each laptop needed; load average {loads[-1]:.1f}")
        say(f"    seconds fetching / loading each environment: {took}")
        if run + 1 < args.runs:
            each(lambda laptop: rejoin(laptop, code), laptops)
    figures["one_laptop_s"], figures["room_s"], figures["room_sources"] = ones, rooms, sources
    figures["room_teacher_sent_bytes"], figures["room_fetched_bytes_each"] = teacher_sent, fetched_each
    figures["room_load_average"] = loads
    figures["room_vs_one_each_run"] = [max(r) / o for r, o in zip(rooms, ones)]
    figures["room_vs_one"] = statistics.median(max(r) for r in rooms) / statistics.median(ones)


def launch_figures(teacher: Laptop, laptop: Laptop, links: list[str], bundle: Path, args, figures: dict) -> None:
    """4. The bundled link launched offline on a laptop that imported the bundle, against the teacher's launch
    of its own build."""
    laptop.localhub("bundle", "import", str(bundle), timeout=1800)
    local, offline = [], []
    for run in range(args.runs):
        for who, times in ((teacher, local), (laptop, offline)):
            done = []
            times.append(timed(lambda: done.append(who.json_lines("launch", links[0], timeout=600)[0])))
            server = done[0][-1]["server"]
            said = " ".join(e.get("message", "") for e in done[0])
            if who is laptop and "no network needed" not in said:
                raise AssertionError(f"the laptop's launch did not come from the bundle: {said[:300]}")
            who.localhub("servers", "delete", server, "--yes", timeout=300)
        say(f"  run {run + 1}: local {local[-1]:.1f} s, offline {offline[-1]:.1f} s")
    figures["launch_local_s"], figures["launch_offline_s"] = local, offline
    figures["offline_vs_local_launch"] = statistics.median(offline) / statistics.median(local)


def report(figures: dict, args) -> int:
    figures["targets"] = TARGETS
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    mib = 1 << 20
    if "bundle_bytes" in figures:
        print(f"Bundle: {figures['bundle_bytes'] / mib:.0f} MiB; docker save of each image: "
              f"{', '.join(f'{b / mib:.0f}' for b in figures['saved_bytes_each'])} MiB")
        print(f"Import {statistics.median(figures['bundle_import_s']):.1f} s vs docker load "
              f"{statistics.median(figures['docker_load_s']):.1f} s (medians)")
    for run, (one, room) in enumerate(zip(figures["one_laptop_s"], figures["room_s"])):
        print(f"Run {run + 1}: one laptop {one:.1f} s; {len(room)} laptops at once, the last after {max(room):.1f} s "
              f"(ratio {max(room) / one:.2f}); the teacher sent {figures['room_teacher_sent_bytes'][run] / mib:.0f} "
              f"MiB, each laptop fetched {max(figures['room_fetched_bytes_each'][run]) / mib:.0f} MiB; load average "
              f"{figures['room_load_average'][run]:.1f}")
    if "launch_local_s" in figures:
        print(f"Launch offline {statistics.median(figures['launch_offline_s']):.2f} s vs built here "
              f"{statistics.median(figures['launch_local_s']):.2f} s")
    print(f"Load average (1, 5, 15 min) before: {figures['load_average_before']}, after: {figures['load_average_after']}")
    print()
    for name, target in TARGETS.items():
        if name in figures:
            value = figures[name]
            print(f"RATIO {name:<24} {value:5.2f}   (target ≤ {target}{'' if value <= target else '  — MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
