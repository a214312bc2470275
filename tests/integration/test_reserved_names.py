"""A named server may not take a top-level route of a single-user server (hub/policy.py, RESERVED_NAMES): the
proxy routes /user/U/NAME/ by longest prefix, so a server called `api` would get the default server's
/user/U/api/kernels. The real hub refuses such names from the CLI and from JupyterHub's own REST API, and the
reserved list covers every route the single-user image registers."""

from __future__ import annotations

import json
import re

import docker
import httpx
import pytest

from localhub.hub.policy import RESERVED_NAMES

pytestmark = pytest.mark.docker

# The first path segment of every handler the image's jupyter_server and its enabled extensions register.
ROUTES = r"""
import json, re
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(argv=["--ServerApp.token=x", "--ServerApp.open_browser=False", "--ServerApp.port=0"])
def patterns(router):
    for rule in router.rules:
        if hasattr(rule.target, "rules"):
            yield from patterns(rule.target)
        elif getattr(rule.matcher, "regex", None) is not None:
            yield rule.matcher.regex.pattern
first = {re.split(r"[/(?$.*]", p.lstrip("^").replace("\\", "").lstrip("/"))[0]
         for router in (app.web_app.default_router, app.web_app.wildcard_router) for p in patterns(router)}
print(json.dumps(sorted(first - {""})))
"""


def test_every_route_of_the_single_user_image_is_a_reserved_name():
    out = docker.from_env().containers.run("localhub/singleuser:test", ["python", "-c", ROUTES], remove=True,
                                           stderr=False, labels={"localhub.test": "1"})
    routes = set(json.loads(out.decode().strip().splitlines()[-1]))
    assert {"api", "lab", "tree", "files", "terminals"} <= routes  # the listing itself works
    # names the policy could allow at all (oauth_callback cannot be a server name: '_')
    nameable = {r for r in routes if re.fullmatch(r"[a-z][a-z0-9-]*", r)}
    assert nameable <= RESERVED_NAMES, nameable - RESERVED_NAMES


@pytest.mark.parametrize("name", ["api", "lab"])
def test_the_hub_refuses_a_server_named_like_a_route_from_the_cli_and_jupyterhubs_api(hub, name):
    refused = hub.cli("servers", "new", name, check=False)
    assert refused.returncode != 0
    assert f"Server name '{name}' is reserved" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr

    with httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=60) as http:
        for method in ("POST", "PUT"):  # create-and-start, and create only
            answer = http.request(method, f"/hub/api/users/{hub.user}/servers/{name}", json={})
            assert answer.status_code == 400, answer.text
            assert f"Server name '{name}' is reserved" in answer.json()["message"]
        servers = http.get(f"/hub/api/users/{hub.user}").json()["servers"]
    assert name not in servers
    assert not [c for c in hub.containers(all=True) if c.name.endswith(f"--{name}")]
