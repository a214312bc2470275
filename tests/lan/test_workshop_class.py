"""The offline workshop on a simulated room: a teacher's laptop and four participants' laptops, each in its
own network namespace with its own Docker engine and localhub, joined by a switch at 64 Mbit/s per link,
with no route anywhere else. GitHub exists only for the teacher (local repositories, the edge of the internet).

A bundle made on the teacher's laptop is imported on a laptop that then launches the original mybinder.org
link offline (CLI, and a real Chromium); the class shares the teacher's environments with every laptop that
knows the code (laptops re-serving what they fetched), survives a lost link and a killed daemon mid-fetch;
material published twice keeps a participant's edit; a hand-in arrives intact.

One room serves the whole module (engines and hubs take a while to start); the tests run in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lan.classroom import (CHROMIUM, TEACHER_CACHE, FakeGitHub, Laptop, clear_environments, open_in_chromium,
                                 outside_connections, shape, wait)
from tests.lan.desks import IMAGE
from tests.lan.netns import Lan
from tests.support.binder import CaseRepo

pytestmark = [pytest.mark.lan, pytest.mark.docker]

URLPATH = "lab/tree/index.ipynb"


@dataclass
class Room:
    lan: Lan
    github: FakeGitHub
    teacher: Laptop
    laptops: list[Laptop]
    course: CaseRepo
    lab2: CaseRepo
    root: Path
    fresh: "Fresh"

    @property
    def everyone(self) -> list[Laptop]:
        return [self.teacher, *self.laptops]


class Fresh:
    """A laptop with a Docker engine and Python but nothing of localhub (not even its images)."""

    def __init__(self, lan: Lan, root: Path):
        from tests.lan.engines import NamespaceEngine

        self.host = lan.add_host("fresh")
        self.engine = NamespaceEngine(self.host, root, role="fresh")
        lan.engines.append(self.engine)
        self.home = root / "fresh-home"
        self.venv = self.home / ".local" / "share" / "localhub-venv"

    def sh(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.home), "LANG": "C.UTF-8",
               "DOCKER_HOST": self.engine.docker_host, "LOCALHUB_STATE_DIR": str(self.home / "state"),
               "LOCALHUB_CONFIG_DIR": str(self.home / "config"), "LOCALHUB_IMAGE": IMAGE,
               "XDG_CACHE_HOME": str(self.home / "cache"), "LOCALHUB_CLASS_ADDRESS": self.host.address,
               "LOCALHUB_CLASS_PREFETCH": "0"}  # environments come from the class only when launched
        return subprocess.run(["ip", "netns", "exec", self.host.ns, "sh", "-c", command], env=env, text=True,
                              capture_output=True, timeout=timeout)


def each(fn, laptops):
    with ThreadPoolExecutor(len(laptops)) as pool:
        return list(pool.map(fn, laptops))


def keep_logs(root: Path) -> Path:
    """The room's daemon and engine logs, copied where pytest's clean-up of old temporary folders (other
    sessions' runs) does not remove them."""
    kept = Path(tempfile.mkdtemp(prefix="workshop-room-logs-"))
    for log in [*root.glob("*/logs/*.log"), *root.glob("dockerd-*.log")]:
        target = kept / log.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, target)
    return kept


@pytest.fixture(scope="module")
def room(tmp_path_factory, request):
    failed_before = request.session.testsfailed
    root = tmp_path_factory.mktemp("room")
    github = FakeGitHub(root / "github")
    course, lab2 = github.repo("dockerfile-dataset", "course"), github.repo("dockerfile-dataset", "lab2")
    lan = Lan(root)
    everyone: list[Laptop] = []
    try:
        teacher = Laptop(lan, "teacher", root, cache=TEACHER_CACHE / "teacher", extra_env=github.env)
        laptops = [Laptop(lan, f"laptop{i}", root) for i in range(1, 5)]
        everyone = [teacher, *laptops]

        fresh = Fresh(lan, root)
        fresh.home.mkdir()

        def prepare(laptop: Laptop) -> None:
            laptop.engine.start()
            laptop.engine.clear()
            clear_environments(laptop)  # an earlier run's environments: every laptop starts without them
            laptop.engine.load_image(IMAGE)  # what `localhub bundle install` puts on a laptop
            if laptop is teacher:
                laptop.engine.load_image("localhub/base:latest")  # carried by --with-installer
            shape(lan, laptop.host)
            laptop.up()

        def prepare_fresh() -> None:
            fresh.engine.start()
            fresh.engine.clear()
            for image in fresh.engine.client.images.list(all=True):
                fresh.engine.client.images.remove(image.id, force=True)
            shape(lan, fresh.host)

        each(lambda job: job(), [lambda: prepare_fresh()] + [lambda laptop=laptop: prepare(laptop) for laptop in everyone])
        yield Room(lan, github, teacher, laptops, course, lab2, root, fresh)
    finally:
        if everyone:
            each(lambda laptop: laptop.down(), everyone)
        if request.session.testsfailed > failed_before:
            print(f"\nthe room's logs: {keep_logs(root)}")
        lan.close()


def test_no_laptop_has_a_route_out(room):
    for laptop in room.everyone:
        tried = outside_connections(laptop.host)
        assert set(tried.values()) == {"ENETUNREACH"}, (laptop.name, tried)
        routes = subprocess.run(["ip", "-n", laptop.host.ns, "route"], capture_output=True, text=True).stdout
        assert "default" not in routes, routes


def test_a_bundle_made_on_the_teachers_laptop_launches_the_original_link_offline_on_another(room):
    teacher, laptop = room.teacher, room.laptops[0]
    link = room.github.link("course", urlpath=URLPATH)
    bundle = room.root / "stick" / "course.lhb"
    bundle.parent.mkdir()
    lines, _ = teacher.json_lines("bundle", "create", str(bundle), link, timeout=900)
    assert lines[-1]["event"] == "created" and lines[-1]["links"][0]["resolved"] == room.course.head

    lines, _ = laptop.json_lines("bundle", "import", str(bundle))
    imported = lines[-1]
    assert imported["event"] == "imported" and imported["images_loaded"] == 1
    moved = imported["progress"]
    assert moved["done"] > 64 << 20 > moved["done"] - (8 << 20)  # the course's own data travelled...
    assert moved["skipped"] > moved["done"] and moved["rate"] > 0  # ...not the base the laptop had

    events, _ = laptop.json_lines("launch", link, timeout=300)
    said = " ".join(e.get("message", "") for e in events)
    assert "is in bundle course" in said and "no network needed" in said, said
    ready = events[-1]
    assert ready["phase"] == "ready" and ready["imageName"] == lines[-1]["links"][0]["image"]
    out = laptop.kernel(ready["server"], "import os; print(os.path.getsize('/srv/dataset.bin'))")
    assert out[0]["stdout"].strip() == str(64 << 20)


@pytest.mark.browser
def test_the_original_link_opens_offline_in_chromium(room):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)")
    laptop = room.laptops[0]
    spec = room.github.spec("course")
    shot = room.root / "chromium-offline.png"
    landed = open_in_chromium(laptop, f"/v2/{spec}?urlpath={URLPATH}", shot)
    assert "error" not in landed, f"{landed} (screenshot: {shot})"
    assert "/lab/tree/index.ipynb" in landed["url"], landed
    assert "no network needed" in (landed["log"] or ""), landed


def test_only_laptops_with_the_code_see_the_class_and_every_laptop_gets_its_environments(room):
    teacher, laptops = room.teacher, room.laptops
    served = teacher.json("class", "serve", room.github.link("course", urlpath=URLPATH), room.github.link("lab2"),
                          timeout=900)
    code = served["code"]
    wrong = laptops[3].json("class", "join", "AAAA-BBBB-CCCC-DDDD", "--wait", "4")
    assert wrong["teacher"] is None  # another code: the teacher's laptop does not even show
    assert laptops[3].klass()["environments"] == []

    started = time.monotonic()
    joined = each(lambda laptop: laptop.json("class", "join", code, "--name", laptop.name, "--wait", "20"), laptops)
    assert all(j["teacher"] == "teacher" for j in joined), joined
    each(lambda laptop: laptop.localhub("class", "fetch", "--wait", timeout=600), laptops)
    took = time.monotonic() - started
    teacher_images = {e["spec"]: e["image"] for e in teacher.klass()["environments"]}
    for laptop in laptops:
        envs = {e["spec"]: e for e in laptop.klass()["environments"]}
        assert set(envs) == set(teacher_images) and all(e["ready"] for e in envs.values()), envs
        for spec, env in envs.items():
            assert laptop.engine.client.images.get(env["image"]).id == \
                teacher.engine.client.images.get(teacher_images[spec]).id
    sources = {laptop.name: [e["sources"] for e in laptop.klass()["environments"]] for laptop in laptops}
    from_peers = sum(n for per in sources.values() for s in per for who, n in s.items() if who != "teacher")
    assert from_peers > 0, f"every chunk came from the teacher: {sources}"  # laptops re-serve what they fetched
    print(f"\n4 laptops ready in {took:.1f} s; chunks by source: {sources}")

    text = teacher.localhub("class", "status").stdout
    assert all(laptop.name in text for laptop in laptops) and f"code {code}" in text


def test_a_laptop_that_loses_the_lan_or_its_daemon_mid_fetch_resumes(room):
    teacher, cut, killed = room.teacher, room.laptops[1], room.laptops[2]
    for laptop in (cut, killed):
        shape(room.lan, laptop.host, 16)  # slower links: the fetch lasts long enough to be broken into
    lab3 = room.github.repo("dockerfile-dataset", "lab3")
    spec = room.github.spec("lab3")
    teacher.json("class", "serve", room.github.link("course", urlpath=URLPATH), room.github.link("lab2"),
                 room.github.link("lab3"), timeout=900)
    assert lab3.head

    def progress(laptop):
        env = next((e for e in laptop.klass()["environments"] if e["spec"] == spec), None)
        return env and env["fetching"] and env["fetching"]["done"] > 12 << 20 and env["fetching"]

    wait(lambda: progress(cut) and progress(killed), 300, "two laptops a fair way into fetching lab3", every=0.1)
    room.lan.link(cut.host, False)
    os.kill(killed.daemon_pid(), signal.SIGKILL)
    time.sleep(4)
    room.lan.link(cut.host, True)
    for laptop in (cut, killed):
        shape(room.lan, laptop.host)
    killed.up()
    for laptop in (cut, killed):
        laptop.localhub("class", "fetch", spec, "--wait", timeout=600)
        env = next(e for e in laptop.klass()["environments"] if e["spec"] == spec)
        assert env["ready"], env
    resumed = next(e for e in killed.klass()["environments"] if e["spec"] == spec)["last"]
    assert resumed["skipped"] > 0, resumed  # the daemon killed mid-fetch did not fetch again what it had


def in_the_class(room, laptop: Laptop) -> None:
    """The class served and `laptop` in it (when a test runs without the ones before it)."""
    klass = room.teacher.klass()
    code = klass.get("code") or room.teacher.json("class", "serve", room.github.link("course", urlpath=URLPATH),
                                                  timeout=900)["code"]
    if not any(p["name"] == "teacher" for p in laptop.klass().get("peers", [])):
        laptop.json("class", "join", code, "--name", laptop.name, "--wait", "30")


def test_material_published_twice_keeps_the_participants_edit(room, tmp_path):
    teacher, laptop = room.teacher, room.laptops[0]
    in_the_class(room, laptop)
    server = laptop.json("servers", "ls")[0]["name"]  # the course server launched from the bundle
    folder = tmp_path / "day1"
    folder.mkdir()
    (folder / "exercise.py").write_text("# exercise 1\n")
    (folder / "notes.md").write_text("notes v1\n")
    teacher.localhub("class", "publish", str(folder))

    def home_file(path):
        out = laptop.kernel(server, f"print(open('/home/jovyan/day1/{path}').read(), end='')")[0]
        return out["stdout"] if out["status"] == "ok" else None

    wait(lambda: home_file("exercise.py") == "# exercise 1\n", 60, "the material in the participant's home")
    laptop.kernel(server, "open('/home/jovyan/day1/exercise.py', 'a').write('answer = 42\\n')")
    (folder / "exercise.py").write_text("# exercise 1 (fixed)\n")
    (folder / "exercise2.py").write_text("# exercise 2\n")
    teacher.localhub("class", "publish", str(folder))
    wait(lambda: home_file("exercise2.py") == "# exercise 2\n", 60, "version 2 in the participant's home")
    assert home_file("exercise.py") == "# exercise 1\nanswer = 42\n"  # the edit is kept
    assert home_file("exercise.v2.py") == "# exercise 1 (fixed)\n"  # the newer version beside it
    assert home_file("notes.md") == "notes v1\n"
    merges = laptop.klass()["merges"]
    assert "exercise.py (edited by you and changed in the newer copy" in merges[server], merges


def test_a_handin_arrives_intact(room):
    teacher, laptop = room.teacher, room.laptops[0]
    server = laptop.json("servers", "ls")[0]["name"]
    answer = "".join(f"line {i}: {'é' * (i % 7)}\n" for i in range(2000))
    laptop.kernel(server, f"open('/home/jovyan/day1/answers.txt', 'w').write({answer!r})")
    stored = laptop.json("class", "submit", "day1/answers.txt", "--server", server)
    assert stored["name"] == "laptop1" and stored["files"] == ["answers.txt"]
    handins = teacher.json("class", "handins")
    kept = teacher.host.state_dir / "workshop" / "handins" / handins[-1]["stored"] / "answers.txt"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == hashlib.sha256(answer.encode()).hexdigest()
    assert handins[-1]["at"] and handins[-1]["path"] == "day1/answers.txt"
    collected = teacher.localhub("class", "handins", "--to", str(room.root / "collected")).stdout
    assert "Copied 1 hand-in" in collected
    assert json.loads((room.root / "collected" / handins[-1]["stored"] / "handin.json").read_text())["name"] == \
        "laptop1"


def test_a_laptop_with_only_docker_and_python_installs_from_the_bundle_and_launches_offline(room):
    """The README's path for a laptop that has nothing of localhub: the installer travels in the bundle."""
    teacher, fresh = room.teacher, room.fresh
    # The wheelhouse is gathered where there is an index to gather from (the test's own namespace, as the
    # teacher's machine at home would); the teacher's laptop in the room then finds it in its cache.
    gather = subprocess.run([sys.executable, "-c", "from localhub.workshop.installer import Installer; "
                             "print(len(Installer.prepare(say=lambda t: None).wheels))"],
                            env={**os.environ, "XDG_CACHE_HOME": str(teacher.cache)}, capture_output=True, text=True,
                            timeout=900)
    assert gather.returncode == 0, gather.stderr[-1500:]
    bundle = room.root / "stick" / "install.lhb"
    lines, _ = teacher.json_lines("bundle", "create", str(bundle), room.github.link("course", urlpath=URLPATH),
                                  "--with-installer", timeout=1800)
    assert lines[-1]["installer"] is True
    assert fresh.engine.client.images.list() == []  # a laptop with an engine and nothing else

    stick = room.root / "fresh-stick"
    stick.mkdir()
    subprocess.run(["tar", "-xf", str(bundle), "-C", str(stick), "installer/install-from-bundle.sh"], check=True)
    installed = fresh.sh(f"sh {stick}/installer/install-from-bundle.sh {bundle}", timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert "done. Start localhub with" in installed.stdout
    localhub = str(fresh.venv / "bin" / "localhub")
    assert fresh.sh(f"{localhub} up --detach --port 8765", timeout=300).returncode == 0
    try:
        launched = fresh.sh(f"{localhub} launch '{room.github.link('course', urlpath=URLPATH)}' --json", timeout=600)
        events = [json.loads(line) for line in launched.stdout.splitlines() if line.startswith("{")]
        assert launched.returncode == 0, launched.stderr[-2000:]
        said = " ".join(e.get("message", "") for e in events)
        assert "is in bundle install" in said and "no network needed" in said and events[-1]["phase"] == "ready"

        # and from the room's LAN: a link of the class that is not in the bundle, fetched as it is launched
        code = teacher.json("class", "serve", room.github.link("course", urlpath=URLPATH), room.github.link("lab2"),
                            timeout=900)["code"]
        joined = fresh.sh(f"{localhub} class join {code} --name fresh --wait 30 --json", timeout=120)
        assert json.loads(joined.stdout)["teacher"] == "teacher", joined.stderr
        lab2 = room.github.spec("lab2")
        wait(lambda: lab2 in [e["spec"] for e in json.loads(fresh.sh(f"{localhub} class status --json", timeout=60)
                                                            .stdout)["class"]["environments"]],
             60, "the class's lab2 known to the fresh laptop")
        launched = fresh.sh(f"{localhub} launch '{room.github.link('lab2')}' --json", timeout=900)
        assert launched.returncode == 0, launched.stderr[-2000:]
        events = [json.loads(line) for line in launched.stdout.splitlines() if line.startswith("{")]
        said = " ".join(e.get("message", "") for e in events)
        assert "fetching it from the laptops that have it" in said and "Fetching gh/" in said, said[:2000]
        assert "is the class's environment" in said and events[-1]["phase"] == "ready"
    finally:
        fresh.sh(f"{localhub} down", timeout=120)
