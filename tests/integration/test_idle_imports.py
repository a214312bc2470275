"""A real daemon, started in no lab and no class and then used from the CLI, leaves unimported what only a lab,
a class or a build needs, and what no localhub process uses (lean.py): these are what keep the idle hub small
(issue 11; `scripts/bench_memory.py` measures it).

Python names every module it loads when PYTHONPROFILEIMPORTTIME is set (`-X importtime`), on stderr: the
detached daemon's stderr is its log, so the log lists what the running daemon imported, at start and later."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil
import pytest

from tests.support.hubs import localhub

pytestmark = pytest.mark.docker

ON_DEMAND = {
    "zeroconf": "the pool's and a class's discovery",
    "cryptography": "the lab's keys and TLS",
    "localhub.pool.member": "the pool, run only in a lab",
    "localhub.workshop.classroom": "a class, run only while in one",
    "repo2docker": "builds",
    "rich": "the CLI's displays (cli/render.py)",
    # lean.py marks these absent: Python still logs the attempt (a few µs), so what they would bring is checked
    "click": "httpx's command-line client, httpx._main (lean.py)",
    "lark": "jsonschema's IRI parser, rfc3987_syntax (lean.py)",
    "arrow": "jsonschema's duration checker, isoduration (lean.py)",
    "_curses": "tornado's terminal colours, curses (lean.py)",
    "pygments.util": "mako's highlighting of its error pages, pygments (lean.HUB)",
    "alembic": "JupyterHub's database layer, jupyterhub.orm, imported on first use (lean.DAEMON_LATER)",
    "sqlalchemy.orm": "JupyterHub's database layer, jupyterhub.orm, imported on first use (lean.DAEMON_LATER)",
}


def imported(log: str) -> set[str]:
    # "import time:       412 |        901 |   zeroconf._dns"
    return {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", log, re.M)}


def test_an_idle_hub_has_not_imported_what_only_a_lab_a_class_or_a_build_needs(hub_factory):
    hub = hub_factory.create("idle-imports")
    localhub("up", "--detach", "--port", str(hub.port), env={**hub.env, "PYTHONPROFILEIMPORTTIME": "1"})
    info = hub.client.info()  # an authenticated request, as the CLI and the TUI make
    assert info["pool"] is None
    hub.client.servers()
    time.sleep(3)  # the culler's and the pauser's first passes
    modules = imported((hub.state_dir / "logs" / "daemon.log").read_text(errors="replace"))
    assert {"localhub.daemon", "jupyterhub_idle_culler", "jsonschema"} <= modules, "no import times in the log"
    loaded = {name: why for name, why in ON_DEMAND.items()
              if any(m == name or m.startswith(name + ".") for m in modules)}
    assert not loaded, f"an idle daemon imported {loaded}"
    # the proxy runs inside JupyterHub (hub_proxy.py): no process of its own
    hub_pid = hub.client.runtime["hub_pid"]
    processes = {p.pid: " ".join(p.cmdline()) for p in psutil.Process(hub.client.runtime["daemon_pid"]).children(True)}
    assert hub_pid in processes and not [c for c in processes.values() if "localhub.hub.proxy" in c], processes
    # JupyterHub leaves cryptography out too (lean.JUPYTERHUB): its compiled part is no file it has mapped
    maps = Path(f"/proc/{hub_pid}/maps").read_text()
    assert "_sqlite3" in maps, "not JupyterHub's map (it has its database open)"
    assert "cryptography/hazmat/bindings" not in maps, "JupyterHub loaded cryptography"
