"""The DockerSpawner subclass: one container per server, its image and limits from the server's profile,
its home on a named volume that outlives stop, and a hardened container.

user_options carried by each named server (persisted by JupyterHub and reused on restart):
    profile   name of a resource profile (default: the hub's default profile)
    image     image to run (default: the profile's image, else the hub's default image)
    env       extra environment variables (used by Binder launches for BINDER_* variables)
    default_url  path the server opens on (Binder's urlpath)
"""

from __future__ import annotations

import asyncio

import docker.errors
from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Dict, Integer, Unicode, default

from ..errors import LocalhubError
from ..profiles import get_profile, load_profiles
from ..storage import container_name, home_volume_name, volume_usage
from .policy import PolicyError, check_image_present, check_storage, choose_image

HOME = "/home/jovyan"
_IDLE_ARG = "--ServerApp.shutdown_no_activity_timeout"


class LocalhubSpawner(DockerSpawner):
    instance = Unicode(help="Short id of this hub; part of every container and volume name.").tag(config=True)
    config_dir = Unicode(help="The user's config dir (for their own profiles).").tag(config=True)
    default_profile = Unicode("default", help="Profile for servers that name none.").tag(config=True)
    fallback_image = Unicode(help="Image when neither the request nor the profile names one.").tag(config=True)
    extra_labels = Dict(help="Labels added to every container and volume.").tag(config=True)
    pids_limit = Integer(1024, help="Process limit per container unless the profile sets one.").tag(config=True)

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
        }

    async def start(self):
        options = self.user_options or {}
        try:
            profile = get_profile(load_profiles(self.config_dir or None), options.get("profile") or self.default_profile)
            image = choose_image(options, profile, self.fallback_image)
            await self._in_thread(check_image_present, image, self._image_exists)
            usage = await self._in_thread(volume_usage, self.client, [self.home_volume])
            check_storage(self.name or "default", usage.get(self.home_volume), profile)
        except (PolicyError, LocalhubError) as err:
            raise web.HTTPError(400, str(err)) from None

        self.image = image
        self.mem_limit = profile.memory
        self.cpu_limit = profile.cpu
        self.extra_host_config = self.hardened_host_config(profile)
        self.extra_create_kwargs = {"labels": {**self.labels, "localhub.profile": profile.name}}
        # the spawner object lives across restarts: set per-start values, never append to them
        self.default_url = options.get("default_url") or ""
        self.args = [a for a in self.args if not a.startswith(_IDLE_ARG)]
        if profile.idle_timeout:
            self.args = [*self.args, f"{_IDLE_ARG}={profile.idle_timeout}"]
        self.environment = {**self.environment, **(options.get("env") or {})}

        await self._ensure_home_volume()
        self.volumes = {self.home_volume: {"bind": HOME, "mode": "rw"}}
        return await super().start()

    async def check_allowed(self, image):
        # The hub serves one desktop user, who may run any image on this machine (built by localhub or
        # not); presence was checked in start(), and localhub never pulls.
        return image

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _ensure_home_volume(self):
        try:
            await self.docker("inspect_volume", self.home_volume)
        except docker.errors.NotFound:
            # created empty: Docker copies the image's home into it on first mount
            await self.docker("create_volume", name=self.home_volume, labels=self.labels)

    async def delete_forever(self):
        """A deleted server loses its container and its home volume; a stopped one keeps both."""
        try:
            await self.docker("remove_container", self.container_name, force=True)
        except docker.errors.NotFound:
            pass
        try:
            await self.docker("remove_volume", self.home_volume, force=True)
        except docker.errors.NotFound:
            pass

    @default("object_name")
    def _object_name_default(self):
        return container_name(self.instance, self.user.name, self.name)
