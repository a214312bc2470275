"""The command a server's container runs: JupyterHub's single-user server, started without importing what it
never uses (server_start.py says what, and why).

The command is `python3 -c <code>`: the code of server_start.py without its docstrings, run by the image's
own Python (a user's image need not have localhub). Its first line names the server, so that a process list
shows which process it is (server_watch.py).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from .server_start import ENTRY

MARK = "# " + ENTRY  # first line of the code: how the server's process reads in `ps` (server_watch.py)
SOURCE = Path(__file__).with_name("server_start.py")


def _without_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


@lru_cache(maxsize=1)
def code() -> str:
    return f"{MARK}, started by localhub (localhub/hub/server_start.py)\n{_without_docstrings(SOURCE.read_text())}\n"


CODE = code()


def server_command() -> list[str]:
    return ["python3", "-c", CODE]


def is_server(command: str) -> bool:
    """Whether a process's command line (as `ps -o args` shows it) is the server started by this command."""
    return command.startswith("python3 -c " + MARK)
