"""The daemon: checks the machine, starts JupyterHub (with its proxy and services) and localhub's API,
supervises them, and shuts everything down cleanly.

`localhub up` runs it in the foreground; `localhub up --detach` starts it as a background process and
returns once the hub answers. A restarted daemon finds running servers again: JupyterHub keeps them in
SQLite and the spawner reconnects to their containers (`cleanup_servers = False`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from jupyterhub.services.auth import HubOAuth

from . import api, docker_engine
from .config import Settings, settings_to_dict
from .errors import LocalhubError
from .hub import login_tokens
from .hub.hub_config import hub_api_port
from .hub.network import ensure_network, exposed_warning, isolate, not_isolated_warning, remove_network
from .hub import limits, servers_web
from .hub.culler import cull_forever
from . import pausing
from .logcap import CappedLog
from .hubapi import HubAPI
from .readers import Readers
from .lean import HUB, skip_unused
from .lifecycle import DaemonLock, daemon_identity, pid_alive, read_pid, runs_in, stop_leftover
from .preflight import port_in_use, preflight
from .profiles import load_profiles
from .redact import hide_secrets
from .state import PRIVATE_UMASK, StateDir
from .images.builder import Builder
from .launcher import Launcher
from .container_events import ContainerEvents
from .server_watch import ServerWatch
from .storage_watch import StorageWatch, stop_through
from . import storage
from .workshop.service import WorkshopService
from .usage import UsageSampler

HUB_CONFIG = Path(__file__).parent / "hub" / "jupyterhub_config.py"
READY_TIMEOUT = 90


def login_link(state: StateDir, url: str, next_url: str = "/hub/home") -> str:
    token = login_tokens.issue(state.login_tokens)
    return f"{url}/hub/login?token={token}&next={quote(next_url, safe='/')}"


class Daemon:
    def __init__(self, settings: Settings):
        self.settings = settings
        # held until this process ends: it is how other processes know that this daemon runs (lifecycle.py)
        self.lock = DaemonLock(StateDir(settings.state_dir))
        StateDir(settings.state_dir).prepare()
        self.lock.acquire()
        self.state, self.docker = preflight(settings)
        self.started = time.time()
        self.hub_process: asyncio.subprocess.Process | None = None
        self._shutdown = asyncio.Event()
        self._keep_servers = False
        self.cookie_secret = self.state.secret("daemon-cookie-secret")
        self.token = self.state.secret("api-token")
        self.hub_api = HubAPI(settings.url, self.token)
        self.hub_auth: HubOAuth | None = None
        self._engine_facts: dict | None = None
        self._orphan_proxy: int | None = None
        self.usage = UsageSampler(self.docker, settings.instance)
        self.container_events = ContainerEvents(settings.instance)
        self.watch = ServerWatch(self.docker, self.container_events)  # notices: memory kills, storage caps
        # homes measured in the background, caps held (storage_watch.py); stop_server is set in run()
        self.storage_watch = StorageWatch(
            self.docker, settings.instance, settings.labels, cap_of=self._storage_cap, stop_server=lambda u, s: None,
            tell=self.watch.tell, volume_name=lambda user, server: storage.home_volume_name(settings.instance, user, server))
        self.builder = Builder(self.docker, self.state.builds,
                               extra_labels={**settings.labels, "localhub.instance": settings.instance})
        self.workshop = WorkshopService(settings, self.docker, self.hub_api)  # bundles and the class (workshop/)
        self.launcher = Launcher(settings, self.builder, self.hub_api, self.state.root,
                                 workshop=self.workshop.resolver)
        self.readers = Readers()  # open log streams (servers_web.ServerLogsHandler)
        self.lab_member = None  # a pool.member.LabMember while this desktop is in a lab
        self.network_isolation: str | None = None  # why servers are not isolated on the network (None: they are)
        self.pool_off = ""  # why there is no lab_member
        self.pauser: pausing.Pauser | None = None  # idle servers paused, resumed on demand (pausing.py)

    # --- used by the API handlers -------------------------------------------------------------
    def engine_facts(self) -> dict:
        if self._engine_facts is None:
            self._engine_facts = docker_engine.describe(self.docker)
        return self._engine_facts

    def container_details(self) -> dict:
        return servers_web.container_details(self.docker, self.settings.instance, self.storage_watch.usage())

    def _storage_cap(self, profile: str) -> int | None:
        """A profile's storage cap, as its file says now (the storage watch asks every second: reading the
        profiles costs microseconds, each file's text being checked once, profiles.py)."""
        found = load_profiles(self.settings.config_dir).get(profile)
        return found.storage if found else None

    def servers_away(self) -> dict:
        """This user's servers on lab peers, by server name (from the pool's ledger; empty outside a lab)."""
        if self.lab_member is None:
            return {}
        entries = [a for a in self.lab_member.ledger.all() if a.user == self.settings.user]
        return {a.server: a for a in sorted(entries, key=lambda a: a.started)}

    def login_link(self, next_url: str = "/hub/home") -> str:
        return login_link(self.state, self.settings.url, next_url)

    def log(self, message: str) -> None:
        print(f"localhub: {message}", flush=True)

    def request_shutdown(self, keep_servers: bool = False) -> None:
        self._keep_servers = keep_servers
        self._shutdown.set()

    # --- lifecycle ----------------------------------------------------------------------------
    async def _join_pool(self, announce, hub_api: tuple[str, int]) -> str | None:
        """Start this desktop's part in its lab, if it is in one; returns the LAN address used. When the pool
        stays off, `pool_off` says why (`localhub pool status` shows it)."""
        from .pool.trust.keys import in_a_lab  # a file's presence: the pool's modules load only for a lab

        if not in_a_lab(self.state.root):
            self.pool_off = "this desktop was in no lab when the hub started"
            return None
        from .pool.member import LabMember, choose_address  # zeroconf, the lab's TLS and crypto: ~10 MiB

        address = choose_address(self.settings)
        if not address:
            self.pool_off = ("this desktop has no LAN address (only loopback, Docker bridges or tunnels); set "
                             "pool_address to the address to use")
            announce(f"localhub: the pool stays off: {self.pool_off}.")
            return None
        self.lab_member = LabMember(self.settings, self.docker, address, hub_api=hub_api, say=announce)
        try:
            await self.lab_member.start()
        except (LocalhubError, OSError) as err:
            self.pool_off = f"the pool could not start: {err}"
            announce(f"localhub: the pool could not start ({err}); the hub runs without it.")
            await self.lab_member.stop()
            self.lab_member = None
            return None
        return address

    async def leave_lab(self) -> str:
        """Leave this desktop's lab (`localhub pool leave` while the hub runs): refused, in one sentence, while
        servers are out or guests are here; else the pool stops and the lab's files go. Returns the lab's
        fingerprint."""
        from .pool.member import forget_lab, why_not_leave
        from .pool.trust.members import load_membership

        lab = load_membership(self.state.root)
        why = why_not_leave(self.state.root, self.lab_member)
        if why:
            raise LocalhubError(f"This desktop stays in lab {lab.fingerprint}: {why}.")
        if self.lab_member:
            await self.lab_member.stop()
            self.lab_member = None
        forget_lab(self.state.root)
        self.pool_off = "this desktop left its lab"
        return lab.fingerprint

    def forget_peer(self, node: str) -> bool:
        """Drop a peer's pinned certificate (`localhub pool forget` while the hub runs: the pins are its to
        write)."""
        from .pool.trust.keys import PeerPins

        return PeerPins(self.state.root).forget(node)

    async def run(self, announce=print) -> int:
        login_tokens.revoke_all(self.state.login_tokens)  # links of an earlier run sign in no more
        network, gateway = ensure_network(self.docker, self.settings.instance, self.settings.labels)
        for image in await asyncio.to_thread(self.builder.remove_interrupted):
            announce(f"localhub: removed {image}, left by a build that was interrupted when localhub stopped.")
        service_port, hub_port = self.settings.port + 2, hub_api_port(self.settings.port)
        if port_in_use(gateway, hub_port):
            raise LocalhubError(f"Port {hub_port} (for the hub's API, on its network gateway {gateway}) is already "
                                "in use by another program (a JupyterHub listening on every address?); choose "
                                "another with --port (localhub uses --port to --port+3).")
        self.network_isolation = await asyncio.to_thread(isolate, self.docker, self.settings.instance,
                                                         (gateway, hub_port))
        if self.network_isolation:
            announce(f"localhub: warning: {not_isolated_warning(self.network_isolation)}")
        if exposed_warning(self.settings.ip):
            announce(f"localhub: warning: {exposed_warning(self.settings.ip)}")
        pool_address = await self._join_pool(announce, (gateway, hub_port))
        self.state.write_runtime({
            "settings": settings_to_dict(self.settings),
            **daemon_identity(),
            "url": self.settings.url,
            "user": self.settings.user,
            "network": network,
            "gateway": gateway,
            "service_port": service_port,
            "pool_address": pool_address,
            "network_isolation": self.network_isolation,  # why servers are not isolated (None: they are)
            "started": self.started,
            "ready": False,
        })
        hub_api_url = f"http://{gateway}:{hub_port}/hub/api"
        self.hub_api.use_api_url(hub_api_url)
        self.hub_auth = HubOAuth(
            api_token=self.token,
            api_url=hub_api_url,
            base_url="/services/localhub/",
            hub_prefix="/hub/",
            oauth_client_id="service-localhub",
            oauth_redirect_uri="/services/localhub/oauth_callback",
            access_scopes={"access:services!service=localhub"},
            cache_max_age=60,
        )
        # bodies capped before authentication, half-sent requests bounded (limits.py)
        server = limits.guarded_server(api.make_app(self))
        server.listen(service_port, "127.0.0.1")
        self.usage.start()
        self.watch.start()
        self.storage_watch._stop_server = stop_through(
            asyncio.get_running_loop(), lambda user, server: self.hub_api.stop_server(user, server, timeout=None))
        await asyncio.to_thread(self.storage_watch.start)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown, False)

        # a proxy left by a crashed hub still routes to the new one until JupyterHub replaces it
        orphan_proxy = read_pid(self.state.proxy_pid_file)
        self._orphan_proxy = orphan_proxy if runs_in(orphan_proxy, self.state.root) else None
        env = {**os.environ, "LOCALHUB_STATE_DIR": str(self.state.root), "LOCALHUB_DAEMON_PID": str(os.getpid())}
        self.hub_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "localhub.hub.run", "-f", str(HUB_CONFIG),  # JupyterHub, leaner (lean.py)
            cwd=self.state.root, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        # JupyterHub's and its proxy's output, through a size- and rate-capped file (logcap.py)
        self._hub_log = asyncio.create_task(copy_log(self.hub_process.stdout, self.state.logs / "hub.log"))
        try:
            await self._wait_until_ready()
        except LocalhubError:
            await self._stop_hub()
            server.stop()
            if self.lab_member:
                await self.lab_member.stop()
            # a start that failed leaves nothing behind (the network stays while a server still uses it)
            await asyncio.to_thread(remove_network, self.docker, self.settings.instance)
            self.state.clear_runtime()
            raise
        runtime = self.state.read_runtime() or {}
        self.state.write_runtime({**runtime, "ready": True, "hub_pid": self.hub_process.pid})
        if sys.stdout.isatty():  # a sign-in link is a secret: shown on a terminal, never written to a log
            announce(f"localhub is running at {self.settings.url} — sign in: {self.login_link()}")
        else:
            announce(f"localhub is running at {self.settings.url}; `localhub login` prints a sign-in link.")
        await self.workshop.start(announce)
        # servers idle for idle_timeout are stopped (their storage kept), by jupyterhub-idle-culler's pass
        culler = asyncio.create_task(cull_forever(hub_api_url, self.token, self.settings.idle_timeout,
                                                  self.settings.cull_every))
        # servers idle for pause_after are paused (frozen, memory kept) and resumed on demand (pausing.py)
        self.pauser = pausing.for_daemon(self.settings, self.docker, self.hub_api, self.state.secret("proxy-token"),
                                         self.usage)
        pauser = asyncio.create_task(self.pauser.run())

        hub_exit = asyncio.create_task(self._hub_exited())
        shutdown = asyncio.create_task(self._shutdown.wait())
        await asyncio.wait({hub_exit, shutdown}, return_when=asyncio.FIRST_COMPLETED)
        culler.cancel()
        pauser.cancel()
        self.readers.close_all()  # clients following a log see it end; shutdown never waits on a reader
        await self.workshop.stop()
        code = 0
        if hub_exit.done():
            code = 1
            announce(f"localhub: JupyterHub stopped unexpectedly (exit code {hub_exit.result()}); "
                     f"see {self.state.logs / 'hub.log'}")
            stop_leftover(self.state.proxy_pid_file, self.state)  # it would hold the hub's port (and its output pipe) until the next up
        else:
            if not self._keep_servers and self.lab_member:
                # guests of other desktops leave first, their homes back with their hubs (pool/member.py)
                await self.lab_member.send_guests_home()
            if not self._keep_servers:
                try:
                    stopped = await self.hub_api.stop_all_servers()
                    if stopped:
                        announce(f"Stopped {stopped} server(s); their storage is kept.")
                except httpx.HTTPError:
                    announce("Could not reach the hub to stop servers; they keep running.")
            await self._stop_hub()
            if not self._keep_servers:
                await asyncio.get_running_loop().run_in_executor(
                    None, remove_network, self.docker, self.settings.instance)
        server.stop()
        if self.lab_member:
            await self.lab_member.stop()
        self.usage.stop()
        self.watch.stop()
        self.container_events.stop()
        await asyncio.to_thread(self.storage_watch.close)
        await self.hub_api.aclose()
        self.state.clear_runtime()
        return code  # the lock goes with the process: until it has ended, `localhub down` can find it

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if self.hub_process.returncode is not None:
                    await asyncio.wait({self._hub_log}, timeout=2)  # its last words, into the file
                    raise LocalhubError(
                        f"JupyterHub exited during start-up (exit code {self.hub_process.returncode}): "
                        f"{last_error_line(self.state.logs / 'hub.log')} (full log: {self.state.logs / 'hub.log'})"
                    )
                try:
                    # ready: the hub answers through *its* proxy, which has its routes (this service's too)
                    if not pid_alive(self._orphan_proxy):
                        hub = await http.get(f"{self.settings.url}/hub/api/")
                        service = await http.get(f"{self.settings.url}/services/localhub/badge.svg")
                        if hub.status_code == 200 and service.status_code == 200:
                            return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise LocalhubError(f"JupyterHub did not answer within {READY_TIMEOUT} s; see {self.state.logs / 'hub.log'}")

    async def _hub_exited(self) -> int:
        """JupyterHub's exit code, once it has exited. Not `proc.wait()`: that also waits for the end of its output
        pipe, which a proxy it left behind (killed hub) keeps open."""
        while self.hub_process.returncode is None:
            await asyncio.sleep(0.5)
        return self.hub_process.returncode

    async def _stop_hub(self) -> None:
        proc = self.hub_process
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._hub_exited(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await self._hub_exited()


async def copy_log(stream: asyncio.StreamReader, path: Path) -> None:
    log = CappedLog(path)
    try:
        while chunk := await stream.read(65536):
            log.feed(chunk)
    finally:
        log.close()


def last_error_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines[-60:]):
        # JupyterHub's error lines open with "[E " (or "[C " for critical); Python's own say Error
        if line.lstrip().startswith(("[E ", "[C ")) or " E " in line or "Error" in line or "error" in line:
            return line.strip()[-300:]
    return lines[-1].strip()[-300:] if lines else "no log"


def run_foreground(settings: Settings) -> int:
    skip_unused(HUB)  # imports this long-running process does without (lean.py)
    os.umask(PRIVATE_UMASK)  # every file this process and JupyterHub create in the state dir is private
    hide_secrets()
    # the pool's modules log what they do (peers found, guests paused, homes sent) under "localhub.*"
    logging.basicConfig(level=os.environ.get("LOCALHUB_LOG", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("zeroconf", "httpx", "tornado.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    limits.raise_descriptor_limit()  # a desktop's default soft limit is 1024

    async def main() -> int:
        return await Daemon(settings).run()

    return asyncio.run(main())
