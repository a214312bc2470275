"""The one typed client of a running localhub: JupyterHub's REST API plus the daemon's own API.

The CLI and the TUI use only this module to talk to the hub. It finds the hub through the state dir
(runtime.json and the 0600 API token), so `--state-dir` addresses one of several hubs.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import httpx
from httpx_sse import connect_sse

from .binder import parse_link
from .hub.policy import PolicyError, check_server_name
from .hubapi import answer_message
from .errors import LocalhubError, NotRunning, shown
from .images.progress import clock_text  # noqa: F401 (the TUI draws times as the CLI does)
from .launch_events import LaunchEvent  # noqa: F401 (the TUI reads launch events through this module)
from .lifecycle import running_daemon
from .state import StateDir


@dataclass
class Server:
    name: str
    status: str  # running | paused (frozen, memory kept: resumed on demand) | stopped | spawn | stop
    ready: bool
    url: str | None
    profile: str | None
    image: str | None
    environment: str | None
    storage_used: int | None
    storage_cap: int | None
    cpu_percent: float | None
    memory_used: int | None
    last_activity: str | None
    where: str  # "local" or the lab peer it runs on
    notice: str | None = None  # what the user should know (paused on a peer because its owner is back, …)
    started: str | None = None  # when it last started (JupyterHub's time); None while stopped
    container: str | None = None  # its Docker container on this desktop, if it has one
    container_state: str | None = None  # the engine's word for it: running, exited, …
    volume: str | None = None  # the home volume holding its files
    cpu_limit: float | None = None  # CPUs its profile allows
    memory_limit: int | None = None  # bytes its profile allows
    usage_history: list | None = None  # [unix time, CPU % of one core, memory bytes], oldest first
    last_launch: dict | None = None  # its last launch's steps and their seconds (launch_trace.py)

    @classmethod
    def from_api(cls, data: dict) -> "Server":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


class Client:
    def __init__(self, state_dir: Path, timeout: float = 30):
        self.state = StateDir(Path(state_dir))
        runtime = running_daemon(self.state)
        if not runtime:
            raise NotRunning(
                f"No localhub is running for {self.state.root}; start one with `localhub up`."
            )
        self.runtime = runtime
        self.url: str = runtime["url"]
        self.user: str = runtime["user"]
        try:
            token = (self.state.secrets / "api-token").read_text().strip()
        except OSError as err:
            raise LocalhubError(f"Cannot read the hub's API token in {self.state.secrets}: {err.strerror}.") from None
        if not token:
            raise LocalhubError(f"The hub's API token {self.state.secrets / 'api-token'} is empty; `localhub restart` "
                                "makes a new one.")
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"token {token}"}, timeout=timeout)

    # --- plumbing -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise LocalhubError(f"The hub at {self.url} did not answer ({err.__class__.__name__}); "
                                "is it still running? (`localhub status`)") from None
        if r.status_code >= 400:
            raise LocalhubError(_error_message(r))
        return r

    def _json(self, method: str, path: str, **kwargs):
        r = self._request(method, path, **kwargs)
        return r.json() if r.content else None

    def _server_path(self, name: str) -> str:
        if not name:  # the default server has a path of its own
            return f"/hub/api/users/{quote(self.user)}/server"
        return f"/hub/api/users/{quote(self.user)}/servers/{quote(name, safe='')}"

    # --- daemon ------------------------------------------------------------------------------
    def info(self) -> dict:
        return self._json("GET", "/services/localhub/api/info")

    def login_link(self, next_url: str | None = None) -> str:
        body = {"next": next_url} if next_url else {}
        return self._json("POST", "/services/localhub/api/login-link", json=body)["url"]

    def create_token(self, expires_in: int | None, note: str, scopes: list[str] | None = None) -> dict:
        """A new JupyterHub API token of the desktop user, for scripts and Binder clients (`/build`).
        `expires_in` in seconds, None for a token that never expires; `scopes` default to what those clients
        need (`token_scopes`), ["inherit"] gives the user's every right. Returns JupyterHub's token model."""
        body = {"note": note, "scopes": scopes or token_scopes(self.user),
                **({"expires_in": expires_in} if expires_in else {})}
        return self._json("POST", f"/hub/api/users/{quote(self.user)}/tokens", json=body)

    def recover(self) -> dict:
        """Bring back, as stopped named servers, the homes of this hub that it does not know (after its database
        was set aside): {"adopted": [{"server", …options}], "refused": [{"server", "reason"}]}."""
        return self._json("POST", "/services/localhub/api/recover")

    def shutdown(self, keep_servers: bool = False) -> None:
        self._json("POST", "/services/localhub/api/shutdown", json={"keep_servers": keep_servers})

    def workshop(self) -> dict:
        """Bundles imported, the import running now, and this laptop's class (see localhub/workshop/web.py)."""
        return self._json("GET", "/services/localhub/api/workshop")

    def workshop_post(self, action: str, body: dict | None = None, timeout: float = 60) -> dict:
        """POST to the workshop API: `class` (reload), `fetch`, `handin`."""
        return self._json("POST", f"/services/localhub/api/workshop/{action}", json=body or {}, timeout=timeout)

    def pool(self) -> dict:
        """The daemon's view of the lab (this desktop, peers, servers away); {"off": why} while it runs no pool."""
        return self._json("GET", "/services/localhub/api/pool")

    def leave_pool(self) -> str:
        """Leave this desktop's lab (the daemon says why not in one sentence); returns the lab's fingerprint."""
        return self._json("POST", "/services/localhub/api/pool/leave")["left"]

    def forget_peer(self, node: str) -> bool:
        return self._json("POST", "/services/localhub/api/pool/forget", json={"node": node})["forgotten"]

    def remove_member(self, node: str) -> dict:
        """Remove a desktop from the lab ({node, serial, told, already}); the daemon says why not in one sentence."""
        return self._json("POST", "/services/localhub/api/pool/remove", json={"node": node})

    # --- servers -----------------------------------------------------------------------------
    def servers(self) -> list[Server]:
        data = self._json("GET", "/services/localhub/api/servers")
        return [Server.from_api(s) for s in data["servers"]]

    def listing(self) -> tuple[list[Server], list[dict] | None, str | None]:
        """The servers and the environments in one request, made from one answer of JupyterHub (the TUI's poll):
        (servers, environments or None, why the environments could not be listed or None)."""
        data = self._json("GET", "/services/localhub/api/servers", params={"environments": "1"})
        servers = [Server.from_api(s) for s in data["servers"]]
        if "environments" not in data and "environments_error" not in data:  # a daemon older than this client
            try:
                return servers, self.environments(), None
            except LocalhubError as err:
                return servers, None, str(err)
        return servers, data.get("environments"), data.get("environments_error")

    def server(self, name: str) -> Server:
        for server in self.servers():
            if server.name == name:
                return server
        raise LocalhubError(f"There is no server '{shown(name)}'; `localhub servers ls` lists them.")

    def create_server(self, name: str, profile: str | None = None, image: str | None = None,
                      extra_options: dict | None = None, where: str | None = None) -> Iterator[dict]:
        """Create and start a named server (on this desktop, or where `where` says: auto or a lab peer);
        yields progress events until it answers."""
        options = {k: v for k, v in {"profile": profile, "image": image, "where": where,
                                     **(extra_options or {})}.items() if v}
        try:
            check_server_name(name, int(self.runtime.get("settings", {}).get("server_name_max_length", 20)))
        except PolicyError as err:
            raise LocalhubError(str(err)) from None
        if any(s.name == name for s in self.servers()):
            raise LocalhubError(f"A server named '{name}' exists already; start it with `localhub servers start {name}`.")
        self._request("POST", self._server_path(name), json={"user_options": options})
        yield from self._follow_spawn(name)

    def start_server(self, name: str, where: str | None = None, profile: str | None = None) -> Iterator[dict]:
        """Start a stopped server where it ran last (or `where`), with its profile (or another `profile`)."""
        server = self.server(name)
        if server.ready:
            if profile and profile != server.profile:
                raise LocalhubError(f"Server '{name}' runs with profile '{server.profile}'; stop it first "
                                    f"(`localhub servers stop {name}`) to start it with profile '{shown(profile)}'.")
            if server.status == "paused" and self.resume_server(name):
                yield {"progress": 100, "message": f"Server '{name}' was paused and is resumed", "ready": True}
                return
            yield {"progress": 100, "message": f"Server '{name}' is already running", "ready": True}
            return
        changes = {k: v for k, v in {"where": where, "profile": profile}.items() if v}
        if changes:
            user = self._json("GET", f"/hub/api/users/{quote(self.user)}", params={"include_stopped_servers": "1"})
            options = ((user.get("servers") or {}).get(name) or {}).get("user_options") or {}
            self._request("POST", self._server_path(name), json={"user_options": {**options, **changes}})
        else:
            self._request("POST", self._server_path(name))  # JupyterHub reuses the stored options
        yield from self._follow_spawn(name)

    def resume_server(self, name: str) -> bool:
        """Resume a paused server now; True if it was paused (a request through the hub resumes it too)."""
        return bool(self._json("POST", f"/services/localhub/api/servers/{quote(name, safe='')}/resume").get("resumed"))

    def stop_server(self, name: str) -> None:
        """Stop a server; returns once it has stopped (the daemon waits for it, within a minute)."""
        self.server(name)
        self._request("POST", f"/services/localhub/api/servers/{quote(name, safe='')}/stop", timeout=90)

    def sync_server(self, name: str) -> dict:
        """Bring the files of a running server's image into its home (home_files.py); what happened."""
        return self._json("POST", f"/services/localhub/api/servers/{quote(name, safe='')}/sync", timeout=300)

    def delete_server(self, name: str) -> None:
        if not name:
            raise LocalhubError("The default server cannot be deleted; stop it instead (its files are kept).")
        server = self.server(name)
        if server.status != "stopped":
            self.stop_server(name)
        self._request("DELETE", self._server_path(name), json={"remove": True})

    # --- Binder launches and environments ------------------------------------------------------
    @staticmethod
    def parse_link(text: str) -> dict:
        """Parse a Binder link or repository URL offline; raises LocalhubError saying what is wrong."""
        return parse_link(text).to_dict()

    def launch(self, link: str, profile: str | None = None, rebuild: bool = False,
               start: bool = True, where: str | None = None) -> Iterator[dict]:
        """Build (once) and start the environment a link names; yields BinderHub-style events, and ticks (events
        with `"tick": true` and no message: the build's progress and clock between log lines). A failed launch
        raises LocalhubError with its reason, after yielding its event."""
        launch = parse_link(link)
        params = {"urlpath": launch.urlpath, "profile": profile, "rebuild": "1" if rebuild else None,
                  "where": where,
                  "launch": None if start else "0"}
        path = "/build/" + launch.spec
        final = None
        try:
            with connect_sse(self.http, "GET", path, params={k: v for k, v in params.items() if v},
                             timeout=httpx.Timeout(None, connect=10)) as source:
                for sse in source.iter_sse():
                    if sse.data:
                        event = sse.json()
                        yield event
                        if event.get("tick"):
                            continue
                        final = event
                        if final.get("phase") in ("ready", "failed"):
                            break
        except httpx.HTTPError as err:
            raise LocalhubError(f"Lost the hub during the launch ({err.__class__.__name__}).") from None
        if final is None:
            raise LocalhubError("The hub ended the launch without saying why; see `localhub status`.")
        if final.get("phase") == "failed":
            reason = final.get("message", "The launch failed.").strip()
            if final.get("build_log"):
                reason = reason.rstrip(".") + f"; `localhub builds log {shlex.quote(link)}` shows the whole build log."
            raise LocalhubError(reason)
        if start and final.get("phase") != "ready":
            raise LocalhubError(f"The launch stopped at phase '{final.get('phase')}'.")

    def rebuild(self, spec: str) -> Iterator[dict]:
        """Build an environment's image afresh without starting a server."""
        return self.launch(spec, rebuild=True, start=False)

    def environments(self) -> list[dict]:
        return self.environments_report()["environments"]

    def environments_report(self) -> dict:
        """{"environments": [...], "disk": {"environments": bytes of them all, shared layers counted once}}."""
        return self._json("GET", "/services/localhub/api/environments")

    def prune_environments(self, dry_run: bool = False) -> dict:
        """Remove the environments no server uses and this hub's dangling images (or, dry, say which)."""
        return self._json("POST", "/services/localhub/api/environments/prune", json={"dry_run": dry_run},
                          timeout=300)

    def build_log(self, image: str | None = None, spec: str | None = None) -> str:
        """The kept build log of an image, or the newest one of a spec (failed builds have no image)."""
        params = {"image": image} if image else {"spec": spec}
        return self._request("GET", "/services/localhub/api/environments/log", params=params).text

    def remove_environment(self, image: str) -> None:
        self._request("DELETE", "/services/localhub/api/environments", params={"image": image})

    def server_logs(self, name: str, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """A server's log lines; with follow, keeps yielding until the caller stops iterating. While the
        container is quiet the daemon sends empty lines every few seconds: callers skip them, and get the
        chance to stop."""
        self.server(name)
        params = {"follow": "1" if follow else "0", "tail": str(tail)}
        try:
            with self.http.stream("GET", f"/services/localhub/api/servers/{quote(name)}/logs", params=params,
                                  timeout=httpx.Timeout(None, connect=10)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise LocalhubError(_error_message(r))
                yield from r.iter_lines()
        except httpx.HTTPError as err:
            raise LocalhubError(f"Lost the hub while reading logs ({err.__class__.__name__}).") from None

    def server_url(self, name: str) -> str:
        return f"{self.url}/user/{quote(self.user)}/{quote(name)}/"

    def _follow_spawn(self, name: str, timeout: float = 180) -> Iterator[dict]:
        """Follow JupyterHub's spawn-progress stream, then wait until the server itself answers."""
        url = self._server_path(name) + "/progress"
        ready = False
        try:
            with connect_sse(self.http, "GET", url, timeout=httpx.Timeout(timeout, connect=10)) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise LocalhubError(_error_message(source.response))
                for sse in source.iter_sse():
                    if not sse.data:
                        continue
                    event = sse.json()
                    yield event
                    if event.get("failed"):
                        raise LocalhubError(f"Server '{name}' failed to start: {_clean(event.get('message', ''))}")
                    if event.get("ready"):
                        ready = True
                        break
        except httpx.HTTPError as err:
            raise LocalhubError(f"Lost the hub while server '{name}' was starting ({err.__class__.__name__}).") from None
        if not ready:
            server = self.server(name)
            if not server.ready:
                raise LocalhubError(f"Server '{name}' did not become ready; see `localhub status` and the hub log.")
        self._wait_answers(name)

    def _wait_answers(self, name: str, timeout: float = 30) -> None:
        # Jupyter Server's /api answers anyone: the hub's token, an admin's, is never sent to a server (it runs a
        # repository's code)
        version_url = f"/user/{quote(self.user)}/{quote(name)}/api"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            request = self.http.build_request("GET", version_url)
            request.headers.pop("Authorization", None)
            try:
                if self.http.send(request).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise LocalhubError(f"Server '{name}' is marked ready but does not answer at {self.server_url(name)}.")


def token_scopes(user: str) -> list[str]:
    """What a script or Binder client needs: launch through `/build` (the localhub service), start, stop and
    reach the user's own servers, read the user's model — not the hub's admin rights."""
    return ["access:services!service=localhub", f"servers!user={user}", f"access:servers!user={user}",
            f"read:users!user={user}"]


def _clean(message: str) -> str:
    # JupyterHub prefixes spawn failures with its own sentence; keep the reason
    for marker in ("HTTP 400: Bad Request (", "Error: HTTP 400: Bad Request ("):
        if marker in message:
            return message.split(marker, 1)[1].rstrip(")")
    return message


def _error_message(r: httpx.Response) -> str:
    return _clean(answer_message(r))
