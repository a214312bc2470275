"""The spawner's readiness and crash reporting, against a fake engine whose addresses are reused as Docker
reuses them (issue 10, item 2): a server is ready only when *its* container answers; a crash during start is
one clear sentence with the exit code and the log's last lines, and the stopped container is kept."""

from __future__ import annotations

import asyncio

import pytest
from jupyterhub.spawner import SpawnException

from localhub.hub import readiness
from tests.unit.fake_engine import FakeEngine, Script, make_spawner

pytestmark = pytest.mark.unit

IMAGE = "localhub/singleuser:test"


def engine_with(**images: Script) -> FakeEngine:
    engine = FakeEngine()
    engine.images[IMAGE] = Script(answers_after=0.2)
    for name, script in images.items():
        engine.images[name] = script
    return engine


async def test_a_server_is_ready_when_its_own_container_answers():
    engine = engine_with()
    spawner = make_spawner(engine, "thesis")
    ip, port = await spawner.start()
    container = engine.by_name(spawner.container_name)
    assert (ip, port) == (container.ip, 8888) and container.answering
    host = container.kwargs["host_config"]
    assert not host.get("AutoRemove")  # a stopped container stays readable until the next start
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"]


async def test_a_crash_during_start_is_one_sentence_with_exit_code_and_last_log_lines():
    engine = engine_with(**{"crash:1": Script(answers_after=None, exit_after=0.3, exit_code=3,
                                              log=["starting", "Traceback (most recent call last):",
                                                   "ImportError: no module named \x1b[31mnotebook"])})
    spawner = make_spawner(engine, "thesis")
    spawner.user_options = {"image": "crash:1"}
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    message = caught.value.jupyterhub_message
    assert message.startswith("Server 'thesis' did not start: ") and "exit code 3" in message
    assert "ImportError: no module named \\x1b[31mnotebook" in message  # escaped, never raw
    assert "\n" not in message and "localhub servers logs thesis" in message
    assert "<pre>" in caught.value.jupyterhub_html_message
    kept = engine.by_name(spawner.container_name)
    assert kept is not None and not kept.running and kept.exit_code == 3  # its log stays readable


async def test_a_crash_before_the_container_has_an_address_is_not_an_internal_error():
    engine = engine_with(**{"crash:0": Script(answers_after=None, exit_after=0.0, exit_code=1, log=["bad cmd"])})
    spawner = make_spawner(engine, "fast")
    spawner.user_options = {"image": "crash:0"}
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "exit code 1" in caught.value.jupyterhub_message and "bad cmd" in caught.value.jupyterhub_message


async def test_an_answer_from_the_address_a_crashed_server_left_is_not_its_readiness():
    """The bug of issue 10: A dies during start, B gets A's address and answers; A must not be 'ready'."""
    engine = engine_with(**{"slow-crash:1": Script(answers_after=None, exit_after=0.4, exit_code=2,
                                                   log=["crashing slowly"])})
    engine.images["quick:1"] = Script(answers_after=0.0)
    crashing = make_spawner(engine, "crashing")
    crashing.user_options = {"image": "slow-crash:1"}
    other = make_spawner(engine, "other")
    other.user_options = {"image": "quick:1"}

    async def start_other_after_the_crash():
        while engine.by_name(crashing.container_name) is None or engine.by_name(crashing.container_name).running:
            await asyncio.sleep(0.01)
        return await other.start()

    results = await asyncio.gather(crashing.start(), start_other_after_the_crash(), return_exceptions=True)
    assert isinstance(results[0], SpawnException), results[0]
    assert "exit code 2" in results[0].jupyterhub_message
    other_ip, _ = results[1]
    assert other_ip == engine.by_name(other.container_name).ip


async def test_readiness_does_not_depend_on_the_death_event():
    """With the event lost, an answer at a reused address is still refused: the container is re-inspected."""
    engine = engine_with()
    engine.images["other"] = Script(answers_after=0.0)
    state = {"State": {"Running": True, "StartedAt": "t1"},
             "NetworkSettings": {"Networks": {"net": {"IPAddress": "172.30.0.2"}}}}
    calls = []

    async def inspect():
        calls.append(1)
        if len(calls) == 1:
            return state
        return {"State": {"Running": False, "ExitCode": 9, "StartedAt": "t1"}, "NetworkSettings": {"Networks": {}}}

    async def someone_else_answers(url):
        return True

    never = asyncio.get_running_loop().create_future()
    with pytest.raises(readiness.Stopped) as caught:
        await readiness.wait_until_ready(inspect, never, "net", 8888, "/api", 5, answers=someone_else_answers)
    assert caught.value.exit_code == 9


async def test_a_server_that_never_answers_is_stopped_and_kept_with_a_reason():
    engine = engine_with(**{"mute:1": Script(answers_after=None, log=["listening on port 9999"])})
    spawner = make_spawner(engine, "mute", http_timeout=1)
    spawner.user_options = {"image": "mute:1"}
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "did not answer within 1 s" in caught.value.jupyterhub_message
    assert "listening on port 9999" in caught.value.jupyterhub_message
    kept = engine.by_name(spawner.container_name)
    assert kept is not None and not kept.running


async def test_out_of_memory_at_start_says_so():
    engine = engine_with(**{"hog:1": Script(answers_after=None, exit_after=0.1, exit_code=137, oom_killed=True)})
    spawner = make_spawner(engine, "hog")
    spawner.user_options = {"image": "hog:1"}
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "ran out of memory" in caught.value.jupyterhub_message
    assert "1.9 GiB limit" in caught.value.jupyterhub_message  # the default profile's 2 GB


async def test_the_next_start_replaces_the_kept_container():
    engine = engine_with(**{"crash:1": Script(answers_after=None, exit_after=0.0, exit_code=3)})
    spawner = make_spawner(engine, "again")
    spawner.user_options = {"image": "crash:1"}
    with pytest.raises(SpawnException):
        await spawner.start()
    spawner.user_options = {"image": IMAGE}
    await spawner.start()
    assert [c.running for c in engine.containers.values()] == [True]


async def test_a_server_that_dies_after_it_was_ready_is_noticed_at_once():
    """Its route must go before Docker hands its address on: the death event polls at once (JupyterHub's
    own poll comes every 30 s)."""
    engine = engine_with()
    spawner = make_spawner(engine, "later")
    await spawner.start()
    stopped = asyncio.Event()
    spawner.add_poll_callback(stopped.set)
    spawner.start_polling()
    try:
        engine.die(engine.by_name(spawner.container_name), 1)
        await asyncio.wait_for(stopped.wait(), 2)
    finally:
        spawner.stop_polling()


async def test_the_probe_takes_a_refused_connection_as_not_yet():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        assert await readiness.probe(f"http://127.0.0.1:{port}/api") is False


# --- a guest on a lab peer: probed through its tunnel, its end asked of the daemon -------------------------


async def test_a_guest_is_reported_started_only_once_it_answers_through_its_tunnel():
    """Before, the spawner returned as soon as the peer had started the container, and JupyterHub's own check,
    backing off 0.2, 0.4, 0.8, 1.6 s…, saw a guest ready at 1.3 s only at 3 s."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    probes = []

    async def answers(url):
        probes.append(url)
        return loop.time() - start >= 0.3

    async def exited():
        return None

    await readiness.wait_until_answers("http://127.0.0.1:9/user/ada/s/api", exited, timeout=5, answers=answers)
    assert 0.3 <= loop.time() - start < 1.0  # seen within a probe's interval of answering
    assert len(probes) >= 3 and set(probes) == {"http://127.0.0.1:9/user/ada/s/api"}


async def test_a_guest_that_stops_while_starting_ends_the_wait_with_its_status():
    asked = []

    async def silent(url):
        return False

    async def exited():
        asked.append(1)
        return 0 if len(asked) >= 2 else None

    with pytest.raises(readiness.Stopped) as stop:
        await readiness.wait_until_answers("http://x/api", exited, timeout=30, answers=silent)
    assert stop.value.exit_code == 0 and len(asked) == 2  # asked about once a second, not at every probe


async def test_a_silent_guest_ends_the_wait_at_the_timeout():
    async def silent(url):
        return False

    async def exited():
        return None

    with pytest.raises(readiness.NeverAnswered):
        await readiness.wait_until_answers("http://x/api", exited, timeout=0.3, answers=silent)
