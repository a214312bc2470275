"""Server-name policy and one-time sign-in tokens."""

from __future__ import annotations

import os
import stat
import time

import pytest

from localhub.hub import login_tokens
from localhub.hub.policy import PolicyError, check_server_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["a", "thesis", "thesis-2", "x" * 20, "lab-2026-a"])
def test_good_names(name):
    check_server_name(name, 20)


@pytest.mark.parametrize("name, fragment", [
    ("x" * 21, "at most 20 characters"),
    ("Thesis", "lowercase"),
    ("2fast", "starting with a letter"),
    ("trailing-", "ending with a letter or digit"),
    ("double--dash", "single '-'"),
    ("with space", "lowercase"),
    ("", "lowercase"),
])
def test_bad_names(name, fragment):
    with pytest.raises(PolicyError, match=fragment):
        check_server_name(name, 20)


# the single-user server's own top-level routes (the proxy routes /user/U/NAME/… by longest prefix, so a server
# of such a name would take that route over from the default server)
ROUTES = ["api", "lab", "tree", "notebooks", "files", "edit", "view", "terminals", "kernelspecs", "static",
          "custom", "nbextensions", "doc", "login", "logout", "hub", "metrics", "nbconvert", "console", "consoles",
          "voila", "lsp", "proxy"]


@pytest.mark.parametrize("name", ROUTES)
def test_names_of_a_jupyter_servers_own_routes_are_reserved(name):
    with pytest.raises(PolicyError) as refused:
        check_server_name(name, 20)
    assert str(refused.value) == (
        f"Server name '{name}' is reserved: every Jupyter server has a page at /user/USER/{name}/, and a server of "
        f"that name would take that page over from your default server; choose another (e.g. '{name}-2').")
    check_server_name(f"{name}-2", 20)  # what the sentence suggests is allowed


@pytest.mark.parametrize("name", ["apis", "labs", "my-api", "tree-2", "lab-notes"])
def test_names_that_only_resemble_routes_are_allowed(name):
    check_server_name(name, 20)


def test_a_launch_of_a_repository_named_like_a_route_gets_a_free_name():
    from localhub.binder import parse_spec
    from localhub.launcher import unique_server_name

    launch = parse_spec("gh/someone/lab/HEAD")
    assert unique_server_name("lab", launch, "abc", {}, 20) == "lab-2"
    assert unique_server_name("lab", launch, "abc", {"lab-2": {}}, 20) == "lab-3"


def test_tokens_work_once(tmp_path):
    token = login_tokens.issue(tmp_path)
    (stored,) = tmp_path.iterdir()
    assert token not in stored.name  # only a hash is kept
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert login_tokens.consume(tmp_path, token)
    assert not login_tokens.consume(tmp_path, token)


def test_expired_and_unknown_tokens_are_refused(tmp_path):
    token = login_tokens.issue(tmp_path, ttl=-1)
    assert not login_tokens.consume(tmp_path, token)
    assert not login_tokens.consume(tmp_path, "made-up")
    assert not login_tokens.consume(tmp_path, "")


def test_revoking_ends_every_link_issued_so_far(tmp_path):
    earlier = [login_tokens.issue(tmp_path), login_tokens.issue(tmp_path, ttl=-10)]
    assert login_tokens.revoke_all(tmp_path) == 2
    assert not any(login_tokens.consume(tmp_path, token) for token in earlier)
    later = login_tokens.issue(tmp_path)
    assert login_tokens.consume(tmp_path, later)
