"""The idle culler runs as a task of the daemon (hub/culler.py): a pass at once, then one every `every`
seconds, a failed pass logged and retried, cancelled with the daemon. Its culling itself is
jupyterhub-idle-culler's, proven on the real hub by test_hub_lifecycle's idle-server test."""

from __future__ import annotations

import asyncio

import pytest

from localhub.hub.culler import cull_forever

pytestmark = pytest.mark.unit


async def test_passes_repeat_and_a_failed_one_does_not_end_the_culler(caplog):
    calls = []

    async def cull(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise OSError("hub restarting")

    task = asyncio.create_task(cull_forever("http://hub.test/hub/api", "secret", 7200, 0.01, cull=cull))
    while len(calls) < 4:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls[0] == {"url": "http://hub.test/hub/api", "api_token": "secret", "inactive_limit": 7200,
                        "logger": calls[0]["logger"]}
    assert "hub restarting" in caplog.text and "secret" not in caplog.text


async def test_the_real_culler_is_what_runs_by_default():
    import jupyterhub_idle_culler

    seen = []

    async def fake(**kwargs):
        seen.append(kwargs)
        raise asyncio.CancelledError

    real, jupyterhub_idle_culler.cull_idle = jupyterhub_idle_culler.cull_idle, fake
    try:
        with pytest.raises(asyncio.CancelledError):
            await cull_forever("http://hub.test/hub/api", "t", 60, 1)
    finally:
        jupyterhub_idle_culler.cull_idle = real
    assert seen and seen[0]["inactive_limit"] == 60
