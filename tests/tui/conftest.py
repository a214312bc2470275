"""Fixtures for the TUI tests. Real hubs come from the suite's HubFactory (tests/conftest.py): own state
and config dirs, ports in 21000+, the `localhub.test` label on everything, and `localhub down` plus removal
of every container, volume and network of the instance at the end; failures print their logs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .fakes import NOW, FakeClient
from .helpers import delete_all_servers


def _need_docker() -> None:
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.skip("needs a Docker engine (scripts/setup-docker.sh installs one)")


@pytest.fixture(scope="session")
def tui_hub(hub_factory):
    """The TUI tests' own hub, so clearing its servers never disturbs other suites."""
    _need_docker()
    return hub_factory.start("tui")


@pytest.fixture
def live(tui_hub):
    """The TUI hub with no servers before and after the test (a user may have 5 named servers)."""
    delete_all_servers(tui_hub)
    yield tui_hub
    delete_all_servers(tui_hub)


@pytest.fixture
def spare_hub(hub_factory, request):
    """A hub of its own, created but not started, for tests that stop or start it."""
    _need_docker()
    hub = hub_factory.create(f"tui-{request.node.name[:40]}")
    yield hub
    hub_factory.close(hub)


@pytest.fixture
def fake():
    return FakeClient()


@pytest.fixture
def fixed_clock():
    return lambda: NOW
