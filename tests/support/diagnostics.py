"""On a failed test, print what the test hubs and their containers were doing."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    factory = item.funcargs.get("hub_factory") or getattr(item.session, "_localhub_factory", None)
    hubs = list(getattr(factory, "hubs", []))
    for name in ("hub",):
        if name in item.funcargs and item.funcargs[name] not in hubs:
            hubs.append(item.funcargs[name])
    sections = []
    for hub in hubs:
        try:
            for c in hub.containers():
                logs = c.logs(tail=40).decode(errors="replace")
                sections.append(f"--- container {c.name} ({c.status}, exit {c.attrs['State'].get('ExitCode')})\n{logs}")
        except Exception as err:  # diagnostics must never hide the real failure
            sections.append(f"--- could not list containers of hub {hub.name}: {err}")
        log = hub.state_dir / "logs" / "hub.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-40:]
            sections.append(f"--- {log} (last 40 lines)\n" + "\n".join(tail))
    if sections:
        report.sections.append(("localhub diagnostics", "\n".join(sections)))
