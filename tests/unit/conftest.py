"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A state and a config dir of the test's own, as the CLI finds them (its environment variables)."""
    monkeypatch.setenv("LOCALHUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOCALHUB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path
