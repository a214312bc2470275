"""JupyterHub as the daemon runs it: `python -m localhub.hub.run -f jupyterhub_config.py` is `jupyterhub -f …`
without the imports that lean.py leaves out, stopping (SIGTERM: JupyterHub's own clean shutdown) when its daemon
dies, however it dies; and its proxy stops when it dies."""

import os

from localhub.lean import JUPYTERHUB, skip_unused
from localhub.lifecycle import die_with_parent


def main() -> None:
    if os.environ.get("LOCALHUB_DAEMON_PID", "").isdigit():
        die_with_parent(int(os.environ["LOCALHUB_DAEMON_PID"]))
    os.environ["LOCALHUB_HUB_PID"] = str(os.getpid())  # its proxy dies with it in turn (hub/proxy.py)
    skip_unused(JUPYTERHUB)
    from jupyterhub.app import main as jupyterhub  # after skip_unused, by design

    jupyterhub()


if __name__ == "__main__":
    main()
