"""Listing a hub's containers while the engine removes one of them (a storage meter ends every few seconds):
the list leaves it out instead of failing. Before, `localhub recover` answered "Internal Server Error" when a
meter ended during its list, and the servers list lost every container's state for a round.

docker-py's own ContainerCollection is used; only the engine's answers are stubbed (a container listed, then
gone when inspected)."""

from __future__ import annotations

import docker.errors
import pytest
from docker.models.containers import ContainerCollection

from localhub.docker_engine import hub_containers

pytestmark = pytest.mark.unit


class EngineThatRemovesOneMidList:
    def __init__(self):
        self.asked = None

    def containers(self, **query):
        self.asked = query
        return [{"Id": "server"}, {"Id": "meter"}]

    def inspect_container(self, container_id):
        if container_id == "meter":
            raise docker.errors.NotFound("No such container: meter")
        return {"Id": container_id, "Name": "/lh-x--thesis", "Config": {"Labels": {"localhub.instance": "x"}}}


class Client:
    def __init__(self):
        self.api = EngineThatRemovesOneMidList()
        self.containers = ContainerCollection(client=self)


def test_a_container_removed_while_listed_is_left_out():
    client = Client()
    assert [c.id for c in hub_containers(client, "x")] == ["server"]
    assert client.api.asked["filters"] == {"label": "localhub.instance=x"} and client.api.asked["all"] is True


def test_only_running_ones_when_asked():
    client = Client()
    hub_containers(client, "x", all=False)
    assert client.api.asked["all"] is False
