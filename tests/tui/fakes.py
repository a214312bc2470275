"""An in-memory stand-in for `localhub.client.Client`, with the same method names, for the snapshot and
unit tests: snapshots test rendering, so their data and clock must be fixed. Behaviour against a real
daemon is proven by the Pilot tests in test_live.py and the tmux tests in test_terminal.py."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from localhub.client import Server
from localhub.errors import LocalhubError

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
STARTED = NOW.timestamp() - 3 * 3600 - 25 * 60

PROFILES = [
    {"name": "default", "description": "1 CPU, 2 GB RAM, 2 GiB storage: enough for most notebooks",
     "cpu": 1.0, "memory": 2_000_000_000, "storage": 2 * 2**30},
    {"name": "large", "description": "2 CPUs, 8 GB RAM, 10 GiB storage: bigger data",
     "cpu": 2.0, "memory": 8_000_000_000, "storage": 10 * 2**30},
    {"name": "small", "description": "Half a CPU, 1 GB RAM, 1 GiB storage: workshops on laptops",
     "cpu": 0.5, "memory": 1_000_000_000, "storage": 2**30},
]

INFO = {
    "version": "0.1.0", "url": "http://127.0.0.1:8765", "user": "ada", "instance": "1a2b3c4d",
    "state_dir": "/home/ada/.local/share/localhub", "started": STARTED, "uptime": 3 * 3600 + 25 * 60,
    "default_image": "localhub/singleuser:latest",
    "engine": {"address": "unix:///var/run/docker.sock", "version": "27.3.1", "api_version": "1.47",
               "api_ok": True, "os": "Debian GNU/Linux 12 (bookworm)", "cgroup_version": "2",
               "storage_driver": "overlay2", "cpus": 8, "memory": 16 * 2**30},
    "storage_enforcement": "measured",
    "storage_enforcement_text": "storage caps are measured, not enforced by the engine: Docker's local volume "
                                "driver has no size limit for named volumes, so a server over its cap is "
                                "refused at start and listed with a warning",
    "profiles": PROFILES, "default_profile": "default",
    "limits": {"max_named_servers": 5, "server_name_max_length": 20, "idle_timeout": 7200},
}


def history(cpu: float, memory: int, samples: int = 60) -> list:
    """A fixed, recognisable usage history ending at NOW, one sample every 5 s: CPU climbs to `cpu`
    in a saw-tooth, memory grows steadily to `memory`."""
    end = NOW.timestamp()
    return [[end - 5 * (samples - 1 - i), round(cpu * ((i % 20) + 1) / 20, 1),
             int(memory * (0.5 + 0.5 * i / (samples - 1)))] for i in range(samples)]


def server(name: str, status: str = "running", **kw) -> Server:
    ready = status == "running"
    limits = {p["name"]: (p["cpu"], p["memory"]) for p in PROFILES}[kw.get("profile", "default")]
    data = dict(name=name, status=status, ready=ready, url=f"http://127.0.0.1:8765/user/ada/{name}/",
                profile="default", image="localhub/singleuser:latest", environment=None,
                storage_used=48 * 2**20, storage_cap=2 * 2**30, cpu_percent=1.5 if ready else None,
                memory_used=180 * 2**20 if ready else None, last_activity="2026-05-04T11:53:00Z", where="local",
                volume=f"localhub-1a2b3c4d-ada--{name}", cpu_limit=limits[0], memory_limit=limits[1],
                container=f"localhub-1a2b3c4d-ada--{name}" if status != "stopped" else None,
                container_state="running" if status != "stopped" else None,
                started="2026-05-04T11:40:00Z" if status != "stopped" else None,
                usage_history=None)
    data.update(kw)
    if data["usage_history"] is None and ready:
        data["usage_history"] = history(data["cpu_percent"] or 0, data["memory_used"] or 0)
    return Server(**data)


def sample_servers() -> list[Server]:
    return [
        server("analysis", cpu_percent=12.4, memory_used=612 * 2**20),
        server("thesis", status="stopped", profile="large", storage_used=9_800 * 2**20, storage_cap=10 * 2**30,
               last_activity="2026-05-04T08:10:00Z"),
        server("workshop", environment="gh/jupyterlab/jupyterlab-demo/HEAD",
               image="localhub-env/gh-jupyterlab-jupyterlab-demo:5c7a4f", profile="small",
               storage_used=2 * 2**20, storage_cap=2**30, last_activity="2026-05-04T11:59:20Z"),
        server("scratch", status="spawn", cpu_percent=None, memory_used=None, last_activity=None),
    ]


ENVIRONMENTS = [
    {"image": "localhub-env/gh-jupyterlab-jupyterlab-demo:5c7a4f", "spec": "gh/jupyterlab/jupyterlab-demo/HEAD",
     "resolved": "5c7a4f9e2b1d8c3a", "size": 1_900 * 2**20, "built": "2026-05-04T09:30:00Z",
     "servers": ["workshop"]},
    {"image": "localhub-env/gh-binder-examples-requirements:e1f0aa", "spec": "gh/binder-examples/requirements/master",
     "resolved": "e1f0aa0d77c2c55b", "size": 820 * 2**20, "built": "2026-05-01T16:05:00Z", "servers": []},
]


class FakeServersClient:
    """What `localhub.client.Client` offers today, in memory."""

    def __init__(self, servers: list[Server] | None = None, info: dict | None = None):
        self._servers = {s.name: s for s in (sample_servers() if servers is None else servers)}
        self._info = copy.deepcopy(info or INFO)
        self.url = self._info["url"]
        self.user = self._info["user"]
        self.calls: list[tuple] = []
        self.fail: str | None = None  # when set, every call raises LocalhubError(fail)

    def _check(self, *call) -> None:
        self.calls.append(call)
        if self.fail:
            raise LocalhubError(self.fail)

    def info(self) -> dict:
        self._check("info")
        return copy.deepcopy(self._info)

    def servers(self) -> list[Server]:
        self._check("servers")
        return [copy.copy(s) for s in self._servers.values()]

    def server(self, name: str) -> Server:
        self._check("server", name)
        if name not in self._servers:
            raise LocalhubError(f"There is no server '{name}'; `localhub servers ls` lists them.")
        return self._servers[name]

    def create_server(self, name, profile=None, image=None, extra_options=None):
        self._check("create_server", name, profile)
        if name in self._servers:
            raise LocalhubError(f"A server named '{name}' exists already; start it with `localhub servers start {name}`.")
        yield {"progress": 0, "message": "Server requested"}
        self._servers[name] = server(name, profile=profile or "default", last_activity=None)
        yield {"progress": 100, "message": f"Server ready at /user/ada/{name}/", "ready": True}

    def start_server(self, name):
        self._check("start_server", name)
        yield {"progress": 50, "message": "Spawning server..."}
        self._servers[name] = server(name, profile=self.server(name).profile)
        yield {"progress": 100, "message": "ready", "ready": True}

    def stop_server(self, name, timeout: float = 60) -> None:
        self._check("stop_server", name)
        s = self.server(name)
        s.status, s.ready, s.cpu_percent, s.memory_used = "stopped", False, None, None

    def delete_server(self, name) -> None:
        self._check("delete_server", name)
        self.server(name)
        del self._servers[name]

    def server_url(self, name) -> str:
        return f"{self.url}/user/{self.user}/{name}/"

    def server_logs(self, name, follow=False, tail=200):
        self._check("server_logs", name)
        yield from [
            "[I 2026-05-04 11:52:58.101 ServerApp] jupyterlab | extension was successfully loaded.",
            f"[I 2026-05-04 11:52:58.320 ServerApp] Serving notebooks from local directory: /home/jovyan",
            f"[I 2026-05-04 11:52:58.321 ServerApp] Jupyter Server 2.14.2 is running at: /user/ada/{name}/",
            "[I 2026-05-04 11:53:00.004 ServerApp] 302 GET /user/ada/ (@172.18.0.1) 0.61ms",
        ]

    def login_link(self) -> str:
        self._check("login_link")
        return f"{self.url}/hub/login?token=FAKE-TOKEN&next=/hub/home"


class FakeClient(FakeServersClient):
    """Plus the Binder launch API the lead is adding (issue 3)."""

    def __init__(self, *args, environments: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._environments = copy.deepcopy(ENVIRONMENTS if environments is None else environments)

    def parse_link(self, text: str) -> dict:
        self._check("parse_link", text)
        text = text.strip()
        for prefix in ("https://mybinder.org/v2/", "http://mybinder.org/v2/"):
            if text.startswith(prefix):
                spec, _, query = text[len(prefix):].partition("?")
                parts = spec.split("/")
                if parts[0] == "gh" and len(parts) >= 4:
                    urlpath = query.partition("urlpath=")[2] or None
                    return {"provider": "gh", "repo": f"{parts[1]}/{parts[2]}", "ref": "/".join(parts[3:]),
                            "urlpath": urlpath, "spec": spec}
        if text.startswith("https://github.com/") and text.count("/") >= 4:
            repo = "/".join(text.split("/")[3:5])
            return {"provider": "gh", "repo": repo, "ref": "HEAD", "urlpath": None, "spec": f"gh/{repo}/HEAD"}
        raise LocalhubError(f"'{text}' is not a Binder link or a repository URL localhub knows; "
                            "try https://mybinder.org/v2/gh/OWNER/REPO/REF.")

    def launch(self, link, profile=None, rebuild=False):
        self._check("launch", link, profile, rebuild)
        spec = self.parse_link(link)["spec"]
        if "broken" in link:  # as the hub's client does: the failed event, then the error
            yield {"phase": "fetching", "message": "Fetching org/broken at 146e225", "progress": 0.1, "elapsed": 1.0}
            yield {"phase": "building", "message": "#6 [3/3] RUN false", "progress": 0.55, "elapsed": 2.5,
                   "detail": "step 3 of 3", "left": 4.0}
            yield {"phase": "building", "message": "", "progress": 0.6, "elapsed": 3.5, "detail": "step 3 of 3",
                   "left": 3.0, "tick": True}
            reason = "the Dockerfile's step `RUN false` failed (exit code 1)"
            yield {"phase": "failed", "message": reason, "progress": 0.6, "elapsed": 3.9, "spec": spec,
                   "build_log": f"{self.url}/services/localhub/api/environments/log?image=x"}
            raise LocalhubError(f"{reason} (`localhub builds log {spec}` shows the whole build log)")
        yield {"phase": "waiting", "message": f"Waiting for the build of {spec}", "progress": 0.0}
        yield {"phase": "fetching", "message": "Fetching jupyterlab/jupyterlab-demo at 5c7a4f9", "progress": 0.1}
        yield {"phase": "building", "message": "Step 1/12 : FROM docker.io/library/buildpack-deps:jammy\n",
               "progress": 0.3}
        yield {"phase": "building", "message": "Step 7/12 : RUN pip install -r requirements.txt\n", "progress": 0.6}
        yield {"phase": "built", "message": "Built image localhub-env/gh-jupyterlab-jupyterlab-demo:5c7a4f",
               "progress": 0.9}
        yield {"phase": "launching", "message": "Launching server 'jupyterlab-demo'", "progress": 0.95}
        yield {"phase": "ready", "message": "Server ready", "progress": 1.0,
               "url": f"{self.url}/user/{self.user}/jupyterlab-demo/lab"}

    def environments(self) -> list[dict]:
        self._check("environments")
        return copy.deepcopy(self._environments)

    def build_log(self, image: str | None = None, spec: str | None = None) -> str:
        self._check("build_log", image or spec)
        return "Step 1/12 : FROM docker.io/library/buildpack-deps:jammy\nStep 2/12 : ...\nSuccessfully built 5c7a4f\n"

    def remove_environment(self, image: str) -> None:
        self._check("remove_environment", image)
        self._environments = [e for e in self._environments if e["image"] != image]

    def rebuild(self, spec: str):
        self._check("rebuild", spec)
        yield {"phase": "building", "message": f"Rebuilding {spec}", "progress": 0.5}
        yield {"phase": "built", "message": "Built", "progress": 1.0}
