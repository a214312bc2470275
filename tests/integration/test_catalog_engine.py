"""The environments catalog against the real engine: what it lists, and that listing stays one request to the
engine however many environments a desktop keeps (the environments tab and `servers ls` ask every few
seconds; scripts/bench_fill.py measures the time)."""

import asyncio
import io
import threading
import uuid
from types import SimpleNamespace

import docker
import pytest

from localhub.hub.environments_web import inventory
from localhub.images.catalog import list_environments
from localhub.images.inventory import LayerBook

pytestmark = pytest.mark.docker

BASE = "localhub/base:test"
RUN = uuid.uuid4().hex[:12]
INSTANCE = f"test-catalog-{RUN}"
LABELS = {"localhub.test": "1", "localhub.test-run": RUN, "localhub.instance": INSTANCE}


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


class HubSide:
    """The hub's answer to the inventory's question (the desktop user's servers): one server uses `image`."""

    def __init__(self, image: str):
        self.image = image
        self.asked = threading.Event()

    async def user(self, name):
        self.asked.set()
        return {"name": name, "servers": {"s1": {"user_options": {"image": self.image}, "ready": False}}}


def hub_daemon(engine, hub: HubSide) -> SimpleNamespace:
    """What inventory() reads of the daemon: the real engine and layer book, the hub's side faked."""
    return SimpleNamespace(docker=engine, settings=SimpleNamespace(instance=INSTANCE, user="u"), hub_api=hub,
                           builder=SimpleNamespace(layers=LayerBook(engine), status=lambda: []),
                           launcher=SimpleNamespace(recent=SimpleNamespace(list=lambda: []), image_traces={}))


def test_inventory_asks_the_engine_once_a_poll(engine, environments):
    first = sorted(environments)[0]
    daemon = hub_daemon(engine, HubSide(first))
    asyncio.run(inventory(daemon))  # the layers of every image are read once, then kept
    requests = []
    engine.api.hooks["response"].append(lambda response, *args, **kwargs: requests.append(response.url))
    try:
        found = asyncio.run(inventory(daemon))
    finally:
        engine.api.hooks["response"].clear()
    rows = {e["image"]: e for e in found["environments"]}
    assert set(rows) == set(environments)  # built by this instance: ours
    assert rows[first]["servers"] == ["s1"] and all(not rows[i]["servers"] for i in rows if i != first)
    assert len(requests) == 1 and "/images/json" in requests[0], requests  # not three listings


def test_inventory_asks_the_engine_and_the_hub_side_by_side(engine, environments):
    hub = HubSide(sorted(environments)[0])
    daemon = hub_daemon(engine, hub)
    listing = engine.api.images
    seen: list[bool] = []

    def images(*args, **kwargs):  # the engine's listing finds the hub asked already, unless made one after the other
        seen.append(hub.asked.wait(5))
        return listing(*args, **kwargs)

    engine.api.images = images
    try:
        found = asyncio.run(inventory(daemon))
    finally:
        del engine.api.images
    assert len(found["environments"]) == len(environments)
    assert seen and seen[0], seen
