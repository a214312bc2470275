"""The simulated LAN: a fresh set of network namespaces per test, removed afterwards whatever happens; on a
failure, the tail of every process's log is attached to the report."""

from __future__ import annotations

import json
import time

import pytest

from tests.lan.netns import Host, Lan, Proc, netns_available

_why_not = netns_available()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lan/" in str(item.fspath).replace("\\", "/") and _why_not:
            item.add_marker(pytest.mark.skip(reason=_why_not))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    lan = item.funcargs.get("lan") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(lan, Lan) and report.when == "call":
        report.sections.append(("simulated LAN processes", lan.logs()))


@pytest.fixture
def lan(tmp_path):
    network = Lan(tmp_path)
    try:
        yield network
    finally:
        network.close()


class LabTools:
    """Lab set-up through the real commands, run inside the hosts' namespaces."""

    def __init__(self, lan: Lan):
        self.lan = lan

    def cli(self, host: Host, *args: str) -> str:
        done = self.lan.run(host, "-m", "localhub", "pool", *args, "--state-dir", str(host.state_dir))
        assert done.returncode == 0, done.stderr
        return done.stdout

    def new_lab(self, first: Host, *others: Host) -> str:
        """`pool init` on the first host, then each other host joins with a code `pool invite` prints there
        (found by mDNS, paired over the LAN); returns the lab's fingerprint."""
        lab = json.loads(self.cli(first, "init", "--json"))["lab"]
        for host in others:
            code, invite = self.invite(first)
            self.cli(host, "join", code)
            invite.wait_for(lambda e: e.get("event") == "text" and "joined lab" in e["text"], 30, "the join")
        return lab

    def invite(self, host: Host, minutes: float = 2) -> tuple[str, Proc]:
        """`localhub pool invite` running in `host`: (its code, the process)."""
        proc = self.lan.python(host, "-m", "localhub", "pool", "invite", "--json", "--minutes", str(minutes),
                               "--state-dir", str(host.state_dir), label=f"{host.name}:invite")
        code = proc.wait_for(lambda e: "code" in e, 30, "the invitation's code")["code"]
        return code, proc

    def owner_away(self, host: Host, seconds: float = 3600) -> None:
        """Simulate owner activity (or its absence) through the manual idle source's file."""
        path = host.state_dir / "pool" / "owner-input"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{time.time() - seconds}\n")
        tmp.replace(path)

    def serve(self, host: Host, *extra: str) -> tuple[Proc, dict]:
        """Start the pool service (agent + mDNS) in the host; return it and its `listening` event."""
        proc = self.lan.python(host, "-m", "localhub.pool.host.service", "--state-dir", str(host.state_dir),
                               "--label", f"desk-{host.name}", "--txt-interval", "2", "--tick", "0.5",
                               "--start-load", "1000", "--busy-load", "1000", *extra)
        listening = proc.wait_for(lambda e: e["event"] == "listening", 30, "listening event")
        return proc, listening

    def sharing_node(self, host: Host) -> tuple[Proc, dict]:
        self.cli(host, "share", "on", "--cpus", "1", "--memory", "2G", "--disk", "4G")
        self.owner_away(host)
        return self.serve(host)


@pytest.fixture
def tools(lan):
    return LabTools(lan)
