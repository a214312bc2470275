"""The daemon asks JupyterHub's REST API at JupyterHub's own address, as JupyterHub's services do, and users'
servers at the hub's public URL: the proxy carries only what is for it."""

import httpx
import pytest

from localhub.hubapi import HubAPI

pytestmark = pytest.mark.unit


async def test_the_rest_api_goes_to_jupyterhub_and_servers_to_the_public_url():
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append((str(request.url), request.headers.get("Authorization")))
        return httpx.Response(200, json={"name": "me", "servers": {}})

    api = HubAPI("http://127.0.0.1:8000", token="secret", transport=httpx.MockTransport(answer))
    await api.user("me")  # before the daemon knows JupyterHub's address: through the proxy
    api.use_api_url("http://192.168.32.1:8003/hub/api")
    await api.user("me")
    assert await api.answers("/user/me/x/api/status", timeout=0)
    await api.aclose()
    assert asked == [
        ("http://127.0.0.1:8000/hub/api/users/me?include_stopped_servers=1", "token secret"),
        ("http://192.168.32.1:8003/hub/api/users/me?include_stopped_servers=1", "token secret"),
        ("http://127.0.0.1:8000/user/me/x/api/status", None),  # a user's server, never with the daemon's token
    ]
