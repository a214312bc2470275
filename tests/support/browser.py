"""Navigation in the browser tests that rides out Chromium's ERR_NETWORK_CHANGED: Chromium aborts a navigation
when the host's interfaces change, and every container the other tests start adds a veth to the host."""

from __future__ import annotations

import time


def goto(page, url: str, **options):
    """page.goto(url), tried again (twice at most) when Chromium aborted it because the host's network changed."""
    for attempt in range(3):
        try:
            return page.goto(url, **options)
        except Exception as err:  # playwright's Error; anything else is raised at once
            if "ERR_NETWORK_CHANGED" not in str(err) or attempt == 2:
                raise
            time.sleep(0.5)
