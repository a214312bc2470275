"""The workshop inside the daemon: the resolver the launcher asks before the network, and this machine's
part in a class (classroom.Member) while it is in one. `reload()` follows `localhub class serve|join|leave`."""

from __future__ import annotations

import logging

from ..errors import LocalhubError
from .classcode import load_membership
from .importer import ImportStatus
from .offline import OfflineLinks
from .resolver import WorkshopResolver

log = logging.getLogger("localhub.workshop.service")


def class_address(settings) -> str | None:
    if settings.class_address:
        return settings.class_address
    from ..pool.discovery import lan_addresses

    found = lan_addresses()
    return found[0] if found else None


class WorkshopService:
    def __init__(self, settings, client, hub_api=None, say=print):
        self.settings, self.client, self.hub_api, self.say = settings, client, hub_api, say
        self.resolver = WorkshopResolver(settings.state_dir, client)
        self.member = None
        self.error: str | None = None

    async def start(self, say=None) -> None:
        self.say = say or self.say
        try:
            membership = load_membership(self.settings.state_dir)
        except LocalhubError as err:
            self.error = str(err)
            self.say(f"localhub: {err}")
            return
        if membership is None:
            return
        address = class_address(self.settings)
        if not address:
            self.error = ("this laptop has no LAN address (only loopback, Docker bridges or tunnels); set "
                          "class_address to the address to use")
            self.say(f"localhub: the class stays off: {self.error}.")
            return
        from .classroom import Member  # here: it brings zeroconf and the lab TLS, which a hub in no class lacks

        member = Member(self.settings, self.client, membership, address, self.hub_api, self.say)
        try:
            await member.start()
        except (LocalhubError, OSError) as err:
            await member.stop()
            self.error = f"the class could not start ({err})"
            self.say(f"localhub: {self.error}; the hub runs without it.")
            return
        self.member, self.error = member, None
        self.resolver.classroom = member

    async def stop(self) -> None:
        if self.member is not None:
            self.resolver.classroom = None
            await self.member.stop()
            self.member = None

    async def reload(self) -> None:
        """After `class serve|join|leave`: the same class and role keep their place on the LAN (a teacher's
        new links are offered in place); anything else starts over."""
        member = self.member
        try:
            membership = load_membership(self.settings.state_dir)
        except LocalhubError:
            membership = None
        if member is not None and membership is not None and membership.role == "teacher" == member.role \
                and membership.key == member.membership.key:
            member.offer(membership)
            return
        await self.stop()
        await self.start()

    def status(self) -> dict:
        membership = None
        try:
            membership = load_membership(self.settings.state_dir)
        except LocalhubError:
            pass
        klass = self.member.status() if self.member else (
            {"role": membership.role, "name": membership.name, "running": False, "error": self.error}
            if membership else None)
        return {"bundles": OfflineLinks(self.settings.state_dir).bundles(),
                "import": ImportStatus(self.settings.state_dir).read(), "class": klass}
