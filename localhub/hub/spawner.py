"""The DockerSpawner subclass: one container per server, its image and limits from the server's profile,
its home on a named volume that outlives stop, and a hardened container. Two mixins hold the rest: the
container in this engine until it answers, and paused (local_spawn.py); a server on a lab peer (peer_spawn.py).

user_options carried by each named server (persisted by JupyterHub and reused on restart):
    profile   name of a resource profile (default: the hub's default profile)
    image     image to run (default: the profile's image, else the hub's default image)
    env       extra environment variables (used by Binder launches for BINDER_* variables)
    default_url  path the server opens on (Binder's urlpath)
    allow_origin origins (space-separated, or *) whose pages may use the server: browser-side Binder clients
              such as Thebe on another site (the hub's cors_allow_origin, passed on by Binder launches)
    where     local (default), auto, or a lab peer's name or node id: where the container runs

Where a server runs is the daemon's decision (pool/away/placement.py), asked through its API
(daemon_link.py): a server placed on a peer is started, polled and stopped by the daemon through the peer's
agent; JupyterHub's proxy routes to its address on the LAN like to any other server, and the server
authenticates users against this hub's API on its LAN address. Its guest id is the spawner's state.
"""

from __future__ import annotations

import asyncio
import re

import docker.errors
from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Integer, Unicode, default

from jupyterhub.spawner import SpawnException

from ..errors import LocalhubError
from .daemon_link import DaemonLink
from ..profiles import get_profile, load_profiles
from ..storage import container_name, home_volume_name
from ..storage_caps import engine_has_quotas
from . import identity
from .hub_config import from_setting
from .policy import PolicyError, check_image_present, check_storage, choose_image
from .local_spawn import InThisEngine
from .peer_spawn import OnLabPeers
from .spawn_form import options_from_form, profile_form

HOME = "/home/jovyan"
_IDLE_ARG = "--ServerApp.shutdown_no_activity_timeout"
_DEADLINE_MARGIN = 2  # seconds: the spawner's own start deadline comes this much before JupyterHub's
_ORIGIN_ARGS = ("--ServerApp.allow_origin=", "--ServerApp.allow_origin_pat=")


def origin_args(allowed: str) -> list[str]:
    """Jupyter Server's CORS arguments for space-separated origins, or * (as BinderHub's spawner passes them)."""
    origins = allowed.split()
    if not origins:
        return []
    if "*" in origins:
        return ["--ServerApp.allow_origin=*"]
    return ["--ServerApp.allow_origin_pat=^(" + "|".join(re.escape(o) for o in origins) + ")$"]


class LocalhubSpawner(OnLabPeers, InThisEngine, DockerSpawner):
    instance = Unicode(help="Short id of this hub; part of every container and volume name.").tag(config=True)
    # localhub's settings (declared once in localhub.config.Settings; hub_config passes their values)
    config_dir = from_setting("config_dir")
    default_profile = from_setting("default_profile")
    fallback_image = from_setting("image")
    extra_labels = from_setting("labels")
    pids_limit = from_setting("pids_limit")
    local_start_timeout = from_setting("start_timeout")
    peer_start_timeout = from_setting("pool_start_timeout")
    pool_address = Unicode("", help="This hub's LAN address when it is in a lab (empty: no pool).").tag(config=True)
    hub_api_port = Integer(help="Port of this hub's API (on its gateway, and in a lab on its LAN address)."
                           ).tag(config=True)
    daemon_url = Unicode("", help="The daemon's API for the hub's code (placement on lab peers).").tag(config=True)
    daemon_token = Unicode("", help="The daemon's API token.").tag(config=True)
    guest = Unicode("", help="The guest id while this server runs on a lab peer.")

    # JupyterHub's spawn page offers the profiles (spawn_form.py); a server keeps its other options
    @default("options_form")
    def _options_form_default(self):
        return lambda spawner: profile_form(load_profiles(spawner.config_dir or None),
                                            spawner._stored_options().get("profile") or spawner.default_profile)

    # the times a launch's trace needs from inside the hub (launch_trace.py): when the container started and
    # when its server answered, handed over with JupyterHub's ready progress event
    @default("progress_ready_hook")
    def _progress_ready_hook_default(self):
        return lambda spawner, event: {**event, "localhub_trace": dict(getattr(spawner, "_trace", {}))}

    # start() reads and checks the options itself (profile, image, where…): there is nothing for JupyterHub to set,
    # which it would otherwise log as "Received unhandled user_options" at every start
    @default("apply_user_options")
    def _apply_user_options_default(self):
        return lambda spawner, options: None

    @default("options_from_form")
    def _options_from_form_default(self):
        return lambda formdata, spawner: options_from_form(formdata, spawner._stored_options(),
                                                           load_profiles(spawner.config_dir or None))

    def _stored_options(self) -> dict:
        return dict((self.orm_spawner.user_options if self.orm_spawner else None) or self.user_options or {})

    @property
    def daemon(self) -> DaemonLink:
        return DaemonLink(self.daemon_url, self.daemon_token)

    @property
    def home_volume(self) -> str:
        return home_volume_name(self.instance, self.user.name, self.name)

    @property
    def labels(self) -> dict:
        return {
            **self.extra_labels,
            "localhub.instance": self.instance,
            "localhub.user": self.user.name,
            "localhub.server": self.name or "",
        }

    def _run_as(self, image: str) -> str | None:
        try:
            return identity.run_as(self.client, image, self.labels)
        except docker.errors.ImageNotFound:
            return None  # said by check_image_present

    def _image_exists(self, image: str) -> bool:
        try:
            self.client.inspect_image(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def hardened_host_config(self, profile) -> dict:
        return {
            "privileged": False,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "pids_limit": profile.pids or self.pids_limit,
            # no swap beyond the memory limit
            "memswap_limit": profile.memory,
            # a container that stops is kept (stopped) until the server's next start or stop, so its exit
            # code and log can be read (`servers logs`); auto-removal would destroy both
            "auto_remove": False,
        }

    def run_pre_spawn_hook(self):
        # JupyterHub reads start_timeout right after this hook: a server that may travel to a lab peer (its image
        # and home first) gets the pool's longer time
        where = (self.user_options or {}).get("where") or "local"
        self.start_timeout = self.local_start_timeout if where == "local" else self.peer_start_timeout
        return super().run_pre_spawn_hook()

    async def start(self):
        # the spawner gives up a moment before JupyterHub does, to say what the start was doing: JupyterHub's own
        # timeout reaches the user as "Spawn failed: " and nothing more
        try:
            return await asyncio.wait_for(self._start(), max(1, self.start_timeout - _DEADLINE_MARGIN))
        except TimeoutError:
            raise self._spawn_error(self._too_slow(), None, "timeout") from None

    def _too_slow(self) -> str:
        steps = getattr(self, "_pool_steps", [])
        text = f"Server '{self.name or 'default'}' did not start within {self.start_timeout:g} s"
        if steps:
            text += f" (it was at: {steps[-1].rstrip('…')})"
        if self.guest:
            return text + ("; once it runs on the lab peer it is stopped there and its home comes back. Setting "
                           "pool_start_timeout (`localhub config set pool_start_timeout SECONDS`) gives it longer.")
        return text + ". Setting start_timeout (`localhub config set start_timeout SECONDS`) gives it longer."

    async def _start(self):
        options = self.user_options or {}
        self._pool_steps: list[str] = []  # what progress() shows while a server is sent to a peer
        self._trace: dict[str, float] = {}  # unix times of this start's steps (launch_trace.py)
        try:
            profile = get_profile(load_profiles(self.config_dir or None), options.get("profile") or self.default_profile)
            image = choose_image(options, profile, self.fallback_image)
            # side by side, each on every start's path; the home's use is measured in the background by the
            # daemon (storage_watch.py), never walked here
            present, user, used = await asyncio.gather(
                self._in_thread(check_image_present, image, self._image_exists),
                self._in_thread(self._run_as, image), self.daemon.storage_used(self.home_volume),
                return_exceptions=True)
            for outcome in (present, user, used):  # in this order: a missing image says so first
                if isinstance(outcome, BaseException):
                    raise outcome
            check_storage(self.name or "default", used, profile)
        except (PolicyError, LocalhubError, identity.RootImage) as err:
            raise web.HTTPError(400, str(err)) from None

        self.image = image
        self.mem_limit = profile.memory
        self.cpu_limit = profile.cpu
        self.extra_host_config = self.hardened_host_config(profile)
        self.extra_create_kwargs = {"labels": {**self.labels, "localhub.profile": profile.name},
                                    # an image that ends as root runs as its ordinary user (identity.py)
                                    **({"user": user} if user else {})}
        # the spawner object lives across restarts: set per-start values, never append to them
        self.default_url = options.get("default_url") or ""
        self.args = [a for a in self.args if not a.startswith((_IDLE_ARG, *_ORIGIN_ARGS))]
        if profile.idle_timeout:
            self.args = [*self.args, f"{_IDLE_ARG}={profile.idle_timeout}"]
        self.args = [*self.args, *origin_args(options.get("allow_origin") or "")]
        self.environment = {**self.environment, **(options.get("env") or {})}

        peer = await self._choose_peer(options.get("where") or "local", profile)
        if peer is not None:
            return await self._start_remote(peer, profile)

        await self._ensure_home_volume(profile.storage)
        self.volumes = {self.home_volume: {"bind": HOME, "mode": "rw"}}
        return await super().start()

    async def progress(self):
        """The steps of sending a server to a peer (image, home, start), as JupyterHub's spawn progress."""
        shown = 0
        while True:  # JupyterHub stops reading once the spawn is done
            steps = getattr(self, "_pool_steps", ())
            while shown < len(steps):
                shown += 1
                yield {"progress": min(90, 20 + 15 * shown), "message": steps[shown - 1]}
            await asyncio.sleep(0.5)

    async def poll(self):
        if self.guest:
            try:
                return await self.daemon.poll(self.guest)
            except LocalhubError as err:
                self.log.warning("%s: asking the daemon about its peer failed: %s", self._log_name, err)
                return None
        return await super().poll()

    async def stop(self, now=False):
        if self.guest:
            await self.daemon.stop(self.guest)
            self.guest = ""
            self.clear_state()
            return
        await super().stop(now)

    def get_state(self):
        state = super().get_state()
        if self.guest:
            state["guest"] = self.guest
        return state

    def load_state(self, state):
        super().load_state(state)
        self.guest = state.get("guest", "")

    def clear_state(self):
        super().clear_state()
        self.guest = ""

    @staticmethod
    def _spawn_error(text: str, page: str | None, reason: str) -> SpawnException:
        error = SpawnException(text, reason=reason, status_code=500, **({"message_html": page} if page else {}))
        # what JupyterHub shows in the spawn's progress (and so `localhub launch`) and on its error page
        error.jupyterhub_message = text
        if page:
            error.jupyterhub_html_message = page
        return error

    async def check_allowed(self, image):
        # The hub serves one desktop user, who may run any image on this machine (built by localhub or
        # not); presence was checked in start(), and localhub never pulls.
        return image

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _ensure_home_volume(self, cap: int):
        try:
            await self.docker("inspect_volume", self.home_volume)
        except docker.errors.NotFound:
            # created empty: Docker copies the image's home into it on first mount. Where the engine's
            # filesystem has project quotas, the cap is the volume's size (storage_watch.py)
            quota = {"driver_opts": {"size": str(cap)}} if await self._engine_has_quotas() else {}
            await self.docker("create_volume", name=self.home_volume, labels=self.labels, **quota)

    _quotas: bool | None = None

    async def _engine_has_quotas(self) -> bool:
        if type(self)._quotas is None:  # asked once per process
            type(self)._quotas = await self._in_thread(engine_has_quotas, self.client, self.extra_labels)
        return type(self)._quotas

    async def delete_forever(self):
        """A deleted server loses its container and its home volume; a stopped one keeps both."""
        if self.pool_address:
            await self.daemon.forget(self.user.name, self.name)
        try:
            await self.docker("remove_container", self.container_name, force=True)
        except docker.errors.NotFound:
            pass
        for attempt in range(50):
            try:
                await self.docker("remove_volume", self.home_volume, force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as err:
                if err.status_code != 409 or attempt == 49:
                    raise
            # still mounted: by its storage meter, which goes a moment after the server stops. Without this the
            # home outlived its delete, and a new server of the same name found the old files
            for other in await self.docker("containers", all=True, filters={"volume": self.home_volume}):
                try:
                    await self.docker("remove_container", other["Id"], force=True)
                except docker.errors.APIError:
                    pass  # gone, or being removed already
            await asyncio.sleep(0.2)

    @default("object_name")
    def _object_name_default(self):
        return container_name(self.instance, self.user.name, self.name)
