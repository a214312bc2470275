"""The server listing's view of the engine (hub/servers_web.container_details), against the real engine: each home's
container and its state, in one request however many containers the hub has (the TUI and `servers ls` ask
every few seconds; scripts/bench_fill.py measures the time)."""

import uuid

import docker
import pytest

from localhub import storage
from localhub.hub.servers_web import container_details

pytestmark = pytest.mark.docker

BASE = "localhub/base:test"
INSTANCE = f"test-listing-{uuid.uuid4().hex[:8]}"
USER = "me"


@pytest.fixture(scope="module")
def engine():
    try:
        client = docker.from_env(version="auto")
        client.images.get(BASE)
    except docker.errors.DockerException as err:
        pytest.skip(f"needs the engine and {BASE} ({err})")
    yield client
    for container in client.containers.list(all=True, filters={"label": f"localhub.instance={INSTANCE}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def servers(engine):
    """Three servers' containers of a hub: two running, one paused; and one stopped (created, never started)."""
    made = {}
    for name in ("one", "two", "frozen", "stopped"):
        container = engine.containers.create(
            BASE, ["sleep", "300"], name=storage.container_name(INSTANCE, USER, name),
            labels={"localhub.test": "1", "localhub.instance": INSTANCE, "localhub.user": USER,
                    "localhub.server": name})
        if name != "stopped":
            container.start()
        if name == "frozen":
            container.pause()
        made[name] = container
    return made


def test_each_home_has_its_container_and_state_in_one_request(engine, servers):
    requests = []
    engine.api.hooks["response"].append(lambda response, *args, **kwargs: requests.append(response.url))
    try:
        details = container_details(engine, INSTANCE, {storage.home_volume_name(INSTANCE, USER, "gone"): 7})
    finally:
        engine.api.hooks["response"].clear()
    states = {name: details[storage.home_volume_name(INSTANCE, USER, name)] for name in servers}
    assert {name: d["state"] for name, d in states.items()} == {
        "one": "running", "two": "running", "frozen": "paused", "stopped": "created"}
    assert all(d["container"] == storage.container_name(INSTANCE, USER, name) for name, d in states.items())
    assert details[storage.home_volume_name(INSTANCE, USER, "gone")] == {"storage_used": 7}  # no container
    assert len(requests) == 1, requests  # not one inspect per container
