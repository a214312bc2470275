"""Helpers of the workshop tests: GitHub stood in for by local repositories (the edge of the internet), and
a class room of laptops on a simulated LAN (tests/lan/netns.py, engines.py, desks.py), each with its own
Docker engine, its own localhub and no route out.

FakeGitHub: `https://github.com/<org>/<repo>` is rewritten by git itself (`url.<base>.insteadOf`, given in
the environment) to a folder of local repositories, so a real `gh/…` Binder link — the original
mybinder.org link — resolves and builds on the teacher's machine, and nowhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.lan.desks import Desk
from tests.lan.netns import REPO, Host, Lan
from tests.lan.test_pool_remote import wait  # noqa: F401 (the LAN tests' one way to wait for a condition)
from tests.support.binder import CaseRepo


class FakeGitHub:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.org = f"workshop-{uuid.uuid4().hex[:8]}"  # image names stay apart from other runs' builds
        (self.root / self.org).mkdir(parents=True, exist_ok=True)

    def repo(self, case: str, name: str) -> CaseRepo:
        """A case repository under this org, with a file of its own: its environment's top layer is then
        new to every engine (other tests build the same cases, and identical layers would be shared)."""
        repo = CaseRepo(case, self.root / self.org, name)
        repo.commit("this copy", {"WORKSHOP": f"{self.org}/{name}\n"})
        return repo

    def link(self, name: str, ref: str = "main", urlpath: str | None = None) -> str:
        return f"https://mybinder.org/v2/gh/{self.org}/{name}/{ref}" + (f"?urlpath={urlpath}" if urlpath else "")

    def spec(self, name: str, ref: str = "main") -> str:
        return f"gh/{self.org}/{name}/{ref}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this GitHub: git's own URL rewriting, by environment."""
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
        return {"GIT_CONFIG_COUNT": str(count + 1), f"GIT_CONFIG_KEY_{count}": f"url.file://{self.root}/.insteadOf",
                f"GIT_CONFIG_VALUE_{count}": "https://github.com/"}


# --- the class room -------------------------------------------------------------------------------

# The teacher's blob store outlives a run, like the engines' data roots: the base image's layers are then
# compressed once per machine, not once per run. Participants start empty every run (they must fetch).
TEACHER_CACHE = Path("/var/lib/localhub-test/workshop-cache")
LINK_MBIT = 64  # each laptop's link to the room's switch, both ways (a busy classroom network)


class Laptop(Desk):
    """A desk of tests/lan/desks.py that takes part in a class: its class agent on its LAN address, its own
    blob store, and (the teacher's) a way to reach GitHub."""

    def __init__(self, lan: Lan, name: str, root: Path, cache: Path | None = None, extra_env: dict | None = None):
        super().__init__(lan, name, root, role=name)
        self.cache = cache or root / f"{name}-cache"
        self.extra_env = extra_env or {}

    @property
    def env(self) -> dict:
        return {**super().env, "LOCALHUB_CLASS_ADDRESS": self.host.address, "XDG_CACHE_HOME": str(self.cache),
                **self.extra_env}

    def json(self, *args: str, timeout: float = 240) -> dict | list:
        return json.loads(self.localhub(*args, "--json", timeout=timeout).stdout)

    def json_lines(self, *args: str, timeout: float = 600, check: bool = True) -> tuple[list[dict], str]:
        done = self.localhub(*args, "--json", timeout=timeout, check=check)
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")], done.stderr

    def klass(self) -> dict:
        return self.json("class", "status")["class"] or {}

    def python(self, code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.host.ns, sys.executable, "-c", code, *args], cwd=REPO,
                              env=self.env, capture_output=True, text=True, timeout=timeout)


def shape(lan: Lan, host: Host, mbit: int = LINK_MBIT) -> None:
    """The host's link as a busy classroom network's (Lan.shape)."""
    lan.shape(host, mbit)


def outside_connections(host: Host) -> dict[str, str]:
    """Try to connect from inside the host to addresses outside the LAN; address -> how it failed. With no
    route the kernel refuses at once: no packet leaves the namespace."""
    code = ("import json, socket, errno\n"
            "out = {}\n"
            "for addr in ('1.1.1.1', '8.8.8.8', '192.0.2.1', '203.0.113.7'):\n"
            "    s = socket.socket(); s.settimeout(3)\n"
            "    try:\n"
            "        s.connect((addr, 443)); out[addr] = 'connected'\n"
            "    except OSError as e:\n"
            "        out[addr] = errno.errorcode.get(e.errno, str(e))\n"
            "    finally:\n"
            "        s.close()\n"
            "print(json.dumps(out))\n")
    done = subprocess.run(["ip", "netns", "exec", host.ns, sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=30)
    return json.loads(done.stdout)


def clear_environments(laptop: Laptop) -> None:
    """Remove every environment image an earlier run left in the laptop's cached engine (only tests use it)."""
    for image in laptop.engine.client.images.list(filters={"label": "localhub.spec"}):
        try:
            laptop.engine.client.images.remove(image.id, force=True)
        except Exception:
            pass


CHROMIUM = "/usr/bin/chromium"
_BROWSE = """
import json, sys
from pathlib import Path
from playwright.sync_api import sync_playwright
from localhub.client import Client

state, path, shot = sys.argv[1], sys.argv[2], sys.argv[3]
link = Client(Path(state)).login_link(next_url=path)
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="%s", args=["--headless", "--no-sandbox", "--disable-gpu",
                                "--no-first-run", "--disable-background-networking", "--disable-component-update"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # the progress page's log, kept in sessionStorage so the JupyterLab page (same origin) can still read it
    page.add_init_script(\"\"\"
      document.addEventListener("DOMContentLoaded", () => {
        const log = document.getElementById("log");
        if (!log || !location.pathname.startsWith("/services/localhub/v2/")) return;
        new MutationObserver(() => sessionStorage.setItem("launch-log", log.textContent))
          .observe(log, {childList: true, characterData: true, subtree: true});
      });\"\"\")
    seen = []
    page.on("framenavigated", lambda frame: seen.append(frame.url) if frame == page.main_frame else None)
    try:
        page.goto(link)
        page.wait_for_selector("#jp-main-dock-panel", timeout=180_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=shot)
        print(json.dumps({"url": page.url, "title": page.title(), "visited": seen,
                          "log": page.evaluate("sessionStorage.getItem('launch-log')")}))
    except Exception as err:
        page.screenshot(path=shot)
        print(json.dumps({"error": str(err)[:500], "url": page.url, "visited": seen,
                          "body": page.inner_text("body")[:1000]}))
    browser.close()
""" % CHROMIUM


def open_in_chromium(laptop: Laptop, path: str, screenshot: Path) -> dict:
    """Sign in on the laptop's hub with a real Chromium inside its namespace and open `path` (a /v2/… link);
    returns where it landed (or why not), and leaves a screenshot."""
    done = laptop.python(_BROWSE, str(laptop.host.state_dir), path, str(screenshot), timeout=300)
    if not done.stdout.strip():
        raise AssertionError(f"the browser script failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
