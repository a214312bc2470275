"""Server names map one-to-one to container and volume names (storage.py is their one owner)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from localhub.hub.policy import check_server_name
from localhub.storage import container_name, home_volume_name, server_key

pytestmark = pytest.mark.unit

DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def test_a_server_named_default_is_not_the_default_server():
    assert home_volume_name("i1", "me", "default") != home_volume_name("i1", "me", "")
    assert container_name("i1", "me", "default") != container_name("i1", "me", "")


def test_existing_homes_keep_their_names():
    # the default server's home and every policy-valid name are named as before the names were made one-to-one
    assert home_volume_name("i1", "me", "") == "localhub-i1-me--default"
    assert home_volume_name("i1", "me", "thesis-2") == "localhub-i1-me--thesis-2"


@settings(max_examples=500)
@given(st.text(max_size=30), st.text(max_size=30))
def test_different_servers_never_share_a_name(a, b):
    if a != b:
        assert server_key(a) != server_key(b)
    assert DOCKER_NAME.fullmatch(container_name("abcd1234", "me", a))


@settings(max_examples=300)
@given(st.from_regex(r"[a-z]([a-z0-9]|-(?=[a-z0-9])){0,19}", fullmatch=True))
def test_names_the_policy_allows_are_kept_readable(name):
    check_server_name(name, 21)
    assert server_key(name) == name or name == "default"
