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
   last one is ready, over the lone laptop's. Target ≤ 1.5 (laptops re-serve what they fetched).
4. Offline launch ÷ local launch. `localhub launch <the mybinder.org link>` on a laptop that imported the
   bundle (resolved from it, no network) against the same launch on the teacher's laptop, which built the
   environment (resolved over the network, its image found); the server deleted after each; medians of
   --runs, interleaved. Target ≤ 1.05.

Needs root (namespaces, engines); the main engine is only read (the single-user image is copied from it).
Everything made is removed at the end; the engines' data roots under /var/lib/localhub-test/engines/bench-*
stay as an image cache.

    sudo .venv/bin/python scripts/bench_workshop.py [--laptops N] [--runs R] [--mbit M] [--json]
"""

from __future__ import annotations

import argparse
import json
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--laptops", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mbit", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args()
    why_not = netns_available()
    if why_not:
        say(f"bench_workshop: cannot run: {why_not}")
        return 1

    root = Path(tempfile.mkdtemp(prefix="bench-workshop-"))
    lan = Lan(root)
    everyone: list[Laptop] = []
    figures: dict = {"laptops": args.laptops, "mbit": args.mbit, "runs": args.runs}
    ok = False
    try:
        github = FakeGitHub(root / "github")
        github.repo("dockerfile-dataset", "course")
        github.repo("dockerfile-dataset", "lab2")
        teacher = Laptop(lan, "bench-teacher", root, cache=TEACHER_CACHE / "bench-teacher", extra_env=github.env)
        laptops = [Laptop(lan, f"bench-laptop{i}", root, extra_env={"LOCALHUB_CLASS_PREFETCH": "0"})
                   for i in range(1, args.laptops + 1)]
        bare = Laptop(lan, "bench-bare", root)
        everyone = [teacher, *laptops, bare]
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

        # 3. the room
        code = teacher.json("class", "serve", *links, timeout=1800)["code"]
        say("The class is served; waiting for every laptop to see the teacher's environments…")
        for laptop in laptops:
            laptop.json("class", "join", code, "--name", laptop.name, "--wait", "30")
        for laptop in laptops:
            deadline = time.monotonic() + 300
            while len(laptop.klass().get("environments") or []) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
        one = timed(lambda: laptops[0].localhub("class", "fetch", "--wait", timeout=1800))
        say(f"  one laptop alone: {one:.1f} s")
        laptops[0].down()
        forget_class_environments(laptops[0])
        laptops[0].up()
        laptops[0].json("class", "join", code, "--name", laptops[0].name, "--wait", "30")
        deadline = time.monotonic() + 300
        while len(laptops[0].klass().get("environments") or []) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        sent_before = teacher.klass().get("uploaded", 0)
        began = time.monotonic()
        finished = each(lambda laptop: (laptop.localhub("class", "fetch", "--wait", timeout=1800),
                                        time.monotonic() - began)[1], laptops)
        states = {laptop.name: laptop.klass()["environments"] for laptop in laptops}
        sources = {name: [e["sources"] for e in envs] for name, envs in states.items()}
        say(f"  {len(laptops)} laptops at once: {', '.join(f'{t:.1f}' for t in finished)} s")
        figures["one_laptop_s"], figures["room_s"], figures["sources"] = one, finished, sources
        # how often the teacher's uplink carried what one laptop needed (1.0: each chunk once)
        figures["room_teacher_sent_bytes"] = teacher.klass().get("uploaded", 0) - sent_before
        figures["room_fetched_bytes_each"] = [sum((e.get("last") or {}).get("done", 0) for e in envs)
                                              for envs in states.values()]
        figures["room_vs_one"] = max(finished) / one

        # 4. launches
        laptop = laptops[0]
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
        ok = True
    finally:
        each(lambda laptop: laptop.down(), [d for d in everyone if d.engine.running])
        lan.close()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"bench_workshop: logs kept in {root}")

    figures["targets"] = TARGETS
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    mib = 1 << 20
    print(f"Bundle: {figures['bundle_bytes'] / mib:.0f} MiB; docker save of each image: "
          f"{', '.join(f'{b / mib:.0f}' for b in figures['saved_bytes_each'])} MiB")
    print(f"Import {statistics.median(imports):.1f} s vs docker load {statistics.median(loads):.1f} s (medians)")
    print(f"One laptop {one:.1f} s; {len(laptops)} laptops at once, the last after {max(finished):.1f} s; the "
          f"teacher sent {figures['room_teacher_sent_bytes'] / mib:.0f} MiB, each laptop fetched "
          f"{max(figures['room_fetched_bytes_each']) / mib:.0f} MiB")
    print(f"Launch offline {statistics.median(offline):.2f} s vs built here {statistics.median(local):.2f} s")
    print()
    for name, target in TARGETS.items():
        value = figures[name]
        print(f"RATIO {name:<24} {value:5.2f}   (target ≤ {target}{'' if value <= target else '  — MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
