"""LaunchSpec (spec, to_dict, binder_path) and the provider registry."""

from __future__ import annotations

import dataclasses
import importlib
import json
import socket
import time

import pytest

from localhub.binder import DEFAULT_PROVIDERS, BadLink, LaunchSpec, get_provider, parse_link, parse_spec, provider_names
from localhub.binder.providers.base import Provider
from localhub.binder.spec import resolve

pytestmark = pytest.mark.unit


def test_to_dict_is_the_json_the_cli_prints() -> None:
    launch = LaunchSpec("gh", "https://github.com/org/repo", "HEAD", "lab/tree/x.ipynb")
    assert json.loads(json.dumps(launch.to_dict())) == {
        "provider": "gh",
        "repo": "https://github.com/org/repo",
        "ref": "HEAD",
        "urlpath": "lab/tree/x.ipynb",
        "spec": "gh/org/repo/HEAD",
    }


def test_launch_spec_is_immutable() -> None:
    launch = LaunchSpec("gh", "https://github.com/org/repo", "HEAD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        launch.ref = "main"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("launch", "path"),
    [
        (LaunchSpec("gh", "https://github.com/org/repo", "HEAD"), "/v2/gh/org/repo/HEAD"),
        (LaunchSpec("gh", "https://github.com/org/repo", "main", "lab/tree/x.ipynb"),
         "/v2/gh/org/repo/main?urlpath=lab/tree/x.ipynb"),
        (LaunchSpec("gh", "https://github.com/org/repo", "main", "lab/tree/a b&c=d?.ipynb"),
         "/v2/gh/org/repo/main?urlpath=lab/tree/a%20b%26c%3Dd%3F.ipynb"),
        (LaunchSpec("gh", "https://github.com/org/repo", "main", "doc/tree/my%20notes.ipynb"),
         "/v2/gh/org/repo/main?urlpath=doc/tree/my%2520notes.ipynb"),
        (LaunchSpec("git", "https://example.org/r.git", "v1.0+build#2"),
         "/v2/git/https%3A%2F%2Fexample.org%2Fr.git/v1.0+build%232"),
        (LaunchSpec("zenodo", "10.5281/zenodo.3242074", None, "voila/render/app.ipynb"),
         "/v2/zenodo/10.5281/zenodo.3242074?urlpath=voila/render/app.ipynb"),
    ],
)
def test_binder_path(launch: LaunchSpec, path: str) -> None:
    assert launch.binder_path() == path
    assert parse_link(path) == launch


def test_refs_with_odd_characters_round_trip() -> None:
    for ref in ["v1.0+build", "release/2024-01", "feat/ü-umlaut", "a%b", "50%-off", "x@y", "tag,with,commas"]:
        launch = LaunchSpec("gh", "https://github.com/org/repo", ref)
        assert parse_link(launch.spec) == launch
        assert parse_link("https://mybinder.org" + launch.binder_path()) == launch


# --- registry ------------------------------------------------------------------------------------------

def test_every_provider_is_registered_once_with_a_module_of_its_name() -> None:
    names = [provider.name for provider in DEFAULT_PROVIDERS]
    assert len(names) == len(set(names))
    assert set(names) == {"gh", "gist", "gl", "bb", "zenodo", "figshare", "hydroshare", "dataverse", "swh", "ckan",
                          "git", "local"}
    for provider in DEFAULT_PROVIDERS:
        assert isinstance(provider, Provider)
        module = importlib.import_module(f"localhub.binder.providers.{provider.name}")
        assert module.PROVIDER is provider
        assert get_provider(provider.name) is provider


def test_catch_all_providers_come_last() -> None:
    assert [p.name for p in DEFAULT_PROVIDERS][-3:] == ["ckan", "git", "local"]


def test_provider_names_are_sorted() -> None:
    assert list(provider_names()) == sorted(provider_names())


@pytest.mark.parametrize("provider", DEFAULT_PROVIDERS, ids=lambda p: p.name)
def test_each_example_is_a_valid_spec_written_canonically(provider: Provider) -> None:
    assert parse_spec(provider.example).spec == provider.example


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(BadLink) as caught:
        get_provider("svn")
    assert str(caught.value) == (
        "Unknown provider 'svn'; known providers are bb, ckan, dataverse, figshare, gh, gist, git, gl, hydroshare, "
        "local, swh, zenodo, as in gh/org/repo/HEAD."
    )


@pytest.mark.parametrize("repo, inside", [
    ("/home/me/thesis", True), ("file:///srv/course", True),
    ("http://127.0.0.1:3000/admin.git", True), ("https://localhost/x.git", True), ("git://[::1]/x", True),
    ("http://2130706433/x.git", True), ("http://0x7f.1/x.git", True), ("http://127.1/x", True),
    ("http://[::ffff:10.0.0.1]/x", True), ("ssh://git@192.168.1.20/lab/code.git", True),
    ("git@gitserver:lab/code.git", True), ("https://gitlab.lab.internal/a/b", True), ("http://nas.local/r", True),
    ("http://169.254.169.254/latest", True), ("http://0.0.0.0:8080/r.git", True),
    ("https://github.com/org/repo", False), ("git@github.com:org/repo.git", False), ("http://8.8.8.8/r", False),
    ("10.5281/zenodo.3242074", False), ("https://[oops/x", False),
])
def test_a_link_that_reaches_this_machine_or_its_network(repo, inside) -> None:
    assert LaunchSpec("git", repo, "HEAD").reaches_inside is inside


def test_a_local_folder_link_reaches_inside() -> None:
    assert parse_link("local/%2Fhome%2Fme%2Fthesis/HEAD").reaches_inside
    assert not parse_link("gh/org/repo/HEAD").reaches_inside


async def test_the_resolver_gives_every_address_of_a_name() -> None:
    assert "127.0.0.1" in await resolve("localhost")  # this machine's own resolver
    assert await resolve("no-such-host.invalid", timeout=1) == []  # .invalid never resolves (RFC 6761)


def answering(monkeypatch, *addresses: str, delay: float = 0) -> None:
    """The resolver (the edge of the internet) answers every name with `addresses`."""
    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        time.sleep(delay)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("addresses, inside", [
    (["192.168.1.5"], True), (["140.82.112.3", "127.0.0.1"], True), (["fe80::1%eth0"], True),
    (["140.82.112.3"], False), ([], False),
])
async def test_a_public_looking_name_that_resolves_to_this_network_reaches_inside(monkeypatch, addresses, inside):
    """A stranger's page could name git.example.org set to 192.168.1.5 (or 127.0.0.1.nip.io): the name alone passes."""
    answering(monkeypatch, *addresses)
    launch = LaunchSpec("git", "https://git.example.org/lab/code.git", "HEAD")
    assert not launch.reaches_inside
    assert await launch.reaches_inside_once_resolved() is inside


async def test_a_resolver_that_does_not_answer_in_time_counts_as_outside(monkeypatch):
    answering(monkeypatch, "10.0.0.7", delay=2)
    assert await LaunchSpec("git", "https://git.example.org/r.git").reaches_inside_once_resolved(timeout=0.2) is False
    answering(monkeypatch)  # a name inside by its spelling is not looked up at all
    assert await LaunchSpec("git", "http://nas.local/r.git").reaches_inside_once_resolved() is True
