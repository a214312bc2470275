"""The environments catalog against the real engine: what it lists, and that listing stays one request to the
engine however many environments a desktop keeps (the environments tab and `servers ls` ask every few
seconds; scripts/bench_fill.py measures the time)."""

import io
import uuid

import docker
import pytest

from localhub.images.catalog import list_environments

pytestmark = pytest.mark.docker

BASE = "localhub/base:test"
RUN = uuid.uuid4().hex[:12]
LABELS = {"localhub.test": "1", "localhub.test-run": RUN}


@pytest.fixture(scope="module")
def engine():
    try:
        client = docker.from_env(version="auto")
        client.images.get(BASE)
    except docker.errors.DockerException as err:
        pytest.skip(f"needs the engine and {BASE} ({err})")
    yield client
    for image in client.images.list(filters={"label": f"localhub.test-run={RUN}"}):
        for tag in image.tags:
            client.images.remove(tag, force=True)
    client.close()


@pytest.fixture(scope="module")
def environments(engine):
    """Three environment images (labels only on the base: no layer of their own), named as the builder names."""
    made = {}
    for i in range(3):
        name = f"localhub-env/test-catalog-{RUN}-{i}:{i:012d}"
        labels = {**LABELS, "localhub.spec": f"git/file%3A%2F%2F%2Ftmp%2Frepo-{i}/HEAD",
                  "localhub.environment": f"git:file:///tmp/repo-{i}", "localhub.resolved": f"{i:040d}",
                  "localhub.repo2docker": "test", "localhub.built": f"2026-12-0{i + 1}T00:00:00+00:00"}
        image, _ = engine.images.build(fileobj=io.BytesIO(f"FROM {BASE}\n".encode()), tag=name, labels=labels,
                                       rm=True)
        made[name] = image
    return made


def test_lists_every_environment_with_its_labels_newest_first(engine, environments):
    found = list_environments(engine, {"localhub.test-run": RUN})
    assert [e.image for e in found] == sorted(environments, reverse=True)  # built 3rd, 2nd, 1st of December
    for env in found:
        i = int(env.image.rsplit("-", 1)[1].split(":")[0])
        assert env.id == environments[env.image].id
        assert env.spec == f"git/file%3A%2F%2F%2Ftmp%2Frepo-{i}/HEAD"
        assert env.environment == f"git:file:///tmp/repo-{i}" and env.resolved == f"{i:040d}"
        assert env.repo2docker == "test" and env.built.day == i + 1
        assert env.size == engine.images.get(BASE).attrs["Size"]  # no layer of its own


def test_listing_is_one_request_however_many_environments(engine, environments):
    requests = []
    engine.api.hooks["response"].append(lambda response, *args, **kwargs: requests.append(response.url))
    try:
        found = list_environments(engine, {"localhub.test-run": RUN})
    finally:
        engine.api.hooks["response"].clear()
    assert len(found) == len(environments) == 3
    assert len(requests) == 1, requests  # not one inspect per image
