"""What localhub's processes (the daemon and JupyterHub, to stay small while idle; each command, to start
quickly) leave unimported.

jsonschema imports `rfc3987_syntax` whenever it is installed (JupyterHub's jupyter_events brings it in), and
that module builds an IRI parser as it is imported: about 15 MiB that stay resident, and a second or more of
start-up, in each process that imports jsonschema. It serves only the `iri` format checks, which no localhub
process asks for (jsonschema checks formats only when told to, and no schema here has an `iri` format).
Marked absent, jsonschema leaves that one checker out, as where the package is not installed.
"""

from __future__ import annotations

import sys

UNUSED = ("rfc3987_syntax",)


def skip_unused() -> None:
    """Call before anything imports jsonschema (a module already imported stays)."""
    for name in UNUSED:
        sys.modules.setdefault(name, None)
