"""The file JupyterHub loads (`jupyterhub -f`). All settings come from the daemon's runtime.json."""

import os

from localhub.hub.hub_config import configure

configure(c, os.environ["LOCALHUB_STATE_DIR"])  # noqa: F821 (`c` is provided by JupyterHub)
