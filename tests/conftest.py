"""Shared test fixtures: real hubs on the real Docker engine, labelled and cleaned up, with their logs
printed when a test fails; and how the suite is spread over parallel workers (pytest-xdist, `--dist loadgroup`).

Each worker has its own session fixtures (its own `hub`). Tests whose parts cannot be shared between two
workers run in one group, one after another: the simulated LAN (marker `lan`: its engines' data roots and
namespaces are machine-wide)."""

from __future__ import annotations

import pytest

from tests.support.hubs import HubFactory

pytest_plugins = ["tests.support.diagnostics"]

SERIAL_MARKERS = ("lan",)  # one xdist group each: their tests run on one worker, one after another


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the tests' ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in SERIAL_MARKERS:
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.xdist_group(marker))
                break


@pytest.fixture(scope="session")
def hub_factory(tmp_path_factory):
    factory = HubFactory(tmp_path_factory.mktemp("hubs"))
    yield factory
    factory.close_all()


@pytest.fixture(scope="session")
def hub(hub_factory):
    """One hub on default policies, shared by the tests that only add and remove their own servers."""
    return hub_factory.start("main")
