"""What localhub's processes (the daemon and JupyterHub, to stay small while idle; each command, to start
quickly) leave unimported.

- `rfc3987_syntax`: jsonschema imports it whenever it is installed (JupyterHub's jupyter_events brings it in),
  and that module builds an IRI parser as it is imported: about 15 MiB that stay resident, and a second or more
  of start-up, in each process that imports jsonschema. It serves only the `iri` format checks, which no
  localhub process asks for (jsonschema checks formats only when told to, and no schema here has an `iri`
  format). Marked absent, jsonschema leaves that one checker out, as where the package is not installed.
- the checkers of string formats that no schema checked in a localhub process uses: `fqdn` (hostname),
  `rfc3339_validator` (date-time), `webcolors` (color), `jsonpointer` (json-pointer), `uri_template`
  (uri-template), `isoduration` (duration, which brings arrow): jsonschema imports each one it finds, about
  2.8 MiB in all, in each process that imports jsonschema (the daemon for every profile it reads, JupyterHub for
  its events). localhub's own schemas (profiles, bundles) are checked without formats; JupyterHub's events
  (jupyter_events) are checked with them, and their schemas use `uri` only (kept: `rfc3987`). Marked absent,
  a value of those formats passes unchecked, as where the packages are not installed.
- `httpx._main`: httpx imports its command-line client (`httpx` the command, with rich, click and pygments:
  about 3.5 MiB resident) whenever those are installed, and rich is (textual needs it for the TUI). No
  localhub process runs that command; marked absent, httpx's own fallback stands in for it, as where httpx
  is installed without its `cli` extra. httpx as a library is unchanged.
- `curses`: tornado's log formatter imports it (0.5 MiB) to learn whether a terminal shows colours; the daemon,
  JupyterHub and its proxy write their logs to files and pipes, where tornado shows none anyway.

Only in the hub's long-running processes (`HUB`: the daemon and JupyterHub; a command may draw with rich, which
highlights code with pygments):
- `pygments`: mako, which alembic (JupyterHub's database migrations) imports, highlights the code in its own
  error pages with pygments whenever it is installed (rich brings it, for the TUI): about 5 MiB resident in each of
  the daemon (through JupyterHub's HubOAuth) and JupyterHub. Marked absent, mako shows those pages unhighlighted,
  its own fallback where pygments is not installed; no localhub process renders one.

Only in JupyterHub (`JUPYTERHUB`; the daemon needs it in a lab, for the lab's keys and TLS):
- `cryptography`: JupyterHub imports it whenever it is installed (about 6.6 MiB resident), to encrypt users'
  `auth_state`, which localhub never enables (its sign-in link keeps no state). Marked absent, JupyterHub runs as
  where it is not installed: a hub configured with `auth_state` would refuse to start, never store it unencrypted.

Only in the daemon (`DAEMON_LATER`: imported on first use instead of at once):
- `jupyterhub.orm`: JupyterHub's database layer (SQLAlchemy's ORM, alembic and mako: about 13 MiB resident and
  0.3 s of the daemon's start), which the daemon's sign-in (JupyterHub's HubOAuth) imports through
  jupyterhub.scopes for names it reads only with a database in hand, which a service never has: it checks tokens
  through the hub's API. A stand-in module takes its place and imports the real one the first time any of its
  names is read (hub/server_start.py, which a server's start uses the same way), so whatever does use it gets
  the real thing, and the daemon's log says so.
"""

from __future__ import annotations

import sys

UNUSED = ("rfc3987_syntax", "fqdn", "rfc3339_validator", "webcolors", "jsonpointer", "uri_template", "isoduration",
          "httpx._main", "curses")
HUB = ("pygments",)
JUPYTERHUB = HUB + ("cryptography",)


def skip_unused(also: tuple[str, ...] = ()) -> None:
    """Call before anything imports jsonschema, httpx or tornado (a module already imported stays); `also`: HUB in
    the daemon (before its modules are imported), JUPYTERHUB in JupyterHub."""
    for name in UNUSED + also:
        sys.modules.setdefault(name, None)


DAEMON_LATER = ("jupyterhub.orm",)


def import_later(names: tuple[str, ...]) -> None:
    """Call before anything imports the modules `names` (in the daemon: DAEMON_LATER, before its own modules)."""
    from .hub.server_start import import_on_first_use

    for name in names:
        if name not in sys.modules:
            __import__(name.rpartition(".")[0])  # the parent package, which holds the stand-in as an attribute
            import_on_first_use(name)
