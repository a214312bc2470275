"""A shell in a server's container, the way `docker exec -it` gives one: the TUI suspends itself, the
terminal belongs to the shell until it exits, then the TUI comes back as it was.

The daemon names the container and the engine it runs on; the docker command line does the rest.
"""

from __future__ import annotations

import shutil
import subprocess

from textual.app import App, SuspendNotSupported

# bash when the image has it, else sh; in the home the user's files are in
SHELL = "cd ~ 2>/dev/null; if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi"


def refusal(server) -> str | None:
    """Why there can be no shell in `server` now, in one sentence; None when there can."""
    name = server.name or "(default)"
    if server.where not in (None, "local"):
        return f"Server '{name}' runs on {server.where}; a shell is only offered for servers on this desktop."
    if not server.ready or not server.container:
        return f"Server '{name}' is not running; press s to start it, then e for a shell."
    if shutil.which("docker") is None:
        return "The docker command is not installed here, so the TUI cannot open a shell in a container."
    return None


def command(container: str, engine: str | None) -> list[str]:
    host = ["-H", engine] if engine else []
    return ["docker", *host, "exec", "-it", container, "sh", "-c", SHELL]


def run(app: App, server, engine: str | None) -> str:
    """Suspend `app`, run the shell until it exits, and return what to tell the user afterwards."""
    name = server.name or "(default)"
    argv = command(server.container, engine)
    try:
        with app.suspend():
            print(f"\nA shell in server '{name}' (container {server.container}). "
                  "Type exit or press Ctrl+D to go back to localhub.\n", flush=True)
            code = subprocess.call(argv)
    except SuspendNotSupported:
        return "This terminal cannot hand itself to a shell; run: " + " ".join(argv[:-1]) + " bash"
    except OSError as err:
        return f"Could not run docker: {err.strerror}."
    if code not in (0, 130):  # 130: the last command in the shell was interrupted
        return f"The shell in server '{name}' ended with exit status {code}."
    return f"Back from the shell in server '{name}'."
