"""How the pool's runnable modules (`python -m localhub.pool.host.service`, `.discovery`, `.monitor`) end:
log to stderr, run the coroutine, and report a LocalhubError as one sentence instead of a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine

from ..errors import LocalhubError


def run_main(main: Coroutine, level: str = "WARNING", fmt: str | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOCALHUB_LOG", level), stream=sys.stderr,
                        **({"format": fmt} if fmt else {}))
    try:
        return asyncio.run(main)
    except LocalhubError as err:
        print(f"localhub: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
