"""What the launcher asks before it asks the network: is this link's environment here from a bundle (or
from an earlier class fetch), or can the class on the LAN provide it? Either way the launch says so, and
goes on with the bundled build's commit exactly as if it had been resolved online.

`provide(launch)` yields launch events (dicts) and, when it provides the environment, the resolved id
(a str) as its last item; when it yields no id, the launcher resolves over the network as usual.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import docker

from ..binder import LaunchSpec
from ..images.catalog import find_image
from .offline import OfflineLink, OfflineLinks


def waiting(message: str) -> dict:
    return {"phase": "waiting", "message": message.rstrip("\n") + "\n"}


class WorkshopResolver:
    def __init__(self, state_root: Path, client: docker.DockerClient):
        self.offline = OfflineLinks(state_root)
        self.client = client
        self.classroom = None  # the class on the LAN (classroom.Member), set by the daemon while in a class

    def _usable(self, launch: LaunchSpec) -> tuple[OfflineLink | None, list[OfflineLink]]:
        links = self.offline.lookup(launch.spec)
        for link in links:
            image = find_image(self.client, launch.environment, link.resolved)
            if image is not None and image.id == link.image_id:
                return link, links
        return None, links

    async def provide(self, launch: LaunchSpec) -> AsyncIterator[dict | str]:
        link, known = await asyncio.to_thread(self._usable, launch)
        if link is not None:
            when = dt.datetime.fromtimestamp(link.at).strftime("%Y-%m-%d %H:%M")
            yield waiting(f"{launch.spec} is in {link.source} (imported {when}): using its build of "
                          f"{link.resolved[:12]}, with no network needed.")
            yield link.resolved
            return
        if known:
            yield waiting(f"{launch.spec} came with {known[0].source}, but its image is no longer in the engine; "
                          "looking elsewhere.")
        if self.classroom is not None:
            async for item in self.classroom.provide(launch):
                yield item
