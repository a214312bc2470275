"""The idle culler: jupyterhub-idle-culler's own culling pass, run by the daemon as a task in its event loop.

JupyterHub's usual way is a hub-managed service, a Python process of its own (about 30 MiB resident, idle
nearly always) that a killed hub left polling a hub that no longer existed. As a task of the daemon it
costs a few MiB, ends with the daemon, and asks the hub's REST API with the daemon's token, as the service
did with its own. Stopped servers keep their storage: the culler stops servers, it never deletes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("localhub.culler")


async def cull_forever(hub_api_url: str, token: str, timeout: int, every: float,
                       cull: Callable[..., Awaitable] | None = None) -> None:
    """Stop servers idle for `timeout` seconds: once now, then every `every` seconds, until cancelled. A pass
    that fails (the hub restarting) is logged and the next one tries again."""
    if cull is None:
        from jupyterhub_idle_culler import cull_idle as cull  # only once the hub runs: a daemon's import

    while True:
        try:
            await cull(url=hub_api_url, api_token=token, inactive_limit=timeout, logger=log)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the culler must outlive a failed pass
            log.warning("the idle culler's pass failed (%s: %s); it tries again in %g s",
                        err.__class__.__name__, err, every)
        await asyncio.sleep(every)
