"""Helpers for Binder launch tests: case repositories as local git repositories, their Binder specs, the
hub's `/build/` event stream read over HTTP, code run in a server's kernel over its websocket, a `git daemon`
that can be switched off (the network going away), and removal of the images a test built.

Every image a test hub builds carries `localhub.test=1` and a `localhub.spec` label naming its repository;
`remove_images_under(root)` removes exactly those whose repository lies under the test's own tmp dir, so
builds of other sessions on the same engine are never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import docker
import httpx

CASES = Path(__file__).resolve().parents[1] / "cases"
GIT_ENV = {"GIT_AUTHOR_NAME": "localhub tests", "GIT_AUTHOR_EMAIL": "tests@localhub.invalid",
           "GIT_COMMITTER_NAME": "localhub tests", "GIT_COMMITTER_EMAIL": "tests@localhub.invalid"}
BUILD_PHASES = ("waiting", "fetching", "building", "built", "launching", "ready")


# --- repositories ---------------------------------------------------------------------------------

def git(path: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {path}: {done.stderr}")
    return done.stdout.strip()


def git_spec(url: str, ref: str = "HEAD") -> str:
    """The Binder spec of any git URL: `git/<url, every reserved character encoded>/<ref>`."""
    return f"git/{quote(url, safe='')}/{quote(ref, safe='')}"


class CaseRepo:
    """A case of tests/cases copied into `root/<name>` and committed on branch `main`."""

    def __init__(self, case: str, root: Path, name: str | None = None):
        self.path = root / (name or case)
        shutil.copytree(CASES / case, self.path, ignore=shutil.ignore_patterns("expect.toml"))
        git(self.path, "init", "-q", "-b", "main")
        self.commit("initial")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    @property
    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def spec(self, ref: str = "HEAD") -> str:
        """Its spec with the git provider and a file:// URL (URL-encoded slashes included)."""
        return git_spec(self.url, ref)

    def local_spec(self, ref: str = "HEAD") -> str:
        """The spec `localhub launch <path>` makes of it (provider `local`)."""
        return f"local/{quote(str(self.path), safe='')}/{ref}"

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for rel, text in (files or {}).items():
            (self.path / rel).write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return self.head


class GitDaemon:
    """`git daemon` serving the bare repositories under `base` on git://127.0.0.1:<port><base>/<name>;
    `stop()` is the network going away: `git ls-remote` then fails with "Connection refused".

    URLs carry the repository's full path (no --base-path), so the images built from them are found by
    `images_under` like any other test build."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}{self.base}/{name}"

    def start(self) -> "GitDaemon":
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", f"--port={self.port}",
             str(self.base)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"git daemon did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the /build/ event stream -----------------------------------------------------------------------

@dataclass
class Stream:
    status: int
    content_type: str
    events: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)  # a build's progress between log lines (named `progress`)
    seconds: float = 0.0

    @property
    def last(self) -> dict:
        return self.events[-1] if self.events else {}

    @property
    def phases(self) -> list[str]:
        """Phases in order, each run of repeats shown once."""
        out: list[str] = []
        for event in self.events:
            if not out or out[-1] != event.get("phase"):
                out.append(event.get("phase"))
        return out

    def messages(self, phase: str | None = None) -> list[str]:
        return [e.get("message", "") for e in self.events if phase is None or e.get("phase") == phase]

    def describe(self) -> str:
        return "\n".join(json.dumps(e)[:300] for e in self.events)


def read_build(base_url: str, spec: str, token: str | None, query: str = "", timeout: float = 300) -> Stream:
    """GET <base_url>/build/<spec>[?query] and read its events until the server ends the stream.

    The spec goes on the wire exactly as given (percent-encoded slashes stay encoded)."""
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"token {token}"
    url = f"{base_url}/build/{spec}" + (f"?{query}" if query else "")
    t0 = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=10)) as http:
        with http.stream("GET", url, headers=headers) as r:
            stream = Stream(r.status_code, r.headers.get("content-type", ""))
            name = None  # as BinderHub's clients read it (EventSource.onmessage): unnamed events only; the
            for line in r.iter_lines():  # `progress` ticks are kept apart
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    (stream.ticks if name == "progress" else stream.events).append(json.loads(line[5:]))
                elif not line:
                    name = None
    stream.seconds = time.monotonic() - t0
    return stream


# --- the hub and its servers ------------------------------------------------------------------------

def api(hub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=60)


def servers(hub) -> dict:
    """The desktop user's servers as JupyterHub lists them (stopped ones included)."""
    with api(hub) as http:
        r = http.get(f"/hub/api/users/{hub.user}", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        return {name: s for name, s in (r.json().get("servers") or {}).items() if name}


def builds_started(hub) -> int:
    with api(hub) as http:
        return http.get("/services/localhub/api/info").json()["builds_started"]


def server_containers(hub, server: str, running_only: bool = False) -> list:
    return [c for c in hub.containers(all=not running_only) if c.labels.get("localhub.server") == server]


def delete_server(hub, name: str) -> None:
    hub.cli("servers", "delete", name, "--yes", timeout=120)


def server_base(hub, name: str) -> str:
    return f"{hub.url}/user/{hub.user}/{name}"


def contents(hub, server: str, token: str, path: str = "") -> httpx.Response:
    with httpx.Client(timeout=30) as http:
        return http.get(f"{server_base(hub, server)}/api/contents/{path}",
                        headers={"Authorization": f"token {token}"})


# --- kernels ----------------------------------------------------------------------------------------

def run_in_kernel(base: str, token: str, sources: list[str], timeout: float = 90) -> list[dict]:
    """Start a kernel on the server at `base` (…/user/<u>/<server>), run each source as one
    execute_request over the kernel websocket (message protocol 5.x), shut the kernel down.

    Returns, per source: {"status": "ok"|"error", "stdout": str, "result": str | None, "error": str | None}."""
    return asyncio.run(_run_in_kernel(base, token, sources, timeout))


async def _run_in_kernel(base: str, token: str, sources: list[str], timeout: float) -> list[dict]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        r = await http.post(f"{base}/api/kernels", json={"name": "python3"})
        assert r.status_code == 201, f"starting a kernel: {r.status_code} {r.text[:300]}"
        kernel = r.json()["id"]
        try:
            ws_url = base.replace("http://", "ws://", 1) + f"/api/kernels/{kernel}/channels?token={token}"
            conn = await websocket_connect(HTTPRequest(ws_url, headers=headers, connect_timeout=30))
            try:
                session = uuid.uuid4().hex
                return [await _execute(conn, session, source, timeout) for source in sources]
            finally:
                conn.close()
        finally:
            await http.delete(f"{base}/api/kernels/{kernel}")


async def _execute(conn, session: str, source: str, timeout: float) -> dict:
    msg_id = uuid.uuid4().hex
    await conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "test",
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": source, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out = {"status": None, "stdout": "", "result": None, "error": None}
    idle = False
    deadline = asyncio.get_running_loop().time() + timeout
    while out["status"] is None or not idle:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no reply to {source!r} within {timeout:.0f} s: {out}")
        raw = await asyncio.wait_for(conn.read_message(), remaining)
        if raw is None:
            raise AssertionError(f"the kernel websocket closed while running {source!r}")
        if isinstance(raw, bytes):
            continue  # binary-framed messages (none are expected for plain execute requests)
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            out["stdout"] += content["text"]
        elif kind == "execute_result":
            out["result"] = content["data"].get("text/plain")
        elif kind == "error":
            out["error"] = f"{content['ename']}: {content['evalue']}"
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
        elif kind == "execute_reply":
            out["status"] = content["status"]
    return out


# --- images -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListedImage:
    id: str
    tags: list[str]
    labels: dict
    created: int


def images_under(root: Path) -> list[ListedImage]:
    """Test-labelled images (tagged or not) whose spec names a repository under `root`. From the engine's image
    summaries (one request): docker-py's images.list() inspects each image listed, and fails when another
    worker removes one in between (seen in CI while images were being removed in bulk)."""
    root_text = str(root)
    with closing(docker.from_env()) as engine:
        summaries = engine.api.images(all=True, filters={"label": ["localhub.test=1", "localhub.spec"]})
    listed = [ListedImage(s["Id"], [t for t in s.get("RepoTags") or [] if t != "<none>:<none>"],
                          s.get("Labels") or {}, s.get("Created") or 0) for s in summaries]
    return [image for image in listed if root_text in unquote(image.labels.get("localhub.spec", ""))]


def image_state_under(root: Path) -> set[tuple[str, tuple[str, ...]]]:
    """(id, tags) of every image built for repositories under `root`: equal before and after = nothing made."""
    return {(image.id, tuple(sorted(image.tags))) for image in images_under(root)}


def remove_images_under(root: Path) -> None:
    """Remove every image built for repositories under `root`, newest first (children before parents)."""
    with closing(docker.from_env()) as engine:
        for image in sorted(images_under(root), key=lambda i: i.created, reverse=True):
            try:
                engine.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:  # still used by a container of ours: removed with it
                print(f"could not remove image {image.id[:19]} {image.tags}: {err}")
