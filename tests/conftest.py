"""Shared test fixtures: real hubs on the real Docker engine, labelled and cleaned up, with their logs
printed when a test fails."""

from __future__ import annotations

import pytest

from tests.support.hubs import HubFactory

pytest_plugins = ["tests.support.diagnostics"]


@pytest.fixture(scope="session")
def hub_factory(tmp_path_factory):
    factory = HubFactory(tmp_path_factory.mktemp("hubs"))
    yield factory
    factory.close_all()


@pytest.fixture(scope="session")
def hub(hub_factory):
    """One hub on default policies, shared by the tests that only add and remove their own servers."""
    return hub_factory.start("main")
