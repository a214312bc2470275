"""A fake Docker engine for fast tests of the spawner's decisions (in the manner of JupyterHub's
tests/mocking.py): the low-level client calls the spawner makes, containers that get addresses from a small
pool (a stopped container's address goes to the next one, as Docker does), a script per image saying what
its server does after start, and the HTTP answers of whatever holds an address.

    engine = FakeEngine()
    engine.images["crash:1"] = Script(exit_after=0.0, exit_code=3, log=["boom"])
    spawner = make_spawner(engine, "thesis")
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import docker.errors
import docker.types
import requests
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User

NETWORK = "localhub-test"


@dataclass
class Script:
    """What a container of an image does once started (times in seconds after `start`)."""

    answers_after: float | None = 0.0  # starts answering HTTP (None: never)
    exit_after: float | None = None  # stops by itself
    exit_code: int = 0
    oom_killed: bool = False
    log: list[str] = field(default_factory=list)
    user: str = "1000"  # the image's Config.User
    env: list[str] = field(default_factory=list)  # the image's Config.Env
    passwd: str | None = "root:x:0:0:root:/root:/bin/bash\njovyan:x:1000:1000::/home/jovyan:/bin/bash\n"


@dataclass
class FakeContainer:
    id: str
    name: str
    image: str
    kwargs: dict
    script: Script
    running: bool = False
    started_at: str = ""
    exit_code: int = 0
    oom_killed: bool = False
    ip: str = ""
    answering: bool = False
    paused: bool = False


class FakeEngine:
    def __init__(self):
        self.images: dict[str, Script] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.volumes: dict[str, dict] = {}
        self.volume_sizes: dict[str, int] = {}  # as the daemon's storage watch measured them
        self.quotas = False  # whether the engine's volumes can take a size (XFS project quotas)
        self.free_ips = [f"172.30.0.{n}" for n in range(2, 10)]
        self._ids = itertools.count(1)
        self._starts = itertools.count(1)
        self.die_listeners: list = []  # callbacks(container_id), as the event stream would call them
        self.calls: list[str] = []
        self.api_version = "1.41"
        self.loop: asyncio.AbstractEventLoop | None = None  # the test's loop (set by make_spawner)
        self.base_url = "http+docker://fake"

    # --- what a test does -----------------------------------------------------------------
    def by_name(self, name: str) -> FakeContainer | None:
        return next((c for c in self.containers.values() if c.name == name), None)

    def die(self, container: FakeContainer, code: int, oom: bool = False) -> None:
        if not container.running:
            return
        container.running, container.answering = False, False
        container.exit_code, container.oom_killed = code, oom
        self.free_ips.insert(0, container.ip)  # the next container gets this address
        container.ip = ""
        for listener in list(self.die_listeners):
            listener(container.id)

    async def answers(self, url: str) -> bool:
        """HTTP as seen from the hub: whichever running container holds the address answers."""
        ip = url.split("//", 1)[1].split(":", 1)[0]
        return any(c.running and c.ip == ip and c.answering for c in self.containers.values())

    def _run_script(self, container: FakeContainer) -> None:
        """Runs in the spawner's executor thread: schedule the container's life on the test's loop."""
        script = container.script

        def later():
            if script.answers_after is not None:
                self.loop.call_later(script.answers_after,
                                     lambda: setattr(container, "answering", container.running))
            if script.exit_after is not None:
                self.loop.call_later(script.exit_after, self.die, container, script.exit_code, script.oom_killed)
        self.loop.call_soon_threadsafe(later)

    # --- the docker.APIClient calls the spawner makes ----------------------------------------
    def _find(self, ref: str) -> FakeContainer:
        for c in self.containers.values():
            if ref in (c.id, c.name):
                return c
        raise not_found(f"No such container: {ref}")

    def inspect_image(self, image):
        self.calls.append(f"inspect_image {image}")
        if image not in self.images:
            raise not_found(f"No such image: {image}", docker.errors.ImageNotFound)
        script = self.images[image]
        return {"Id": f"sha256:{abs(hash(image)):x}",
                "Config": {"User": script.user, "Env": script.env, "Cmd": ["jupyterhub-singleuser"]}}

    def inspect_volume(self, name):
        if name not in self.volumes:
            raise not_found(f"no such volume {name}")
        return self.volumes[name]

    def create_volume(self, name, labels=None, driver_opts=None, **kw):
        if (driver_opts or {}).get("size") and not self.quotas:
            raise docker.errors.APIError(f"create {name}: quota size requested but no quota support")
        self.volumes[name] = {"Name": name, "Labels": labels or {}, "Options": driver_opts}
        return self.volumes[name]

    def remove_volume(self, name, force=False):
        self.volumes.pop(name, None)

    def df(self):
        return {"Volumes": [{"Name": n, "UsageData": {"Size": self.volume_sizes.get(n, 0)}} for n in self.volumes]}

    def create_host_config(self, **kwargs):
        return docker.types.HostConfig(version=self.api_version, **kwargs)

    def create_container(self, image, name=None, **kwargs):
        name = name or f"anonymous-{next(self._ids)}"
        self.calls.append(f"create {name}")
        if image not in self.images:
            raise not_found(f"No such image: {image}", docker.errors.ImageNotFound)
        if self.by_name(name):
            raise docker.errors.APIError(f"Conflict: the name {name} is in use")
        cid = f"{next(self._ids):064x}"
        self.containers[cid] = FakeContainer(cid, name, image, kwargs, self.images[image])
        return {"Id": cid}

    def start(self, container):
        c = self._find(container)
        self.calls.append(f"start {c.name}")
        c.running, c.ip = True, self.free_ips.pop(0)
        c.started_at = f"2026-01-01T00:00:{next(self._starts):02d}Z"
        self._run_script(c)

    def inspect_container(self, container):
        c = self._find(container)
        return {
            "Id": c.id, "Name": "/" + c.name,
            "State": {"Running": c.running, "ExitCode": c.exit_code, "OOMKilled": c.oom_killed, "Error": "",
                      "StartedAt": c.started_at, "FinishedAt": ""},
            "NetworkSettings": {"Networks": {NETWORK: {"IPAddress": c.ip}} if c.running else {}},
            "Config": {"Env": [], "Labels": c.kwargs.get("labels", {})},
        }

    def get_archive(self, container, path):
        import io
        import tarfile

        text = self._find(container).script.passwd if path == "/etc/passwd" else None
        if text is None:
            raise not_found(f"Could not find the file {path} in container {container}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        return iter([buffer.getvalue()]), {"name": info.name, "size": info.size}

    def logs(self, container, tail="all", **kwargs):
        lines = self._find(container).script.log
        if tail != "all":
            lines = lines[-int(tail):]
        return "".join(line + "\n" for line in lines).encode()

    def pause(self, container):
        self.calls.append(f"pause {self._find(container).name}")
        self._find(container).paused = True

    def unpause(self, container):
        c = self._find(container)
        if not c.paused:  # Docker 20.10's answer: 500, "Container … is not paused" (not a call worth recording)
            response = requests.Response()
            response.status_code = 500
            raise docker.errors.APIError("500 Server Error", response=response,
                                         explanation=f"Container {c.id} is not paused")
        self.calls.append(f"unpause {c.name}")
        c.paused = False

    def stop(self, container, **kwargs):
        self.calls.append(f"stop {self._find(container).name}")
        self.die(self._find(container), 143)

    def remove_container(self, container, **kwargs):
        c = self._find(container)
        self.calls.append(f"remove {c.name}")
        self.die(c, 137)
        del self.containers[c.id]


def not_found(message: str, kind=docker.errors.NotFound):
    response = requests.Response()
    response.status_code = 404
    return kind(message, response=response, explanation=message)


class FakeEvents:
    """ContainerEvents' interface, fed by the fake engine's deaths instead of a stream."""

    def __init__(self, engine: FakeEngine):
        self.instance = "test"
        self.engine = engine

    def listen(self, container_id, callback):
        loop = asyncio.get_running_loop()

        def on_die(cid):
            if container_id in (None, cid):
                loop.call_soon_threadsafe(callback, {"status": "die", "id": cid})
        self.engine.die_listeners.append(on_die)
        return lambda: on_die in self.engine.die_listeners and self.engine.die_listeners.remove(on_die)

    def died(self, container_id):
        future = asyncio.get_running_loop().create_future()

        def on_event(event):
            if not future.done():
                future.set_result(event)
        return future, self.listen(container_id, on_event)


class FakeDaemon:
    """The daemon's answers to the spawner (DaemonLink), from the fake engine."""

    def __init__(self, engine: FakeEngine):
        self.engine = engine

    async def storage_used(self, volume: str) -> int | None:
        return self.engine.volume_sizes.get(volume)


_users = itertools.count(1)
_db = []


def _database():
    """One in-memory JupyterHub database for the test session (making one costs seconds)."""
    if not _db:
        _db.append(orm.new_session_factory("sqlite://")())
    return _db[0]


def make_spawner(engine: FakeEngine, server: str = "thesis", config_dir: str = "", **traits):
    """A LocalhubSpawner for a fresh user ('adaN') on an in-memory JupyterHub database, talking to the fake engine.
    Call it from the test's running loop."""
    from localhub.hub.spawner import LocalhubSpawner

    engine.loop = asyncio.get_running_loop()

    class TestSpawner(LocalhubSpawner):
        _client = engine
        _quotas = None

        @property
        def daemon(self):
            return FakeDaemon(engine)

        def events(self):
            return self._fake_events

        async def _answers(self, url):
            return await engine.answers(url)

    db = _database()
    orm_user = orm.User(name=f"ada{next(_users)}")
    db.add(orm_user)
    db.commit()
    user = User(orm_user, {"spawner_class": TestSpawner, "hub": Hub(), "db": db, "domain": "", "statsd": None})
    orm_spawner = orm.Spawner(user=orm_user, name=server)
    db.add(orm_spawner)
    orm_spawner.server = orm.Server(base_url=f"/user/{orm_user.name}/{server}/")
    db.commit()
    spawner = user.spawners[server]
    spawner._fake_events = FakeEvents(engine)
    settings = {"instance": "test", "config_dir": config_dir, "fallback_image": "localhub/singleuser:test",
                "network_name": NETWORK, "use_internal_ip": True, "remove": True, "pull_policy": "never",
                "http_timeout": 5, **traits}
    for key, value in settings.items():
        setattr(spawner, key, value)
    return spawner
