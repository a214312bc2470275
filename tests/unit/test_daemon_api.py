"""The decisions of the daemon's own API (api.py), against its real tornado application with a fake hub and a
fake engine (daemon_fakes.py): what a server listing says, what is refused and how, what recovery adopts."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import docker.errors
import pytest

from tests.unit.daemon_fakes import FakeDaemon, serve

pytestmark = pytest.mark.unit


@pytest.fixture
def daemon(tmp_path) -> FakeDaemon:
    return FakeDaemon(tmp_path)


async def test_the_listing_says_what_each_server_is(daemon, monkeypatch):
    daemon.hub.add("", ready=False)  # the default server, stopped: not listed
    daemon.hub.add("thesis", ready=True, profile="small")
    daemon.hub.add("climate", spec="gh/org/climate/HEAD", image="localhub-env/climate:1")
    daemon.hub.add("odd", profile="gone")  # its profile file was removed since
    daemon.docker.add_container("thesis")
    daemon.storage_used[daemon.docker.add_home("thesis").name] = 12345
    async with serve(daemon, monkeypatch) as http:
        listing = (await http.get("/servers")).json()
    servers = {s["name"]: s for s in listing["servers"]}
    assert set(servers) == {"thesis", "climate", "odd"}
    assert servers["thesis"]["status"] == "running" and servers["thesis"]["profile"] == "small"
    assert servers["thesis"]["storage_cap"] == 2**30 and servers["thesis"]["container_state"] == "running"
    assert servers["thesis"]["storage_used"] == 12345 and servers["climate"]["storage_used"] is None
    assert servers["climate"]["status"] == "stopped" and servers["climate"]["environment"] == "gh/org/climate/HEAD"
    assert servers["climate"]["image"] == "localhub-env/climate:1" and servers["climate"]["profile"] == "default"
    assert servers["odd"]["profile"] == "gone" and servers["odd"]["storage_cap"] is None
    assert servers["odd"]["image"] == daemon.settings.image and servers["odd"]["where"] == "local"


async def test_the_default_server_is_listed_while_it_runs(daemon, monkeypatch):
    daemon.hub.add("", ready=True)
    async with serve(daemon, monkeypatch) as http:
        (default,) = (await http.get("/servers")).json()["servers"]
    assert default["name"] == "" and default["status"] == "running"


async def test_a_bad_profile_file_is_a_warning_not_a_500(daemon, monkeypatch):
    profiles = daemon.settings.config_dir / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "gpu.toml").write_text('name = "gpu"\ndescription = "x"\ncpu = "lots"\nmemory = "2G"\n'
                                       'storage = "1Gi"\n')
    daemon.hub.add("thesis", profile="gpu")
    async with serve(daemon, monkeypatch) as http:
        info = await http.get("/info")
        listing = await http.get("/servers")
    assert info.status_code == 200 and listing.status_code == 200
    (warning,) = info.json()["profile_warnings"]
    assert "gpu.toml" in warning and "'cpu'" in warning


@pytest.mark.parametrize("ip, exposed", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                         ("0.0.0.0", True), ("", True), ("::", True), ("192.168.1.20", True)])
async def test_a_hub_listening_beyond_this_machine_says_so(daemon, monkeypatch, ip, exposed):
    daemon.settings = dataclasses.replace(daemon.settings, ip=ip)
    async with serve(daemon, monkeypatch) as http:
        warnings = (await http.get("/info")).json()["warnings"]
    said = [w for w in warnings if "your network can open" in w]
    assert bool(said) is exposed, warnings
    if ip == "0.0.0.0":
        assert "every address of this machine" in said[0]


@pytest.mark.parametrize("body, status, fragment", [
    (b"", 200, None),
    (b'{"next": "/user/me/thesis/lab"}', 200, None),
    (b"not json", 400, "JSON object"),
    (b"[1]", 400, "JSON object"),
    (b'{"next": 5}', 400, "path on this hub"),
    (b'{"next": "https://elsewhere.example/"}', 400, "path on this hub"),
    (b'{"next": "//elsewhere.example/"}', 400, "path on this hub"),
])
async def test_login_links_return_only_to_this_hub(daemon, monkeypatch, body, status, fragment):
    async with serve(daemon, monkeypatch) as http:
        r = await http.post("/login-link", content=body)
    assert r.status_code == status
    if fragment:
        assert fragment in r.json()["message"] and not daemon.links
    else:
        assert r.json()["url"].startswith(daemon.settings.url + "/hub/login?token=")


async def test_shutdown_keeps_servers_only_when_asked(daemon, monkeypatch):
    async with serve(daemon, monkeypatch) as http:
        assert (await http.post("/shutdown", content=b"nonsense")).status_code == 400
        assert (await http.post("/shutdown", json={"keep_servers": True})).json()["keep_servers"] is True
        await http.post("/shutdown")
    import asyncio

    await asyncio.sleep(0.3)  # the daemon is asked once the answer has gone out
    assert daemon.shutdowns == [True, False]


@pytest.mark.parametrize("query, status, fragment", [
    ("?tail=2", 200, None),
    ("?tail=abc", 400, "tail must be a number of lines, not 'abc'"),
    ("?tail=-1", 400, "tail must be"),
    ("?tail=12345678901", 400, "tail must be"),
])
async def test_logs_take_a_number_of_lines(daemon, monkeypatch, query, status, fragment):
    daemon.docker.add_container("thesis", log=[b"one\n", b"two\n", b"three\n"])
    async with serve(daemon, monkeypatch) as http:
        r = await http.get(f"/servers/thesis/logs{query}")
    assert r.status_code == status
    if fragment:
        assert fragment in r.json()["message"]
    else:
        assert r.text == "two\nthree\n"


async def test_the_log_of_a_stopped_server_is_a_404_with_its_name_escaped(daemon, monkeypatch):
    daemon.hub.add("\x1b[2Jgone", ready=False)
    async with serve(daemon, monkeypatch) as http:
        r = await http.get("/servers/%1B%5B2Jgone/logs")
    assert r.status_code == 404 and r.json()["message"] == "Server '\\x1b[2Jgone' has no container (it is stopped)."


async def test_the_log_of_a_server_that_does_not_exist_says_so(daemon, monkeypatch):
    """It said "has no container (it is stopped)" (a stranger found it)."""
    async with serve(daemon, monkeypatch) as http:
        r = await http.get("/servers/nothere/logs")
    assert r.status_code == 404 and r.json()["message"] == "There is no server 'nothere'; `localhub servers ls` lists them."


async def test_an_environment_in_use_is_not_removed(daemon, monkeypatch):
    daemon.docker.add_environment("localhub-env/climate:1", "gh/org/climate/HEAD")
    daemon.hub.add("climate", ready=True, image="localhub-env/climate:1")
    async with serve(daemon, monkeypatch) as http:
        busy = await http.delete("/environments", params={"image": "localhub-env/climate:1"})
        foreign = await http.delete("/environments", params={"image": "\x1b[31mnot/ours:1"})
        daemon.hub.servers["climate"].ready = False
        removed = await http.delete("/environments", params={"image": "localhub-env/climate:1"})
    assert busy.status_code == 409 and "climate" in busy.json()["message"]
    assert foreign.status_code == 404 and "\x1b" not in foreign.json()["message"]
    assert removed.status_code == 200 and daemon.docker.removed_images == ["localhub-env/climate:1"]


async def test_a_build_log_no_file_can_have_is_not_found(daemon, monkeypatch):
    async with serve(daemon, monkeypatch) as http:
        r = await http.get("/environments/log", params={"image": "x" * 5000})
    assert r.status_code == 404 and len(r.json()["message"]) < 200


async def test_recover_adopts_the_homes_the_hub_forgot(daemon, monkeypatch):
    daemon.hub.add("known")
    for server in ("known", "thesis", "climate", ""):
        daemon.docker.add_home(server)
    daemon.docker.add_environment("localhub-env/climate:1", "gh/org/climate/HEAD")
    daemon.launcher.recent.add(type("Launch", (), {"spec": "gh/org/climate/HEAD", "urlpath": None,
                                                   "binder_path": lambda self: "/v2/gh/org/climate/HEAD"})(), "climate")
    daemon.hub.limit = 2  # room for one more named server only
    async with serve(daemon, monkeypatch) as http:
        result = (await http.post("/recover")).json()
    assert [a["server"] for a in result["adopted"]] == ["climate"]
    assert result["adopted"][0]["image"] == "localhub-env/climate:1"
    assert daemon.hub.servers["climate"].user_options == {"spec": "gh/org/climate/HEAD",
                                                          "image": "localhub-env/climate:1"}
    (refused,) = result["refused"]
    assert refused["server"] == "thesis" and "maximum of 2 named servers" in refused["reason"]
    assert not daemon.hub.servers["climate"].ready  # adopted stopped: nothing starts by itself



async def test_the_listing_asks_the_hub_and_the_engine_side_by_side(daemon, monkeypatch):
    """The TUI and `servers ls` ask every few seconds: the hub's answer and the engine's are awaited together."""
    daemon.hub.add("thesis", ready=True)
    daemon.docker.add_container("thesis")
    engine_asked, seen = threading.Event(), []
    containers, user = daemon.docker.api.containers, daemon.hub_api.user

    def engine_listing(*args, **kwargs):
        engine_asked.set()
        return containers(*args, **kwargs)

    async def hub_user(name):  # answers once the engine has been asked too, unless made one after the other
        deadline = time.monotonic() + 5
        while not engine_asked.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        seen.append(engine_asked.is_set())
        return await user(name)

    monkeypatch.setattr(daemon.docker.api, "containers", engine_listing)
    monkeypatch.setattr(daemon.hub_api, "user", hub_user)
    async with serve(daemon, monkeypatch) as http:
        (thesis,) = (await http.get("/servers")).json()["servers"]
    assert thesis["container_state"] == "running"
    assert seen == [True]


async def test_the_servers_with_their_environments_ask_the_hub_once(daemon, monkeypatch):
    """The TUI shows servers and environments on every poll; JupyterHub's model of the user grows with every
    server, so `?environments=1` makes both from one answer: the same as the two listings, one request."""
    daemon.hub.add("thesis", ready=True)
    daemon.hub.add("climate", spec="gh/org/climate/HEAD", image="localhub-env/climate:1")
    daemon.docker.add_container("thesis")
    daemon.docker.add_environment("localhub-env/climate:1", "gh/org/climate/HEAD")
    async with serve(daemon, monkeypatch) as http:
        servers = (await http.get("/servers")).json()
        environments = (await http.get("/environments")).json()
        asked_before = len(daemon.hub.requests)
        both = (await http.get("/servers", params={"environments": "1"})).json()
    asked = daemon.hub.requests[asked_before:]
    assert asked == [("GET", "/hub/api/users/me")]
    assert both == {**servers, **environments}
    (climate,) = both["environments"]
    assert climate["servers"] == ["climate"] and not climate["running"]


async def test_environments_that_cannot_be_listed_leave_the_servers_listed(daemon, monkeypatch):
    daemon.hub.add("thesis", ready=True)

    def engine_down(*args, **kwargs):
        raise docker.errors.APIError("the engine is restarting")

    monkeypatch.setattr(daemon.docker.api, "images", engine_down)
    async with serve(daemon, monkeypatch) as http:
        r = await http.get("/servers", params={"environments": "1"})
    assert r.status_code == 200 and [s["name"] for s in r.json()["servers"]] == ["thesis"]
    assert "environments" not in r.json()
    assert r.json()["environments_error"] == ("The environments could not be listed (APIError); the daemon's log "
                                              "says why.")
