"""Runs jupyterhub-idle-culler as a hub-managed service that ends when its hub ends.

JupyterHub stops its managed services on a clean shutdown, but if the hub process is killed (a crash, an
OOM kill) the culler would be left polling a hub that no longer exists. On Linux the kernel can send a
signal when the parent dies (PR_SET_PDEATHSIG), and the setting survives the exec below.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a killed hub may leave the culler behind, as with plain JupyterHub
    if os.getppid() == 1:  # the hub died before we got here
        sys.exit(0)
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub_idle_culler", *sys.argv[1:]])


if __name__ == "__main__":
    main()
