"""Who servers run as (issue 10, item 13): never root. An image that ends as root runs as its ordinary user,
and one without such a user is refused with the reason — decided against a fake engine."""

from __future__ import annotations

import pytest
from tornado import web

from localhub.hub import identity
from tests.unit.fake_engine import FakeEngine, Script, make_spawner

pytestmark = pytest.mark.unit


def engine_with(script: Script) -> FakeEngine:
    engine = FakeEngine()
    engine.images["img:1"] = script
    return engine


async def start(engine: FakeEngine):
    spawner = make_spawner(engine, "who")
    spawner.user_options = {"image": "img:1"}
    await spawner.start()
    return engine.by_name(spawner.container_name)


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root", " 0 "])
def test_root_in_every_spelling(user):
    assert identity.is_root(user)


@pytest.mark.parametrize("user", ["1000", "jovyan", "1000:100", "nbuser:users"])
def test_ordinary_users(user):
    assert not identity.is_root(user)


async def test_an_ordinary_image_keeps_its_own_user():
    container = await start(engine_with(Script(user="1000")))
    assert "user" not in container.kwargs  # the image's USER stands


async def test_a_root_image_runs_as_its_ordinary_user():
    container = await start(engine_with(Script(user="root")))
    assert container.kwargs["user"] == "1000:1000"


async def test_nb_user_names_the_user_to_run_as():
    passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnb:x:1001:100::/home/nb:/bin/sh\n"
    container = await start(engine_with(Script(user="", env=["NB_USER=nb"], passwd=passwd)))
    assert container.kwargs["user"] == "1001:100"


async def test_a_root_image_without_an_ordinary_user_is_refused_with_the_reason():
    engine = engine_with(Script(user="root", passwd="root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"))
    with pytest.raises(web.HTTPError) as caught:
        await start(engine)
    assert caught.value.status_code == 400
    message = caught.value.log_message
    assert "runs as root" in message and "USER ${NB_USER}" in message
    assert not [c for c in engine.containers.values()]  # nothing left behind, not even the inspecting one


async def test_several_ordinary_users_and_none_chosen_is_refused():
    passwd = "a:x:1001:1001::/a:/bin/sh\nb:x:1002:1002::/b:/bin/sh\n"
    with pytest.raises(web.HTTPError):
        await start(engine_with(Script(user="0", passwd=passwd)))
