"""The command a server's container runs: JupyterHub's single-user server, started without importing what it
never uses.

Every Jupyter Server imports jsonschema (through jupyter_events), and jsonschema imports `rfc3987_syntax`
whenever it is installed (Jupyter's own packages bring it in), which builds an IRI parser as it is imported:
1.1–1.9 s of a server's ~3 s of imports here, for `iri` format checks the server never asks for (lean.py keeps
it out of the hub's own processes the same way). Marked absent, jsonschema leaves that one checker out, as
where the package is not installed. Only that module (not the rest of lean.UNUSED: a server's extensions
are the image's business) and only in the server process: the kernels it starts are processes of their own and
import what they like.

The image's `python3` runs it; an image whose `python3` has no JupyterHub (its `jupyterhub-singleuser` lives in
another environment on PATH) runs `jupyterhub-singleuser` as before.
"""

from __future__ import annotations

ENTRY = "jupyterhub-singleuser"
UNUSED = ("rfc3987_syntax",)
MARK = "# " + ENTRY  # first line of the code: how the server's process reads in `ps` (server_watch.py)

CODE = f"""{MARK}, started by localhub without modules it never uses (localhub/hub/server_command.py)
import os, sys
for name in {UNUSED!r}:
    sys.modules.setdefault(name, None)
try:
    from jupyterhub.singleuser import main
except ImportError:
    os.execvp({ENTRY!r}, [{ENTRY!r}, *sys.argv[1:]])
sys.argv[0] = {ENTRY!r}
sys.exit(main())
"""


def server_command() -> list[str]:
    return ["python3", "-c", CODE]


def is_server(command: str) -> bool:
    """Whether a process's command line (as `ps -o args` shows it) is the server started by this command."""
    return command.startswith("python3 -c " + MARK)
