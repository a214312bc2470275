"""Material out, work in, for a laptop in a class (classroom.Member): the teacher serves the material it
published and keeps what participants hand in; a participant fetches each new version of the material and
merges it into the homes of its servers of the class's environments (material.py), and hands work in.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from urllib.parse import quote

from .. import storage
from ..errors import LocalhubError
from .handin import Handins, pack
from .homes import Home
from .material import MaterialStore, merge_into_home
from .merge import snapshot_dir, snapshot_to_json

log = logging.getLogger("localhub.workshop.classwork")


class ClassWork:
    def __init__(self, member):
        self.member = member
        self.material = MaterialStore(member.state_root)
        self.handins = Handins(member.state_root)
        self.merges: dict[str, str] = {}  # server -> what the last merge did
        self.error: str | None = None

    @property
    def teacher(self) -> bool:
        return self.member.role == "teacher"

    # --- teacher --------------------------------------------------------------------------------------
    def material_summary(self) -> dict | None:
        return self.material.summary(self.material.current()) if self.teacher else None

    def material_bytes(self) -> bytes | None:
        return self.material.current_bytes() if self.teacher else None

    def receive_handin(self, name: str, path: str, node: str, body: bytes) -> dict:
        if not self.teacher:
            raise ValueError("this laptop is not the teacher's; hand work in to the teacher")
        stored = self.handins.receive(name, path, node, body)
        log.info("hand-in from %s: %s (%d files)", stored["name"], path, len(stored["files"]))
        return stored

    # --- participant ------------------------------------------------------------------------------------
    def _teacher_state(self):
        for state in self.member.peers.values():
            if state.reachable and state.role == "teacher":
                return state
        return None

    async def tick(self) -> None:
        try:
            await self._fetch_material()
            await self._merge_servers()
            self.error = None
        except LocalhubError as err:
            self.error = str(err)
            log.warning("class material: %s", err)

    async def _fetch_material(self) -> None:
        teacher = self._teacher_state()
        theirs = (teacher.have.get("material") if teacher else None) or None
        received = self.material.received()
        if not theirs or (received and received.get("sha256") == theirs.get("sha256")):
            return
        data = await self.member.net.get_bytes(teacher.peer, "/material", timeout=300)
        await asyncio.to_thread(self._keep, theirs, data)
        log.info("received the class material %s, version %s", theirs["name"], theirs["version"])

    def _keep(self, info: dict, data: bytes) -> None:
        self.material.receive({**info, "files": {}}, data)
        with tempfile.TemporaryDirectory(prefix="localhub-material-") as tmp:
            self.material.unpack(Path(tmp))
            files = snapshot_to_json(snapshot_dir(Path(tmp)))
        self.material.receive({**info, "files": files}, data)

    async def _merge_servers(self) -> None:
        info = self.material.received()
        if not info or self.member.hub_api is None:
            return
        settings = self.member.settings
        user = await self.member.hub_api.user(settings.user)
        for name, server in sorted((user.get("servers") or {}).items()):
            options = server.get("user_options") or {}
            if options.get("spec") not in self.member.envs:
                continue
            # only homes the server has used: a new, empty volume must first get the image's home from Docker
            if not (server.get("ready") or (server.get("started") and not server.get("pending"))):
                continue
            if self.material.given(name).get("version") == info["version"]:
                continue
            volume = storage.home_volume_name(settings.instance, settings.user, name)
            plan = await asyncio.to_thread(merge_into_home, self.material, self.member.client, name, volume,
                                           options.get("image") or settings.image, settings.labels)
            self.merges[name] = plan.describe()
            log.info("material v%s into server %s: %s", info["version"], name, self.merges[name])

    async def handin(self, server: str, path: str) -> dict:
        if self.teacher:
            raise LocalhubError("This is the teacher's laptop: participants hand work in to it.")
        teacher = self._teacher_state()
        if teacher is None:
            raise LocalhubError("The teacher's laptop is not reachable on the LAN right now; try again in a moment "
                                "(`localhub class status` shows who is).")
        settings = self.member.settings
        user = await self.member.hub_api.user(settings.user) if self.member.hub_api else {}
        options = ((user.get("servers") or {}).get(server) or {}).get("user_options") or {}
        if server not in (user.get("servers") or {}):
            raise LocalhubError(f"There is no server '{server}'; `localhub servers ls` lists them.")
        volume = storage.home_volume_name(settings.instance, settings.user, server)

        def read() -> bytes:
            with Home(self.member.client, volume, options.get("image") or settings.image, settings.labels) as home:
                return pack(home.archive(path))

        body = await asyncio.to_thread(read)
        query = f"/handin?name={quote(self.member.name, safe='')}&path={quote(path, safe='')}"
        return await self.member.net.post(teacher.peer, query, body, timeout=300)

    def status(self) -> dict:
        if self.teacher:
            return {"material": self.material.summary(self.material.current()), "handins": self.handins.list()}
        return {"material": self.material.summary(self.material.received()), "merges": self.merges,
                "material_error": self.error}
