"""A finished build's promotion (temporary name → real name) against a fake engine that records each request:
what it leaves in the engine, and that a new build, on the launch path between the build and the server's start,
asks the engine nothing it already knows (the real engine suite, tests/integration/test_build_docker.py, proves
the same outcomes against Docker)."""

from __future__ import annotations

import docker
import pytest

from localhub.images.builder import Builder

pytestmark = pytest.mark.unit


class FakeEngine:
    """Image names → ids, through docker-py's low-level API and its image collection; `requests` logs each call."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(names)
        self.requests: list[str] = []
        self.api = _API(self)
        self.images = _Images(self)

    def resolve(self, ref: str) -> str:
        image = self.names.get(ref) or (ref if ref in self.names.values() else None)
        if image is None:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return image


class _API:
    def __init__(self, engine: FakeEngine):
        self.e = engine

    def inspect_image(self, ref):
        self.e.requests.append("inspect")
        return {"Id": self.e.resolve(ref)}

    def tag(self, ref, repository, tag=None, force=False):
        self.e.requests.append("tag")
        self.e.names[f"{repository}:{tag}"] = self.e.resolve(ref)
        return True

    def remove_image(self, ref, force=False, noprune=False):
        self.e.requests.append("remove")
        image = self.e.resolve(ref)
        names = [n for n, i in self.e.names.items() if i == image]
        if ref in self.e.names:
            del self.e.names[ref]  # a name: untags (the image goes with its last name)
        elif len(names) > 1 and not force:
            raise docker.errors.APIError(f"conflict: image {ref} is referenced in multiple repositories")
        else:
            for n in names:  # an id: the image goes, with its name
                del self.e.names[n]


class _Image:
    def __init__(self, engine: FakeEngine, image: str):
        self.e, self.id = engine, image

    def tag(self, repository, tag=None, **kwargs):
        return self.e.api.tag(self.id, repository, tag)


class _Images:
    def __init__(self, engine: FakeEngine):
        self.e = engine

    def get(self, ref):
        return _Image(self.e, self.e.api.inspect_image(ref)["Id"])

    def remove(self, ref, force=False, noprune=False):
        return self.e.api.remove_image(ref, force, noprune)


NAME = "localhub-env/paper-1a2b3c4d:0da74976eec6"
TEMPORARY = "localhub-building/paper-1a2b3c4d-0da74976eec6:5f0e"


def builder(engine: FakeEngine, tmp_path) -> Builder:
    return Builder(engine, tmp_path / "logs")


def test_a_new_build_is_named_with_two_requests_and_no_lookup(tmp_path):
    engine = FakeEngine({TEMPORARY: "sha256:new"})
    assert builder(engine, tmp_path)._promote(TEMPORARY, NAME, rebuild=False) is None
    assert engine.names == {NAME: "sha256:new"}
    assert engine.requests == ["tag", "remove"]  # before: inspect the new image and look up the name first


def test_a_rebuild_replaces_the_image_of_that_name(tmp_path):
    engine = FakeEngine({TEMPORARY: "sha256:new", NAME: "sha256:old", "other:1": "sha256:other"})
    assert builder(engine, tmp_path)._promote(TEMPORARY, NAME, rebuild=True) is None
    assert engine.names == {NAME: "sha256:new", "other:1": "sha256:other"}
    with pytest.raises(docker.errors.ImageNotFound):
        engine.api.inspect_image("sha256:old")  # gone, not left untagged


def test_a_rebuild_into_the_same_image_keeps_it(tmp_path):
    engine = FakeEngine({TEMPORARY: "sha256:same", NAME: "sha256:same"})
    assert builder(engine, tmp_path)._promote(TEMPORARY, NAME, rebuild=True) is None
    assert engine.names == {NAME: "sha256:same"}


def test_a_build_that_made_no_image_says_so(tmp_path):
    engine = FakeEngine({})
    assert builder(engine, tmp_path)._promote(TEMPORARY, NAME, rebuild=False) == \
        "repo2docker finished without producing an image"
    assert engine.names == {}
